import { describe, expect, it } from 'vitest';
import type { Ready } from '@raftquotes/raft';
import { EventRecorder } from './event-recorder.js';
import { EVENT_RING_CAPACITY, EventRing } from './event-ring.js';

function ready(partial: Partial<Ready>): Ready {
  return {
    softState: { state: 'follower', leader: null, term: 1 },
    hardState: null,
    snapshot: null,
    snapshotImageWanted: false,
    entries: [],
    messages: [],
    messagesAfterPersist: [],
    committedEntries: [],
    readStates: [],
    events: [],
    ...partial,
  };
}

describe('EventRing (SPEC §11 events)', () => {
  it('keeps the last `capacity` events with consecutive seqs, and pages after a seq, oldest first', () => {
    let now = 1000;
    const ring = new EventRing(5, () => now++);
    expect(ring.after(0, 10)).toEqual({ events: [], firstSeq: 0, lastSeq: 0 });
    for (let i = 1; i <= 8; i++) ring.record('note', { text: `e${i}` });
    const all = ring.after(0, 100);
    expect(all.firstSeq).toBe(4);
    expect(all.lastSeq).toBe(8);
    expect(all.events.map((e) => [e.seq, e.text])).toEqual([[4, 'e4'], [5, 'e5'], [6, 'e6'], [7, 'e7'], [8, 'e8']]);
    expect(all.events.map((e) => e.at)).toEqual([1003, 1004, 1005, 1006, 1007]);
    expect(ring.after(5, 2).events.map((e) => e.seq)).toEqual([6, 7]);
    expect(ring.after(8, 10).events).toEqual([]);
    expect(ring.after(Number.MAX_SAFE_INTEGER, 10).events).toEqual([]);
    expect(EVENT_RING_CAPACITY).toBe(10_000);
  });

  it('records nothing when disabled', () => {
    const ring = new EventRing(4);
    ring.enabled = false;
    ring.record('note', {});
    expect(ring.after(0, 10).lastSeq).toBe(0);
  });
});

describe('EventRecorder', () => {
  it('turns Readys into state, vote, append, commit and snapshot events, each once', () => {
    const ring = new EventRing(100);
    const recorder = new EventRecorder(ring);
    recorder.observeReady(ready({}), 0);
    recorder.observeReady(ready({ softState: { state: 'candidate', leader: null, term: 2 }, hardState: { term: 2, vote: 'Node1', commit: 0 }, events: ['campaigning term=2'] }), 0);
    recorder.observeReady(ready({ softState: { state: 'leader', leader: 'Node1', term: 2 }, entries: [{ index: 1, term: 2, type: 'noop', data: '' }, { index: 2, term: 2, type: 'normal', data: '{}' }] }), 0);
    recorder.observeReady(ready({ softState: { state: 'leader', leader: 'Node1', term: 2 }, hardState: { term: 2, vote: 'Node1', commit: 2 } }), 0);
    recorder.observeReady(ready({ softState: { state: 'leader', leader: 'Node1', term: 2 } }), 2);
    const events = ring.after(0, 100).events.map(({ seq: _seq, at: _at, ...rest }) => rest);
    expect(events).toEqual([
      { type: 'state', state: 'follower', term: 1, leader: null },
      { type: 'state', state: 'candidate', term: 2, leader: null },
      { type: 'note', text: 'campaigning term=2' },
      { type: 'vote', term: 2, vote: 'Node1' },
      { type: 'state', state: 'leader', term: 2, leader: 'Node1' },
      { type: 'append', first: 1, last: 2, terms: [[2, 2]] },
      { type: 'commit', index: 2 },
      { type: 'snapshot', index: 2, kind: 'local' },
    ]);
  });

  it('records messages with the core names, term and index', () => {
    const ring = new EventRing(10);
    new EventRecorder(ring).observeMessage('recv', { type: 'AppendEntries', from: 'Node1', to: 'Node2', term: 3, prevLogIndex: 4, prevLogTerm: 3, entries: [], commit: 4 });
    expect(ring.after(0, 1).events[0]).toMatchObject({ type: 'recv', msg: 'AppendEntries', from: 'Node1', to: 'Node2', term: 3, index: 4, entries: 0, commit: 4 });
  });
});
