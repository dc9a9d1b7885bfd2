import { ILLEGAL, NONE, observedValue, producedValue, step, type ModelOp } from './model.js';
import type { StuckPoint } from './search.js';
import type { Failure, HistoryOp } from './types.js';
import { ABSENT, showValue, type ValueTable } from './values.js';
import { itemAt } from './checked.js';

/** Most ops listed in one failure window (the focus op, concurrent ops, related writes). */
export const MAX_WINDOW_OPS = 24;
/** Most writers of the needed value named in an explanation. */
const MAX_PRODUCERS_SHOWN = 3;

/** A time for humans: whole ms, or one decimal for sub-ms clocks. */
export function showMs(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '?';
  return Number.isInteger(ms) ? String(ms) : ms.toFixed(1);
}

/** One op in words, e.g. `read of "k" by c3 [1234–1240 ms] returned 5`. */
export function describeOp(op: HistoryOp): string {
  const key = JSON.stringify(op.key);
  const when = `by ${op.clientId} [${showMs(op.invokeMs)}–${op.outcome === 'indeterminate' ? '?' : showMs(op.completeMs)} ms]`;
  switch (op.kind) {
    case 'read':
      return `read of ${key} ${when} ${op.outcome === 'ok' ? `returned ${showValue(op.output)}` : '(no result)'}`;
    case 'write':
      return `write of ${showValue(op.input.value)} to ${key} ${when} ${status(op)}`;
    case 'cas':
      return `cas ${showValue(op.input.from)}→${showValue(op.input.to)} on ${key} ${when} ${status(op)}`;
    case 'delete':
      return `delete of ${key} ${when} ${status(op)}`;
  }
}

function status(op: HistoryOp): string {
  if (op.outcome === 'indeterminate') return '(outcome unknown)';
  if (op.outcome === 'ok') return op.kind === 'write' ? '(acknowledged)' : 'succeeded';
  const current = op.error === 'precondition_failed' && op.output !== undefined ? `, current ${showValue(op.output)}` : '';
  return `failed (${op.error ?? 'fail'}${current})`;
}

/** What the op needed to see, in words. */
function need(op: ModelOp, values: ValueTable): string {
  const v = observedValue(op);
  if (op.kind === 'delete' && op.outcome === 'ok') return 'the key to exist';
  if (op.kind === 'cas' && op.outcome === 'fail' && v === NONE) return `any value other than ${showValue(values.value(op.from))}`;
  if (v === NONE) return 'no particular value';
  return v === ABSENT ? 'the key to be absent' : `the value ${showValue(values.value(v))}`;
}

/** Ops that could have left value v in the register (writers of v, or the initial state for absent). */
export function producersOf(ops: readonly ModelOp[], v: number): ModelOp[] {
  return ops.filter((op) => producedValue(op) === v);
}

/** The latest definite change that completed before `op` was invoked (real-time order says it came first). */
export function latestAcknowledgedChangeBefore(ops: readonly ModelOp[], op: ModelOp): ModelOp | undefined {
  let best: ModelOp | undefined;
  for (const other of ops) {
    if (other.outcome !== 'ok' || other.kind === 'read' || other.completeMs >= op.invokeMs) continue;
    if (!best || other.completeMs > best.completeMs) best = other;
  }
  return best;
}

/** Builds the failure report for the deepest point where the search got stuck. */
export function explainStuck(key: string, ops: readonly ModelOp[], values: ValueTable, stuck: StuckPoint): Failure {
  const focus = itemAt(ops, stuck.op, 'stuck op');
  const lastChange = stuck.lastChange >= 0 ? ops[stuck.lastChange] : undefined;
  const pending = stuck.pending.map((i) => itemAt(ops, i, 'pending ops'));
  const acknowledged = latestAcknowledgedChangeBefore(ops, focus);
  const v = observedValue(focus);
  const producers = v === NONE ? [] : producersOf(ops, v).filter((p) => p !== focus);
  const lines = [
    `Key ${JSON.stringify(key)} is not linearizable: no valid order places this op:`,
    `  ${describeOp(focus.source)}`,
    `It needs ${need(focus, values)}. In the longest valid order found (${stuck.depth} of ${ops.length} ops), the register held ${showValue(values.value(stuck.state))} when it had to take effect,`,
    lastChange ? `  set by ${describeOp(lastChange.source)}.` : '  its initial state (nothing had changed it).',
  ];
  if (step(focus, stuck.state) !== ILLEGAL) lines.push('It could take effect there, but then no order of the remaining ops works.');
  if (acknowledged && acknowledged !== lastChange) lines.push(`The latest acknowledged change completed before it was invoked: ${describeOp(acknowledged.source)}.`);
  lines.push(...pendingLines(pending), ...producerLines(v, producers, values));
  const window = uniqueOps([focus, ...pending, lastChange, acknowledged, ...producers.slice(0, MAX_PRODUCERS_SHOWN)]);
  return { key, explanation: lines.join('\n'), focusOpId: focus.source.id, ops: window };
}

function pendingLines(pending: readonly ModelOp[]): string[] {
  if (pending.length === 0) return ['No other op was in flight at that point, so nothing could have gone before it.'];
  const shown = pending.slice(0, MAX_WINDOW_OPS);
  const more = pending.length > shown.length ? [`  … and ${pending.length - shown.length} more`] : [];
  return ['Ops in flight at that point (each could go first; no order of them makes it legal):', ...shown.map((op) => `  - ${describeOp(op.source)}`), ...more];
}

function producerLines(v: number, producers: readonly ModelOp[], values: ValueTable): string[] {
  if (v === NONE) return [];
  const shown = showValue(values.value(v));
  if (v === ABSENT && producers.length === 0) return [`${shown} is only the initial state.`];
  if (producers.length === 0) return [`No op in the history ever wrote ${shown}.`];
  return [`${shown} was written by:`, ...producers.slice(0, MAX_PRODUCERS_SHOWN).map((p) => `  - ${describeOp(p.source)}`)];
}

/** Source ops of a window, de-duplicated, time-ordered, capped at MAX_WINDOW_OPS. */
export function uniqueOps(ops: ReadonlyArray<ModelOp | undefined>): HistoryOp[] {
  const seen = new Set<ModelOp>();
  for (const op of ops) if (op && seen.size < MAX_WINDOW_OPS) seen.add(op);
  return [...seen].sort((a, b) => a.invokeMs - b.invokeMs).map((op) => op.source);
}
