import { describe, expect, it } from 'vitest';
import { canonicalJson, decodeCommand, requestHash } from './command-codec.js';
import { MAX_JSON_DEPTH } from './json-limits.js';

describe('canonicalJson', () => {
  it('sorts object keys at every level and matches JSON.stringify otherwise', () => {
    const value = JSON.parse('{"b":[1,{"d":null,"c":"x"}],"a":{"z":-0,"y":[]},"__proto__":{"q":1e400}}') as unknown;
    expect(canonicalJson(value)).toBe('{"__proto__":{"q":null},"a":{"y":[],"z":0},"b":[1,{"c":"x","d":null}]}');
    for (const plain of [null, 1, 'é', true, [], {}, [[[]]], ['a', { k: [1, 2] }]]) expect(canonicalJson(plain)).toBe(JSON.stringify(plain));
    expect(canonicalJson(undefined)).toBe('null');
  });

  // Issue 15 finding 1: the recursive version overflowed the stack on a `from` 3,500 deep.
  it('walks a value nested 200,000 deep without recursion', () => {
    const depth = 200_000;
    const text = `${'['.repeat(depth)}{"b":1,"a":2}${']'.repeat(depth)}`;
    expect(canonicalJson(JSON.parse(text))).toBe(`${'['.repeat(depth)}{"a":2,"b":1}${']'.repeat(depth)}`);
  });
});

describe('decodeCommand', () => {
  const deep = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;

  it(`treats a value, from or to nested deeper than ${MAX_JSON_DEPTH} as invalid`, () => {
    expect(decodeCommand(`{"op":"put","key":"k","value":${deep(MAX_JSON_DEPTH)}}`)).not.toBeNull();
    expect(decodeCommand(`{"op":"put","key":"k","value":${deep(MAX_JSON_DEPTH + 1)}}`)).toBeNull();
    expect(decodeCommand(`{"op":"cas","key":"k","from":${deep(3_500)},"to":1}`)).toBeNull();
    expect(decodeCommand(`{"op":"cas","key":"k","from":1,"to":${deep(100_000)}}`)).toBeNull();
  });
});

describe('requestHash', () => {
  it('identifies what the client sent: op, key, value (canonically), quote text and author, not postedAt', () => {
    expect(requestHash({ op: 'put', key: 'k', value: { a: 1, b: 2 } })).toBe(requestHash({ op: 'put', key: 'k', value: { b: 2, a: 1 }, idempotencyKey: 'x' }));
    expect(requestHash({ op: 'put', key: 'k', value: 1 })).not.toBe(requestHash({ op: 'put', key: 'j', value: 1 }));
    expect(requestHash({ op: 'put', key: 'k', value: 1 })).not.toBe(requestHash({ op: 'put', key: 'k', value: '1' }));
    expect(requestHash({ op: 'cas', key: 'k', from: 1, to: 2 })).not.toBe(requestHash({ op: 'cas', key: 'k', from: 2, to: 1 }));
    expect(requestHash({ op: 'delete', key: 'k' })).not.toBe(requestHash({ op: 'put', key: 'k', value: null }));
    expect(requestHash({ op: 'quote', text: 't', author: 'a', postedAt: '1' })).toBe(requestHash({ op: 'quote', text: 't', author: 'a', postedAt: '2' }));
    expect(requestHash({ op: 'quote', text: 't', author: 'a', postedAt: '1' })).not.toBe(requestHash({ op: 'quote', text: 't', author: 'b', postedAt: '1' }));
    expect(requestHash({ op: 'delete', key: 'k' })).toMatch(/^[0-9a-f]{64}$/);
  });
});
