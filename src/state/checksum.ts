import { crc32 } from 'node:zlib';

/**
 * Checksums on stored rows (SPEC §5): every log entry and every state row carries one,
 * verified when it is read back, so a flipped bit on disk stops the node instead of being
 * served or replicated. CRC-32 (as etcd's WAL uses) catches media corruption; it is not a
 * defence against someone who can write the data dir.
 */
export type ChecksumPart = string | Uint8Array | number | null;

/** Bytes before each part: a type tag and the part's length (uint32 big-endian). */
const PART_HEADER_BYTES = 5;
/**
 * Largest scratch buffer kept between calls. Rows are small (keys and values of a few hundred
 * bytes); a larger one (a 1 MiB value) gets a buffer of its own, so a single big row does not
 * pin megabytes for the life of the process.
 */
const MAX_KEPT_SCRATCH_BYTES = 64 * 1024;
let scratch = Buffer.allocUnsafe(4096);

/**
 * CRC-32 over the parts in order, each preceded by a tag and its length, so no two different
 * sequences of parts hash the same bytes (`("ab","c")` differs from `("a","bc")`).
 *
 * The tagged parts are laid out in one scratch buffer and summed by one crc32 call: CRC-32 of
 * a concatenation equals the running CRC over its pieces, so the sum is the one stored rows
 * already carry, and every row read or written (every row of a snapshot image, twice) costs
 * one native call and no allocation instead of two calls and three buffers per part.
 */
export function rowChecksum(...parts: ChecksumPart[]): number {
  let worst = 0;
  for (const part of parts) worst += PART_HEADER_BYTES + (part === null ? 0 : typeof part === 'number' ? 8 : typeof part === 'string' ? part.length * 3 : part.length);
  const out = worst <= scratch.length ? scratch : worst <= MAX_KEPT_SCRATCH_BYTES ? (scratch = Buffer.allocUnsafe(MAX_KEPT_SCRATCH_BYTES)) : Buffer.allocUnsafe(worst);
  let at = 0;
  for (const part of parts) at = writePart(out, at, part);
  return crc32(out.subarray(0, at), 0);
}

/** Writes one part with its tag and length at `at`; returns the offset after it. */
function writePart(out: Buffer, at: number, part: ChecksumPart): number {
  let length: number;
  let tagByte: number;
  if (part === null) {
    tagByte = 0;
    length = 0;
  } else if (typeof part === 'number') {
    tagByte = 1;
    length = out.writeDoubleBE(part, at + PART_HEADER_BYTES) - at - PART_HEADER_BYTES;
  } else if (typeof part === 'string') {
    tagByte = 2;
    length = out.write(part, at + PART_HEADER_BYTES, 'utf8');
  } else {
    tagByte = 3;
    out.set(part, at + PART_HEADER_BYTES);
    length = part.length;
  }
  out[at] = tagByte;
  out.writeUInt32BE(length, at + 1);
  return at + PART_HEADER_BYTES + length;
}

/** What the process does when corruption is found (see setCorruptionListener). */
export type CorruptionListener = (err: CorruptionError) => void;

let corruptionListener: CorruptionListener | null = null;

/**
 * The node process registers here what to do once corruption is found anywhere: stop (SPEC
 * §5). Reads happen on many paths (the Raft loop, API routes, the live stream's backlog, the
 * controller's RETRIEVE, image building), and some of them turn errors into replies; telling
 * the process at the point of detection means none of them can keep a node running on a
 * database it can no longer trust. Unset (tests of the state machine alone) it does nothing.
 */
export function setCorruptionListener(listener: CorruptionListener | null): void {
  corruptionListener = listener;
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
    corruptionListener?.(this);
  }
}

/** Throws CorruptionError unless `stored` matches the checksum of `parts`. */
export function verifyChecksum(where: string, stored: unknown, ...parts: ChecksumPart[]): void {
  if (stored !== rowChecksum(...parts)) throw new CorruptionError(where);
}
