import { describe, expect, it } from 'vitest';
import { SeededPrng } from './prng.js';
import { RaftCore } from './raft.js';

/**
 * Found by the simulator (seed 2767): Node5 led term 6, then won term 8; a follower already
 * in term 8 answered one of Node5's late term-6 AppendEntries as a stale leader's (rejected
 * index 0, hint lastIndex+1 = 41). The reply carries term 8, so it reached Node5 as a
 * response to its own term-8 leadership, and validation refused it as forged
 * (conflictIndex 41 > rejectedIndex 0): an honest peer reported to operators as an attack.
 */
describe('the answer of a follower to an AppendEntries of an older term, reaching a leader of its term', () => {
  it('is accepted as honest, and moves no replication position', () => {
    const core = new RaftCore({ id: 'a', voters: ['a', 'b', 'c'], electionTicks: 10, heartbeatTicks: 1 }, new SeededPrng(1), {
      hardState: { term: 1, vote: null, commit: 0 },
      snapshot: null,
      offset: 0,
      offsetTerm: 0,
      entries: [],
      appliedIndex: 0,
    });
    core.campaign(true);
    core.step({ type: 'RequestVoteResponse', from: 'b', to: 'a', term: 2, granted: true });
    expect(core.state).toBe('leader');
    const position = (): unknown => {
      const pr = core.progressView().get('c');
      return [pr?.matchIndex, pr?.nextIndex, pr?.state];
    };
    const before = position();
    const rejected = core.step({ type: 'AppendEntriesResponse', from: 'c', to: 'a', term: 2, success: false, matchIndex: 0, rejectedIndex: 0, conflictIndex: 41, conflictTerm: null });
    expect(rejected).toBeNull();
    expect(position()).toEqual(before);
  });
});
