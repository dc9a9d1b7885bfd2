import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BACKUP_MAGIC, BACKUP_TRAILER_BYTES, encodeBackupStart, encodeBackupTrailer, parseBackup } from './backup-file.js';
import { encodeImagePage, encodeImageStart, encodeStateImage, decodeStateImage, type KvRow } from './snapshot-codec.js';

const rows: KvRow[] = Array.from({ length: 1500 }, (_, i) => [`k${String(i).padStart(5, '0')}`, JSON.stringify(i), i + 1]);

/** A format 2 file as GET /api/backup streams it: head, image pages, trailer. */
function streamed(pageRows: number): Buffer {
  const { head } = encodeBackupStart({ index: 1500, term: 3 }, 'Node2', ['Node1', 'Node2', 'Node3']);
  const image = [encodeImageStart(1500, 3)];
  for (let i = 0; i < rows.length; i += pageRows) image.push(encodeImagePage('kv', rows.slice(i, i + pageRows)));
  const data = Buffer.concat(image);
  return Buffer.concat([head, data, encodeBackupTrailer(data.length, createHash('sha256').update(data).digest())]);
}

describe('backup file format 2 (streamed, sealed by a trailer)', () => {
  it('round-trips a streamed image of small pages into the same state as a snapshot image', () => {
    const { header, image } = parseBackup(streamed(512));
    expect(header).toMatchObject({ format: 2, sourceNode: 'Node2', index: 1500, term: 3, voters: ['Node1', 'Node2', 'Node3'], imageBytes: image.length });
    const whole = decodeStateImage(encodeStateImage({ appliedIndex: 1500, appliedTerm: 3, kv: rows, quotes: [], idempotency: [], clientLog: [] }));
    expect(decodeStateImage(image)).toEqual(whole);
  });

  it('refuses a stream cut short (no end marker), a flipped byte, and a trailer that disagrees with the file', () => {
    const data = streamed(512);
    expect(() => parseBackup(data.subarray(0, data.length - 1))).toThrow(/truncated backup: \d+ bytes and no end marker/);
    expect(() => parseBackup(data.subarray(0, data.length - 5000))).toThrow(/truncated backup/);
    const flipped = Buffer.from(data);
    flipped[data.length - BACKUP_TRAILER_BYTES - 10]! ^= 0xff;
    expect(() => parseBackup(flipped)).toThrow(/damaged backup: the image does not match its SHA-256/);
    const longer = Buffer.concat([data.subarray(0, data.length - BACKUP_TRAILER_BYTES), Buffer.alloc(7), data.subarray(data.length - BACKUP_TRAILER_BYTES)]);
    expect(() => parseBackup(longer)).toThrow(/damaged backup: its end marker says \d+ bytes of image, the file holds \d+/);
    expect(() => parseBackup(Buffer.from('RQBACKUX'))).toThrow(/not a raftquotes backup/);
    expect(data.subarray(0, 8).equals(BACKUP_MAGIC)).toBe(true);
  });

  it('still reads format 1 (size and hash in the header), and refuses a newer format', () => {
    const image = Buffer.from(encodeStateImage({ appliedIndex: 7, appliedTerm: 1, kv: rows.slice(0, 3), quotes: [], idempotency: [], clientLog: [] }));
    const v1 = (format: number): Buffer => {
      const header = { format, backupId: 'abcdef0123456789', createdAt: 'x', sourceNode: 'Node1', index: 7, term: 1, voters: ['Node1'], imageBytes: image.length, imageSha256: createHash('sha256').update(image).digest('hex') };
      const json = Buffer.from(JSON.stringify(header));
      const length = Buffer.alloc(4);
      length.writeUInt32BE(json.length);
      return Buffer.concat([BACKUP_MAGIC, length, json, image]);
    };
    expect(decodeStateImage(parseBackup(v1(1)).image).kv).toEqual(rows.slice(0, 3));
    expect(() => parseBackup(v1(3))).toThrow(/backup format 3 is newer than this raftquotes reads \(2\)/);
  });
});
