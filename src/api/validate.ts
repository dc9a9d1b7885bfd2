/**
 * Input checks for SPEC §3's limits. Each failure is a 400 (or 413 for a value over its size)
 * that names the field at fault.
 */
import type { IncomingMessage } from 'node:http';
import { MAX_JSON_DEPTH, isTooDeep } from '../state/json-limits.js';
import { ApiError, badRequest } from './errors.js';
import { keyProblem } from '../state/keys.js';
import { DEFAULT_AUTHOR, MAX_AUTHOR_CHARS, MAX_IDEMPOTENCY_KEY_CHARS, MAX_QUOTE_TEXT_CHARS, MAX_VALUE_BYTES } from './limits.js';

const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;
const DIGITS = /^\d{1,16}$/;

/** Decodes and checks a KV key taken from the path (it may contain `/`). */
export function decodeKey(encoded: string): string {
  let key: string;
  try {
    key = decodeURIComponent(encoded);
  } catch {
    throw badRequest('key', 'not a valid percent-encoded UTF-8 string');
  }
  const problem = keyProblem(key);
  if (problem !== null) throw badRequest('key', problem);
  return key;
}

/** The Idempotency-Key header, if any (≤ MAX_IDEMPOTENCY_KEY_CHARS printable ASCII characters). */
export function idempotencyKeyOf(req: IncomingMessage): string | undefined {
  const value = req.headers['idempotency-key'];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_IDEMPOTENCY_KEY_CHARS || !PRINTABLE_ASCII.test(value)) {
    throw badRequest('Idempotency-Key', `1 to ${MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters`);
  }
  return value;
}

/** A query parameter that must be a non-negative integer in [0, max]; `fallback` when absent. */
export function nonNegativeInt(query: URLSearchParams, name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  if (!DIGITS.test(raw)) throw badRequest(name, 'must be a non-negative integer');
  const value = Number(raw);
  if (value > max) throw badRequest(name, `must be at most ${max}`);
  return value;
}

/** `?consistency=`: linearizable (default) or stale. */
export function isStaleRead(query: URLSearchParams): boolean {
  const value = query.get('consistency');
  if (value === null || value === 'linearizable') return false;
  if (value === 'stale') return true;
  throw badRequest('consistency', 'must be linearizable or stale');
}

/**
 * Checks a JSON value from a body: nested at most MAX_JSON_DEPTH deep (400 naming the field),
 * then at most MAX_VALUE_BYTES as JSON (413). Depth first, without recursion: JSON.stringify
 * (here, and when the entry is applied) walks the value on the call stack.
 */
export function checkJsonValue(field: string, value: unknown): void {
  if (isTooDeep(value)) throw badRequest(field, `nested deeper than ${MAX_JSON_DEPTH} arrays/objects`);
  checkValueSize(field, value);
}

/** Checks a JSON value's encoded size (413 beyond MAX_VALUE_BYTES); the value must be depth-checked. */
export function checkValueSize(field: string, value: unknown): void {
  const bytes = Buffer.byteLength(JSON.stringify(value), 'utf8');
  if (bytes > MAX_VALUE_BYTES) {
    throw new ApiError('payload_too_large', `${field}: a value is at most ${MAX_VALUE_BYTES} bytes as JSON (got ${bytes})`, { field });
  }
}

/** A body field that must be present (any JSON value, null included). */
export function requiredField(body: Record<string, unknown>, field: string): unknown {
  if (!Object.hasOwn(body, field)) throw badRequest(field, 'is required');
  return body[field];
}

/** Length in Unicode code points (an emoji is one character, as a person counts it). */
function codePoints(text: string): number {
  let count = 0;
  for (const _char of text) count++;
  return count;
}

/** The text and author of a new quote, trimmed; the author defaults to DEFAULT_AUTHOR. */
export function quoteInput(body: Record<string, unknown>): { text: string; author: string } {
  const text = body.text;
  if (typeof text !== 'string') throw badRequest('text', 'is required and must be a string');
  const trimmedText = text.trim();
  if (trimmedText.length === 0) throw badRequest('text', 'must not be empty');
  if (trimmedText.length > MAX_QUOTE_TEXT_CHARS * 2 || codePoints(trimmedText) > MAX_QUOTE_TEXT_CHARS) {
    throw badRequest('text', `at most ${MAX_QUOTE_TEXT_CHARS} characters`);
  }
  const author = body.author;
  if (author !== undefined && author !== null && typeof author !== 'string') throw badRequest('author', 'must be a string');
  const trimmedAuthor = (author ?? '').trim();
  if (trimmedAuthor.length > MAX_AUTHOR_CHARS * 2 || codePoints(trimmedAuthor) > MAX_AUTHOR_CHARS) {
    throw badRequest('author', `at most ${MAX_AUTHOR_CHARS} characters`);
  }
  return { text: trimmedText, author: trimmedAuthor.length > 0 ? trimmedAuthor : DEFAULT_AUTHOR };
}
