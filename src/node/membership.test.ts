import { afterEach, describe, expect, it } from 'vitest';
import type { Configuration, NodeId } from '@raftquotes/raft';
import { MemoryStateMachine } from '../state/memory-state-machine.js';
import { MemoryRaftStorage } from '../storage/memory-storage.js';
import { MembershipError, parseMembersView } from './membership.js';
import { NodeMetrics } from './metrics.js';
import { RaftNode, type NodeLogger } from './raft-node.js';
import { MemoryHub, waitUntil } from '../../test/support/memory-hub.js';

/**
 * Membership changes on real RaftNodes over an in-process transport (messages are
 * structured-cloned, as if decoded off the wire). The transport delivers only along links
 * the runtime asked for with setPeers, so a node the configuration does not name is cut off,
 * as the TCP transport does.
 */


const quiet: NodeLogger = process.env['MEMBERSHIP_DEBUG'] ? { info: (o, m) => console.log(m ?? o), warn: (o, m) => console.log(m ?? o), error: (o, m) => console.log(m ?? o) } : { info: () => {}, warn: () => {}, error: () => {} };
let running: RaftNode[] = [];

afterEach(async () => {
  for (const node of running) await node.stop();
  running = [];
});

const member = (id: NodeId): { id: NodeId; raft: string; http: string } => ({ id, raft: `127.0.0.1:1${id.slice(4)}`, http: `http://${id}` });

async function startNode(hub: MemoryHub, id: NodeId, config: Configuration): Promise<RaftNode> {
  const ids = [...config.voters, ...config.learners].map((m) => m.id);
  const node = new RaftNode(
    { id, voters: config.voters.map((m) => m.id), initialConfiguration: config, httpUrl: `http://${id}`, tickMs: 5, snapshotEvery: 50, defaultTimeoutMs: 5_000, raft: { electionTicks: 60, heartbeatTicks: 4 } },
    { storage: new MemoryRaftStorage(), stateMachine: new MemoryStateMachine(), transport: hub.transport(id, ids), logger: quiet, metrics: new NodeMetrics(id) },
  );
  running.push(node);
  await node.start();
  return node;
}

const leaderOf = (nodes: RaftNode[]): RaftNode | undefined => nodes.find((n) => n.status().state === 'leader');

async function put(nodes: RaftNode[], key: string, value: unknown): Promise<void> {
  const leader = await waitUntil('a leader', () => leaderOf(nodes));
  await leader.propose({ op: 'put', key, value });
}

describe('membership changes on the node runtime', () => {
  it('adds a learner (caught up by snapshot), promotes it, removes a follower and then the leader; writes keep working and none is lost', async () => {
    const hub = new MemoryHub();
    const seed: Configuration = { voters: ['Node1', 'Node2', 'Node3'].map(member), learners: [], outgoing: null };
    const nodes = await Promise.all(seed.voters.map((m) => startNode(hub, m.id, seed)));
    for (let i = 0; i < 120; i++) await put(nodes, `k${i}`, i); // past snapshotEvery: the log is compacted

    let leader = await waitUntil('a leader', () => leaderOf(nodes));
    const added = await leader.changeMembers([{ op: 'add-learner', id: 'Node4', raft: '127.0.0.1:14', http: 'http://Node4' }]);
    expect(added.members.learners.map((m) => m.id)).toEqual(['Node4']);
    const node4 = await startNode(hub, 'Node4', { ...seed, learners: [member('Node4')] });
    nodes.push(node4);
    await waitUntil('Node4 caught up', () => node4.stateMachine.appliedIndex() >= leader.status().commitIndex);
    expect(node4.stateMachine.get('k119')?.value).toBe(119);
    expect(node4.status().state).toBe('follower');

    leader = await waitUntil('a leader', () => leaderOf(nodes));
    // Promotion needs the leader to have heard Node4 acknowledge entries (not only its own apply).
    await waitUntil('the leader sees Node4 caught up', () => (leader.status().peers['Node4']?.matchIndex ?? 0) > 0);
    const promoted = await leader.changeMembers([{ op: 'promote', id: 'Node4' }]);
    expect(promoted.members.voters.map((m) => m.id)).toEqual(['Node1', 'Node2', 'Node3', 'Node4']);
    await put(nodes, 'after-promote', 1);

    leader = await waitUntil('a leader', () => leaderOf(nodes));
    const follower = nodes.find((n) => n !== leader && n !== node4) as RaftNode;
    await leader.changeMembers([{ op: 'remove', id: follower.id }]);
    await waitUntil(`${follower.id} reports removed`, () => follower.status().state === 'removed');
    await put(nodes, 'after-remove', 2);

    const oldLeader = await waitUntil('a leader', () => leaderOf(nodes));
    const oldTerm = oldLeader.status().term;
    await oldLeader.changeMembers([{ op: 'remove', id: oldLeader.id }]);
    const remaining = nodes.filter((n) => n !== oldLeader && n !== follower);
    const newLeader = await waitUntil('a new leader', () => leaderOf(remaining));
    expect(newLeader.status().term).toBeGreaterThan(oldTerm);
    await waitUntil(`${oldLeader.id} reports removed`, () => oldLeader.status().state === 'removed');
    await put(remaining, 'after-leader-removed', 3);

    await waitUntil('survivors applied everything', () => remaining.every((n) => n.stateMachine.get('after-leader-removed') !== null));
    for (const n of remaining) {
      for (let i = 0; i < 120; i++) expect(n.stateMachine.get(`k${i}`)?.value).toBe(i);
      expect(n.members().voters.map((m) => m.id).sort()).toEqual(remaining.map((r) => r.id).sort());
    }
    expect(follower.status().term).toBeLessThanOrEqual(newLeader.status().term);
  });

  it('refuses bad changes naming the field, a second change while one is pending, and a promotion of a learner far behind', async () => {
    const hub = new MemoryHub();
    const seed: Configuration = { voters: ['Node1', 'Node2', 'Node3'].map(member), learners: [], outgoing: null };
    const nodes = await Promise.all(seed.voters.map((m) => startNode(hub, m.id, seed)));
    await put(nodes, 'first', 0);
    const leader = await waitUntil('a leader', () => leaderOf(nodes));
    const refusal = async (promise: Promise<unknown>): Promise<MembershipError> => {
      const err = await promise.then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(MembershipError);
      return err as MembershipError;
    };
    expect(await refusal(leader.changeMembers([{ op: 'remove', id: 'Node9' }]))).toMatchObject({ code: 'bad_request', field: 'changes[0].id' });
    expect(await refusal(leader.changeMembers([{ op: 'promote', id: 'Node1' }]))).toMatchObject({ code: 'bad_request', field: 'changes[0].id' });

    // A learner that never runs: it stays at 0 while the leader's log grows past 1,000.
    const pending = leader.changeMembers([{ op: 'add-learner', id: 'Node5', raft: '127.0.0.1:15', http: 'http://Node5' }]);
    expect(await refusal(leader.changeMembers([{ op: 'add-learner', id: 'Node6', raft: '127.0.0.1:16', http: 'http://Node6' }]))).toMatchObject({ code: 'precondition_failed' });
    await pending;
    await Promise.all(Array.from({ length: 1_100 }, (_, i) => leader.propose({ op: 'put', key: `w${i}`, value: i })));
    const lagging = await refusal(leader.changeMembers([{ op: 'promote', id: 'Node5' }]));
    expect(lagging.code).toBe('precondition_failed');
    expect(lagging.lag).toBeGreaterThan(1_000);
  });

  it('goes through joint consensus for a change of two voters and leaves it by itself', async () => {
    const hub = new MemoryHub();
    const seed: Configuration = { voters: ['Node1', 'Node2', 'Node3'].map(member), learners: [], outgoing: null };
    const nodes = await Promise.all(seed.voters.map((m) => startNode(hub, m.id, seed)));
    await put(nodes, 'first', 0);
    let leader = await waitUntil('a leader', () => leaderOf(nodes));
    await leader.changeMembers([
      { op: 'add-learner', id: 'Node4', raft: '127.0.0.1:14', http: 'http://Node4' },
      { op: 'add-learner', id: 'Node5', raft: '127.0.0.1:15', http: 'http://Node5' },
    ]);
    const learners = { ...seed, learners: [member('Node4'), member('Node5')] };
    nodes.push(await startNode(hub, 'Node4', learners), await startNode(hub, 'Node5', learners));
    await waitUntil('learners caught up', () => nodes.every((n) => n.stateMachine.get('first') !== null));
    leader = await waitUntil('a leader', () => leaderOf(nodes));
    // Applied on the learners is not yet acknowledged to the leader: promote needs the leader to have seen it.
    const current = leader;
    await waitUntil('the leader sees both learners caught up', () => ['Node4', 'Node5'].every((id) => (current.status().peers[id]?.matchIndex ?? 0) > 0));
    const others = nodes.filter((n) => n !== leader && !['Node4', 'Node5'].includes(n.id)).map((n) => n.id);
    const result = await leader.changeMembers([{ op: 'promote', id: 'Node4' }, { op: 'promote', id: 'Node5' }, ...others.map((id) => ({ op: 'remove' as const, id }))]);
    expect(result.members.joint).toBeNull();
    expect(result.members.voters.map((m) => m.id).sort()).toEqual([leader.id, 'Node4', 'Node5'].sort());
    await put(nodes, 'after-joint', 1);
    for (const id of others) await waitUntil(`${id} removed`, () => nodes.find((n) => n.id === id)?.status().state === 'removed');
  });
});

describe('parseMembersView (what `raftquotes member` reads back)', () => {
  const member = { id: 'Node1', raft: '127.0.0.1:7001', http: 'http://127.0.0.1:8081' };

  it('reads a configuration, joint or not, and ignores fields it does not know', () => {
    expect(parseMembersView({ ok: true, configIndex: 3, voters: [member], learners: [], joint: null })).toEqual({ configIndex: 3, voters: [member], learners: [], joint: null });
    expect(parseMembersView({ configIndex: 9, voters: [member], learners: [], joint: { outgoing: ['Node1', 'Node2'] } })?.joint).toEqual({ outgoing: ['Node1', 'Node2'] });
  });

  it('refuses anything else instead of trusting its shape', () => {
    for (const bad of [null, [], 'x', { configIndex: '3', voters: [], learners: [], joint: null }, { configIndex: 3, voters: [{ id: 'Node1' }], learners: [], joint: null }, { configIndex: 3, voters: [], learners: [], joint: { outgoing: [7] } }, { configIndex: 3, voters: [], learners: [] }]) {
      expect(parseMembersView(bad)).toBeNull();
    }
  });
});
