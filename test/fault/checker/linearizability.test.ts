import { describe, expect, it } from 'vitest';
import { generateLinearizableHistory } from '../../../src/checker/generate.js';
import { HistoryBuilder } from '../../../src/checker/history-builder.js';
import { checkLinearizability, HistoryError } from '../../../src/checker/index.js';

describe('checkLinearizability: linearizable histories', () => {
  it('accepts a sequential history using every operation', () => {
    const b = new HistoryBuilder();
    b.read('c1', null, 0, 1);
    b.cas('c1', 1, 2, 2, 3, 'not_found');
    b.write('c1', 1, 4, 5);
    b.read('c2', 1, 6, 7);
    b.cas('c2', 1, 2, 8, 9, 'ok');
    b.cas('c1', 1, 3, 10, 11, 'precondition_failed', 2);
    b.read('c1', 2, 12, 13);
    b.delete('c2', 14, 15, 'ok');
    b.delete('c1', 16, 17, 'not_found');
    b.read('c2', null, 18, 19);
    const result = checkLinearizability(b.ops);
    expect(result.ok).toBe(true);
    expect(result.perKey.k).toMatchObject({ ok: true, ops: 10 });
    expect(result.failure).toBeUndefined();
  });

  it('accepts concurrent writes observed in either order while they overlap', () => {
    const b = new HistoryBuilder();
    b.write('c1', 1, 0, 10);
    b.write('c2', 2, 5, 30);
    b.read('c3', 1, 11, 12); // c2's write may not have happened yet
    b.read('c4', 2, 13, 40); // ... and here it has
    b.read('c3', 2, 41, 42);
    expect(checkLinearizability(b.ops).ok).toBe(true);
  });

  it('counts equal timestamps as concurrent (ms clocks cannot order them)', () => {
    const b = new HistoryBuilder();
    b.write('c1', 1, 0, 10);
    b.read('c2', null, 10, 12);
    expect(checkLinearizability(b.ops).ok).toBe(true);
  });

  it('accepts an indeterminate write that takes effect later', () => {
    const b = new HistoryBuilder();
    b.write('c1', 1, 0, 10);
    b.write('c2', 2, 20, null); // timed out
    b.read('c3', 1, 30, 40);
    b.read('c3', 2, 100, 110); // it was applied after all
    b.read('c1', 2, 200, 210);
    const result = checkLinearizability(b.ops);
    expect(result.ok).toBe(true);
    expect(result.perKey.k?.ops).toBe(5);
  });

  it('accepts an indeterminate write that never takes effect, and drops it before the search', () => {
    const b = new HistoryBuilder();
    b.write('c1', 1, 0, 10);
    b.write('c2', 2, 20, null);
    b.cas('c2', 9, 10, 25, null, 'indeterminate');
    b.read('c3', 1, 30, 40);
    b.read('c1', 1, 500, 510);
    const result = checkLinearizability(b.ops);
    expect(result.ok).toBe(true);
    expect(result.perKey.k).toMatchObject({ ops: 3, dropped: 2 });
  });

});

describe('checkLinearizability: more linearizable histories', () => {
  it('checks keys independently', () => {
    const b = new HistoryBuilder();
    b.write('c1', 1, 0, 10, 'a');
    b.write('c1', 1, 0, 10, 'b');
    b.read('c2', 1, 20, 30, 'a');
    b.read('c2', null, 20, 30, 'c');
    const result = checkLinearizability(b.ops);
    expect(result.ok).toBe(true);
    expect(Object.keys(result.perKey).sort()).toEqual(['a', 'b', 'c']);
  });

  it('compares JSON values canonically (object key order does not matter)', () => {
    const b = new HistoryBuilder();
    b.write('c1', { a: 1, b: [1, { c: 2, d: 3 }] }, 0, 10);
    b.read('c2', { b: [1, { d: 3, c: 2 }], a: 1 }, 20, 30);
    expect(checkLinearizability(b.ops).ok).toBe(true);
  });
});

describe('checkLinearizability: violations', () => {
  it('reports a stale read with the write it should have seen', () => {
    const b = new HistoryBuilder();
    const first = b.write('c1', 5, 0, 100);
    const second = b.write('c1', 7, 1150, 1200);
    const stale = b.read('c3', 5, 1234, 1240);
    const result = checkLinearizability(b.ops);
    expect(result.ok).toBe(false);
    expect(result.failure?.focusOpId).toBe(stale.id);
    expect(result.failure?.explanation).toContain('read of "k" by c3 [1234–1240 ms] returned 5');
    expect(result.failure?.explanation).toContain('the latest acknowledged write before it was 7 by c1, completed at 1200 ms');
    expect(result.failure?.ops.map((op) => op.id)).toEqual([first.id, second.id, stale.id]);
  });

  it('reports a lost write: an acknowledged write, then a read that sees nothing', () => {
    const b = new HistoryBuilder();
    b.write('c1', 1, 0, 10);
    b.read('c2', null, 20, 30);
    const result = checkLinearizability(b.ops);
    expect(result.ok).toBe(false);
    expect(result.failure?.explanation).toContain('(absent) is only the initial state');
  });

  it('reports a read of a value nobody wrote', () => {
    const b = new HistoryBuilder();
    b.write('c1', 1, 0, 10);
    b.read('c2', 42, 20, 30);
    expect(checkLinearizability(b.ops).failure?.explanation).toContain('no op in the history ever wrote 42');
  });

  it('reports a read of a value written only afterwards', () => {
    const b = new HistoryBuilder();
    b.read('c2', 1, 0, 10);
    b.write('c1', 1, 20, 30);
    expect(checkLinearizability(b.ops).failure?.explanation).toContain('was only written later');
  });

});

describe('checkLinearizability: anomalies that need more than one observation', () => {
  it('reports a sequential cas anomaly (a cas that succeeds on an overwritten value)', () => {
    const b = new HistoryBuilder();
    b.write('c0', 1, 0, 10);
    b.cas('c1', 1, 2, 20, 30, 'ok');
    const second = b.cas('c2', 1, 3, 40, 50, 'ok');
    const result = checkLinearizability(b.ops);
    expect(result.ok).toBe(false);
    expect(result.failure?.focusOpId).toBe(second.id);
  });

  it('reports two concurrent cas from the same value both succeeding (needs the search)', () => {
    const b = new HistoryBuilder();
    b.write('c0', 1, 0, 5);
    b.cas('c1', 1, 2, 10, 30, 'ok');
    b.cas('c2', 1, 3, 12, 32, 'ok');
    b.read('c3', 3, 40, 50);
    const result = checkLinearizability(b.ops);
    expect(result.ok).toBe(false);
    expect(result.perKey.k?.reason).toBe('no linearization exists');
    expect(result.failure?.explanation).toMatch(/no valid order places this op/);
    expect(result.failure?.explanation).toContain('cas 1→');
    expect(result.failure?.ops.length).toBeGreaterThanOrEqual(3);
  });

  it('reports an indeterminate write that appears, disappears and reappears', () => {
    const b = new HistoryBuilder();
    b.write('c1', 1, 0, 10);
    b.write('c2', 2, 20, null);
    b.read('c3', 2, 30, 40);
    b.read('c3', 1, 50, 60);
    b.read('c3', 2, 70, 80);
    expect(checkLinearizability(b.ops).ok).toBe(false);
  });

  it('reports a cas that failed with a current value the register never held', () => {
    const b = new HistoryBuilder();
    b.write('c1', 1, 0, 10);
    b.cas('c2', 5, 6, 20, 30, 'precondition_failed', 9);
    expect(checkLinearizability(b.ops).ok).toBe(false);
  });

  it("picks the earliest violation across keys and keeps the others' verdicts", () => {
    const b = new HistoryBuilder();
    b.write('c1', 1, 0, 10, 'a');
    b.read('c2', null, 500, 510, 'a');
    b.write('c1', 1, 0, 10, 'b');
    b.read('c2', null, 100, 110, 'b');
    b.write('c1', 1, 0, 10, 'c');
    const result = checkLinearizability(b.ops);
    expect(result.ok).toBe(false);
    expect(result.failure?.key).toBe('b');
    expect([result.perKey.a?.ok, result.perKey.b?.ok, result.perKey.c?.ok]).toEqual([false, false, true]);
  });
});

describe('checkLinearizability: limits and input errors', () => {
  it("answers 'unknown' instead of searching past its budget", () => {
    const history = generateLinearizableHistory({ seed: 7, ops: 300, clients: 8 });
    const result = checkLinearizability(history, { maxSteps: 50 });
    expect(result.ok).toBe('unknown');
    expect(result.perKey.k?.reason).toMatch(/budget exceeded/);
  });

  it('rejects histories it cannot interpret, naming the op', () => {
    const b = new HistoryBuilder();
    b.write('c1', null, 0, 10);
    expect(() => checkLinearizability(b.ops)).toThrow(HistoryError);
    expect(() => checkLinearizability(b.ops)).toThrow(/op 0 \(write of "k" by c1\)/);
    const dup = new HistoryBuilder();
    dup.read('c1', null, 0, 1);
    expect(() => checkLinearizability([...dup.ops, ...dup.ops])).toThrow(/duplicate op id/);
    expect(() => checkLinearizability([{ ...dup.ops[0]!, completeMs: -5 }])).toThrow(/before invokeMs/);
  });

  it('drops reads without a result and writes known not applied', () => {
    const b = new HistoryBuilder();
    b.write('c1', 1, 0, 10);
    const ops = [...b.ops, { id: 'r', clientId: 'c2', key: 'k', kind: 'read' as const, input: {}, invokeMs: 5, completeMs: null, outcome: 'indeterminate' as const }];
    ops.push({ id: 'w', clientId: 'c2', key: 'k', kind: 'write', input: { value: 2 }, invokeMs: 5, completeMs: 6, outcome: 'fail' } as never);
    expect(checkLinearizability(ops).perKey.k).toMatchObject({ ok: true, ops: 1, dropped: 2 });
  });
});

describe('checkLinearizability: performance', () => {
  it('checks ~2000 generated ops from 10 concurrent clients (with timeouts) in seconds', () => {
    const history = generateLinearizableHistory({ seed: 2024, ops: 2000, clients: 10, maxLatencyMs: 40, indeterminateChance: 0.03 });
    const started = Date.now();
    const result = checkLinearizability(history);
    const elapsed = Date.now() - started;
    console.log(`checker: 2000 ops, 10 clients: ${elapsed} ms, ${JSON.stringify(result.perKey.k)}`);
    expect(result.ok).toBe(true);
  });

  it('finds a stale read injected into a long history', () => {
    const history = generateLinearizableHistory({ seed: 99, ops: 2000, clients: 10, maxLatencyMs: 40, keys: ['k'] });
    const reads = history.filter((op) => op.kind === 'read' && op.outcome === 'ok' && op.invokeMs > 1000);
    const victim = reads[10]!;
    const earlier = history.find((op) => op.kind === 'write' && op.outcome === 'ok' && (op.completeMs as number) < victim.invokeMs - 500)!;
    victim.output = earlier.input.value;
    const result = checkLinearizability(history);
    expect(result.ok).toBe(false);
    expect(result.failure?.focusOpId).toBe(victim.id);
  });
});
