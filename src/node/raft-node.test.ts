import { afterEach, describe, expect, it } from 'vitest';
import type { NodeId } from '@raftquotes/raft';
import { MemoryStateMachine } from '../state/memory-state-machine.js';
import { MemoryRaftStorage } from '../storage/memory-storage.js';
import type { PersistBatch } from '../storage/types.js';
import { NodeMetrics } from './metrics.js';
import { RaftNode, type NodeLogger } from './raft-node.js';
import { MemoryHub, waitUntil } from '../../test/support/memory-hub.js';

/**
 * The runtime against hostile peer messages (issue 15, finding 2): three real RaftNodes over
 * an in-process transport (messages are structured-cloned, as they would be decoded off the
 * wire), with a forged message injected as if it had arrived from a peer connection.
 */

const IDS = ['Node1', 'Node2', 'Node3'];

interface Line {
  level: 'info' | 'warn' | 'error';
  text: string;
  obj: object | string;
}

class RecordingLogger implements NodeLogger {
  readonly lines: Line[] = [];
  info(obj: object | string, msg?: string): void {
    this.lines.push({ level: 'info', text: msg ?? String(obj), obj });
  }
  warn(obj: object | string, msg?: string): void {
    this.lines.push({ level: 'warn', text: msg ?? String(obj), obj });
  }
  error(obj: object | string, msg?: string): void {
    this.lines.push({ level: 'error', text: msg ?? String(obj), obj });
  }
}

interface TestNode {
  node: RaftNode;
  logger: RecordingLogger;
  metrics: NodeMetrics;
  storage: MemoryRaftStorage;
  fatal: unknown[];
}

let running: TestNode[] = [];

async function startCluster(hub: MemoryHub, storages: Map<NodeId, MemoryRaftStorage> = new Map()): Promise<TestNode[]> {
  const nodes = IDS.map((id) => {
    const logger = new RecordingLogger();
    const metrics = new NodeMetrics(id);
    const storage = storages.get(id) ?? new MemoryRaftStorage();
    const fatal: unknown[] = [];
    const node = new RaftNode(
      { id, voters: IDS, httpUrl: `http://${id}`, tickMs: 5, snapshotEvery: 10_000, defaultTimeoutMs: 2_000, raft: { electionTicks: 60, heartbeatTicks: 4 } },
      { storage, stateMachine: new MemoryStateMachine(), transport: hub.transport(id), logger, metrics, onFatal: (err) => fatal.push(err) },
    );
    return { node, logger, metrics, storage, fatal };
  });
  running.push(...nodes);
  for (const n of nodes) await n.node.start();
  return nodes;
}

function leaderOf(nodes: TestNode[], minTerm = 0): TestNode | undefined {
  return nodes.find((n) => n.node.status().state === 'leader' && n.node.status().term >= minTerm);
}

async function rejectedCount(n: TestNode, reason: string): Promise<number> {
  const metric = await n.metrics.rejectedMessages.get();
  return metric.values.find((v) => v.labels['reason'] === reason)?.value ?? 0;
}

afterEach(async () => {
  await Promise.all(running.map((n) => n.node.stop().catch(() => {})));
  running = [];
});

describe('RaftNode: a hostile peer message is dropped and logged, never fatal (SPEC §7)', () => {
  it('a Heartbeat "from" a follower in the leader\'s own term: the leader survives and stays leader', async () => {
    const hub = new MemoryHub();
    const nodes = await startCluster(hub);
    const leader = await waitUntil('a leader', () => leaderOf(nodes));
    const { id, term } = leader.node.status();
    const follower = IDS.find((other) => other !== id) as NodeId;
    // Before the fix this threw RaftInvariantError out of onPeerMessage and killed the process.
    hub.inject(id, { type: 'Heartbeat', from: follower, to: id, term, commit: 0, readRound: 0 });
    await leader.node.propose({ op: 'put', key: 'k', value: 'after the forged heartbeat' });
    expect(leader.node.status()).toMatchObject({ state: 'leader', term });
    expect(leader.fatal).toEqual([]);
    expect(await rejectedCount(leader, 'second_leader')).toBe(1);
    const line = leader.logger.lines.find((l) => l.level === 'warn' && l.text.includes('second_leader'));
    expect(line?.text).toContain(`dropped peer message "Heartbeat" from "${follower}" term ${term}`);
  });

  it('a RequestVote at term 2^53-1 to every node: dropped, terms unchanged, and a new election still succeeds', async () => {
    const hub = new MemoryHub();
    const nodes = await startCluster(hub);
    const leader = await waitUntil('a leader', () => leaderOf(nodes));
    const term = leader.node.status().term;
    const attacker = leader.node.id;
    for (const to of IDS.filter((id) => id !== attacker)) {
      hub.inject(to, { type: 'RequestVote', from: attacker, to, term: Number.MAX_SAFE_INTEGER, lastLogIndex: 1e9, lastLogTerm: Number.MAX_SAFE_INTEGER, force: true });
    }
    const victim = nodes.find((n) => n !== leader) as TestNode;
    expect(victim.node.status().term).toBe(term);
    expect(await rejectedCount(victim, 'term_out_of_range')).toBe(1);
    victim.node.campaign();
    const next = await waitUntil('a leader of a later term', () => leaderOf(nodes, term + 1));
    expect(next.node.status().term).toBeLessThan(2 ** 48);
    await next.node.propose({ op: 'put', key: 'k', value: 'v' });
    expect(nodes.flatMap((n) => n.fatal)).toEqual([]);
  });

  it('garbage from the wire (not an object, unknown type, NaN fields) is rejected as malformed', async () => {
    const hub = new MemoryHub();
    const nodes = await startCluster(hub);
    const leader = await waitUntil('a leader', () => leaderOf(nodes));
    const id = leader.node.id;
    const term = leader.node.status().term;
    const peer = IDS.find((other) => other !== id) as NodeId;
    for (const junk of [null, 42, 'x', [], { type: 'Nope', from: peer, to: id, term }, { type: 'Heartbeat', from: peer, to: id, term, commit: 0, readRound: '1' }]) {
      hub.inject(id, junk);
    }
    hub.inject(id, { type: 'AppendEntriesResponse', from: peer, to: id, term, success: false, matchIndex: 0, rejectedIndex: NaN, conflictIndex: 0, conflictTerm: null });
    expect(await rejectedCount(leader, 'malformed')).toBe(5);
    expect(await rejectedCount(leader, 'index_out_of_range')).toBe(2);
    expect(leader.node.status()).toMatchObject({ state: 'leader', term });
    expect(leader.fatal).toEqual([]);
  });

  it('logs at most 10 rejections per window, then one summary line counting the rest by reason', async () => {
    const hub = new MemoryHub();
    const nodes = await startCluster(hub);
    const leader = await waitUntil('a leader', () => leaderOf(nodes));
    const id = leader.node.id;
    for (let i = 0; i < 500; i++) hub.inject(id, { type: 'Heartbeat', from: `attacker-${i}`, to: id, term: 1, commit: 0, readRound: 0 });
    expect(await rejectedCount(leader, 'unknown_sender')).toBe(500);
    expect(leader.logger.lines.filter((l) => l.text.includes('unknown_sender')).length).toBe(10);
  });
});

describe('RaftNode: the fatal path goes through the injected handler', () => {
  it('a failing fsync stops the node through onFatal (exit 70 by default), logged, without exiting the test process', async () => {
    const hub = new MemoryHub();
    const storage = new MemoryRaftStorage();
    const persist = storage.persist.bind(storage);
    let failing = false;
    storage.persist = (batch: PersistBatch) => {
      if (failing) throw new Error('fsync failed: EIO');
      persist(batch);
    };
    const nodes = await startCluster(hub, new Map([['Node1', storage]]));
    const leader = await waitUntil('a leader', () => leaderOf(nodes));
    const node1 = nodes[0] as TestNode;
    failing = true;
    // Node1 persists the entry, as leader or as follower, and its fsync fails.
    leader.node.propose({ op: 'put', key: 'k', value: 'v' }).catch(() => {});
    await waitUntil('the fatal handler', () => node1.fatal.length > 0);
    expect((node1.fatal[0] as Error).message).toBe('fsync failed: EIO');
    expect(node1.logger.lines.some((l) => l.level === 'error' && l.text === 'fatal: fsync failed: EIO')).toBe(true);
    // Stopped: a message after the fatal stop is not stepped.
    hub.inject('Node1', { type: 'Heartbeat', from: 'Node2', to: 'Node1', term: 1, commit: 0, readRound: 0 });
    expect(node1.fatal.length).toBe(1);
  });
});

describe('RaftNode.knownLeader (the X-Raft-Leader of every answer)', () => {
  it('is status().leader on every node: after the election, and null while shut down by the controller', async () => {
    const nodes = await startCluster(new MemoryHub());
    const leader = (await waitUntil('a leader', () => leaderOf(nodes))).node.id;
    await waitUntil('every node knows it', () => nodes.every((n) => n.node.status().leader === leader));
    for (const n of nodes) expect(n.node.knownLeader()).toBe(n.node.status().leader);
    const follower = nodes.find((n) => n.node.id !== leader);
    if (!follower) throw new Error('no follower');
    follower.node.shutdown();
    expect(follower.node.knownLeader()).toBeNull();
    expect(follower.node.status().leader).toBeNull();
    follower.node.resume();
    expect(follower.node.knownLeader()).toBe(follower.node.status().leader);
  });
});

describe('RaftNode.activity (what the heap trimmer takes for work)', () => {
  it('grows with applied writes, with reads on a follower, and on the leader with the reads followers forward; stands still when idle', async () => {
    const nodes = await startCluster(new MemoryHub());
    const leader = (await waitUntil('a leader', () => leaderOf(nodes))).node;
    const follower = nodes.find((n) => n.node.id !== leader.id)?.node;
    if (!follower) throw new Error('no follower');
    await leader.propose({ op: 'put', key: 'k', value: 1 });
    await waitUntil('applied everywhere', () => nodes.every((n) => n.node.status().appliedIndex === leader.status().appliedIndex));
    const idle = nodes.map((n) => n.node.activity());
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(nodes.map((n) => n.node.activity())).toEqual(idle);

    const [leaderBefore, followerBefore] = [leader.activity(), follower.activity()];
    await follower.readBarrier();
    // Reads apply nothing: before, a node serving only reads counted as quiet.
    expect(follower.status().appliedIndex).toBe(leader.status().appliedIndex);
    expect(follower.activity()).toBeGreaterThan(followerBefore);
    expect(leader.activity()).toBeGreaterThan(leaderBefore);

    const applied = leader.activity();
    await leader.propose({ op: 'put', key: 'k', value: 2 });
    expect(leader.activity()).toBeGreaterThan(applied);
  });
});
