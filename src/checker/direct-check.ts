import { describeOp, showMs, uniqueOps } from './explain.js';
import { NONE, isDefiniteChange, observedValue, producedValue, type ModelOp } from './model.js';
import type { Failure } from './types.js';
import { ABSENT, showValue, type ValueTable } from './values.js';
import { CheckedAccessError, itemAt } from './checked.js';

/** Observers whose value has more writers than this are left to the search (keeps this check O(n log n)). */
export const MAX_PRODUCERS_PER_OBSERVATION = 64;

/** The initial state as a pseudo-writer of "absent", done before time began. */
const INITIAL: Pick<ModelOp, 'invokeMs' | 'completeMs'> = { invokeMs: Number.NEGATIVE_INFINITY, completeMs: Number.NEGATIVE_INFINITY };

type Producer = Pick<ModelOp, 'invokeMs' | 'completeMs'> & Partial<ModelOp>;

/**
 * Finds observations that real-time order alone proves wrong, without a search: an op
 * saw value v, but every op that could have written v is either invoked after the
 * observation completed, or was followed (strictly in real time) by an acknowledged
 * change to another value that completed before the observation began. Sound: each
 * report is a real violation. Incomplete: concurrent anomalies need the search.
 */
export function findStaleObservation(key: string, ops: readonly ModelOp[], values: ValueTable): Failure | undefined {
  const witnesses = new WitnessIndex(ops);
  const producers = groupProducers(ops);
  for (const observer of ops) {
    const v = observedValue(observer);
    if (v === NONE || observer.outcome === 'indeterminate') continue;
    const candidates: Producer[] = (producers.get(v) ?? []).filter((p) => p !== observer);
    if (v === ABSENT) candidates.push(INITIAL);
    if (candidates.length > MAX_PRODUCERS_PER_OBSERVATION) continue;
    if (candidates.some((p) => couldBeVisible(p, observer, v, witnesses))) continue;
    return staleFailure(key, ops, values, observer, candidates);
  }
  return undefined;
}

function groupProducers(ops: readonly ModelOp[]): Map<number, ModelOp[]> {
  const producers = new Map<number, ModelOp[]>();
  for (const op of ops) {
    const v = producedValue(op);
    if (v === NONE) continue;
    const list = producers.get(v) ?? [];
    if (list.length === 0) producers.set(v, list);
    list.push(op);
  }
  return producers;
}

/** Could producer p be the last change before observer o? (Ties in time count as concurrent.) */
function couldBeVisible(p: Producer, o: ModelOp, v: number, witnesses: WitnessIndex): boolean {
  if (p.invokeMs > o.completeMs) return false;
  const x = witnesses.earliestCompletingAfter(p.completeMs, v);
  return !x || x.completeMs >= o.invokeMs;
}

/**
 * For "is there an acknowledged change to a value other than v, invoked after time t,
 * that completed before time u?": definite changes sorted by invoke time, with suffix
 * minima of completion time. Each suffix keeps its best op and the best op with a
 * different value, so the query can skip changes that wrote v itself.
 */
class WitnessIndex {
  private readonly changes: ModelOp[];
  private readonly best1: Array<ModelOp | undefined>;
  private readonly best2: Array<ModelOp | undefined>;

  constructor(ops: readonly ModelOp[]) {
    this.changes = ops.filter(isDefiniteChange).sort((a, b) => a.invokeMs - b.invokeMs);
    const n = this.changes.length;
    this.best1 = new Array(n + 1).fill(undefined);
    this.best2 = new Array(n + 1).fill(undefined);
    for (let i = n - 1; i >= 0; i--) {
      const pool = [this.changes[i], this.best1[i + 1], this.best2[i + 1]].filter((x): x is ModelOp => x !== undefined);
      const first = minBy(pool);
      this.best1[i] = first;
      this.best2[i] = first === undefined ? undefined : minBy(pool.filter((x) => producedValue(x) !== producedValue(first)));
    }
  }

  /** The change invoked strictly after t that completed first, among those not writing v. */
  earliestCompletingAfter(t: number, v: number): ModelOp | undefined {
    let lo = 0;
    let hi = this.changes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (itemAt(this.changes, mid, 'witness changes').invokeMs > t) hi = mid;
      else lo = mid + 1;
    }
    const first = this.best1[lo];
    return first && producedValue(first) !== v ? first : this.best2[lo];
  }
}

function minBy(ops: readonly ModelOp[]): ModelOp | undefined {
  let best: ModelOp | undefined;
  for (const op of ops) if (!best || op.completeMs < best.completeMs) best = op;
  return best;
}

/** The explanation: what the op saw, what it should have seen, and why in real-time terms. */
function staleFailure(key: string, ops: readonly ModelOp[], values: ValueTable, o: ModelOp, candidates: Producer[]): Failure {
  const seen = showValue(values.value(observedValue(o)));
  const writers = candidates.filter((p): p is ModelOp => p.source !== undefined);
  const before = candidates.filter((p) => p.invokeMs <= o.completeMs);
  const latest = before.reduce<Producer | undefined>((a, p) => (!a || p.completeMs > a.completeMs ? p : a), undefined);
  const lines = [`  ${describeOp(o.source)},`];
  let title = 'stale read';
  let related: ModelOp[] = [];
  if (candidates.length === 0) {
    title = 'a value nobody wrote';
    lines.push(`  but no op in the history ever wrote ${seen}.`);
  } else if (!latest) {
    title = 'a value from the future';
    const firstWriter = writers[0];
    lines.push(`  but ${seen} was only written later, by an op invoked after this one completed:`, firstWriter ? `    ${describeOp(firstWriter.source)}` : '    (no write in the history)');
  } else {
    // The read was found stale because such a change exists: it is what hides the value it saw.
    const x = latestChangeBetween(ops, latest.completeMs, o.invokeMs, observedValue(o));
    if (x === undefined) throw new CheckedAccessError(`stale read of op ${String(o.source.id)} without a change between its value and it`);
    lines.push(`  but the latest acknowledged write before it was ${describeChange(x, values)} by ${x.source.clientId}, completed at ${showMs(x.completeMs)} ms:`, `    ${describeOp(x.source)}`);
    lines.push(latest.source ? `  and ${seen} was written earlier, acknowledged before that write was invoked:` : `  and ${seen} is only the initial state.`);
    if (latest.source) lines.push(`    ${describeOp(latest.source)}`);
    related = [x];
  }
  const explanation = [`Key ${JSON.stringify(key)} is not linearizable (${title}):`, ...lines].join('\n');
  return { key, explanation, focusOpId: o.source.id, ops: uniqueOps([o, ...related, ...writers.slice(0, 3)]) };
}

function describeChange(x: ModelOp, values: ValueTable): string {
  if (x.kind === 'delete') return 'a delete';
  return showValue(values.value(x.value));
}

/** The acknowledged change to a value other than v, invoked after t, completed before u, that completed last. */
function latestChangeBetween(ops: readonly ModelOp[], t: number, u: number, v: number): ModelOp | undefined {
  let best: ModelOp | undefined;
  for (const op of ops) {
    if (!isDefiniteChange(op) || producedValue(op) === v || op.invokeMs <= t || op.completeMs >= u) continue;
    if (!best || op.completeMs > best.completeMs) best = op;
  }
  return best;
}
