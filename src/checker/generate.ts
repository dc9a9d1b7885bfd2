import { Prng } from './prng.js';
import type { HistoryOp, Json, OpKind } from './types.js';

/** One op to run in a generated sequential execution. Inputs are chosen when it takes effect. */
export interface PlannedOp {
  clientId: string;
  key: string;
  kind: OpKind;
  invokeMs: number;
  completeMs: number;
  /** When the op takes effect: within [invokeMs, completeMs] for definite ops; later or never (null) for indeterminate ones. */
  effectAtMs: number | null;
  indeterminate: boolean;
  /** cas: whether `from` is the current value (so it succeeds), or a wrong guess. */
  casHit: boolean;
}

/** Options for generateLinearizableHistory. */
export interface GenerateOptions {
  seed: number;
  ops: number;
  clients: number;
  keys?: string[];
  /** Chance that an op times out (indeterminate). Half of those still take effect, later. */
  indeterminateChance?: number;
  maxLatencyMs?: number;
  maxThinkMs?: number;
}

const KIND_WEIGHTS: ReadonlyArray<[OpKind, number]> = [['read', 40], ['write', 30], ['cas', 25], ['delete', 5]];
/** An indeterminate op that does take effect does so within this many latencies of its invoke. */
const LATE_EFFECT_LATENCIES = 20;

/**
 * A linearizable history by construction: each client runs ops one after another with
 * random latency and think time; each op takes effect at a random instant inside its
 * interval (or later / never when it times out); the register is applied in order of
 * those instants. Used by the checker's own tests and to self-test a harness.
 */
export function generateLinearizableHistory(options: GenerateOptions): HistoryOp[] {
  const prng = new Prng(options.seed);
  const keys = options.keys ?? ['k'];
  const planned: PlannedOp[] = [];
  const perClient = Math.ceil(options.ops / options.clients);
  for (let c = 0; c < options.clients && planned.length < options.ops; c++) {
    let t = prng.range(0, options.maxThinkMs ?? 5);
    for (let i = 0; i < perClient && planned.length < options.ops; i++) {
      const op = planOp(prng, `c${c}`, prng.pick(keys), t, options);
      planned.push(op);
      t = op.completeMs + prng.range(0, options.maxThinkMs ?? 5);
    }
  }
  return executeSequentially(planned);
}

function planOp(prng: Prng, clientId: string, key: string, invokeMs: number, options: GenerateOptions): PlannedOp {
  const latency = prng.range(1, options.maxLatencyMs ?? 20);
  const indeterminate = prng.chance(options.indeterminateChance ?? 0);
  const completeMs = invokeMs + latency;
  const lateEffect = indeterminate && prng.chance(0.5) ? invokeMs + prng.float() * latency * LATE_EFFECT_LATENCIES : null;
  const effectAtMs = indeterminate ? lateEffect : invokeMs + prng.float() * latency;
  return { clientId, key, kind: weightedKind(prng), invokeMs, completeMs, effectAtMs, indeterminate, casHit: prng.chance(0.6) };
}

function weightedKind(prng: Prng): OpKind {
  let roll = prng.int(KIND_WEIGHTS.reduce((sum, [, w]) => sum + w, 0));
  for (const [kind, weight] of KIND_WEIGHTS) {
    if (roll < weight) return kind;
    roll -= weight;
  }
  return 'read';
}

/**
 * Runs planned ops against a sequential register in order of effectAtMs and records
 * what each client would have seen. Every written value is unique. Ops that never
 * take effect get inputs but no effect.
 */
export function executeSequentially(planned: readonly PlannedOp[]): HistoryOp[] {
  const state = new Map<string, Json>();
  let unique = 0;
  const fresh = (): Json => `v${++unique}`;
  const order = planned.map((op, i) => ({ op, i })).sort((a, b) => effectOrder(a.op) - effectOrder(b.op) || a.i - b.i);
  const result: HistoryOp[] = new Array(planned.length);
  for (const { op, i } of order) {
    const applied = op.effectAtMs !== null;
    const current = state.get(op.key) ?? null;
    const h = applyOp(op, current, fresh);
    if (applied && h.next !== undefined) setState(state, op.key, h.next);
    result[i] = { id: i, clientId: op.clientId, key: op.key, kind: op.kind, invokeMs: op.invokeMs, ...h.record, completeMs: op.indeterminate ? null : op.completeMs };
  }
  return result.sort((a, b) => a.invokeMs - b.invokeMs || Number(a.id) - Number(b.id));
}

function effectOrder(op: PlannedOp): number {
  return op.effectAtMs ?? Number.POSITIVE_INFINITY;
}

function setState(state: Map<string, Json>, key: string, value: Json): void {
  if (value === null) state.delete(key);
  else state.set(key, value);
}

type Applied = { next?: Json; record: Pick<HistoryOp, 'input' | 'outcome' | 'output' | 'error'> };

function applyOp(op: PlannedOp, current: Json, fresh: () => Json): Applied {
  const unknown = op.indeterminate;
  switch (op.kind) {
    case 'read':
      return { record: unknown ? { input: {}, outcome: 'indeterminate' } : { input: {}, outcome: 'ok', output: current } };
    case 'write': {
      const value = fresh();
      return { next: value, record: { input: { value }, outcome: unknown ? 'indeterminate' : 'ok' } };
    }
    case 'delete':
      if (unknown) return { next: null, record: { input: {}, outcome: 'indeterminate' } };
      return current === null ? { record: { input: {}, outcome: 'fail', error: 'not_found' } } : { next: null, record: { input: {}, outcome: 'ok' } };
    case 'cas':
      return applyCas(op, current, fresh);
  }
}

function applyCas(op: PlannedOp, current: Json, fresh: () => Json): Applied {
  const from = op.casHit && current !== null ? current : fresh();
  const to = fresh();
  const hit = current !== null && from === current;
  if (op.indeterminate) return { next: hit ? to : undefined, record: { input: { from, to }, outcome: 'indeterminate' } };
  if (hit) return { next: to, record: { input: { from, to }, outcome: 'ok' } };
  if (current === null) return { record: { input: { from, to }, outcome: 'fail', error: 'not_found' } };
  return { record: { input: { from, to }, outcome: 'fail', error: 'precondition_failed', output: current } };
}
