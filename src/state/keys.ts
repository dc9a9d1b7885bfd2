/**
 * What a KV key may be (SPEC §3), in one place: the HTTP API and the UDP controller both refuse
 * exactly what this refuses, so a key stored through one is always readable through the other.
 */

/** A KV key: at most this many bytes of UTF-8. */
export const MAX_KEY_BYTES = 1024;

// C0, DEL and C1 controls: invisible in logs and terminals, and never meaningful in a key.
// eslint-disable-next-line no-control-regex -- control characters are exactly what we refuse
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

/** Why `key` is not a valid KV key (a phrase without the field name), or null when it is one. */
export function keyProblem(key: string): string | null {
  if (key.length === 0) return 'must not be empty';
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return `at most ${MAX_KEY_BYTES} bytes of UTF-8`;
  if (CONTROL_CHARS.test(key)) return 'must not contain control characters';
  return null;
}
