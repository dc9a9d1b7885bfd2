import { describe, expect, it } from 'vitest';
import { CorruptionError, rowChecksum, verifyChecksum } from './checksum.js';

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

  it('names what is corrupt when a stored sum does not match', () => {
    const sum = rowChecksum(5, 'value');
    expect(() => verifyChecksum('log entry 5', sum, 5, 'value')).not.toThrow();
    expect(() => verifyChecksum('log entry 5', sum, 5, 'valuE')).toThrow(CorruptionError);
    expect(() => verifyChecksum('log entry 5', sum, 5, 'valuE')).toThrow(/log entry 5/);
  });
});
