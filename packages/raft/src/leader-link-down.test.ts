import { describe, expect, it } from 'vitest';
import { SeededPrng } from './prng.js';
import { RaftCore } from './raft.js';
import type { Message, PreVoteResponse, Ready } from './types.js';

/**
 * RaftCore.reportLeaderLinkDown: a follower whose connection to its leader closed campaigns
 * within [1, electionTicks) ticks instead of a whole election timeout, and grants pre-votes
 * (its lease ends) — but only for its own leader, and only as a follower.
 */

const VOTERS = ['a', 'b', 'c', 'd', 'e'];
const ELECTION_TICKS = 30;

function core(id: string, seed = 7): RaftCore {
  return new RaftCore({ id, voters: VOTERS, electionTicks: ELECTION_TICKS, heartbeatTicks: 5 }, new SeededPrng(seed), {
    hardState: { term: 1, vote: null, commit: 0 },
    snapshot: null,
    offset: 0,
    offsetTerm: 0,
    entries: [],
    appliedIndex: 0,
  });
}

function cycle(c: RaftCore): Ready {
  const rd = c.ready();
  c.advance(rd);
  return rd;
}

function drain(c: RaftCore): Message[] {
  const out: Message[] = [];
  while (c.hasReady()) {
    const rd = cycle(c);
    out.push(...rd.messages, ...rd.messagesAfterPersist);
  }
  return out;
}

/** A follower of `leader` in term 1 that just heard a heartbeat. */
function followerOf(id: string, leader: string, seed = 7): RaftCore {
  const c = core(id, seed);
  c.step({ type: 'Heartbeat', from: leader, to: id, term: 1, commit: 0, readRound: 0 });
  drain(c);
  expect(c.leader).toBe(leader);
  return c;
}

function ticksUntilPreVote(c: RaftCore, limit: number): number {
  for (let t = 1; t <= limit; t++) {
    c.tick();
    if (drain(c).some((m) => m.type === 'PreVote')) return t;
  }
  return -1;
}

describe('reportLeaderLinkDown', () => {
  it('starts a pre-vote within electionTicks ticks, for many seeds', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const c = followerOf('b', 'a', seed);
      c.reportLeaderLinkDown('a');
      expect(c.leader).toBeNull();
      const ticks = ticksUntilPreVote(c, 2 * ELECTION_TICKS);
      expect(ticks).toBeGreaterThanOrEqual(1);
      expect(ticks).toBeLessThan(ELECTION_TICKS);
    }
  });

  it('ends the lease: a pre-vote that a follower in lease refuses is granted', () => {
    const request = { type: 'PreVote' as const, from: 'c', to: 'b', term: 2, lastLogIndex: 0, lastLogTerm: 0 };
    const inLease = followerOf('b', 'a');
    inLease.step(request);
    const refused = drain(inLease).find((m): m is PreVoteResponse => m.type === 'PreVoteResponse');
    expect(refused?.granted ?? false).toBe(false);

    const linkDown = followerOf('b', 'a');
    linkDown.reportLeaderLinkDown('a');
    linkDown.step(request);
    const granted = drain(linkDown).find((m): m is PreVoteResponse => m.type === 'PreVoteResponse');
    expect(granted?.granted).toBe(true);
  });

  it('ignores a peer that is not the leader, and a heartbeat restores the leader', () => {
    const c = followerOf('b', 'a');
    c.reportLeaderLinkDown('c');
    expect(c.leader).toBe('a');
    expect(ticksUntilPreVote(c, ELECTION_TICKS - 1)).toBe(-1);

    const d = followerOf('b', 'a');
    d.reportLeaderLinkDown('a');
    d.step({ type: 'Heartbeat', from: 'a', to: 'b', term: 1, commit: 0, readRound: 0 });
    drain(d);
    expect(d.leader).toBe('a');
    expect(ticksUntilPreVote(d, ELECTION_TICKS - 1)).toBe(-1);
  });

  it('still takes the TimeoutNow its forgotten leader sent before the link broke, and refuses one from anyone else', () => {
    // The leader's own connection may still deliver a TimeoutNow sent just before our link to
    // it closed (simulator, seed 299 with spares): honest, not a forged message.
    const c = followerOf('b', 'a');
    c.reportLeaderLinkDown('a');
    expect(c.step({ type: 'TimeoutNow', from: 'c', to: 'b', term: 1 })?.reason).toBe('not_from_leader');
    expect(c.step({ type: 'TimeoutNow', from: 'a', to: 'b', term: 1 })).toBeNull();
    expect(drain(c).some((m) => m.type === 'RequestVote')).toBe(true);
    expect(c.term).toBe(2);
  });

  it('a follower told to become follower (CONVERT_FOLLOWER) still takes its term leader\'s TimeoutNow', () => {
    // Simulator seed 2310 (5 + 2 spares): the controller reset Node1, then the leader, removing
    // itself, handed leadership to Node1, whose validation refused the honest TimeoutNow.
    const c = followerOf('b', 'a');
    c.becomeFollowerKeepTerm('told to become follower');
    expect(c.leader).toBeNull();
    expect(c.step({ type: 'TimeoutNow', from: 'c', to: 'b', term: 1 })?.reason).toBe('not_from_leader');
    expect(c.step({ type: 'TimeoutNow', from: 'a', to: 'b', term: 1 })).toBeNull();
    expect(drain(c).some((m) => m.type === 'RequestVote')).toBe(true);
  });

  it('does nothing on a leader or a candidate', () => {
    const c = core('a');
    c.campaign(true);
    drain(c);
    const before = c.electionTimerView();
    c.reportLeaderLinkDown('b');
    expect(c.electionTimerView()).toEqual(before);
    expect(c.state).toBe('candidate');
  });
});
