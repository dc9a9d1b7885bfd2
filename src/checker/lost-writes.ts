import { describeOp, showMs } from './explain.js';
import { checkLinearizability } from './linearizability.js';
import type { CheckOptions, CheckResult, HistoryOp, Json } from './types.js';
import { canonicalJson, showValue } from './values.js';
import { completionMs } from './checked.js';

/** A read of one key taken after the faults healed and the cluster settled. */
export interface FinalRead {
  key: string;
  /** The value read; null when the key is absent. */
  value: Json;
  /** Which node served it (for messages), e.g. "Node2". */
  nodeId?: string;
}

/** One problem the direct check found. */
export interface LostWriteProblem {
  key: string;
  kind: 'lost-write' | 'phantom-value';
  /** The acknowledged op whose effect vanished (lost-write). */
  op?: HistoryOp;
  finalRead: FinalRead;
  message: string;
}

/** Result of checkNoLostWrites. */
export interface LostWritesResult {
  ok: boolean | 'unknown';
  problems: LostWriteProblem[];
  /** The history with the final reads appended, checked for linearizability. */
  linearizability: CheckResult;
}

/**
 * Checks that no acknowledged write was lost (SPEC §2: "a write acknowledged to a client
 * is never lost while a majority of nodes keep their disks").
 *
 * Two ways, which must agree: the final reads are appended to the history as reads
 * invoked after everything else, and the whole is checked for linearizability; and a
 * direct check names each acknowledged write that no final read can explain, so the
 * report says which write vanished. With unique values, an acknowledged change w is
 * lost when the final value's every writer completed before w was invoked: w is then
 * ordered after all of them, and nothing after w can bring the final value back.
 */
export function checkNoLostWrites(history: readonly HistoryOp[], finalReads: readonly FinalRead[], options: CheckOptions = {}): LostWritesResult {
  const byKey = new Map<string, HistoryOp[]>();
  for (const op of history) {
    const ops = byKey.get(op.key) ?? [];
    if (ops.length === 0) byKey.set(op.key, ops);
    ops.push(op);
  }
  const problems = finalReads.flatMap((read) => directCheck(byKey.get(read.key) ?? [], read));
  const linearizability = checkLinearizability([...history, ...finalReadOps(history, finalReads)], options);
  const ok = problems.length > 0 || linearizability.ok === false ? false : linearizability.ok;
  return { ok, problems, linearizability };
}

/** Final reads as history ops invoked 1 ms after the latest time in the history. */
export function finalReadOps(history: readonly HistoryOp[], finalReads: readonly FinalRead[]): HistoryOp[] {
  const after = history.reduce((latest, op) => Math.max(latest, op.invokeMs, op.completeMs ?? op.invokeMs), 0) + 1;
  return finalReads.map((read, i) => ({
    id: `final:${i}`,
    clientId: `final:${read.nodeId ?? i}`,
    key: read.key,
    kind: 'read',
    input: {},
    invokeMs: after,
    completeMs: after + 1,
    outcome: 'ok',
    output: read.value,
  }));
}

/** The value an op may leave (canonical JSON; 'null' for a delete), or undefined. */
function produced(op: HistoryOp): string | undefined {
  if (op.outcome === 'fail') return undefined;
  if (op.kind === 'write') return canonicalJson(op.input.value);
  if (op.kind === 'cas') return canonicalJson(op.input.to);
  return op.kind === 'delete' ? 'null' : undefined;
}

function directCheck(ops: readonly HistoryOp[], read: FinalRead): LostWriteProblem[] {
  const finalValue = canonicalJson(read.value ?? null);
  const writers = ops.filter((op) => produced(op) === finalValue);
  const where = read.nodeId ? ` on ${read.nodeId}` : '';
  if (writers.length === 0 && read.value !== null) {
    return [{ key: read.key, kind: 'phantom-value', finalRead: read, message: `final read of ${JSON.stringify(read.key)}${where} returned ${showValue(read.value)}, which no op ever wrote` }];
  }
  // The initial state (absent) was "written" at -infinity; indeterminate writers may land any time.
  const lastWriterDone = writers.reduce((latest, w) => Math.max(latest, completionMs(w)), Number.NEGATIVE_INFINITY);
  const latestWriter = writers.reduce<HistoryOp | undefined>((a, w) => (!a || (w.completeMs ?? Infinity) > (a.completeMs ?? Infinity) ? w : a), undefined);
  return ops
    .filter((op) => op.outcome === 'ok' && op.kind !== 'read' && produced(op) !== finalValue && lastWriterDone < op.invokeMs)
    .map((op) => ({ key: read.key, kind: 'lost-write', op, finalRead: read, message: lostMessage(op, read, where, latestWriter) }));
}

function lostMessage(op: HistoryOp, read: FinalRead, where: string, latestWriter: HistoryOp | undefined): string {
  const origin = latestWriter
    ? `${showValue(read.value)} was last written by ${describeOp(latestWriter)}, acknowledged before this write was invoked (${showMs(op.invokeMs)} ms)`
    : 'the key was only absent initially, and no delete could have come after this write';
  return `${describeOp(op)} is lost: the final read${where} returned ${showValue(read.value)}; ${origin}, so nothing ordered after this write could have replaced its value`;
}
