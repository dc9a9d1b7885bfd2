/** Thrown when a Raft invariant breaks: crash loudly rather than corrupt data (TigerStyle). */
export class RaftInvariantError extends Error {
  override readonly name = 'RaftInvariantError';
  readonly code = 'invariant_violated';
}

/** Asserts an invariant of the core; the message names the rule that broke. */
export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new RaftInvariantError(typeof message === 'string' ? message : message());
}
