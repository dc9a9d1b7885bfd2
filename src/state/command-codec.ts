import { createHash } from 'node:crypto';
import { isTooDeep } from './json-limits.js';
import type { Command } from './types.js';
import { isRecord } from '../narrow.js';

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
 *
 * A value (`value`, `from`, `to`) nested deeper than MAX_JSON_DEPTH makes the entry invalid:
 * the API and the controller refuse such values, so only a hostile or old log holds one, and
 * applying it (canonicalJson, JSON.stringify) must never walk it on the call stack. V8's
 * JSON.parse is iterative, and the depth check (jsonDepth) is too.
 */
export function decodeCommand(data: string): Command | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return null;
  }
  if (!isRecord(parsed) || !optionalString(parsed.idempotencyKey)) return null;
  if (isTooDeep(parsed.value) || isTooDeep(parsed.from) || isTooDeep(parsed.to)) return null;
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


function optionalString(value: unknown): boolean {
  return value === undefined || typeof value === 'string';
}

/** A piece of output text already produced, on canonicalJson's work stack. */
class Text {
  constructor(readonly text: string) {}
}

const OPEN_ARRAY = new Text('[');
const CLOSE_ARRAY = new Text(']');
const OPEN_OBJECT = new Text('{');
const CLOSE_OBJECT = new Text('}');
const COMMA = new Text(',');

/**
 * JSON with object keys sorted, so `{"a":1,"b":2}` and `{"b":2,"a":1}` compare equal in a
 * cas: clients think of JSON objects as unordered.
 *
 * Iterative (an explicit work stack, popped in output order): a value nested thousands deep
 * in a committed entry would overflow the call stack of a recursive version on every node, and
 * again on every restart. Memory is linear in the value's size whatever its depth.
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  const work: unknown[] = [value];
  while (work.length > 0) {
    const item = work.pop();
    if (item instanceof Text) out.push(item.text);
    else if (Array.isArray(item)) pushArray(work, item);
    else if (isRecord(item)) pushObject(work, item);
    else out.push(JSON.stringify(item ?? null));
  }
  return out.join('');
}

/** Pushes `[a,b,c]` onto the work stack in reverse, so it pops in order. */
function pushArray(work: unknown[], items: readonly unknown[]): void {
  work.push(CLOSE_ARRAY);
  for (let i = items.length - 1; i >= 0; i--) {
    work.push(items[i]);
    if (i > 0) work.push(COMMA);
  }
  work.push(OPEN_ARRAY);
}

/** Pushes `{"k":v,...}` (keys sorted, undefined members dropped) onto the work stack in reverse. */
function pushObject(work: unknown[], record: Record<string, unknown>): void {
  const keys = Object.keys(record)
    .filter((k) => record[k] !== undefined)
    .sort();
  work.push(CLOSE_OBJECT);
  for (const [i, key] of [...keys.entries()].reverse()) {
    work.push(record[key], new Text(`${JSON.stringify(key)}:`));
    if (i > 0) work.push(COMMA);
  }
  work.push(OPEN_OBJECT);
}

/**
 * What identifies a request for its Idempotency-Key (SPEC §3): the operation and what the
 * client sent (key and value, from/to, or quote text and author), never what the proposer
 * added (postedAt) nor the key itself. Values compare canonically, as a cas does. A SHA-256
 * in hex, so a record stays small whatever the value's size. Deterministic: it is computed
 * while applying, the same on every replica.
 */
export function requestHash(command: Command): string {
  const parts: unknown[] =
    command.op === 'put'
      ? ['put', command.key, command.value]
      : command.op === 'delete'
        ? ['delete', command.key]
        : command.op === 'cas'
          ? ['cas', command.key, command.from, command.to]
          : ['quote', command.text, command.author];
  return createHash('sha256').update(canonicalJson(parts), 'utf8').digest('hex');
}
