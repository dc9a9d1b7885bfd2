import { afterEach, describe, expect, it } from 'vitest';
import type { NodeId } from '@raftquotes/raft';
import { MemoryStateMachine } from '../state/memory-state-machine.js';
import type { ApplyResult } from '../state/types.js';
import { MemoryRaftStorage } from '../storage/memory-storage.js';
import type { PeerMessage, ProposeBatchMessage, ProposeMessage, ProposeResponseMessage } from '../transport/forward-message.js';
import { checkMessage, MAX_FORWARD_REQUEST_ID, MAX_PROPOSALS_PER_BATCH, MAX_PROPOSE_BATCH_CHARS, MAX_PROPOSE_DATA_CHARS } from '../transport/message-shape.js';
import { type Clock, realClock } from './clock.js';
import { answerProposal, MAX_FORWARDS_IN_FLIGHT, ProposalForwarder, type ProposalAcceptor } from './forwarding.js';
import { NodeMetrics } from './metrics.js';
import { RaftNode } from './raft-node.js';
import { NodeError } from './types.js';
import { MemoryHub, waitUntil } from '../../test/support/memory-hub.js';

/**
 * Write forwarding over the peer link (issue 19): three real RaftNodes over an in-process
 * transport (messages structured-cloned, as if decoded off the wire; links can be cut), and
 * the forwarder's own rules with a host that records what it sends.
 */

const IDS = ['Node1', 'Node2', 'Node3'];
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

let running: RaftNode[] = [];
afterEach(async () => {
  await Promise.all(running.map((n) => n.stop().catch(() => {})));
  running = [];
});

async function startCluster(hub: MemoryHub, quotaBytes?: number): Promise<RaftNode[]> {
  const nodes = IDS.map(
    (id) =>
      new RaftNode(
        { id, voters: IDS, httpUrl: `http://${id}`, tickMs: 5, snapshotEvery: 10_000, defaultTimeoutMs: 2_000, raft: { electionTicks: 60, heartbeatTicks: 4 }, ...(quotaBytes === undefined ? {} : { quotaBytes }) },
        { storage: new MemoryRaftStorage(), stateMachine: new MemoryStateMachine(), transport: hub.transport(id), logger: quiet, metrics: new NodeMetrics(id, { processMetrics: false }), onFatal: (err) => { throw err; } },
      ),
  );
  running.push(...nodes);
  for (const n of nodes) await n.start();
  return nodes;
}

/** A leader whose no-op has committed, and a follower that knows it. */
async function settled(nodes: RaftNode[]): Promise<{ leader: RaftNode; follower: RaftNode }> {
  const leader = await waitUntil('a leader', () => nodes.find((n) => n.status().state === 'leader'));
  await leader.propose({ op: 'put', key: 'warm', value: 1 });
  const follower = await waitUntil('a follower that knows the leader', () => nodes.find((n) => n !== leader && n.status().leader === leader.id));
  return { leader, follower };
}

describe('RaftNode.submit on a follower: forwarded over the peer link, answered from its own apply', () => {
  it('applies the write everywhere and answers with the follower\'s own result and the leader\'s id', async () => {
    const nodes = await startCluster(new MemoryHub());
    const { leader, follower } = await settled(nodes);
    const { result, leader: acceptedBy } = await follower.submit({ op: 'put', key: 'k', value: 'via follower' });
    expect(result.ok).toBe(true);
    expect(acceptedBy).toBe(leader.id);
    // Answered only once the follower itself applied it, so a stale read there already sees it.
    expect(follower.stateMachine.appliedIndex()).toBeGreaterThanOrEqual(result.index);
    expect(follower.stateMachine.get('k')?.value).toBe('via follower');
    await waitUntil('every node applied it', () => nodes.every((n) => n.stateMachine.get('k')?.value === 'via follower'));
  });

  it('many writes at once through a follower share one frame each way, and each gets its own entry and result', async () => {
    const hub = new MemoryHub();
    const nodes = await startCluster(hub);
    const { leader, follower } = await settled(nodes);
    const seen = { byLeader: [] as PeerMessage[], byFollower: [] as PeerMessage[] };
    for (const [node, log] of [[leader, seen.byLeader], [follower, seen.byFollower]] as const) {
      const deliver = hub.handlers.get(node.id) as (m: PeerMessage) => void;
      hub.handlers.set(node.id, (m) => (log.push(m), deliver(m)));
    }
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => follower.submit({ op: 'put', key: `k${i}`, value: i })));
    const indexes = results.map((r) => r.result.index);
    expect(seen.byLeader.filter((m) => m.type === 'ProposeBatch').map((m) => (m as ProposeBatchMessage).data.length)).toEqual([50]);
    // The answer reaches the follower before any AppendEntries carrying the entries it names.
    const answerAt = seen.byFollower.findIndex((m) => m.type === 'ProposeBatchResponse');
    const firstEntriesAt = seen.byFollower.findIndex((m) => m.type === 'AppendEntries' && m.entries.some((e) => indexes.includes(e.index)));
    expect(answerAt).toBeGreaterThanOrEqual(0);
    expect(firstEntriesAt).toBeGreaterThan(answerAt);
    expect(new Set(indexes).size).toBe(50);
    expect(results.every((r) => r.result.ok && r.leader === leader.id)).toBe(true);
    await waitUntil('applied on the leader', () => leader.status().appliedIndex >= Math.max(...indexes) || undefined);
    for (let i = 0; i < 50; i++) expect(leader.stateMachine.get(`k${i}`)?.value).toBe(i);
  });

  it('a retry with the same Idempotency-Key through a follower gets the first result and applies once', async () => {
    const nodes = await startCluster(new MemoryHub());
    const { follower } = await settled(nodes);
    const other = nodes.find((n) => n !== follower && n.status().state !== 'leader') as RaftNode;
    const command = { op: 'quote' as const, text: 'once', author: 'a', postedAt: '2026-01-01T00:00:00.000Z', idempotencyKey: 'key-1' };
    const first = await follower.submit(command);
    const again = await follower.submit(command);
    const elsewhere = await other.submit(command);
    expect(again.result).toEqual(first.result);
    expect(elsewhere.result).toEqual(first.result);
    expect(follower.stateMachine.quotesAfter(0, 100).filter((q) => q.text === 'once')).toHaveLength(1);
    const reused = await follower.submit({ ...command, text: 'another request' });
    expect(reused.result).toMatchObject({ ok: false, error: 'idempotency_key_reused' });
  });

  it('refused results (precondition_failed, not_found) come back as the follower applied them', async () => {
    const nodes = await startCluster(new MemoryHub());
    const { follower } = await settled(nodes);
    await follower.submit({ op: 'put', key: 'c', value: 1 });
    const cas = await follower.submit({ op: 'cas', key: 'c', from: 2, to: 3 });
    expect(cas.result).toMatchObject({ ok: false, error: 'precondition_failed', current: 1 });
    const del = await follower.submit({ op: 'delete', key: 'absent' });
    expect(del.result).toMatchObject({ ok: false, error: 'not_found' });
  });

  it('no link up to the leader: 503 no_leader at once, and nothing is written', async () => {
    const hub = new MemoryHub();
    const nodes = await startCluster(hub);
    const { leader, follower } = await settled(nodes);
    const before = leader.status().lastIndex;
    hub.cut.add(`${follower.id}>${leader.id}`);
    const error = await follower.submit({ op: 'put', key: 'x', value: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NodeError);
    expect((error as NodeError).code).toBe('no_leader');
    expect(leader.status().lastIndex).toBe(before);
  });

  it('the leader\'s answer is lost: 504 timeout (outcome unknown), never a success or a 503', async () => {
    const hub = new MemoryHub();
    const nodes = await startCluster(hub);
    const { leader, follower } = await settled(nodes);
    hub.cut.add(`${leader.id}>${follower.id}`);
    const error = await follower.submit({ op: 'put', key: 'lost', value: 1 }, 300).catch((e: unknown) => e);
    expect((error as NodeError).code).toBe('timeout');
    // It was in fact applied through the leader: "unknown" was the honest answer.
    await waitUntil('the leader applied it', () => leader.stateMachine.get('lost'));
  });

  it('quota on the leader refuses a forwarded write with quota_exceeded; a delete still works', async () => {
    const nodes = await startCluster(new MemoryHub(), 400);
    const { follower } = await settled(nodes);
    const error = await follower.submit({ op: 'put', key: 'big', value: 'x'.repeat(2_000) }).catch((e: unknown) => e);
    expect((error as NodeError).code).toBe('quota_exceeded');
    const del = await follower.submit({ op: 'delete', key: 'warm' });
    expect(del.result.ok).toBe(true);
  });
});

/** A host that records what the forwarder sends. */
function recordingHost(applied = 0, linkUp = true, clock: Clock = realClock) {
  const sent: PeerMessage[] = [];
  const host = { id: 'Node2', clock, term: () => 3, send: (_to: NodeId, m: PeerMessage) => void sent.push(m), linkUp: () => linkUp, appliedIndex: () => applied };
  return { host, sent };
}

/** A clock that moves only when told to: timers fire in `advance`, immediates in `turn`. */
function manualClock() {
  let now = 1_000;
  let timers: Array<{ at: number; fn: () => void; id: number }> = [];
  let immediates: Array<() => void> = [];
  let ids = 0;
  const clock: Clock = {
    now: () => now,
    setTimeout: (fn, ms) => (timers.push({ at: now + ms, fn, id: ++ids }), ids),
    clearTimeout: (handle) => void (timers = timers.filter((t) => t.id !== handle)),
    setInterval: () => 0,
    clearInterval: () => {},
    setImmediate: (fn) => void immediates.push(fn),
  };
  return {
    clock,
    timers: () => timers.length,
    turn(): void {
      const due = immediates;
      immediates = [];
      for (const fn of due) fn();
    },
    advance(ms: number): void {
      now += ms;
      const due = timers.filter((t) => t.at <= now);
      timers = timers.filter((t) => t.at > now);
      for (const t of due) t.fn();
    },
  };
}

function accept(request: ProposeMessage, term: number, index: number): ProposeResponseMessage {
  return { type: 'ProposeResponse', from: request.to, to: request.from, term, requestId: request.requestId, index, refusal: null };
}

const OK = (index: number): ApplyResult => ({ ok: true, index });

describe('ProposalForwarder: what each answer means', () => {
  it('an entry of another term at the index: not applied (503 no_leader), even with two waits at one index', async () => {
    const { host, sent } = recordingHost();
    const forwarder = new ProposalForwarder(host);
    const a = forwarder.forward('Node1', '{}', 5_000).catch((e: NodeError) => e);
    const b = forwarder.forward('Node3', '{}', 5_000).catch((e: NodeError) => e);
    forwarder.flush();
    const [ra, rb] = sent as ProposeMessage[];
    forwarder.onResponse(accept(ra as ProposeMessage, 3, 10));
    forwarder.onResponse(accept(rb as ProposeMessage, 4, 10));
    forwarder.onApplied({ index: 10, term: 4, type: 'normal', data: '{}' }, OK(10));
    expect(((await a) as NodeError).code).toBe('no_leader');
    expect(await b).toEqual(OK(10));
    expect(forwarder.size).toBe(0);
  });

  it('answers from a node it did not ask, for unknown ids, or twice are ignored', async () => {
    const { host, sent } = recordingHost();
    const forwarder = new ProposalForwarder(host);
    const pending = forwarder.forward('Node1', '{}', 5_000);
    forwarder.flush();
    const request = sent[0] as ProposeMessage;
    forwarder.onResponse({ ...accept(request, 3, 7), from: 'Node3' });
    forwarder.onResponse({ ...accept(request, 3, 7), requestId: request.requestId + 1 });
    forwarder.onResponse(accept(request, 3, 7));
    forwarder.onResponse(accept(request, 3, 8));
    forwarder.onApplied({ index: 8, term: 3, type: 'normal', data: '{}' }, OK(8));
    expect(forwarder.size).toBe(1);
    forwarder.onApplied({ index: 7, term: 3, type: 'normal', data: '{}' }, OK(7));
    expect(await pending).toEqual(OK(7));
  });

  it('a refusal maps to the leader API\'s own answer; a snapshot past the index or a link down before the answer is 504', async () => {
    const { host, sent } = recordingHost();
    const forwarder = new ProposalForwarder(host);
    const refused = forwarder.forward('Node1', '{}', 5_000).catch((e: NodeError) => e.code);
    forwarder.flush();
    forwarder.onResponse({ ...accept(sent[0] as ProposeMessage, 3, 0), refusal: 'too_many_requests' });
    expect(await refused).toBe('too_many_requests');
    const skipped = forwarder.forward('Node1', '{}', 5_000).catch((e: NodeError) => e.code);
    forwarder.flush();
    forwarder.onResponse(accept(sent[1] as ProposeMessage, 3, 20));
    forwarder.onSnapshot(25);
    expect(await skipped).toBe('timeout');
    const unanswered = forwarder.forward('Node1', '{}', 5_000).catch((e: NodeError) => e.code);
    forwarder.onPeerDown('Node1');
    expect(await unanswered).toBe('timeout');
  });

  it('an answer for an index already applied here is 504 (its result is gone), never a success', async () => {
    const { host, sent } = recordingHost(50);
    const forwarder = new ProposalForwarder(host);
    const late = forwarder.forward('Node1', '{}', 5_000).catch((e: NodeError) => e.code);
    forwarder.flush();
    forwarder.onResponse(accept(sent[0] as ProposeMessage, 3, 40));
    expect(await late).toBe('timeout');
  });

  it('in flight is bounded: past MAX_FORWARDS_IN_FLIGHT a write gets 429 before anything is sent', async () => {
    const { host, sent } = recordingHost();
    const forwarder = new ProposalForwarder(host);
    const all = Array.from({ length: MAX_FORWARDS_IN_FLIGHT }, () => forwarder.forward('Node1', '{}', 60_000).catch(() => undefined));
    const over = await forwarder.forward('Node1', '{}', 60_000).catch((e: NodeError) => e.code);
    expect(over).toBe('too_many_requests');
    forwarder.flush();
    const proposals = sent.map((m) => (m.type === 'ProposeBatch' ? m.data.length : 1)).reduce((x, y) => x + y, 0);
    expect(proposals).toBe(MAX_FORWARDS_IN_FLIGHT);
    expect(sent.every((m) => m.type === 'ProposeBatch' && m.data.length <= MAX_PROPOSALS_PER_BATCH)).toBe(true);
    forwarder.failAll('test over');
    await Promise.all(all);
    expect(forwarder.size).toBe(0);
  });
});

describe('ProposalForwarder: the writes of one turn share a frame, the deadlines one timer', () => {
  it('writes made in one turn leave in one ProposeBatch with consecutive ids; each answer settles its own write', async () => {
    const time = manualClock();
    const { host, sent } = recordingHost(0, true, time.clock);
    const forwarder = new ProposalForwarder(host);
    const writes = ['{"a":1}', '{"b":2}', '{"c":3}'].map((data) => forwarder.forward('Node1', data, 5_000).catch((e: NodeError) => e.code));
    expect(sent).toEqual([]);
    time.turn();
    expect(sent).toHaveLength(1);
    const batch = sent[0] as ProposeBatchMessage;
    expect(batch).toMatchObject({ type: 'ProposeBatch', from: 'Node2', to: 'Node1', term: 3, data: ['{"a":1}', '{"b":2}', '{"c":3}'] });
    expect(checkMessage(structuredClone(batch), 'Node2', 'Node1')).toHaveProperty('message');
    forwarder.onResponse({ type: 'ProposeBatchResponse', from: 'Node1', to: 'Node2', term: 3, firstRequestId: batch.firstRequestId, results: [7, 'quota_exceeded', 8] });
    expect(await writes[1]).toBe('quota_exceeded');
    forwarder.onApplied({ index: 7, term: 3, type: 'normal', data: '{"a":1}' }, OK(7));
    forwarder.onApplied({ index: 8, term: 3, type: 'normal', data: '{"c":3}' }, OK(8));
    expect(await writes[0]).toEqual(OK(7));
    expect(await writes[2]).toEqual(OK(8));
    expect(forwarder.size).toBe(0);
    expect(time.timers()).toBe(0);
  });

  it('a lone write goes as a plain Propose; the next turn starts a new frame', () => {
    const time = manualClock();
    const { host, sent } = recordingHost(0, true, time.clock);
    const forwarder = new ProposalForwarder(host);
    void forwarder.forward('Node1', '{}', 5_000).catch(() => undefined);
    time.turn();
    void forwarder.forward('Node1', '{}', 5_000).catch(() => undefined);
    void forwarder.forward('Node1', '{}', 5_000).catch(() => undefined);
    time.turn();
    expect(sent.map((m) => m.type)).toEqual(['Propose', 'ProposeBatch']);
    expect((sent[1] as ProposeBatchMessage).firstRequestId).toBe((sent[0] as ProposeMessage).requestId + 1);
    forwarder.failAll('test over');
  });

  it('a batch is cut at MAX_PROPOSE_BATCH_CHARS: every frame stays within the limit the receiver checks', () => {
    const time = manualClock();
    const { host, sent } = recordingHost(0, true, time.clock);
    const forwarder = new ProposalForwarder(host);
    const big = 'x'.repeat(MAX_PROPOSE_DATA_CHARS);
    for (let i = 0; i < 5; i++) void forwarder.forward('Node1', big, 5_000).catch(() => undefined);
    time.turn();
    expect(sent.map((m) => (m.type === 'ProposeBatch' ? m.data.length : 1))).toEqual([2, 2, 1]);
    for (const m of sent) expect(checkMessage(m, 'Node2', 'Node1')).toHaveProperty('message');
    forwarder.failAll('test over');
  });

  it('deadlines share one timer: each write gets its 504 at its own deadline, the others wait on', async () => {
    const time = manualClock();
    const { host } = recordingHost(0, true, time.clock);
    const forwarder = new ProposalForwarder(host);
    const long = forwarder.forward('Node1', '{}', 5_000).catch((e: NodeError) => e.code);
    const short = forwarder.forward('Node1', '{}', 100).catch((e: NodeError) => e.code);
    time.turn();
    expect(time.timers()).toBe(1);
    time.advance(100);
    expect(await short).toBe('timeout');
    expect(forwarder.size).toBe(1);
    expect(time.timers()).toBe(1);
    time.advance(4_899);
    expect(forwarder.size).toBe(1);
    time.advance(1);
    expect(await long).toBe('timeout');
    expect(forwarder.size).toBe(0);
    expect(time.timers()).toBe(0);
  });
});

describe('answerProposal: the leader answers at once, or refuses without appending', () => {
  const request: ProposeMessage = { type: 'Propose', from: 'Node2', to: 'Node1', term: 3, requestId: 9, data: '{"op":"put","key":"k","value":1}' };
  function acceptor(overrides: Partial<ProposalAcceptor> = {}): { node: ProposalAcceptor; sent: PeerMessage[]; proposed: string[] } {
    const sent: PeerMessage[] = [];
    const proposed: string[] = [];
    const node: ProposalAcceptor = {
      id: 'Node1',
      unavailable: () => false,
      term: () => 3,
      propose: (data) => (proposed.push(data), { ok: true, index: 12, term: 3 }),
      admit: () => null,
      send: (_to, m) => void sent.push(m),
      ...overrides,
    };
    return { node, sent, proposed };
  }

  it('accepted: (term, index) to the sender', () => {
    const { node, sent, proposed } = acceptor();
    answerProposal(request, node);
    expect(proposed).toEqual([request.data]);
    expect(sent).toEqual([{ type: 'ProposeResponse', from: 'Node1', to: 'Node2', term: 3, requestId: 9, index: 12, refusal: null }]);
  });

  it('refusals: shut down, a sender in a later term, over quota, not leading', () => {
    const cases: Array<[Partial<ProposalAcceptor>, string, ProposeMessage?]> = [
      [{ unavailable: () => true }, 'unavailable'],
      [{}, 'not_leader', { ...request, term: 4 }],
      [{ admit: () => 'quota_exceeded' }, 'quota_exceeded'],
      [{ propose: () => ({ ok: false, error: 'not_leader' }) }, 'not_leader'],
      [{ propose: () => ({ ok: false, error: 'transferring' }) }, 'no_leader'],
    ];
    for (const [overrides, refusal, m] of cases) {
      const { node, sent, proposed } = acceptor(overrides);
      answerProposal(m ?? request, node);
      expect(sent).toMatchObject([{ type: 'ProposeResponse', requestId: 9, index: 0, refusal }]);
      if (refusal !== 'not_leader' || m) expect(proposed).toEqual([]);
    }
  });
});

describe('answerProposal of a ProposeBatch: one answer per command, in order', () => {
  it('each command is admitted and proposed on its own; the answer carries the term and firstRequestId', () => {
    const sent: PeerMessage[] = [];
    let next = 20;
    const node: ProposalAcceptor = {
      id: 'Node1',
      unavailable: () => false,
      term: () => 3,
      propose: () => ({ ok: true, index: next++, term: 3 }),
      admit: (data) => (data === 'big' ? 'quota_exceeded' : null),
      send: (_to, m) => void sent.push(m),
    };
    answerProposal({ type: 'ProposeBatch', from: 'Node2', to: 'Node1', term: 3, firstRequestId: 40, data: ['a', 'big', 'b'] }, node);
    expect(sent).toEqual([{ type: 'ProposeBatchResponse', from: 'Node1', to: 'Node2', term: 3, firstRequestId: 40, results: [20, 'quota_exceeded', 21] }]);
    sent.length = 0;
    answerProposal({ type: 'ProposeBatch', from: 'Node2', to: 'Node1', term: 4, firstRequestId: 43, data: ['a', 'b'] }, node);
    expect(sent).toMatchObject([{ results: ['not_leader', 'not_leader'] }]);
  });
});

describe('message-shape: forwarding frames are checked field by field', () => {
  const propose = { type: 'Propose', from: 'Node2', to: 'Node1', term: 3, requestId: 1, data: '{}' };
  const response = { type: 'ProposeResponse', from: 'Node1', to: 'Node2', term: 3, requestId: 1, index: 5, refusal: null };
  it('accepts well-formed frames', () => {
    expect(checkMessage(propose, 'Node2', 'Node1')).toEqual({ message: propose });
    expect(checkMessage(response, 'Node1', 'Node2')).toEqual({ message: response });
    expect(checkMessage({ ...response, index: 0, refusal: 'no_leader' }, 'Node1', 'Node2')).toHaveProperty('message');
  });
  it('rejects every malformed field, a forged sender and contradictions', () => {
    const bad: Array<[Record<string, unknown>, NodeId, NodeId]> = [
      [{ ...propose, data: 'x'.repeat(MAX_PROPOSE_DATA_CHARS + 1) }, 'Node2', 'Node1'],
      [{ ...propose, data: '' }, 'Node2', 'Node1'],
      [{ ...propose, data: 42 }, 'Node2', 'Node1'],
      [{ ...propose, requestId: 0 }, 'Node2', 'Node1'],
      [{ ...propose, requestId: 2 ** 53 }, 'Node2', 'Node1'],
      [{ ...propose, term: -1 }, 'Node2', 'Node1'],
      [propose, 'Node3', 'Node1'],
      [{ ...response, refusal: 'because' }, 'Node1', 'Node2'],
      [{ ...response, index: 0 }, 'Node1', 'Node2'],
      [{ ...response, index: 4, refusal: 'no_leader' }, 'Node1', 'Node2'],
      [{ ...response, index: 2 ** 60 }, 'Node1', 'Node2'],
    ];
    for (const [value, peer, self] of bad) expect(checkMessage(value, peer, self)).toHaveProperty('reason');
  });

  const batch = { type: 'ProposeBatch', from: 'Node2', to: 'Node1', term: 3, firstRequestId: 1, data: ['{}', '{}'] };
  const answers = { type: 'ProposeBatchResponse', from: 'Node1', to: 'Node2', term: 3, firstRequestId: 1, results: [5, 'no_leader'] };
  it('accepts well-formed batches and their answers', () => {
    expect(checkMessage(batch, 'Node2', 'Node1')).toEqual({ message: batch });
    expect(checkMessage(answers, 'Node1', 'Node2')).toEqual({ message: answers });
  });
  it('rejects empty, oversized and malformed batches, answers that are neither index nor refusal, and ids past the limit', () => {
    const half = 'x'.repeat(MAX_PROPOSE_BATCH_CHARS / 2);
    const bad: Array<[Record<string, unknown>, NodeId, NodeId]> = [
      [{ ...batch, data: [] }, 'Node2', 'Node1'],
      [{ ...batch, data: '{}' }, 'Node2', 'Node1'],
      [{ ...batch, data: ['{}', ''] }, 'Node2', 'Node1'],
      [{ ...batch, data: ['{}', 7] }, 'Node2', 'Node1'],
      [{ ...batch, data: Array.from({ length: MAX_PROPOSALS_PER_BATCH + 1 }, () => '{}') }, 'Node2', 'Node1'],
      [{ ...batch, data: [half, half, '{}'] }, 'Node2', 'Node1'],
      [{ ...batch, firstRequestId: MAX_FORWARD_REQUEST_ID }, 'Node2', 'Node1'],
      [{ ...batch, firstRequestId: 0 }, 'Node2', 'Node1'],
      [batch, 'Node3', 'Node1'],
      [{ ...answers, results: [] }, 'Node1', 'Node2'],
      [{ ...answers, results: [0] }, 'Node1', 'Node2'],
      [{ ...answers, results: [null] }, 'Node1', 'Node2'],
      [{ ...answers, results: ['because'] }, 'Node1', 'Node2'],
      [{ ...answers, results: [2 ** 60] }, 'Node1', 'Node2'],
      [{ ...answers, results: { 0: 5 } }, 'Node1', 'Node2'],
      [{ ...answers, firstRequestId: MAX_FORWARD_REQUEST_ID }, 'Node1', 'Node2'],
      [{ ...answers, results: Array.from({ length: MAX_PROPOSALS_PER_BATCH + 1 }, () => 5) }, 'Node1', 'Node2'],
    ];
    for (const [value, peer, self] of bad) expect(checkMessage(value, peer, self), JSON.stringify(value).slice(0, 120)).toHaveProperty('reason');
  });
});

/** The ReadIndex requests `leader` receives from now on. */
function readIndexRequestsTo(hub: MemoryHub, leader: RaftNode): PeerMessage[] {
  const asked: PeerMessage[] = [];
  const deliver = hub.handlers.get(leader.id) as (m: PeerMessage) => void;
  hub.handlers.set(leader.id, (m) => (m.type === 'ReadIndex' && asked.push(m), deliver(m)));
  return asked;
}

describe('RaftNode.readBarrier on a follower: the reads of one turn share one ReadIndex', () => {
  it('many reads at once ask the leader once, and each sees every write completed before it arrived', async () => {
    const hub = new MemoryHub();
    const nodes = await startCluster(hub);
    const { leader, follower } = await settled(nodes);
    const asked = readIndexRequestsTo(hub, leader);

    await Promise.all(Array.from({ length: 40 }, () => follower.readBarrier()));
    expect(asked).toHaveLength(1);

    // A write completed after that request left: the next read needs, and gets, a new one.
    await leader.propose({ op: 'put', key: 'after', value: 'new' });
    await follower.readBarrier();
    expect(asked).toHaveLength(2);
    expect(follower.stateMachine.get('after')?.value).toBe('new');
  });

  it('a read in the next turn never joins a request already sent', async () => {
    const hub = new MemoryHub();
    const nodes = await startCluster(hub);
    const { leader, follower } = await settled(nodes);
    const asked = readIndexRequestsTo(hub, leader);
    const first = follower.readBarrier();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    const second = follower.readBarrier();
    await Promise.all([first, second]);
    expect(asked).toHaveLength(2);
  });
});
