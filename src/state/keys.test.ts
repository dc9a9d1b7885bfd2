import { describe, expect, it } from 'vitest';
import { MAX_KEY_BYTES, keyProblem } from './keys.js';

describe('keyProblem', () => {
  it('accepts a key of exactly MAX_KEY_BYTES bytes of UTF-8, slashes and non-ASCII included', () => {
    expect(keyProblem('é'.repeat(MAX_KEY_BYTES / 2))).toBeNull();
    expect(keyProblem('a/b/ç/😀')).toBeNull();
  });

  it('refuses the empty key and one byte over the limit', () => {
    expect(keyProblem('')).toBe('must not be empty');
    expect(keyProblem('k'.repeat(MAX_KEY_BYTES + 1))).toMatch(/at most 1024 bytes/);
  });

  it('refuses C0, DEL and C1 control characters alike', () => {
    for (const control of ['\u0000', '\n', '\u001f', '\u007f', '\u0080', '\u0085', '\u009f']) {
      expect(keyProblem(`a${control}b`)).toBe('must not contain control characters');
    }
    expect(keyProblem('a\u00a0b')).toBeNull(); // NBSP is printable
  });
});
