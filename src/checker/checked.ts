import type { HistoryOp, Json } from './types.js';

/** A broken invariant of the checker or the simulator: a bug in them, never a verdict on a history. */
export class CheckedAccessError extends Error {
  override readonly name = 'CheckedAccessError';
  readonly code = 'checked_access';
}

/**
 * Element `i` of a list the caller indexes within bounds by construction (its own loop, a
 * table built for every op, a PRNG draw below the length). Throws instead of handing on an
 * `undefined` the type does not admit; `what` names the list in the message.
 */
export function itemAt<T>(list: readonly T[], i: number, what: string): T {
  const item = list[i];
  if (item === undefined) throw new CheckedAccessError(`${what}: no element ${i} of ${list.length}`);
  return item;
}

/**
 * When an op took effect at the latest: its completion, or +infinity for an indeterminate op
 * (it may take effect any time, or never). A definite op without a completion is refused:
 * prepare.ts rejects such histories before anything else reads them.
 */
export function completionMs(op: HistoryOp): number {
  if (op.outcome === 'indeterminate') return Number.POSITIVE_INFINITY;
  if (op.completeMs === null) throw new CheckedAccessError(`op ${String(op.id)} is ${op.outcome} but has no completeMs`);
  return op.completeMs;
}

/**
 * A value a node read back from its state machine, which stores only what JSON.parse gave it:
 * checked to be JSON, so the history holds exactly what the checker compares.
 */
export function jsonValue(value: unknown): Json {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (Array.isArray(value)) return value.map(jsonValue);
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonValue(v)]));
  }
  throw new CheckedAccessError(`not a JSON value: ${String(value)}`);
}
