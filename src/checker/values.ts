import type { Json } from './types.js';

/** Longest value text shown in explanations and the timeline before it is cut short. */
export const MAX_SHOWN_VALUE_CHARS = 60;

/** The interned id of "key absent". Real values get ids from 1. */
export const ABSENT = 0;

/**
 * Canonical JSON: object keys sorted, no whitespace, so equal values compare equal
 * whatever order the server serialized them in.
 */
export function canonicalJson(value: Json | undefined): string {
  if (value === undefined) return 'undefined';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
}

/** A value for humans: canonical JSON, cut to MAX_SHOWN_VALUE_CHARS. */
export function showValue(value: Json | undefined): string {
  if (value === null || value === undefined) return '(absent)';
  const text = canonicalJson(value);
  return text.length <= MAX_SHOWN_VALUE_CHARS ? text : `${text.slice(0, MAX_SHOWN_VALUE_CHARS - 1)}…`;
}

/**
 * Interns values as small integers so the search compares and hashes states as
 * numbers. null (absent) is always ABSENT.
 */
export class ValueTable {
  private readonly ids = new Map<string, number>();
  private readonly values: Json[] = [null];

  /** The id of a value; null maps to ABSENT. */
  id(value: Json): number {
    if (value === null) return ABSENT;
    const text = canonicalJson(value);
    let id = this.ids.get(text);
    if (id === undefined) {
      id = this.values.length;
      this.ids.set(text, id);
      this.values.push(value);
    }
    return id;
  }

  /** The value of an id (null for ABSENT). */
  value(id: number): Json {
    return this.values[id] ?? null;
  }
}
