import { describe, expect, it } from 'vitest';
import { isTooDeep, jsonDepth, jsonTextDepth, MAX_JSON_DEPTH } from './json-limits.js';

function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { a: value };
  return value;
}

describe('json-limits', () => {
  it('counts depth of scalars, arrays and objects', () => {
    expect(jsonDepth(1)).toBe(0);
    expect(jsonDepth(null)).toBe(0);
    expect(jsonDepth([])).toBe(1);
    expect(jsonDepth({ a: [1, { b: 2 }] })).toBe(3);
  });

  it('accepts exactly MAX_JSON_DEPTH and refuses one more', () => {
    expect(isTooDeep(nested(MAX_JSON_DEPTH))).toBe(false);
    expect(isTooDeep(nested(MAX_JSON_DEPTH + 1))).toBe(true);
  });

  it('walks a value nested 100,000 deep without recursion', () => {
    expect(jsonDepth(nested(100_000))).toBe(MAX_JSON_DEPTH + 1);
    expect(jsonDepth(nested(100_000), 200_000)).toBe(100_000);
  });

  it('counts the depth of JSON text, ignoring brackets inside strings', () => {
    expect(jsonTextDepth('{"a":"[[[[","b":[1,{"c":"\\\\\\"]"}]}')).toBe(3);
    expect(jsonTextDepth('['.repeat(10_000) + ']'.repeat(10_000))).toBe(MAX_JSON_DEPTH + 1);
    expect(jsonTextDepth(JSON.stringify(nested(MAX_JSON_DEPTH)))).toBe(MAX_JSON_DEPTH);
  });
});
