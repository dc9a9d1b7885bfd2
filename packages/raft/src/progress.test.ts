import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Progress } from './progress.js';

describe('Progress: probe state', () => {
  it('starts in probe, sends one append, then pauses until it hears back', () => {
    const pr = new Progress(11, 4);
    expect(pr.state).toBe('probe');
    expect(pr.isPaused()).toBe(false);
    pr.sentEntries(12, 2);
    expect(pr.isPaused()).toBe(true);
    // In probe state nextIndex does not move optimistically.
    expect(pr.nextIndex).toBe(11);
  });

  it('an ack that moves the match unpauses; the caller then switches to replicate', () => {
    const pr = new Progress(11, 4);
    pr.sentEntries(12, 2);
    expect(pr.maybeUpdate(12)).toBe(true);
    expect(pr.isPaused()).toBe(false);
    expect([pr.matchIndex, pr.nextIndex]).toEqual([12, 13]);
    pr.becomeReplicate();
    expect([pr.state, pr.nextIndex]).toEqual(['replicate', 13]);
  });

  it('only the rejection of the outstanding probe counts; it moves nextIndex back to the hint', () => {
    const pr = new Progress(11, 4);
    pr.sentEntries(11, 1); // prevLogIndex 10
    expect(pr.maybeDecrease(7, 3)).toBe(false); // a stale rejection of an older probe
    expect(pr.maybeDecrease(10, 6)).toBe(true);
    expect([pr.nextIndex, pr.isPaused()]).toEqual([6, false]);
  });

  it('never moves nextIndex below the rejected index or to/below the match', () => {
    const pr = new Progress(11, 4);
    pr.maybeUpdate(4);
    expect(pr.nextIndex).toBe(11);
    expect(pr.maybeDecrease(10, 50)).toBe(true); // a hint beyond the rejected index
    expect(pr.nextIndex).toBe(10);
    expect(pr.maybeDecrease(9, 1)).toBe(true); // a hint at or below the match
    expect(pr.nextIndex).toBe(5);
  });

  it('a heartbeat response unpauses a probe (the probe or its reply may have been lost)', () => {
    const pr = new Progress(11, 4);
    pr.sentEntries(11, 1);
    pr.onHeartbeatResponse();
    expect(pr.isPaused()).toBe(false);
  });
});

describe('Progress: replicate state (pipelining, flow control)', () => {
  function replicating(match: number, maxInflight = 3): Progress {
    const pr = new Progress(match + 1, maxInflight);
    pr.maybeUpdate(match);
    pr.becomeReplicate();
    return pr;
  }

  it('advances nextIndex optimistically and pauses when the in-flight window is full', () => {
    const pr = replicating(10);
    pr.sentEntries(12, 2);
    pr.sentEntries(15, 3);
    expect(pr.isPaused()).toBe(false);
    pr.sentEntries(16, 1);
    expect([pr.nextIndex, pr.inflight, pr.isPaused()]).toEqual([17, [12, 15, 16], true]);
  });

  it('does not count empty appends (commit-only) against the window', () => {
    const pr = replicating(10);
    pr.sentEntries(10, 0);
    expect([pr.nextIndex, pr.inflight]).toEqual([11, []]);
  });

  it('an ack frees every in-flight message it covers', () => {
    const pr = replicating(10);
    pr.sentEntries(12, 2);
    pr.sentEntries(15, 3);
    pr.sentEntries(16, 1);
    expect(pr.maybeUpdate(15)).toBe(true);
    expect([pr.matchIndex, pr.inflight, pr.isPaused()]).toEqual([15, [16], false]);
    // A reordered, older ack: nothing new learned, nothing changes.
    expect(pr.maybeUpdate(12)).toBe(false);
    expect([pr.matchIndex, pr.nextIndex]).toEqual([15, 17]);
  });

  it('a rejection at or below the match is a stale reply; above it, the follower lost appends: back to probe', () => {
    const pr = replicating(10);
    pr.sentEntries(12, 2);
    pr.sentEntries(15, 3);
    expect(pr.maybeDecrease(10, 3)).toBe(false);
    expect(pr.state).toBe('replicate');
    expect(pr.maybeDecrease(12, 11)).toBe(true);
    expect([pr.state, pr.nextIndex, pr.inflight]).toEqual(['probe', 11, []]);
  });

  it('a heartbeat response with a full window frees one slot (appends lost on a broken link)', () => {
    const pr = replicating(10, 2);
    pr.sentEntries(11, 1);
    pr.sentEntries(12, 1);
    expect(pr.isPaused()).toBe(true);
    pr.onHeartbeatResponse();
    expect([pr.inflight, pr.isPaused()]).toEqual([[12], false]);
  });
});

describe('Progress: snapshot state', () => {
  it('pauses appends during a snapshot, then probes from just past the snapshot', () => {
    const pr = new Progress(5, 4);
    pr.becomeSnapshot(40);
    expect(pr.isPaused()).toBe(true);
    pr.chunkAcked(1024);
    pr.becomeProbe();
    expect([pr.state, pr.nextIndex, pr.snapshotIndex, pr.snapshotOffset]).toEqual(['probe', 41, 0, 0]);
  });

  it('moves the window on acks, goes back once per repeated ack, ignores late acks, and resumes from the last reply on a timeout', () => {
    const pr = new Progress(5, 4);
    pr.becomeSnapshot(40);
    for (const end of [10, 20, 30]) pr.chunkSent(end);
    expect(pr.chunkAcked(10)).toBe(true);
    expect([pr.snapshotOffset, pr.snapshotSentOffset]).toEqual([10, 30]);
    expect(pr.chunkAcked(10)).toBe(true); // a chunk after a gap was refused: back to 10
    expect([pr.snapshotOffset, pr.snapshotSentOffset]).toEqual([10, 10]);
    pr.chunkSent(20);
    expect(pr.chunkAcked(10)).toBe(false); // the other refused chunk: not again
    expect(pr.chunkAcked(20)).toBe(true);
    expect(pr.chunkAcked(5)).toBe(false); // late
    expect([pr.snapshotOffset, pr.snapshotSentOffset]).toEqual([20, 20]);
    pr.chunkSent(30);
    pr.chunkAcked(0); // the follower restarted; only a timeout acts on it
    expect(pr.snapshotOffset).toBe(20);
    pr.snapshotTimedOut();
    expect([pr.snapshotOffset, pr.snapshotSentOffset, pr.snapshotAwaitingAck]).toEqual([0, 0, true]);
  });

  it('resumes past the match if that is further than the snapshot', () => {
    const pr = new Progress(5, 4);
    pr.maybeUpdate(50);
    pr.becomeSnapshot(40);
    pr.becomeProbe();
    expect(pr.nextIndex).toBe(51);
  });
});

describe('Progress invariants under any sequence of events (property)', () => {
  type Op =
    | { kind: 'send'; count: number }
    | { kind: 'ack'; index: number }
    | { kind: 'reject'; index: number; hint: number }
    | { kind: 'heartbeat' }
    | { kind: 'replicate' }
    | { kind: 'probe' };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('send' as const), count: fc.nat(4) }),
    fc.record({ kind: fc.constant('ack' as const), index: fc.nat(60) }),
    fc.record({ kind: fc.constant('reject' as const), index: fc.nat(60), hint: fc.nat(60) }),
    fc.constant({ kind: 'heartbeat' as const }),
    fc.constant({ kind: 'replicate' as const }),
    fc.constant({ kind: 'probe' as const }),
  );

  it('keeps nextIndex > matchIndex, match monotonic, the window bounded and ascending', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 4 }), (ops, maxInflight) => {
        const pr = new Progress(1, maxInflight);
        let lastMatch = 0;
        for (const o of ops) {
          if (o.kind === 'send' && !pr.isPaused()) pr.sentEntries(pr.nextIndex - 1 + o.count, o.count);
          if (o.kind === 'ack') pr.maybeUpdate(Math.min(o.index, pr.nextIndex - 1 + 4));
          if (o.kind === 'reject') pr.maybeDecrease(o.index, o.hint);
          if (o.kind === 'heartbeat') pr.onHeartbeatResponse();
          if (o.kind === 'replicate') pr.becomeReplicate();
          if (o.kind === 'probe') pr.becomeProbe();
          expect(pr.nextIndex).toBeGreaterThan(pr.matchIndex);
          expect(pr.matchIndex).toBeGreaterThanOrEqual(lastMatch);
          expect(pr.inflight.length).toBeLessThanOrEqual(maxInflight);
          expect([...pr.inflight].sort((a, b) => a - b)).toEqual(pr.inflight);
          lastMatch = pr.matchIndex;
        }
      }),
      { numRuns: 300 },
    );
  });
});
