import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/cluster.js';
import { ProcessCluster } from './harness-cluster.js';
import { httpCall } from './http-client.js';

/**
 * The fault harness's network reaches members added at run time (issue 17): a spare joins
 * (recorded at its FaultNetwork entrance), and a partition then cuts its links to and from
 * the leader (it hears nothing, falls behind) until the heal, after which it catches up.
 * Real node processes; ports 11300-11599 (this file's range), 127.0.0.1 only. Run under the
 * cluster lock.
 */

const STEP_MS = 30_000;
let cluster: ProcessCluster;
let workDir: string;

const status = async (id: string): Promise<any> => {
  const result = await httpCall({ method: 'GET', url: `${cluster.node(id).http}/api/status`, timeoutMs: 1_000 });
  return result.kind === 'response' && result.status === 200 ? result.body : null;
};
const leaderOf = async (ids: string[]): Promise<string> => waitFor('a leader', async () => {
  for (const id of ids) if ((await status(id))?.state === 'leader') return id;
  return undefined;
}, STEP_MS);
const put = async (via: string, key: string): Promise<boolean> => {
  const result = await httpCall({ method: 'PUT', url: `${cluster.node(via).http}/api/kv/${key}`, body: { value: key }, timeoutMs: 5_000 });
  return result.kind === 'response' && result.status === 200;
};

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'raftquotes-added-partition-'));
  cluster = await ProcessCluster.start({ nodes: 3, spares: 1, workDir, ports: { httpBase: 11300, raftBase: 11400, controllerBase: 11500 } });
}, STEP_MS * 2);

afterAll(async () => {
  await cluster?.close();
  rmSync(workDir, { recursive: true, force: true });
}, STEP_MS);

describe('fault network and members added at run time', () => {
  it('a partition cuts the links of a node added at run time, and the heal restores them', async () => {
    const first = ['Node1', 'Node2', 'Node3'];
    const leader = await leaderOf(first);
    await cluster.joinSpare('Node4', cluster.node(leader).http);
    const members = await httpCall({ method: 'GET', url: `${cluster.node(leader).http}/api/members`, timeoutMs: 2_000 });
    expect(members.kind === 'response' && members.body.learners).toContainEqual(expect.objectContaining({ id: 'Node4', raft: cluster.network.entranceOf('Node4') }));

    // A voter, so losing the leader shows: it would campaign (pre-vote keeps its term down).
    await waitFor('Node4 promoted', async () => {
      const result = await httpCall({ method: 'POST', url: `${cluster.node(leader).http}/api/members`, body: { changes: [{ op: 'promote', id: 'Node4' }] }, timeoutMs: 10_000 });
      return result.kind === 'response' && result.status === 200;
    }, STEP_MS);

    // Before: the leader replicates to Node4 through link leader→Node4, and Node4 answers through Node4→leader.
    expect(await put(leader, 'before')).toBe(true);
    const target = (await status(leader)).commitIndex as number;
    await waitFor('Node4 applies the write', async () => (await status('Node4'))?.appliedIndex >= target, STEP_MS);
    await waitFor('traffic both ways on the links of Node4', () => cluster.network.link(leader, 'Node4').stats().bytesToTarget > 0 && cluster.network.link('Node4', leader).stats().bytesToTarget > 0, STEP_MS);

    cluster.network.partition([first, ['Node4']]);
    expect(cluster.network.link(leader, 'Node4').isCut()).toBe(true);
    expect(cluster.network.link('Node4', leader).isCut()).toBe(true);
    const heldBytes = cluster.network.link(leader, 'Node4').stats().bytesToTarget;
    for (let i = 0; i < 5; i++) expect(await put(leader, `during${i}`)).toBe(true);
    const during = (await status(leader)).commitIndex as number;
    // Node4 loses its leader (it hears no heartbeat for several election timeouts) and stays behind.
    await waitFor('Node4 no longer hears the leader', async () => (await status('Node4'))?.leader === null, STEP_MS);
    expect((await status('Node4')).appliedIndex).toBeLessThan(during);
    expect(cluster.network.link(leader, 'Node4').stats().bytesToTarget).toBe(heldBytes);

    cluster.network.healAll();
    await waitFor('Node4 hears the leader again', async () => (await status('Node4'))?.leader === leader, STEP_MS);
    await waitFor('Node4 catches up after the heal', async () => (await status('Node4'))?.appliedIndex >= during, STEP_MS);
    expect(cluster.network.link(leader, 'Node4').stats().bytesToTarget).toBeGreaterThan(heldBytes);
    // The partition did not disturb the first nodes: same leader.
    expect(await leaderOf(first)).toBe(leader);
  }, STEP_MS * 6);
});
