import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CorruptionError, rowChecksum, verifyChecksum, type ChecksumPart } from './checksum.js';

/** The definition, one crc32 call per header and per part: what every stored row was summed with. */
function referenceChecksum(...parts: ChecksumPart[]): number {
  let crc = 0;
  for (const part of parts) {
    const bytes = part === null ? new Uint8Array(0) : typeof part === 'number' ? numberBytes(part) : typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
    const header = Buffer.alloc(5);
    header.writeUInt8(part === null ? 0 : typeof part === 'number' ? 1 : typeof part === 'string' ? 2 : 3, 0);
    header.writeUInt32BE(bytes.length, 1);
    crc = crc32(header, crc);
    if (bytes.length > 0) crc = crc32(bytes, crc);
  }
  return crc;
}

function numberBytes(value: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeDoubleBE(value, 0);
  return bytes;
}

describe('row checksums', () => {
  it('separates parts, so shifting bytes between fields changes the sum', () => {
    expect(rowChecksum('ab', 'c')).not.toBe(rowChecksum('a', 'bc'));
    expect(rowChecksum(1, 'x')).not.toBe(rowChecksum('1', 'x'));
    expect(rowChecksum(null)).not.toBe(rowChecksum(''));
    expect(rowChecksum(7, 'k', new Uint8Array([1, 2]))).toBe(rowChecksum(7, 'k', new Uint8Array([1, 2])));
  });

  it('an empty part with no backing memory (an empty SQLite blob) does not reset the sum', () => {
    const noMemory = new Uint8Array(new ArrayBuffer(0));
    const blob = Buffer.from(noMemory.buffer, 0, 0);
    expect(rowChecksum(7, blob)).toBe(rowChecksum(7, new Uint8Array(0)));
    expect(rowChecksum(7, blob)).not.toBe(rowChecksum(8, blob));
  });

  it('equals the per-part definition for any parts (stored rows keep verifying)', () => {
    const strings = ['', 'a', 'é', '😀', '\ud800', 'x\udc00y', 'k'.repeat(70_000), '€'.repeat(30_000)];
    const numbers = [0, -0, 1, -1, 2 ** 53 - 1, 1.5, NaN, Infinity];
    const blobs = [new Uint8Array(0), new Uint8Array([0, 255, 7]), Buffer.alloc(100_000, 9)];
    const all: ChecksumPart[] = [null, ...strings, ...numbers, ...blobs];
    for (let i = 0; i < all.length; i++) {
      for (let j = 0; j < all.length; j += 3) {
        const parts = [all[i] as ChecksumPart, all[j] as ChecksumPart, all[(i * 7 + j) % all.length] as ChecksumPart];
        expect(rowChecksum(...parts)).toBe(referenceChecksum(...parts));
      }
    }
    expect(rowChecksum()).toBe(referenceChecksum());
  });

  it('names what is corrupt when a stored sum does not match', () => {
    const sum = rowChecksum(5, 'value');
    expect(() => verifyChecksum('log entry 5', sum, 5, 'value')).not.toThrow();
    expect(() => verifyChecksum('log entry 5', sum, 5, 'valuE')).toThrow(CorruptionError);
    expect(() => verifyChecksum('log entry 5', sum, 5, 'valuE')).toThrow(/log entry 5/);
  });
});
