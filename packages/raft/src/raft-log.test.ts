import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RaftInvariantError } from './assert.js';
import { RaftLog } from './raft-log.js';
import type { Entry } from './types.js';

/** Entries offset+1.. with the given terms. */
function entries(terms: number[], offset = 0): Entry[] {
  return terms.map((term, i) => ({ index: offset + 1 + i, term, type: 'normal', data: `${term}.${offset + 1 + i}` }));
}

function termsOf(log: RaftLog): number[] {
  const terms: number[] = [];
  for (let i = log.firstIndex(); i <= log.lastIndex(); i++) terms.push(log.termAt(i) as number);
  return terms;
}

describe('RaftLog: recovery and lookups', () => {
  it('recovers a contiguous log as durable, clamping commit between applied and last', () => {
    const log = new RaftLog(0, 0, entries([1, 1, 2]), 9, 1);
    expect([log.firstIndex(), log.lastIndex(), log.lastTerm(), log.stableIndex]).toEqual([1, 3, 2, 3]);
    expect([log.commitIndex, log.appliedIndex, log.applyingIndex]).toEqual([3, 1, 1]);
  });

  it('refuses a log with a gap', () => {
    const gap = [...entries([1]), ...entries([1], 2)];
    expect(() => new RaftLog(0, 0, gap, 0, 0)).toThrow(RaftInvariantError);
  });

  it('refuses an applied index beyond the log', () => {
    expect(() => new RaftLog(0, 0, entries([1]), 0, 5)).toThrow(/applied index beyond/);
  });

  it('knows the term at the compaction point, and nothing before it or past the end', () => {
    const log = new RaftLog(5, 2, entries([2, 3], 5), 5, 5);
    expect([log.termAt(4), log.termAt(5), log.termAt(6), log.termAt(7), log.termAt(8)]).toEqual([undefined, 2, 2, 3, undefined]);
    expect([log.entryAt(5), log.entryAt(8)]).toEqual([undefined, undefined]);
    expect(log.entryAt(7)?.term).toBe(3);
  });

  it('an empty log after a snapshot reports the snapshot position as its last', () => {
    const log = new RaftLog(8, 3, [], 8, 8);
    expect([log.lastIndex(), log.lastTerm()]).toEqual([8, 3]);
  });
});

describe('RaftLog.isUpToDate (§5.4.1)', () => {
  const log = new RaftLog(0, 0, entries([1, 2, 2]), 0, 0); // last 2/3
  it.each([
    [3, 2, true, 'same last term and index'],
    [4, 2, true, 'same term, longer'],
    [2, 2, false, 'same term, shorter'],
    [1, 3, true, 'higher last term, even if shorter'],
    [9, 1, false, 'lower last term, even if longer'],
  ])('a log ending at index %i term %i: %s (%s)', (index, term, expected) => {
    expect(log.isUpToDate(index, term)).toBe(expected);
  });
});

describe('RaftLog.slice (batching limits)', () => {
  const log = new RaftLog(0, 0, entries([1, 1, 1, 1, 1]), 0, 0); // each entry: 3 data bytes + 24
  it('stops before exceeding maxBytes, but always returns at least one entry', () => {
    expect(log.slice(1, 5, 60, 100).map((e) => e.index)).toEqual([1, 2]);
    expect(log.slice(1, 5, 1, 100).map((e) => e.index)).toEqual([1]);
  });
  it('stops at maxCount and at the end of the log', () => {
    expect(log.slice(2, 5, 1e6, 2).map((e) => e.index)).toEqual([2, 3]);
    expect(log.slice(4, 99, 1e6, 100).map((e) => e.index)).toEqual([4, 5]);
  });
  it('refuses to slice compacted entries', () => {
    const compacted = new RaftLog(3, 1, entries([1], 3), 3, 3);
    expect(() => compacted.slice(3, 4, 1e6, 10)).toThrow(/compacted/);
  });
});

describe('RaftLog.mergeFromLeader (Figure 2, AppendEntries rules 3 and 4)', () => {
  it('skips entries it already has, so a duplicate or shorter append truncates nothing', () => {
    const log = new RaftLog(0, 0, entries([1, 1, 2, 2]), 0, 0);
    log.mergeFromLeader(entries([1, 1, 2]).slice(1));
    expect(termsOf(log)).toEqual([1, 1, 2, 2]);
    expect(log.stableIndex).toBe(4);
  });

  it('truncates at the first conflict and appends the rest; the truncated part is unstable again', () => {
    const log = new RaftLog(0, 0, entries([1, 1, 2, 2, 2]), 1, 1);
    log.mergeFromLeader(entries([1, 1, 3, 3]).slice(1));
    expect(termsOf(log)).toEqual([1, 1, 3, 3]);
    expect(log.stableIndex).toBe(2);
    expect(log.unstableEntries().map((e) => e.index)).toEqual([3, 4]);
  });

  it('appends past its end', () => {
    const log = new RaftLog(0, 0, entries([1]), 0, 0);
    log.mergeFromLeader(entries([1, 2, 2]).slice(1));
    expect(termsOf(log)).toEqual([1, 2, 2]);
  });

  it('skips entries already folded into a snapshot', () => {
    const log = new RaftLog(3, 1, entries([1], 3), 3, 3);
    log.mergeFromLeader(entries([1, 1, 1, 1, 2]).slice(1));
    expect([log.offset, ...termsOf(log)]).toEqual([3, 1, 2]);
  });

  it('throws rather than truncate a committed entry (State Machine Safety)', () => {
    const log = new RaftLog(0, 0, entries([1, 1, 1]), 2, 0);
    expect(() => log.mergeFromLeader(entries([1, 2]).slice(1))).toThrow(/truncating committed entry 2/);
  });

  it('matches a naive model for any follower log sharing a prefix with the leader (property)', () => {
    const terms = fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 12 }).map((ts) => ts.sort((a, b) => a - b));
    fc.assert(
      fc.property(terms, terms, fc.nat(12), fc.nat(12), (leaderTerms, followerSuffix, prefixCut, windowEnd) => {
        // The follower holds the leader's first `prev` entries, then its own suffix (terms
        // no higher than the leader's at the divergence, as Raft's logs would have).
        const prev = Math.min(prefixCut, leaderTerms.length);
        const followerTerms = [...leaderTerms.slice(0, prev), ...followerSuffix.filter((t) => t <= (leaderTerms[prev - 1] ?? 4))];
        const last = Math.min(leaderTerms.length, prev + windowEnd);
        const log = new RaftLog(0, 0, entries(followerTerms), 0, 0);
        log.mergeFromLeader(entries(leaderTerms).slice(prev, last));
        // Model: positions up to `last` equal the leader's; beyond, the follower keeps its
        // own entries only if nothing in the window conflicted.
        const window = leaderTerms.slice(prev, last);
        const conflict = window.some((t, k) => followerTerms[prev + k] !== undefined && followerTerms[prev + k] !== t);
        const expected = [...leaderTerms.slice(0, last), ...(conflict ? [] : followerTerms.slice(last))];
        expect(termsOf(log)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });
});

describe('RaftLog: persistence bookkeeping', () => {
  it('stableTo marks entries durable only if they are still the ones in the log', () => {
    const log = new RaftLog(0, 0, entries([1]), 0, 0);
    log.append(entries([1, 1], 1));
    const persisted = log.unstableEntries();
    expect(persisted.map((e) => e.index)).toEqual([2, 3]);
    // Between ready() and advance(), a new leader replaced index 3.
    log.mergeFromLeader(entries([2], 2));
    log.stableTo(persisted);
    expect(log.stableIndex).toBe(2);
    expect(log.unstableEntries().map((e) => [e.index, e.term])).toEqual([[3, 2]]);
  });

  it('appends must be contiguous', () => {
    const log = new RaftLog(0, 0, entries([1]), 0, 0);
    expect(() => log.append(entries([1], 2))).toThrow(/contiguous/);
  });
});

describe('RaftLog: commit, apply, compaction', () => {
  it('commitTo only moves forward, and never beyond the last index', () => {
    const log = new RaftLog(0, 0, entries([1, 1, 1]), 0, 0);
    expect(log.commitTo(2)).toBe(true);
    expect(log.commitTo(1)).toBe(false);
    expect(log.commitIndex).toBe(2);
    expect(() => log.commitTo(4)).toThrow(RaftInvariantError);
    expect(() => log.commitTo(4)).toThrow(/commit 4 beyond last index 3/);
  });

  it('hands out committed entries once, in batches', () => {
    const log = new RaftLog(0, 0, entries([1, 1, 1, 1]), 3, 0);
    expect(log.nextEntriesToApply(2).map((e) => e.index)).toEqual([1, 2]);
    log.applyingTo(2);
    expect(log.nextEntriesToApply(10).map((e) => e.index)).toEqual([3]);
    log.applyingTo(3);
    expect(log.nextEntriesToApply(10)).toEqual([]);
  });

  it('compacts only applied entries, remembering the term at the new offset', () => {
    const log = new RaftLog(0, 0, entries([1, 2, 2, 3]), 4, 3);
    expect(() => log.compact(4)).toThrow(/beyond the applied index/);
    log.compact(2);
    expect([log.offset, log.offsetTerm, log.firstIndex(), log.termAt(2), log.termAt(1)]).toEqual([2, 2, 3, 2, undefined]);
    log.compact(1); // behind the offset: nothing to do
    expect(log.offset).toBe(2);
  });

  it('restoreSnapshot replaces the whole log with the snapshot position', () => {
    const log = new RaftLog(0, 0, entries([1, 1, 2]), 1, 1);
    log.restoreSnapshot(10, 4);
    expect([log.offset, log.offsetTerm, log.lastIndex(), log.lastTerm(), log.commitIndex, log.appliedIndex, log.stableIndex]).toEqual([10, 4, 10, 4, 10, 10, 10]);
  });
});

describe('RaftLog: written, then durable', () => {
  it('hands out written entries once, counts them durable only when synced, and a truncation takes both back', () => {
    const log = new RaftLog(0, 0, [], 0, 0);
    log.append(entries([1, 1, 1]));
    log.writtenTo(log.unstableEntries());
    expect([log.writtenIndex, log.stableIndex]).toEqual([3, 0]);
    expect(log.unstableEntries()).toEqual([]);
    log.syncedTo(2, 1);
    expect(log.stableIndex).toBe(2);
    log.syncedTo(9, 1); // beyond what was written: nothing
    expect(log.stableIndex).toBe(2);

    log.mergeFromLeader([{ index: 2, term: 2, type: 'normal', data: 'new' }]); // conflict at 2
    expect([log.writtenIndex, log.stableIndex]).toEqual([1, 1]);
    expect(log.unstableEntries().map((e) => e.index)).toEqual([2]);
    log.syncedTo(2, 1); // a sync of the replaced entry reports late: ignored
    expect(log.stableIndex).toBe(1);
    log.stableTo(log.unstableEntries());
    expect([log.writtenIndex, log.stableIndex]).toEqual([2, 2]);
  });
});
