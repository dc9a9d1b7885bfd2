import { describe, expect, it } from 'vitest';
import { NodeMetrics } from '../node/metrics.js';
import { RaftNode } from '../node/raft-node.js';
import { NodeError } from '../node/types.js';
import { type Message, type NodeId, SeededPrng } from '@raftquotes/raft';
import { SimNetwork, SimTransport } from './network.js';
import { Scheduler, SimClock } from './scheduler.js';
import { SimDisk } from './sim-disk.js';

const IDS: NodeId[] = ['A', 'B', 'C'];
const QUIET = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Three real RaftNodes on simulated time, with a network the test partitions by hand. */
async function cluster(): Promise<{ node(id: NodeId): RaftNode; network: SimNetwork; runFor(ms: number): Promise<void>; now(): number }> {
  const sched = new Scheduler();
  const network = new SimNetwork(new SeededPrng(1));
  const transports = new Map<NodeId, SimTransport>();
  const send = (m: Message): void => {
    for (const delay of network.deliveryDelays(m.from, m.to)) sched.after(delay, () => transports.get(m.to)?.receive(m));
  };
  const nodes: Record<NodeId, RaftNode> = {};
  for (const [i, id] of IDS.entries()) {
    const disk = new SimDisk(new SeededPrng(i), { fsyncFailRate: 0, tornRate: 0 });
    const transport = new SimTransport(id, IDS, send);
    transports.set(id, transport);
    nodes[id] = new RaftNode(
      // Elections only when the test asks: a long timeout, forced campaigns.
      { id, voters: IDS, httpUrl: `sim://${id}`, tickMs: 10, snapshotEvery: 10_000, defaultTimeoutMs: 1_000, raft: { electionTicks: 100, heartbeatTicks: 2 } },
      { storage: disk.openStorage(), stateMachine: disk.openStateMachine(), transport, logger: QUIET, metrics: new NodeMetrics(id, { processMetrics: false }), clock: new SimClock(sched), prngSeed: i + 1 },
    );
    await nodes[id].start();
  }
  const runFor = async (ms: number): Promise<void> => {
    const until = sched.now + ms;
    while (sched.runNext(until)) for (let i = 0; i < 6; i++) await null;
    sched.now = until;
  };
  const node = (id: NodeId): RaftNode => {
    const found = nodes[id];
    if (!found) throw new Error(`no node ${id} in the test cluster`);
    return found;
  };
  return { node, network, runFor, now: () => sched.now };
}

function settled<T>(promise: Promise<T>): { value?: T; error?: unknown; done: boolean } {
  const state: { value?: T; error?: unknown; done: boolean } = { done: false };
  promise.then(
    (value) => Object.assign(state, { value, done: true }),
    (error: unknown) => Object.assign(state, { error, done: true }),
  );
  return state;
}

describe('proposal waiters of a deposed and re-elected leader', () => {
  it('a write re-proposed at the index of an old pending one is answered with its result, not 504', async () => {
    const { node, network, runFor, now } = await cluster();
    const [a, b] = [node('A'), node('B')];
    a.campaign();
    await runFor(200);
    expect(a.status().state).toBe('leader');
    const base = a.status().lastIndex;

    // A is cut off and proposes five writes it cannot commit; they stay pending until STRANDED_MS.
    network.partition([['A'], ['B', 'C']]);
    const started = now();
    const STRANDED_MS = 800;
    const stranded = [1, 2, 3, 4, 5].map((n) => settled(a.propose({ op: 'put', key: 'k', value: `old${n}` }, STRANDED_MS)));
    await runFor(50);
    // B leads term 2 and commits its noop at base+1; A rejoins and its stranded entries are replaced.
    b.campaign();
    await runFor(200);
    network.healAll();
    await runFor(200);
    expect(b.status().state).toBe('leader');
    expect(a.status().lastIndex).toBe(base + 1);

    // A leads again (term 3): its noop at base+2, then a new write at base+3, the index of old3.
    a.campaign();
    await runFor(200);
    expect(a.status().state).toBe('leader');
    expect(a.status().lastIndex).toBe(base + 2);
    const fresh = settled(a.propose({ op: 'put', key: 'k', value: 'new' }, 3_000));
    expect(a.status().lastIndex).toBe(base + 3);
    // The new write is held back (shorter than an election timeout) until old3's deadline
    // has passed, then commits.
    expect(now() - started).toBeLessThan(STRANDED_MS - 100);
    network.partition([['A'], ['B', 'C']]);
    await runFor(STRANDED_MS + 100 - (now() - started));
    network.healAll();
    await runFor(300);
    expect(a.status().state).toBe('leader');

    expect(a.stateMachine.get('k')?.value).toBe('new');
    await runFor(3_000);
    expect(fresh.done).toBe(true);
    // The bug: old3's deadline deleted the new write's waiter, so it was answered 504 here.
    expect(fresh.error).toBeUndefined();
    expect(fresh.value?.index).toBe(base + 3);
    // The stranded writes were never applied, and say so or time out; none is answered ok.
    for (const old of stranded) {
      expect(old.done).toBe(true);
      expect(old.error).toBeInstanceOf(NodeError);
    }
  });
});
