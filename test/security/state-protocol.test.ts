/**
 * Issue 15 finding 1, through the UDP controller: a STORE whose value is nested deeper than
 * MAX_JSON_DEPTH is answered with ERROR before anything walks it recursively.
 */
import { describe, expect, it } from 'vitest';
import { parseDatagram } from '../../src/controller/protocol.js';
import { MAX_JSON_DEPTH } from '../../src/state/json-limits.js';

const store = (valueText: string): Uint8Array => Buffer.from(`{"sender_name":"c","request":"STORE","term":null,"key":"k","value":${valueText}}`);
const deep = (depth: number): string => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
const deepObject = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

describe('controller STORE nesting limit', () => {
  it(`accepts a value ${MAX_JSON_DEPTH} deep`, () => {
    expect(parseDatagram(store(deep(MAX_JSON_DEPTH)))).toMatchObject({ request: 'STORE', key: 'k' });
  });

  it.each([MAX_JSON_DEPTH + 1, 3_500, 9_000])('refuses a value %i deep (arrays and objects) with an ERROR naming the value', (depth) => {
    for (const text of [deep(depth), deepObject(depth)]) {
      expect(parseDatagram(store(text))).toEqual({ bad: true, request: 'STORE', reason: `value: nested deeper than ${MAX_JSON_DEPTH} arrays/objects` });
    }
  });
});
