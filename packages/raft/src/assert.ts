/** Thrown when a Raft invariant breaks: crash loudly rather than corrupt data (TigerStyle). */
export class RaftInvariantError extends Error {
  override readonly name = 'RaftInvariantError';
  readonly code = 'invariant_violated';
}

/** Asserts an invariant of the core; the message names the rule that broke. */
export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new RaftInvariantError(typeof message === 'string' ? message : message());
}

/**
 * Returns `value`, asserting that an invariant makes it present (neither undefined nor null):
 * an index already checked to be in range, a map key the owner always sets, a field a state
 * machine set on entering the current state. It replaces a silent `as T` or `!` (under
 * noUncheckedIndexedAccess) with a check that names the rule when it breaks.
 */
export function defined<T>(value: T | undefined | null, message: string | (() => string)): T {
  assert(value !== undefined && value !== null, message);
  return value;
}
