/**
 * Narrowing helpers for values from outside the type system: caught exceptions (`unknown`
 * under strict TypeScript) and strings that must belong to a closed set. They replace casts
 * that would only silence the compiler with a check that holds at run time.
 */

/** The message of a caught value: an Error's message, or the value as text (JavaScript may throw anything). */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The `code` of a caught Node.js system error (ENOENT, EADDRINUSE...), or undefined. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}

/** `value` as a member of `allowed`, or undefined when it is not one (or not a string). */
export function oneOf<T extends string>(allowed: readonly T[], value: unknown): T | undefined {
  return allowed.find((member) => member === value);
}

/** A JSON object (not null, not an array), whose fields are still to be checked one by one. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
