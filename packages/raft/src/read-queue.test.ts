import { describe, expect, it } from 'vitest';
import { ReadQueue } from './read-queue.js';

describe('ReadQueue (ReadIndex, §6.4 of the thesis)', () => {
  it('gives every read a new round, and releases reads in order once their round is confirmed', () => {
    const q = new ReadQueue();
    q.add({ requestId: 'r1', from: 'n1', index: 5 });
    q.add({ requestId: 'r2', from: 'n2', index: 6 });
    q.add({ requestId: 'r3', from: 'n1', index: 6 });
    expect(q.currentRound()).toBe(3);
    expect(q.takeConfirmed(0)).toEqual([]);
    expect(q.takeConfirmed(2).map((r) => [r.requestId, r.index, r.round])).toEqual([
      ['r1', 5, 1],
      ['r2', 6, 2],
    ]);
    expect(q.takeConfirmed(2)).toEqual([]);
    expect(q.takeConfirmed(3).map((r) => r.requestId)).toEqual(['r3']);
  });

  it('holds a read without an index (before the first commit of the term), and everything behind it', () => {
    const q = new ReadQueue();
    q.add({ requestId: 'r1', from: 'n1', index: null });
    q.add({ requestId: 'r2', from: 'n1', index: null });
    expect(q.takeConfirmed(10)).toEqual([]);
    expect(q.fillUnknownIndexes(7)).toBe(true);
    expect(q.fillUnknownIndexes(9)).toBe(false);
    expect(q.takeConfirmed(10).map((r) => [r.requestId, r.index])).toEqual([
      ['r1', 7],
      ['r2', 7],
    ]);
  });

  it('keeps the highest round each peer acknowledged; an old ack never lowers it', () => {
    const q = new ReadQueue();
    q.ack('n2', 4);
    q.ack('n2', 2);
    expect(q.peerAck('n2')).toBe(4);
    expect(q.peerAck('n3')).toBe(0);
  });

  it('forgets acknowledgements on a new leadership, but not the round counter', () => {
    const q = new ReadQueue();
    q.add({ requestId: 'r1', from: 'n1', index: 1 });
    q.ack('n2', 1);
    q.resetPeerAcks();
    expect(q.peerAck('n2')).toBe(0);
    q.add({ requestId: 'r2', from: 'n1', index: 1 });
    // A round number is never reused, so an ack from the old leadership cannot confirm r2.
    expect(q.currentRound()).toBe(2);
  });

  it('drains everything pending (to fail the reads on stepping down)', () => {
    const q = new ReadQueue();
    q.add({ requestId: 'r1', from: 'n1', index: 1 });
    q.add({ requestId: 'r2', from: 'n3', index: null });
    expect(q.drain().map((r) => r.requestId)).toEqual(['r1', 'r2']);
    expect(q.drain()).toEqual([]);
    expect(q.takeConfirmed(100)).toEqual([]);
  });
});
