import { seedConfiguration } from './configuration.js';
import { describe, expect, it } from 'vitest';
import { RaftInvariantError } from './assert.js';
import { SeededPrng } from './prng.js';
import { RaftCore, type RaftRestore } from './raft.js';
import type { Entry, InstallSnapshotRequest, InstallSnapshotResponse, Message, Ready } from './types.js';

/**
 * Unit tests of RaftCore for rules that are clearer with hand-made messages than with a
 * script (testdata/*.txt covers the protocol end to end), and for its assertions.
 */

const VOTERS = ['a', 'b', 'c'];

function entries(terms: number[]): Entry[] {
  return terms.map((term, i) => ({ index: i + 1, term, type: 'normal', data: `e${i + 1}` }));
}

function follower(id: string, terms: number[], opts: { term?: number; commit?: number; applied?: number } = {}): RaftCore {
  const restore: RaftRestore = {
    hardState: { term: opts.term ?? Math.max(0, ...terms), vote: null, commit: opts.commit ?? 0 },
    snapshot: null,
    offset: 0,
    offsetTerm: 0,
    entries: entries(terms),
    appliedIndex: opts.applied ?? 0,
  };
  return new RaftCore({ id, voters: VOTERS, electionTicks: 10, heartbeatTicks: 1 }, new SeededPrng(7), restore);
}

/** Runs one Ready as the runtime would, and returns it. */
function cycle(core: RaftCore): Ready {
  const rd = core.ready();
  core.advance(rd);
  return rd;
}

function sent(rd: Ready): Message[] {
  return [...rd.messages, ...rd.messagesAfterPersist];
}

function chunk(fields: Partial<InstallSnapshotRequest>): InstallSnapshotRequest {
  return {
    type: 'InstallSnapshot',
    from: 'a',
    to: 'b',
    term: 2,
    meta: { index: 3, term: 1, voters: VOTERS, config: seedConfiguration(VOTERS) },
    offset: 0,
    chunk: new Uint8Array([1, 2, 3, 4]),
    done: true,
    ...fields,
  };
}

function snapshotReply(core: RaftCore): InstallSnapshotResponse {
  const reply = sent(cycle(core)).find((m) => m.type === 'InstallSnapshotResponse');
  expect(reply).toBeDefined();
  return reply as InstallSnapshotResponse;
}

/** A single-node cluster elects itself at once. */
function soloLeader(): RaftCore {
  const core = new RaftCore({ id: 'a', voters: ['a'], electionTicks: 10, heartbeatTicks: 1 }, new SeededPrng(1));
  core.campaign(false);
  expect(core.state).toBe('leader');
  return core;
}

describe('assertions: a broken invariant throws instead of corrupting state', () => {
  it('refuses an invalid configuration, naming the field', () => {
    expect(() => new RaftCore({ id: 'x', voters: VOTERS }, new SeededPrng(1))).toThrow(/voters must include this node/);
    expect(() => new RaftCore({ id: 'a', voters: VOTERS, electionTicks: 2, heartbeatTicks: 2 }, new SeededPrng(1))).toThrow(/electionTicks/);
  });

  it('refuses ready() twice and advance() twice', () => {
    const core = soloLeader();
    expect(() => core.advance({} as Ready)).toThrow(RaftInvariantError);
    const rd = core.ready();
    expect(() => core.ready()).toThrow(/ready\(\) called again before advance\(\)/);
    core.advance(rd);
    expect(() => core.advance(rd)).toThrow(/advance\(\) without ready\(\)/);
  });

  it('drops, never asserts on, a second leader in its own term: a message is not a broken invariant (SPEC §7)', () => {
    // This used to throw RaftInvariantError out of step(), which killed a leader when anyone
    // sent one AppendEntries "from" a peer in the current term (issue 15, finding 2).
    const three = new RaftCore({ id: 'a', voters: VOTERS, electionTicks: 10, heartbeatTicks: 1 }, new SeededPrng(1));
    three.campaign(true);
    three.step({ type: 'RequestVoteResponse', from: 'b', to: 'a', term: 1, granted: true });
    expect(three.state).toBe('leader');
    const append: Message = { type: 'AppendEntries', from: 'b', to: 'a', term: 1, prevLogIndex: 0, prevLogTerm: 0, entries: [], commit: 0 };
    expect(three.step(append)).toMatchObject({ reason: 'second_leader', type: '"AppendEntries"', from: '"b"', term: '1' });
    expect(three.softState()).toEqual({ state: 'leader', leader: 'a', term: 1 });
  });

  it('refuses to snapshot beyond the applied index, or backwards', () => {
    const core = soloLeader();
    cycle(core);
    cycle(core); // the no-op commits after the leader's own fsync, then applies
    expect(core.log.appliedIndex).toBe(1);
    expect(() => core.compact(2)).toThrow(/beyond applied/);
    core.compact(1);
    expect(() => core.compact(0)).toThrow(/move forward/);
  });
});

describe('compaction', () => {
  /** A lone leader with `count` entries after its no-op, all committed and applied. */
  function appliedSolo(count: number, trailing: number): RaftCore {
    const core = new RaftCore({ id: 'a', voters: ['a'], electionTicks: 10, heartbeatTicks: 1, compactionTrailingEntries: trailing }, new SeededPrng(1));
    core.campaign(false);
    for (let i = 0; i < count; i++) core.propose(`e${i}`);
    for (let turns = 0; turns < 4 && core.hasReady(); turns++) cycle(core);
    expect(core.log.appliedIndex).toBe(count + 1);
    return core;
  }

  it('keeps the trailing window behind the snapshot', () => {
    const core = appliedSolo(30, 5);
    expect(core.compact(20).offset).toBe(15);
    expect(core.snapshotIndex()).toBe(20);
  });

  it('keeps the entries after an index the runtime holds an image at, and never moves the offset back', () => {
    const core = appliedSolo(30, 5);
    expect(core.compact(20, 8).offset).toBe(8);
    expect(core.snapshotIndex()).toBe(20);
    expect(core.log.termAt(8)).toBe(1); // the image's term stays known, so the image stays usable
    expect(core.compact(25, 4).offset).toBe(8);
    expect(core.compact(30, 30).offset).toBe(25);
  });
});

describe('leader commit and durability', () => {
  it('a leader counts its own entries only once they are durable (advance), even alone', () => {
    const core = soloLeader();
    const rd = core.ready();
    expect(rd.entries.map((e) => e.type)).toEqual(['noop']);
    expect(core.log.commitIndex).toBe(0);
    core.advance(rd);
    expect(core.log.commitIndex).toBe(1);
  });

  it('a leader\'s entries written without a sync count for commit only once syncedTo reports them durable', () => {
    const core = soloLeader();
    const rd = core.ready();
    core.advance(rd, false);
    expect(core.log.commitIndex).toBe(0);
    expect(core.log.writtenIndex).toBe(1);
    expect(core.log.stableIndex).toBe(0);
    expect(core.hasReady()).toBe(false); // written entries are not handed out again
    core.syncedTo(1, 1);
    expect(core.log.commitIndex).toBe(1);
  });

  it('followers commit a leader\'s unsynced entries without it, and a stale sync report changes nothing', () => {
    const core = new RaftCore({ id: 'a', voters: VOTERS, electionTicks: 10, heartbeatTicks: 1 }, new SeededPrng(1));
    core.campaign(true);
    core.step({ type: 'RequestVoteResponse', from: 'b', to: 'a', term: 1, granted: true });
    expect(core.state).toBe('leader');
    core.advance(core.ready(), false); // the no-op at 1, written, not synced
    core.step({ type: 'AppendEntriesResponse', from: 'b', to: 'a', term: 1, success: true, matchIndex: 1, rejectedIndex: 0, conflictIndex: 0, conflictTerm: null });
    expect(core.log.commitIndex).toBe(0); // b alone is not a majority of 3; a's own copy is not durable yet
    core.step({ type: 'AppendEntriesResponse', from: 'c', to: 'a', term: 1, success: true, matchIndex: 1, rejectedIndex: 0, conflictIndex: 0, conflictTerm: null });
    expect(core.log.commitIndex).toBe(1);
    cycle(core);
    core.syncedTo(1, 7); // a term that entry 1 does not have: ignored
    expect(core.log.stableIndex).toBe(0);
    core.syncedTo(1, 1);
    expect(core.log.stableIndex).toBe(1);
  });

  it('refuses a sync report while a Ready is outstanding', () => {
    const core = soloLeader();
    const rd = core.ready();
    expect(() => core.syncedTo(1, 1)).toThrow(/Ready outstanding/);
    core.advance(rd);
  });

  it('refuses proposals beyond the uncommitted-entries limit (back-pressure)', () => {
    const core = new RaftCore({ id: 'a', voters: ['a'], maxUncommittedEntries: 2 }, new SeededPrng(1));
    core.campaign(false);
    expect(core.propose('x')).toMatchObject({ ok: true, index: 2 });
    expect(core.propose('y')).toEqual({ ok: false, error: 'too_many_requests', leader: 'a' });
  });

  it('a single-node leader answers a read at once after its first commit', () => {
    const core = soloLeader();
    cycle(core);
    core.readIndex('r1');
    expect(cycle(core).readStates).toEqual([{ requestId: 'r1', index: 1 }]);
  });
});

describe('message filtering and term rules', () => {
  it('ignores messages for another node, from outside the configuration, or from itself', () => {
    const core = follower('b', [1]);
    core.step({ type: 'Heartbeat', from: 'a', to: 'c', term: 5, commit: 0, readRound: 0 });
    core.step({ type: 'Heartbeat', from: 'z', to: 'b', term: 5, commit: 0, readRound: 0 });
    core.step({ type: 'Heartbeat', from: 'b', to: 'b', term: 5, commit: 0, readRound: 0 });
    expect(core.term).toBe(1);
  });

  it('answers a stale leader with its own higher term, so that leader steps down', () => {
    const core = follower('b', [1, 3], { term: 3 });
    core.step({ type: 'AppendEntries', from: 'a', to: 'b', term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: entries([1, 2]).slice(1), commit: 1 });
    const [reply] = sent(cycle(core));
    expect(reply).toMatchObject({ type: 'AppendEntriesResponse', term: 3, success: false });
    expect(core.log.lastTerm()).toBe(3); // nothing was appended
  });

  it('a heartbeat never commits beyond what the follower holds', () => {
    const core = follower('b', [1, 1], { term: 1 });
    core.step({ type: 'Heartbeat', from: 'a', to: 'b', term: 1, commit: 9, readRound: 0 });
    expect(core.log.commitIndex).toBe(2);
  });

  it('an append commits at most up to its own last new entry (Figure 2, rule 5)', () => {
    // The follower holds a stale entry 3 of term 1 past the append; the leader's commit is 3.
    const core = follower('b', [1, 1, 1], { term: 2 });
    core.step({ type: 'AppendEntries', from: 'a', to: 'b', term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: entries([1, 1]).slice(1), commit: 3 });
    expect(core.log.commitIndex).toBe(2);
  });

  it('a pre-vote changes no term, and a granted one does not count as a vote', () => {
    const core = follower('b', [1], { term: 1 });
    core.step({ type: 'PreVote', from: 'a', to: 'b', term: 2, lastLogIndex: 1, lastLogTerm: 1 });
    const [reply] = sent(cycle(core));
    expect(reply).toMatchObject({ type: 'PreVoteResponse', term: 2, granted: true });
    expect([core.term, core.vote]).toEqual([1, null]);
  });
});

describe('InstallSnapshot on the follower (§7)', () => {
  it('keeps its log when it already holds the snapshot’s last entry, and just commits it', () => {
    const core = follower('b', [1, 1, 1, 2, 2], { term: 2 });
    core.step(chunk({ meta: { index: 3, term: 1, voters: VOTERS, config: seedConfiguration(VOTERS) } }));
    const rd = core.ready();
    expect(rd.snapshot).toBeNull();
    core.advance(rd);
    expect([core.log.lastIndex(), core.log.commitIndex]).toEqual([5, 3]);
    const reply = sent(rd).find((m) => m.type === 'InstallSnapshotResponse');
    expect(reply).toMatchObject({ done: true, snapshotIndex: 3, lastLogIndex: 5 });
  });

  it('discards its whole log when the snapshot’s last entry conflicts with it', () => {
    const core = follower('b', [1, 1, 1, 1], { term: 2 });
    core.step(chunk({ meta: { index: 3, term: 2, voters: VOTERS, config: seedConfiguration(VOTERS) } }));
    const rd = core.ready();
    expect(rd.snapshot?.meta.index).toBe(3);
    expect(rd.committedEntries).toEqual([]);
    core.advance(rd);
    expect([core.log.offset, core.log.lastIndex(), core.log.lastTerm(), core.log.commitIndex, core.snapshotIndex()]).toEqual([3, 3, 2, 3, 3]);
  });

  it('answers done at once for a snapshot it has already committed past', () => {
    const core = follower('b', [1, 1, 1, 1], { term: 2, commit: 4 });
    core.step(chunk({ done: false }));
    expect(snapshotReply(core)).toMatchObject({ done: true, nextOffset: 4, lastLogIndex: 4 });
  });

  it('asks for the right offset when a chunk arrives out of order, and restarts on offset 0', () => {
    const core = follower('b', [1], { term: 2 });
    core.step(chunk({ offset: 4, done: false }));
    expect(snapshotReply(core)).toMatchObject({ done: false, nextOffset: 0 });
    core.step(chunk({ offset: 0, done: false }));
    expect(snapshotReply(core)).toMatchObject({ nextOffset: 4 });
    core.step(chunk({ offset: 0, done: false })); // a duplicate first chunk restarts the transfer
    expect(snapshotReply(core)).toMatchObject({ nextOffset: 4 });
    core.step(chunk({ offset: 8, done: true }));
    expect(snapshotReply(core)).toMatchObject({ done: false, nextOffset: 4 });
    core.step(chunk({ offset: 4, chunk: new Uint8Array([5, 6]), done: true }));
    const rd = core.ready();
    expect(Array.from(rd.snapshot?.data ?? [])).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('does not mix chunks of two snapshots', () => {
    const core = follower('b', [1], { term: 2 });
    core.step(chunk({ offset: 0, done: false }));
    snapshotReply(core);
    core.step(chunk({ offset: 4, done: true, meta: { index: 4, term: 2, voters: VOTERS, config: seedConfiguration(VOTERS) } }));
    expect(snapshotReply(core)).toMatchObject({ done: false, nextOffset: 0, snapshotIndex: 4 });
    expect(core.log.lastIndex()).toBe(1);
  });
});

describe('InstallSnapshot on the leader: the image is asked for, used, then dropped', () => {
  /** Leader `a` whose log was compacted through 5 (entries 6..8 kept, all committed). */
  function compactedLeader(): RaftCore {
    const restore: RaftRestore = {
      hardState: { term: 1, vote: null, commit: 8 },
      snapshot: { meta: { index: 5, term: 1, voters: VOTERS, config: seedConfiguration(VOTERS) } },
      offset: 5,
      offsetTerm: 1,
      entries: entries([1, 1, 1, 1, 1, 1, 1, 1]).slice(5),
      appliedIndex: 8,
    };
    const core = new RaftCore({ id: 'a', voters: VOTERS, electionTicks: 10, heartbeatTicks: 1 }, new SeededPrng(3), restore);
    core.campaign(true);
    core.step({ type: 'RequestVoteResponse', from: 'b', to: 'a', term: 2, granted: true });
    expect(core.state).toBe('leader');
    cycle(core); // the leader's no-op at 9 goes out and is persisted
    return core;
  }

  /** Follower `peer` has nothing: it rejects and points at index 1, which was compacted. */
  function rejectFrom(core: RaftCore, peer: string): void {
    core.step({ type: 'AppendEntriesResponse', from: peer, to: 'a', term: 2, success: false, matchIndex: 0, rejectedIndex: 8, conflictIndex: 1, conflictTerm: null });
  }

  const installs = (rd: Ready): InstallSnapshotRequest[] => sent(rd).filter((m): m is InstallSnapshotRequest => m.type === 'InstallSnapshot');

  it('asks the runtime for an image once, and sends nothing until it comes', () => {
    const core = compactedLeader();
    rejectFrom(core, 'b');
    const asked = cycle(core);
    expect(asked.snapshotImageWanted).toBe(true);
    expect(installs(asked)).toEqual([]);
    expect(core.hasReady()).toBe(false); // asked once, not in a loop
    core.provideSnapshotImage(8, new Uint8Array([8, 8]));
    const rd = cycle(core);
    expect(installs(rd)).toMatchObject([{ to: 'b', meta: { index: 8, term: 1 }, offset: 0, done: true }]);
    expect(Array.from(installs(rd)[0]?.chunk ?? [])).toEqual([8, 8]);
  });

  it('refuses an image beyond the commit index', () => {
    const core = compactedLeader();
    expect(() => core.provideSnapshotImage(9, new Uint8Array())).toThrow(/beyond commit/);
  });

  it('drops a late image older than the log; the follower\'s next probe asks for a fresh one', () => {
    const core = compactedLeader();
    rejectFrom(core, 'b');
    expect(cycle(core).snapshotImageWanted).toBe(true);
    // Built before the log was compacted past 4: refused, so the runtime must not offer it again.
    expect(core.provideSnapshotImage(4, new Uint8Array([4]))).toBe(false);
    expect(installs(cycle(core))).toEqual([]);
    core.step({ type: 'HeartbeatResponse', from: 'b', to: 'a', term: 2, readRound: 0 });
    expect(cycle(core).snapshotImageWanted).toBe(true);
  });

  it('drops the image when the last transfer completes: the next follower gets a fresh one', () => {
    const core = compactedLeader();
    rejectFrom(core, 'b');
    cycle(core);
    core.provideSnapshotImage(8, new Uint8Array([1]));
    cycle(core);
    core.step({ type: 'InstallSnapshotResponse', from: 'b', to: 'a', term: 2, snapshotIndex: 8, nextOffset: 1, done: true, lastLogIndex: 8 });
    const afterDone = cycle(core);
    expect(sent(afterDone).some((m) => m.type === 'AppendEntries' && m.to === 'b' && m.prevLogIndex === 8)).toBe(true);
    rejectFrom(core, 'c');
    expect(cycle(core).snapshotImageWanted).toBe(true);
  });

  it('a leader that steps down forgets the request and the image', () => {
    const core = compactedLeader();
    rejectFrom(core, 'b');
    core.step({ type: 'AppendEntries', from: 'c', to: 'a', term: 3, prevLogIndex: 9, prevLogTerm: 2, entries: [], commit: 8 });
    expect(core.state).toBe('follower');
    const rd = cycle(core);
    expect(rd.snapshotImageWanted).toBe(false);
    core.provideSnapshotImage(8, new Uint8Array([1])); // a late answer is ignored
    expect(installs(cycle(core))).toEqual([]);
  });
});
