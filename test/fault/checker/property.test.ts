import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bruteForceLinearizable } from '../../../src/checker/brute-force.js';
import { executeSequentially, generateLinearizableHistory, type PlannedOp } from '../../../src/checker/generate.js';
import { checkLinearizability } from '../../../src/checker/index.js';
import type { HistoryOp, OpKind } from '../../../src/checker/types.js';

/** Gap between successive effects in the jittered executions. */
const EFFECT_SPACING_MS = 10;

const plannedStep = fc.record({
  kind: fc.constantFrom<OpKind>('read', 'read', 'write', 'write', 'cas', 'cas', 'delete'),
  casHit: fc.boolean(),
  before: fc.double({ min: 0, max: 1, noNaN: true }),
  after: fc.double({ min: 0, max: 1, noNaN: true }),
  timeout: fc.constantFrom('none', 'none', 'none', 'none', 'late', 'never'),
  lateByMs: fc.integer({ min: 0, max: 2000 }),
});
type PlannedStep = typeof plannedStep extends fc.Arbitrary<infer T> ? T : never;

/**
 * A real sequential execution (op i takes effect at i * spacing) turned into a
 * concurrent history: each op's interval is its effect time widened by random jitter on
 * both sides, small enough that one client's ops never overlap.
 */
function jitteredHistory(clients: number, steps: Array<PlannedStep>): HistoryOp[] {
  const halfWidth = (EFFECT_SPACING_MS * clients) / 2 - 1;
  const planned: PlannedOp[] = steps.map((s, i) => {
    const effect = i * EFFECT_SPACING_MS;
    const invokeMs = Math.floor(effect - s.before * halfWidth);
    const late = s.timeout === 'late' ? effect + s.lateByMs : null;
    return {
      clientId: `c${i % clients}`,
      key: 'k',
      kind: s.kind,
      invokeMs,
      completeMs: Math.ceil(effect + s.after * halfWidth),
      effectAtMs: s.timeout === 'none' ? effect : late,
      indeterminate: s.timeout !== 'none',
      casHit: s.casHit,
    };
  });
  return executeSequentially(planned);
}

describe('checker properties', () => {
  it('finds every jittered sequential execution linearizable', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 }), fc.array(plannedStep, { minLength: 1, maxLength: 300 }), (clients, steps) => {
        const result = checkLinearizability(jitteredHistory(clients, steps));
        expect(result.failure?.explanation).toBeUndefined();
        expect(result.ok).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('finds generated concurrent histories with timeouts linearizable', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 12 }), (seed, clients) => {
        const history = generateLinearizableHistory({ seed, ops: 400, clients, indeterminateChance: 0.05, maxLatencyMs: 30 });
        expect(checkLinearizability(history).ok).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('agrees with brute force on tiny arbitrary histories', () => {
    fc.assert(
      fc.property(fc.array(arbitraryOp, { minLength: 1, maxLength: 7 }), (raw) => {
        const history = raw.map((op, id) => ({ ...op, id }));
        const expected = bruteForceLinearizable(history);
        expect(checkLinearizability(history).ok).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees with brute force on tiny generated histories with one op corrupted', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 4 }), fc.nat(), fc.nat(3), (seed, clients, pick, value) => {
        const history = generateLinearizableHistory({ seed, ops: 8, clients, indeterminateChance: 0.2, maxLatencyMs: 10 });
        const victim = history[pick % history.length] as HistoryOp;
        if (victim.kind === 'read' && victim.outcome === 'ok') victim.output = value === 0 ? null : `v${value}`;
        expect(checkLinearizability(history).ok).toBe(bruteForceLinearizable(history));
      }),
      { numRuns: 1500 },
    );
  });
});

/** Small value domain (repeats on purpose), every kind and outcome, overlapping times. */
const arbitraryOp = fc
  .record({
    clientId: fc.constantFrom('c1', 'c2', 'c3'),
    kind: fc.constantFrom<OpKind>('read', 'write', 'cas', 'delete'),
    invokeMs: fc.integer({ min: 0, max: 30 }),
    durationMs: fc.integer({ min: 0, max: 15 }),
    result: fc.constantFrom('ok', 'ok', 'precondition_failed', 'not_found', 'indeterminate'),
    a: fc.integer({ min: 1, max: 3 }),
    b: fc.integer({ min: 1, max: 3 }),
    out: fc.integer({ min: 0, max: 3 }),
  })
  .map((r): Omit<HistoryOp, 'id'> => {
    const base = { clientId: r.clientId, key: 'k', kind: r.kind, invokeMs: r.invokeMs, completeMs: r.invokeMs + r.durationMs, input: {} };
    const indeterminate = r.result === 'indeterminate';
    const outcome = indeterminate ? ('indeterminate' as const) : r.result === 'ok' ? ('ok' as const) : ('fail' as const);
    if (r.kind === 'read') return { ...base, outcome: 'ok', output: r.out === 0 ? null : r.out };
    if (r.kind === 'write') return { ...base, input: { value: r.a }, outcome: indeterminate ? 'indeterminate' : 'ok' };
    if (r.kind === 'delete') return { ...base, outcome, ...(outcome === 'fail' ? { error: 'not_found' as const } : {}) };
    const error = r.result === 'precondition_failed' || r.result === 'not_found' ? r.result : undefined;
    const current = error === 'precondition_failed' && r.out !== 0 ? { output: r.out } : {};
    return { ...base, input: { from: r.a, to: r.b }, outcome, ...(error ? { error } : {}), ...current };
  });
