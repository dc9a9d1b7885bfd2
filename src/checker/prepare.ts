import { NONE, isVagueObserver, observedValue, producedValue, type ModelOp } from './model.js';
import type { HistoryOp, Json } from './types.js';
import { ValueTable } from './values.js';
import { completionMs } from './checked.js';

/** A malformed history: the harness recorded something the checker cannot interpret. */
export class HistoryError extends Error {
  override readonly name = 'HistoryError';
  readonly code = 'bad_history';
  constructor(message: string, readonly op?: HistoryOp) {
    super(message);
  }
}

/** One key's history, compiled for the checks. */
export interface KeyHistory {
  key: string;
  values: ValueTable;
  /** Every op that constrains the register. */
  ops: ModelOp[];
  /** `ops` minus indeterminate ops whose effect nobody observed (see reduceUnobserved). */
  reduced: ModelOp[];
  /** True when `reduced` is linearizable exactly when `ops` is (no vague observers). */
  reductionExact: boolean;
  /** Ops dropped as known not applied or as constraining nothing. */
  droppedUninformative: number;
}

/** Validates the history and splits it per key (linearizability is compositional: Herlihy & Wing, §3.3). */
export function prepareHistory(history: readonly HistoryOp[]): KeyHistory[] {
  const seen = new Set<HistoryOp['id']>();
  const byKey = new Map<string, HistoryOp[]>();
  const dropped = new Map<string, number>();
  for (const op of history) {
    validateOp(op, seen);
    const list = byKey.get(op.key) ?? [];
    if (!byKey.has(op.key)) byKey.set(op.key, list);
    if (constrains(op)) list.push(op);
    else dropped.set(op.key, (dropped.get(op.key) ?? 0) + 1);
  }
  return [...byKey].map(([key, ops]) => compileKey(key, ops, dropped.get(key) ?? 0));
}

/** False for ops that tell nothing: a read without a result, a definite failure of a write. */
function constrains(op: HistoryOp): boolean {
  if (op.kind === 'read') return op.outcome === 'ok';
  if (op.kind === 'write') return op.outcome !== 'fail';
  return true; // cas and delete: even a failure observes the state
}

function validateOp(op: HistoryOp, seen: Set<HistoryOp['id']>): void {
  const fail = (why: string): never => {
    throw new HistoryError(`op ${String(op.id)} (${op.kind} of ${JSON.stringify(op.key)} by ${op.clientId}): ${why}`, op);
  };
  if (seen.has(op.id)) fail('duplicate op id');
  seen.add(op.id);
  if (!Number.isFinite(op.invokeMs)) fail('invokeMs must be a finite number');
  if (op.outcome !== 'indeterminate') {
    const completeMs = op.completeMs;
    if (completeMs === null || !Number.isFinite(completeMs)) return fail(`completeMs must be a finite number for outcome ${op.outcome}`);
    if (completeMs < op.invokeMs) fail('completeMs is before invokeMs');
  }
  if (op.kind === 'write' && (op.input.value === undefined || op.input.value === null)) fail('write needs input.value, and null is reserved for "absent"');
  if (op.kind === 'cas' && (op.input.from === undefined || op.input.to === undefined || op.input.to === null)) fail('cas needs input.from and a non-null input.to');
  if (op.kind === 'read' && op.outcome === 'ok' && op.output === undefined) fail('read ok needs output (null for an absent key)');
  if (op.outcome === 'fail' && (op.kind === 'cas' || op.kind === 'delete') && !op.error) fail('a cas or delete failure needs error (precondition_failed or not_found)');
  if (op.kind === 'delete' && op.outcome === 'fail' && op.error !== 'not_found') fail('a delete can only fail with not_found');
  if (op.error === 'precondition_failed' && op.output === null) fail('precondition_failed means the key exists, so output (current) cannot be null');
}

function compileKey(key: string, source: HistoryOp[], droppedUninformative: number): KeyHistory {
  const values = new ValueTable();
  const ops = source.map((op, index) => compileOp(op, index, values));
  const reduced = reduceUnobserved(ops);
  return { key, values, ops, reduced, reductionExact: !ops.some(isVagueObserver), droppedUninformative };
}

function compileOp(op: HistoryOp, index: number, values: ValueTable): ModelOp {
  const id = (value: Json | undefined): number => (value === undefined ? NONE : values.id(value));
  const input = op.kind === 'write' ? op.input.value : op.kind === 'cas' ? op.input.to : undefined;
  return {
    index,
    source: op,
    kind: op.kind,
    outcome: op.outcome,
    error: op.error,
    value: id(input),
    from: op.kind === 'cas' ? id(op.input.from) : NONE,
    output: op.kind === 'read' || op.outcome === 'fail' ? id(op.output) : NONE,
    invokeMs: op.invokeMs,
    completeMs: completionMs(op),
  };
}

/**
 * Drops indeterminate ops whose resulting value no op ever observes, to a fixed point.
 *
 * Why this is sound: a reduced history that is linearizable stays so with the dropped
 * ops appended at the end (their completion is +infinity). Why it is exact when there
 * are no vague observers: in any linearization, the ops between a dropped op and the
 * next change either do not look at the value (they would be observers) or are
 * indeterminate no-ops that can move to the end. The search still falls back to the
 * full history before reporting a violation when the reduction is not exact.
 */
function reduceUnobserved(ops: ModelOp[]): ModelOp[] {
  const observers = new Map<number, number>();
  const count = (op: ModelOp, delta: number): void => {
    const v = observedValue(op);
    if (v !== NONE) observers.set(v, (observers.get(v) ?? 0) + delta);
  };
  ops.forEach((op) => count(op, 1));
  const kept = new Set(ops);
  for (let changed = true; changed; ) {
    changed = false;
    for (const op of kept) {
      if (op.outcome !== 'indeterminate' || (observers.get(producedValue(op)) ?? 0) > 0) continue;
      kept.delete(op);
      count(op, -1); // an indeterminate cas no longer observes its `from`
      changed = true;
    }
  }
  return renumber([...kept]);
}

/** Copies ops with indexes 0..n-1 (the search uses them as bit positions). */
function renumber(ops: ModelOp[]): ModelOp[] {
  return ops.map((op, index) => ({ ...op, index }));
}
