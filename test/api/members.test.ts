import { networkInterfaces } from 'node:os';
import { Registry } from '../../src/metrics/prometheus.js';
import { afterEach, describe, expect, it } from 'vitest';
import { createApiServer, type ApiServer } from '../../src/api/server.js';
import { describeMembers } from '../../src/cli/status.js';
import { statusReply } from '../../src/controller/protocol.js';
import { NodeMetrics } from '../../src/node/metrics.js';
import { RaftNode, type NodeLogger } from '../../src/node/raft-node.js';
import type { Configuration, NodeId } from '@raftquotes/raft';
import { MemoryStateMachine } from '../../src/state/memory-state-machine.js';
import { MemoryRaftStorage } from '../../src/storage/memory-storage.js';
import { call, expectErrorShape, makeWebDir } from './helpers.js';
import { MemoryHub, waitUntil } from '../support/memory-hub.js';

/**
 * POST /api/members refusals through the real HTTP server around real RaftNodes (SPEC §9, §7):
 * 400 naming the field, 409 with `lag` for a learner behind, 409 while a change is pending, and
 * admin only. The nodes talk over an in-process hub (messages structured-cloned).
 */

const quiet: NodeLogger = { info: () => {}, warn: () => {}, error: () => {} };
const member = (id: NodeId): { id: NodeId; raft: string; http: string } => ({ id, raft: `127.0.0.1:1${id.slice(4)}`, http: `http://${id}` });
const CONFIG: Configuration = { voters: ['Node1', 'Node2', 'Node3'].map(member), learners: [], outgoing: null };

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Three real nodes; the API server runs around the leader, on `host`. */
async function startCluster(options: { host?: string; adminToken?: string } = {}): Promise<{ nodes: RaftNode[]; leader: RaftNode; url: string }> {
  const hub = new MemoryHub();
  const nodes: RaftNode[] = [];
  for (const { id } of CONFIG.voters) {
    const node = new RaftNode(
      { id, voters: CONFIG.voters.map((m) => m.id), initialConfiguration: CONFIG, httpUrl: `http://${id}`, tickMs: 5, snapshotEvery: 100_000, defaultTimeoutMs: 2_000, raft: { electionTicks: 60, heartbeatTicks: 4 } },
      { storage: new MemoryRaftStorage(), stateMachine: new MemoryStateMachine(), transport: hub.transport(id), logger: quiet, metrics: new NodeMetrics(id) },
    );
    cleanups.push(() => node.stop());
    await node.start();
    nodes.push(node);
  }
  const leader = await waitUntil('a leader', () => nodes.find((n) => n.status().state === 'leader'));
  await leader.propose({ op: 'put', key: 'warm', value: 1 }); // an entry of its own term: changes allowed
  const api: ApiServer = createApiServer({ node: leader, logger: { info: () => {}, warn: () => {}, error: () => {} }, webDir: makeWebDir(), adminToken: options.adminToken, metricsRegistry: new Registry(), rateLimit: null });
  await api.listen(options.host ?? '127.0.0.1', 0);
  cleanups.push(() => api.close());
  return { nodes, leader, url: `http://${options.host ?? '127.0.0.1'}:${api.address()?.port}` };
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) => call(url, 'POST', '/api/members', body, headers);

describe('POST /api/members refusals (SPEC §9)', () => {
  it('400 naming the JSON path of the field at fault, before the leader judges anything', async () => {
    const { url, leader } = await startCluster();
    const before = leader.members().configIndex;
    const cases: Array<[unknown, string]> = [
      [{}, 'changes'],
      [{ changes: [] }, 'changes'],
      [{ changes: ['x'] }, 'changes[0]'],
      [{ changes: [{ op: 'grow', id: 'Node4' }] }, 'changes[0].op'],
      [{ changes: [{ op: 'remove', id: 'no spaces allowed' }] }, 'changes[0].id'],
      [{ changes: [{ op: 'add-learner', id: 'Node4', raft: 'nohost', http: 'http://h:1' }] }, 'changes[0].raft'],
      [{ changes: [{ op: 'add-learner', id: 'Node4', raft: 'h:1', http: 'ftp://h' }] }, 'changes[0].http'],
      [{ changes: [{ op: 'remove', id: 'Node2', raft: 'h:1' }] }, 'changes[0].raft'],
      [{ changes: [{ op: 'remove', id: 'Node2' }, { op: 'remove', id: 'Node2' }] }, 'changes[1].id'],
      // Judged by the core against the configuration: an unknown id, an id already a member.
      [{ changes: [{ op: 'remove', id: 'Node9' }] }, 'changes[0].id'],
      [{ changes: [{ op: 'add-learner', ...member('Node2') }] }, 'changes[0].id'],
    ];
    for (const [body, field] of cases) {
      const res = await post(url, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(expectErrorShape(res.body, 'bad_request').field, JSON.stringify(body)).toBe(field);
    }
    expect(leader.members().configIndex).toBe(before);
  });

  it('409 with lag for the promotion of a learner more than 1,000 entries behind', async () => {
    const { url, leader } = await startCluster();
    // Node4 is added but never runs: it stays at 0 while the log grows past the bound.
    expect((await post(url, { changes: [{ op: 'add-learner', ...member('Node4') }] })).status).toBe(200);
    for (let i = 0; i < 1_050; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => leader.propose({ op: 'put', key: `k${(i + j) % 7}`, value: i + j })));
    const res = await post(url, { changes: [{ op: 'promote', id: 'Node4' }] });
    expect(res.status).toBe(409);
    expectErrorShape(res.body, 'precondition_failed');
    expect(res.body.lag).toBeGreaterThan(1_000);
    expect(leader.members().learners.map((m) => m.id)).toEqual(['Node4']);
  });

  it('409 while another change is pending (one change at a time)', async () => {
    const { url, nodes, leader } = await startCluster();
    // With both followers stopped nothing can commit: the first change stays pending.
    for (const node of nodes.filter((n) => n !== leader)) await node.stop();
    const first = post(url, { changes: [{ op: 'add-learner', ...member('Node4') }] });
    await waitUntil('the first change appended', () => leader.members().configIndex > 0 && leader.members().learners.length === 1);
    const second = await post(url, { changes: [{ op: 'add-learner', ...member('Node5') }] });
    expect(second.status).toBe(409);
    expect(expectErrorShape(second.body, 'precondition_failed').message).toMatch(/pending|under way|change/i);
    // The first never commits: its outcome is unknown (504), never a success.
    expect([503, 504]).toContain((await first).status);
  });

  it('is an admin action: same-origin JSON only, and from another host only with the admin token', async () => {
    const { url } = await startCluster();
    const change = { changes: [{ op: 'remove', id: 'Node9' }] };
    const cross = await post(url, change, { origin: 'http://evil.example' });
    expect(cross.status).toBe(403);
    expectErrorShape(cross.body, 'forbidden');
    expect((await call(url, 'POST', '/api/members', JSON.stringify(change), { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await call(url, 'GET', '/api/members')).status).toBe(200); // reading is open
  });

  const external = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
  it.skipIf(external === undefined)('from a non-loopback address: 403 without the token, judged with it', async () => {
    const { url } = await startCluster({ host: external as string, adminToken: 'members-admin-token-0123' });
    const change = { changes: [{ op: 'remove', id: 'Node9' }] };
    const anonymous = await post(url, change);
    expect(anonymous.status).toBe(403);
    expectErrorShape(anonymous.body, 'forbidden');
    const wrong = await post(url, change, { authorization: 'Bearer not-the-token' });
    expect(wrong.status).toBe(403);
    const admin = await post(url, change, { authorization: 'Bearer members-admin-token-0123' });
    expect(admin.status).toBe(400);
    expect(admin.body.field).toBe('changes[0].id');
  });
});

describe('membership shown (issue 17): /api/status, /api/cluster, the controller STATUS, `raftquotes status`, RETRIEVE', () => {
  it('voters, learners, the joint state and removed nodes; RETRIEVE lists client entries only', async () => {
    const { url, leader } = await startCluster();
    expect((await post(url, { changes: [{ op: 'add-learner', ...member('Node4') }] })).status).toBe(200);
    const gone = ['Node1', 'Node2', 'Node3'].find((id) => id !== leader.id) as string;
    const voters = ['Node1', 'Node2', 'Node3'].filter((id) => id !== gone);
    expect((await post(url, { changes: [{ op: 'remove', id: gone }] })).status).toBe(200);
    const status = (await call(url, 'GET', '/api/status')).body;
    expect(status.members).toMatchObject({ voters, learners: ['Node4'], joint: null, removed: [gone] });
    const cluster = (await call(url, 'GET', '/api/cluster')).body;
    expect(cluster.nodes.map((n: { id: string; role: string }) => `${n.id}:${n.role}`)).toEqual([...voters.map((id) => `${id}:voter`), 'Node4:learner']);
    expect(cluster.members.removed).toEqual([gone]);
    // The controller's STATUS carries the same status document.
    const reply = statusReply(leader.id, leader.status());
    expect((reply.value as { members: unknown }).members).toEqual(status.members);
    expect(describeMembers(status.members)).toBe(`configuration ${status.members.configIndex}: voters ${voters.join(',')}; learners Node4; not joint; removed ${gone}`);
    // Two voters at once: joint consensus, shown while it lasts (Node5 and Node6 never run, so it cannot end).
    const joint = post(url, { changes: [{ op: 'add-voter', ...member('Node5') }, { op: 'add-voter', ...member('Node6') }] });
    const during = await waitUntil('the joint state', () => leader.status().members?.joint ?? null);
    expect(during.outgoing).toEqual(voters);
    expect(describeMembers(leader.status().members as NonNullable<ReturnType<RaftNode['status']>['members']>)).toContain(`joint (outgoing ${voters.join(',')})`);
    expect([200, 409, 504]).toContain((await joint).status);
    // RETRIEVE (SPEC §4): the committed client entries (the warm-up put), never the configuration entries.
    const entries = leader.stateMachine.clientEntriesFrom(0, 100);
    expect(entries).toHaveLength(1);
    expect(JSON.stringify(entries)).toContain('warm');
  });
});
