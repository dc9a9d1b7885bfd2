import type { Command } from './types.js';

/**
 * Decodes the JSON of a normal entry into a Command. Entries come from the replicated log,
 * so every node decodes the same bytes the same way; a malformed entry (which the API never
 * proposes) becomes an `invalid_command` result on every node instead of crashing them all.
 *
 * The command is rebuilt from its known fields only, with every string field made
 * well-formed (a lone UTF-16 surrogate becomes U+FFFD): SQLite and the snapshot encoding
 * store strings as UTF-8, where a lone surrogate cannot survive, so without this a key or
 * a quote would read back differently from what was applied, and differ between a replica
 * that applied the entry and one restored from a snapshot.
 */
export function decodeCommand(data: string): Command | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return null;
  }
  if (!isRecord(parsed) || !optionalString(parsed.idempotencyKey)) return null;
  const id = parsed.idempotencyKey === undefined ? {} : { idempotencyKey: wellFormed(parsed.idempotencyKey as string) };
  const has = (field: string): boolean => Object.prototype.hasOwnProperty.call(parsed, field);
  switch (parsed.op) {
    case 'put':
      return typeof parsed.key === 'string' && has('value') ? { op: 'put', key: wellFormed(parsed.key), value: parsed.value, ...id } : null;
    case 'delete':
      return typeof parsed.key === 'string' ? { op: 'delete', key: wellFormed(parsed.key), ...id } : null;
    case 'cas':
      return typeof parsed.key === 'string' && has('from') && has('to') ? { op: 'cas', key: wellFormed(parsed.key), from: parsed.from, to: parsed.to, ...id } : null;
    case 'quote':
      return typeof parsed.text === 'string' && typeof parsed.author === 'string' && typeof parsed.postedAt === 'string'
        ? { op: 'quote', text: wellFormed(parsed.text), author: wellFormed(parsed.author), postedAt: wellFormed(parsed.postedAt), ...id }
        : null;
    default:
      return null;
  }
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** The string with each lone surrogate replaced by U+FFFD (String.prototype.toWellFormed). */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\ufffd');
}

/**
 * Orders strings by Unicode code point, which is the byte order of their UTF-8 (SQLite's
 * BINARY collation). Plain `<` compares UTF-16 code units, which puts U+E000..U+FFFF after
 * characters beyond U+FFFF. Both state machines list keys in this order in a snapshot, so
 * equal states give equal bytes.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (D800..DFFF) encode code points above FFFF: move them above E000..FFFF.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown): boolean {
  return value === undefined || typeof value === 'string';
}

/**
 * JSON with object keys sorted, so `{"a":1,"b":2}` and `{"b":2,"a":1}` compare equal in a
 * cas: clients think of JSON objects as unordered.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}
