import { describe, expect, it } from 'vitest';
import type { Message, NodeId } from '@raftquotes/raft';
import { ControlledTransport, LinkControl, MAX_HELD_PER_PEER, summarize, type LinkEventKind } from './link-control.js';
import type { PeerLinkStats, Transport } from './types.js';

function append(to: NodeId, prevLogIndex: number, entries = 1, term = 2): Message {
  const list = Array.from({ length: entries }, (_, i) => ({ index: prevLogIndex + 1 + i, term, type: 'normal' as const, data: '{}' }));
  return { type: 'AppendEntries', from: 'Node1', to, term, prevLogIndex, prevLogTerm: term, entries: list, commit: prevLogIndex };
}

/** A real (in-memory) transport: records what reaches the wire, in order. */
class RecordingTransport implements Transport {
  readonly sent: Array<{ to: NodeId; message: Message }> = [];
  flushes = 0;
  private handler: (m: Message) => void = () => undefined;
  start(): Promise<void> {
    return Promise.resolve();
  }
  send(to: NodeId, message: Message): void {
    this.sent.push({ to, message });
  }
  flush(): void {
    this.flushes++;
  }
  onMessage(handler: (m: Message) => void): void {
    this.handler = handler;
  }
  deliver(m: Message): void {
    this.handler(m);
  }
  onPeerDown(): void {}
  stats(): PeerLinkStats[] {
    return [];
  }
  peerHttpUrl(): string | null {
    return null;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function setup(maxHeld?: number): { inner: RecordingTransport; control: LinkControl; transport: ControlledTransport; events: Array<[LinkEventKind | 'recv', string, number]> } {
  const inner = new RecordingTransport();
  const control = new LinkControl(maxHeld);
  const transport = new ControlledTransport(inner, control);
  const events: Array<[LinkEventKind | 'recv', string, number]> = [];
  control.onEvent((kind, m) => events.push([kind, m.to, summarize(m).index]));
  transport.onReceive((m) => events.push(['recv', m.from, summarize(m).index]));
  return { inner, control, transport, events };
}

describe('LinkControl (SPEC §11 messages)', () => {
  it('sends at once while open', () => {
    const { inner, transport, events } = setup();
    transport.send('Node2', append('Node2', 0));
    expect(inner.sent).toHaveLength(1);
    expect(events).toEqual([['send', 'Node2', 0]]);
  });

  it('holds per peer, lists the held messages, and steps the oldest n in order', () => {
    const { inner, control, transport } = setup();
    control.setMode('Node2', 'hold');
    for (let i = 0; i < 3; i++) transport.send('Node2', append('Node2', i, 2));
    transport.send('Node3', append('Node3', 0));
    expect(inner.sent.map((s) => s.to)).toEqual(['Node3']);
    const held = control.held();
    expect(Object.keys(held)).toEqual(['Node2']);
    expect(held.Node2?.map((h) => [h.type, h.term, h.index, h.entries])).toEqual([
      ['AppendEntries', 2, 0, 2],
      ['AppendEntries', 2, 1, 2],
      ['AppendEntries', 2, 2, 2],
    ]);
    expect(control.step('Node2', 2)).toBe(2);
    expect(inner.sent.slice(1).map((s) => summarize(s.message).index)).toEqual([0, 1]);
    expect(inner.flushes).toBe(1);
    expect(control.heldCounts()).toEqual({ Node2: 1 });
  });

  it('drops the oldest n on request, and everything in drop mode', () => {
    const { inner, control, transport, events } = setup();
    control.setMode('*', 'hold');
    transport.send('Node2', append('Node2', 5));
    transport.send('Node2', append('Node2', 6));
    expect(control.drop('Node2', 1)).toBe(1);
    expect(control.held().Node2?.map((h) => h.index)).toEqual([6]);
    control.setMode('Node2', 'drop');
    expect(control.held()).toEqual({});
    transport.send('Node2', append('Node2', 7));
    expect(inner.sent).toHaveLength(0);
    expect(control.dropped).toBe(3);
    expect(events.filter((e) => e[0] === 'drop').map((e) => e[2])).toEqual([5, 6, 7]);
  });

  it('delivers what a link held when it is reopened, oldest first', () => {
    const { inner, control, transport } = setup();
    control.setMode('*', 'hold');
    transport.send('Node2', append('Node2', 1));
    transport.send('Node3', append('Node3', 1));
    transport.send('Node2', append('Node2', 2));
    control.setMode('*', 'open');
    expect(inner.sent.map((s) => `${s.to}@${summarize(s.message).index}`)).toEqual(['Node2@1', 'Node2@2', 'Node3@1']);
    expect(control.held()).toEqual({});
    expect(control.modesView()).toEqual({ default: 'open', peers: {} });
  });

  it('a per-peer mode overrides the default, and "*" resets the overrides', () => {
    const { control } = setup();
    control.setMode('*', 'hold');
    control.setMode('Node3', 'open');
    expect(control.modeOf('Node2')).toBe('hold');
    expect(control.modeOf('Node3')).toBe('open');
    expect(control.modesView()).toEqual({ default: 'hold', peers: { Node3: 'open' } });
    control.setMode('*', 'open');
    expect(control.modeOf('Node3')).toBe('open');
    expect(control.modesView().peers).toEqual({});
  });

  it('bounds each hold queue: beyond the limit the oldest is dropped and counted', () => {
    const { control, transport } = setup(3);
    control.setMode('Node2', 'hold');
    for (let i = 0; i < 5; i++) transport.send('Node2', append('Node2', i));
    expect(control.held().Node2?.map((h) => h.index)).toEqual([2, 3, 4]);
    expect(control.overflowed).toBe(2);
    expect(control.dropped).toBe(2);
    expect(MAX_HELD_PER_PEER).toBeGreaterThan(0);
    expect(() => new LinkControl(0)).toThrow(RangeError);
  });

  it('reports inbound messages to the receive listener before the handler', () => {
    const { inner, transport, events } = setup();
    const got: number[] = [];
    transport.onMessage((m) => got.push(summarize(m as Message).index));
    inner.deliver({ type: 'AppendEntriesResponse', from: 'Node2', to: 'Node1', term: 2, success: true, matchIndex: 9, rejectedIndex: 0, conflictIndex: 0, conflictTerm: null });
    expect(got).toEqual([9]);
    expect(events).toEqual([['recv', 'Node2', 9]]);
  });

  it('summarizes each message type with its term and index', () => {
    expect(summarize({ type: 'RequestVote', from: 'a', to: 'b', term: 4, lastLogIndex: 7, lastLogTerm: 3, force: false })).toMatchObject({ type: 'RequestVote', term: 4, index: 7, entries: 0 });
    expect(summarize({ type: 'RequestVoteResponse', from: 'a', to: 'b', term: 4, granted: true })).toMatchObject({ ok: true });
    expect(summarize({ type: 'Heartbeat', from: 'a', to: 'b', term: 4, commit: 12, readRound: 0 })).toMatchObject({ index: 12, commit: 12 });
    expect(summarize({ type: 'AppendEntriesResponse', from: 'a', to: 'b', term: 4, success: false, matchIndex: 0, rejectedIndex: 5, conflictIndex: 3, conflictTerm: 2 })).toMatchObject({ index: 5, ok: false });
    expect(summarize({ type: 'TimeoutNow', from: 'a', to: 'b', term: 4 })).toMatchObject({ index: 0, entries: 0 });
  });
});
