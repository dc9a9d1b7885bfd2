import type { Command } from './types.js';

/**
 * Decodes the JSON of a normal entry into a Command. Entries come from the replicated log,
 * so every node decodes the same bytes the same way; a malformed entry (which the API never
 * proposes) becomes an `invalid_command` result on every node instead of crashing them all.
 */
export function decodeCommand(data: string): Command | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return null;
  }
  if (!isRecord(parsed) || !optionalString(parsed.idempotencyKey)) return null;
  switch (parsed.op) {
    case 'put':
      return typeof parsed.key === 'string' && 'value' in parsed ? (parsed as Command) : null;
    case 'delete':
      return typeof parsed.key === 'string' ? (parsed as Command) : null;
    case 'cas':
      return typeof parsed.key === 'string' && 'from' in parsed && 'to' in parsed ? (parsed as Command) : null;
    case 'quote':
      return typeof parsed.text === 'string' && typeof parsed.author === 'string' && typeof parsed.postedAt === 'string' ? (parsed as Command) : null;
    default:
      return null;
  }
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
