import { describe, expect, it } from 'vitest';
import { HistoryBuilder } from '../../../src/checker/history-builder.js';
import { checkIdempotency, checkNoLostWrites, checkQuoteStreams } from '../../../src/checker/index.js';

describe('checkNoLostWrites', () => {
  it('passes when every acknowledged write is visible or overwritten', () => {
    const b = new HistoryBuilder();
    b.write('c1', 1, 0, 10);
    b.write('c2', 2, 5, 20);
    b.write('c1', 3, 30, 40, 'other');
    const result = checkNoLostWrites(b.ops, [
      { key: 'k', value: 1, nodeId: 'Node1' }, // c1's write may have landed last: they overlap
      { key: 'other', value: 3, nodeId: 'Node1' },
    ]);
    expect(result.problems).toEqual([]);
    expect(result.ok).toBe(true);
  });

  it('names an acknowledged write that vanished', () => {
    const b = new HistoryBuilder();
    b.write('c1', 1, 0, 10);
    const lost = b.write('c2', 2, 20, 30);
    const result = checkNoLostWrites(b.ops, [{ key: 'k', value: 1, nodeId: 'Node4' }]);
    expect(result.ok).toBe(false);
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatchObject({ kind: 'lost-write', op: lost });
    expect(result.problems[0]?.message).toContain('write of 2 to "k" by c2 [20–30 ms] (acknowledged) is lost: the final read on Node4 returned 1');
    expect(result.linearizability.ok).toBe(false);
  });

  it('reports a key that ended up absent after an acknowledged write', () => {
    const b = new HistoryBuilder();
    b.write('c1', 1, 0, 10);
    const result = checkNoLostWrites(b.ops, [{ key: 'k', value: null }]);
    expect(result.problems[0]?.message).toContain('only absent initially');
  });

  it('reports a final value nobody wrote', () => {
    const b = new HistoryBuilder();
    b.write('c1', 1, 0, 10);
    expect(checkNoLostWrites(b.ops, [{ key: 'k', value: 99 }]).problems[0]?.kind).toBe('phantom-value');
  });

  it('lets an indeterminate write explain the final value', () => {
    const b = new HistoryBuilder();
    b.write('c1', 1, 0, 10);
    b.write('c2', 2, 5, null);
    b.write('c1', 3, 20, 30);
    const result = checkNoLostWrites(b.ops, [{ key: 'k', value: 2 }]);
    expect(result.ok).toBe(true);
  });

  it('catches through the linearizability check what the direct check cannot name', () => {
    const b = new HistoryBuilder();
    b.write('c1', 1, 0, 10);
    b.cas('c2', 1, 2, 20, 30, 'ok');
    b.cas('c3', 1, 3, 20, 30, 'ok'); // both succeeded from 1: impossible
    const result = checkNoLostWrites(b.ops, [{ key: 'k', value: 3 }]);
    expect(result.problems).toEqual([]);
    expect(result.ok).toBe(false);
  });
});

describe('checkIdempotency', () => {
  it('accepts one application seen on many nodes', () => {
    const result = checkIdempotency([
      { idempotencyKey: 'a', index: 5, nodeId: 'Node1' },
      { idempotencyKey: 'a', index: 5, nodeId: 'Node2' },
      { idempotencyKey: 'b', index: 6 },
    ]);
    expect(result).toEqual({ ok: true, duplicates: [] });
  });

  it('reports a key applied at two indexes', () => {
    const result = checkIdempotency([
      { idempotencyKey: 'a', index: 9, nodeId: 'Node2' },
      { idempotencyKey: 'a', index: 5, nodeId: 'Node1' },
      { idempotencyKey: 'b', index: 6 },
    ]);
    expect(result.ok).toBe(false);
    expect(result.duplicates).toEqual([{ idempotencyKey: 'a', indexes: [5, 9], nodes: ['Node1', 'Node2'] }]);
    expect(result.message).toBe('Idempotency-Key "a" applied 2 times, at log indexes 5, 9 (seen on Node1, Node2)');
  });
});

describe('checkQuoteStreams', () => {
  const q = (index: number, text: string) => ({ index, term: 1, text, author: 'a', postedAt: 1000 + index });

  it('accepts lists that are prefixes of the longest', () => {
    const result = checkQuoteStreams({ Node1: [q(3, 'x'), q(5, 'y'), q(9, 'z')], Node2: [q(3, 'x'), q(5, 'y')], Node3: [] });
    expect(result).toMatchObject({ ok: true, longest: 'Node1', lengths: { Node1: 3, Node2: 2, Node3: 0 }, problems: [] });
  });

  it('ignores field order and undefined fields, as JSON would', () => {
    const result = checkQuoteStreams({ Node1: [{ index: 1, text: 't', author: undefined }], Node2: [{ text: 't', index: 1 }] });
    expect(result.ok).toBe(true);
  });

  it('reports a node whose list diverges', () => {
    const result = checkQuoteStreams({ Node1: [q(3, 'x'), q(5, 'y'), q(9, 'z')], Node2: [q(3, 'x'), q(5, 'other')] });
    expect(result.ok).toBe(false);
    expect(result.problems[0]).toMatch(/^Node2 diverges from Node1 at position 1: Node2 has .*"other"/);
  });

  it('reports duplicates and reordering within one stream', () => {
    const result = checkQuoteStreams({ Node1: [q(3, 'x'), q(3, 'x')] });
    expect(result.problems[0]).toContain('Node1: quote at position 1 has index 3');
  });
});
