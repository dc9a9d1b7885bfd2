/**
 * Bounds on client JSON values (SPEC §3 "Limits"), checked without recursion: a value nested
 * thousands deep must be refused, never walked on the call stack (a stack overflow while
 * applying a committed entry would crash every node, and every restart).
 */

/** A JSON value (a KV value, a cas `from`/`to`) may nest arrays and objects at most this deep. */
export const MAX_JSON_DEPTH = 64;

/**
 * The nesting depth of a parsed JSON value: 0 for a scalar, 1 for `[]` or `{}`, and so on.
 * Iterative, and stops counting once `limit` is passed (the answer is then `limit + 1`), so a
 * hostile value costs at most its size to check.
 */
export function jsonDepth(value: unknown, limit = MAX_JSON_DEPTH): number {
  let deepest = 0;
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const item = stack.pop() as { value: unknown; depth: number };
    if (item.value === null || typeof item.value !== 'object') continue;
    const depth = item.depth + 1;
    if (depth > limit) return limit + 1;
    if (depth > deepest) deepest = depth;
    const children = Array.isArray(item.value) ? item.value : Object.values(item.value);
    for (const child of children) if (child !== null && typeof child === 'object') stack.push({ value: child, depth });
  }
  return deepest;
}

/** True when the value nests deeper than MAX_JSON_DEPTH (or `limit`). */
export function isTooDeep(value: unknown, limit = MAX_JSON_DEPTH): boolean {
  return jsonDepth(value, limit) > limit;
}

/**
 * The nesting depth of JSON *text*, counted over its brackets without parsing (strings are
 * skipped). Lets a decoder refuse a hostile body before JSON.parse builds it. Returns at most
 * `limit + 1`.
 */
export function jsonTextDepth(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > deepest) deepest = depth;
      if (deepest > limit) return limit + 1;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}
