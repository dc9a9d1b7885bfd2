import { crc32 } from 'node:zlib';

/**
 * Checksums on stored rows (SPEC §5): every log entry and every state row carries one,
 * verified when it is read back, so a flipped bit on disk stops the node instead of being
 * served or replicated. CRC-32 (as etcd's WAL uses) catches media corruption; it is not a
 * defence against someone who can write the data dir.
 */
export type ChecksumPart = string | Uint8Array | number | null;

/**
 * CRC-32 over the parts in order, each preceded by a tag and its length, so no two different
 * sequences of parts hash the same bytes (`("ab","c")` differs from `("a","bc")`).
 */
export function rowChecksum(...parts: ChecksumPart[]): number {
  let crc = 0;
  const header = Buffer.alloc(5);
  for (const part of parts) {
    const bytes = part === null ? EMPTY : typeof part === 'number' ? numberBytes(part) : typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
    header.writeUInt8(part === null ? 0 : typeof part === 'number' ? 1 : typeof part === 'string' ? 2 : 3, 0);
    header.writeUInt32BE(bytes.length, 1);
    crc = crc32(header, crc);
    // zlib's crc32 of a buffer with no backing memory (an empty blob read by better-sqlite3)
    // returns 0, not the running value, so an empty part would erase everything before it.
    if (bytes.length > 0) crc = crc32(bytes, crc);
  }
  return crc;
}

const EMPTY = new Uint8Array(0);

function numberBytes(value: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeDoubleBE(value, 0);
  return bytes;
}

/** A stored row whose checksum does not match: the node must stop, naming what is corrupt. */
export class CorruptionError extends Error {
  override readonly name = 'CorruptionError';
  readonly code = 'corruption';
  /** What is corrupt, e.g. "log entry 1234" or "kv key \"a\"". */
  readonly where: string;

  constructor(where: string, options?: { cause?: unknown }) {
    super(`checksum mismatch in ${where}: the data dir is corrupt; restore this node from a backup or re-add it as a new member`, options);
    this.where = where;
  }
}

/** Throws CorruptionError unless `stored` matches the checksum of `parts`. */
export function verifyChecksum(where: string, stored: unknown, ...parts: ChecksumPart[]): void {
  if (stored !== rowChecksum(...parts)) throw new CorruptionError(where);
}
