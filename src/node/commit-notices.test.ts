import { describe, expect, it } from 'vitest';
import type { AppendEntriesRequest, Message } from '@raftquotes/raft';
import type { Clock } from './clock.js';
import { COMMIT_NOTICE_DELAY_MS, CommitNotices } from './commit-notices.js';

/** A clock whose timers run only when the test says so. */
function manualClock(): Clock & { fire(): void; pending(): number } {
  let timers: Array<{ fn: () => void; ms: number } | null> = [];
  return {
    now: () => 0,
    setTimeout: (fn, ms) => timers.push({ fn, ms }) - 1,
    clearTimeout: (handle) => {
      timers[handle as number] = null;
    },
    setInterval: () => 0,
    clearInterval: () => undefined,
    setImmediate: (fn) => fn(),
    fire() {
      const due = timers;
      timers = [];
      for (const t of due) if (t) {
        expect(t.ms).toBe(COMMIT_NOTICE_DELAY_MS);
        t.fn();
      }
    },
    pending: () => timers.filter((t) => t !== null).length,
  };
}

function append(to: string, commit: number, entries = 0, term = 2): AppendEntriesRequest {
  const list = Array.from({ length: entries }, (_, i) => ({ index: commit + 1 + i, term, type: 'normal' as const, data: 'x' }));
  return { type: 'AppendEntries', from: 'Node1', to, term, prevLogIndex: commit, prevLogTerm: term, entries: list, commit };
}

function setup(leading = true) {
  const clock = manualClock();
  const sent: Message[] = [];
  const state = { leading, term: 2, flushes: 0 };
  const notices = new CommitNotices({ clock, leading: () => state.leading, term: () => state.term, send: (_to, m) => sent.push(m), flush: () => state.flushes++ });
  return { clock, sent, state, notices };
}

describe('CommitNotices (issue 19)', () => {
  it('holds a commit-only append and drops it when the next append to that follower carries the commit', () => {
    const { clock, sent, notices } = setup();
    notices.sendAll([append('Node2', 5), append('Node3', 5)]);
    expect(sent).toEqual([]);
    notices.sendAll([append('Node2', 5, 1)]);
    expect(sent.map((m) => m.to)).toEqual(['Node2']);
    clock.fire();
    // Node2's notice was superseded; Node3's goes out after the delay.
    expect(sent.map((m) => [m.to, (m as AppendEntriesRequest).entries.length])).toEqual([['Node2', 1], ['Node3', 0]]);
  });

  it('cancels its timer once the next appends superseded every held notice (no wakeup for nothing)', () => {
    const { clock, sent, notices } = setup();
    notices.sendAll([append('Node2', 5), append('Node3', 5)]);
    expect(clock.pending()).toBe(1);
    notices.sendAll([append('Node2', 5, 1), append('Node3', 5, 1)]);
    expect(clock.pending()).toBe(0);
    expect(sent.map((m) => m.to)).toEqual(['Node2', 'Node3']);
  });

  it('keeps only the latest notice per follower', () => {
    const { clock, sent, notices } = setup();
    notices.sendAll([append('Node2', 5)]);
    notices.sendAll([append('Node2', 6)]);
    clock.fire();
    expect(sent.map((m) => (m as AppendEntriesRequest).commit)).toEqual([6]);
  });

  it('tells a follower at once of the commit of a write it forwarded, and holds again once it knows', () => {
    const { clock, sent, notices } = setup();
    notices.forwarded('Node2', 7);
    notices.sendAll([append('Node2', 6), append('Node3', 6)]);
    expect(sent).toEqual([]); // 7 is not committed yet
    notices.sendAll([append('Node2', 7), append('Node3', 7)]);
    expect(sent.map((m) => [m.to, (m as AppendEntriesRequest).commit])).toEqual([['Node2', 7]]);
    notices.sendAll([append('Node2', 8)]);
    expect(sent).toHaveLength(1);
    clock.fire();
    expect(sent.map((m) => [m.to, (m as AppendEntriesRequest).commit]).slice(1).sort()).toEqual([['Node2', 8], ['Node3', 7]]);
  });

  it('a read index answer to a follower takes its held notice along', () => {
    const { sent, notices } = setup();
    notices.sendAll([append('Node2', 9)]);
    notices.sendAll([{ type: 'ReadIndexResponse', from: 'Node1', to: 'Node2', term: 2, requestId: 'r1', index: 9 } as Message]);
    expect(sent.map((m) => m.type)).toEqual(['AppendEntries', 'ReadIndexResponse']);
  });

  it('sends everything else at once, holds nothing when not leading, and drops what is held on a lost leadership', () => {
    const { clock, sent, state, notices } = setup(false);
    notices.sendAll([append('Node2', 3)]);
    expect(sent).toHaveLength(1);
    state.leading = true;
    notices.sendAll([append('Node3', 4)]);
    state.leading = false;
    clock.fire();
    expect(sent).toHaveLength(1);
    expect(notices.size).toBe(0);
  });

  it('does not send a notice of an older term after a new one began', () => {
    const { clock, sent, state, notices } = setup();
    notices.sendAll([append('Node2', 3)]);
    state.term = 3;
    clock.fire();
    expect(sent).toEqual([]);
    expect(state.flushes).toBe(1);
  });
});
