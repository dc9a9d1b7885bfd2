/**
 * How the state machine counts its own size for the quota (SPEC §5 `--quota-bytes`): UTF-8
 * bytes of the stored text of each row, plus a fixed overhead for its numbers and checksum.
 * Both state machines count with these functions, on every replica the same way, so the size
 * is a pure function of the applied state (a restored snapshot recounts to the same number).
 * The client log kept for RETRIEVE is not counted: it is bounded by CLIENT_LOG_RETENTION, and
 * counting it would let a full quota refuse the deletes that are meant to free space.
 */
import type { Quote } from './types.js';

/** Per-row overhead: the index, term and checksum columns, roughly as SQLite stores them. */
export const ROW_OVERHEAD_BYTES = 16;
/** Bytes of a request hash (SHA-256 in hex). */
export const REQUEST_HASH_CHARS = 64;

/** UTF-8 bytes of a string (a lone surrogate counts as U+FFFD, as SQLite stores it). */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** A KV row: its key and its value as JSON text. */
export function kvRowBytes(key: string, valueJson: string): number {
  return utf8Bytes(key) + utf8Bytes(valueJson) + ROW_OVERHEAD_BYTES;
}

/** A quote row: text, author and postedAt. */
export function quoteRowBytes(quote: Pick<Quote, 'text' | 'author' | 'postedAt'>): number {
  return utf8Bytes(quote.text) + utf8Bytes(quote.author) + utf8Bytes(quote.postedAt) + ROW_OVERHEAD_BYTES;
}

/** An idempotency record: the key, the first result as JSON and the request hash. */
export function idempotencyRowBytes(key: string, resultJson: string, hash: string): number {
  return utf8Bytes(key) + utf8Bytes(resultJson) + utf8Bytes(hash) + ROW_OVERHEAD_BYTES;
}
