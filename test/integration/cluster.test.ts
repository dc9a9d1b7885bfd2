import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestCluster, http, sleep, waitFor } from '../support/cluster.js';

/**
 * The runtime issue's checks on real processes: elections, forwarding, linearizable reads
 * through followers, kill -9 failover and recovery, durability across a full restart,
 * InstallSnapshot catch-up, idempotent retries, and peer authentication.
 */
describe('a 5-process cluster on loopback', () => {
  let cluster: TestCluster;
  const followers = async (leader: string): Promise<string[]> => cluster.nodes.map((n) => n.id).filter((id) => id !== leader);
  const url = (id: string, path: string): string => `${cluster.node(id).http}${path}`;

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodeArgs: ['--snapshot-every', '300'], env: { RAFTQUOTES_SECRET: 'integration-test-secret-0123' } });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('elects exactly one leader that every node agrees on', async () => {
    const leader = await cluster.waitForLeader();
    // waitForLeader needs only a majority; a follower learns of the leader from its first
    // append, which on a loaded machine may come a few heartbeats later.
    const statuses = await waitFor('every node to follow the leader', async () => {
      const all = await Promise.all(cluster.nodes.map((n) => cluster.status(n.id)));
      return all.every((s) => s.leader === leader) ? all : undefined;
    }, 5_000);
    expect(statuses.filter((s) => s.state === 'leader').map((s) => s.id)).toEqual([leader]);
    expect(new Set(statuses.map((s) => s.term)).size).toBe(1);
  });

  it('accepts a write through a follower and reads it linearizably through another follower', async () => {
    const leader = await cluster.waitForLeader();
    const [a, b] = await followers(leader);
    const put = await http('PUT', url(a as string, '/api/kv/greeting'), { value: { hello: 'world' } });
    expect(put.status).toBe(200);
    expect(put.body.index).toBeGreaterThan(0);
    expect(put.headers.get('x-raft-leader')).toBe(leader);
    const get = await http('GET', url(b as string, '/api/kv/greeting'));
    expect(get.status).toBe(200);
    expect(get.body).toMatchObject({ key: 'greeting', value: { hello: 'world' }, index: put.body.index });
  });

  it('applies a retried write with the same Idempotency-Key only once', async () => {
    const leader = await cluster.waitForLeader();
    const [a, b] = await followers(leader);
    const headers = { 'idempotency-key': `retry-${Date.now()}` };
    const first = await http('POST', url(a as string, '/api/quotes'), { text: 'Persistence beats talent.', author: 'Test' }, headers);
    const second = await http('POST', url(b as string, '/api/quotes'), { text: 'Persistence beats talent.', author: 'Test' }, headers);
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body.quote.index).toBe(first.body.quote.index);
    const list = await http('GET', url(leader, `/api/quotes?after=${first.body.quote.index - 1}`));
    expect(list.body.quotes.filter((q: { text: string }) => q.text === 'Persistence beats talent.')).toHaveLength(1);
  });

  it('fails over after kill -9 of the leader, and the killed node catches up after restart', async () => {
    const oldLeader = await cluster.waitForLeader();
    cluster.kill9(oldLeader);
    const survivors = await followers(oldLeader);
    const newLeader = await cluster.waitForLeader(survivors);
    expect(newLeader).not.toBe(oldLeader);
    const put = await waitFor('a write through a survivor', async () => {
      const res = await http('PUT', url(survivors[0] as string, '/api/kv/after-failover'), { value: 42 }, {}, 2_000);
      return res.status === 200 ? res : undefined;
    });
    await cluster.restart(oldLeader);
    await waitFor(`${oldLeader} caught up`, async () => {
      const s = await cluster.status(oldLeader);
      return s.appliedIndex >= put.body.index && s.leader !== null;
    });
    const stale = await http('GET', url(oldLeader, '/api/kv/after-failover?consistency=stale'));
    expect(stale.body.value).toBe(42);
  });

  it('catches up a node that is far behind through InstallSnapshot after compaction', async () => {
    const leader = await cluster.waitForLeader();
    const [lagging] = await followers(leader);
    cluster.kill9(lagging as string);
    // 900 writes with snapshots every 300: the leader compacts past what the lagging node has.
    for (let batch = 0; batch < 30; batch++) {
      await Promise.all(Array.from({ length: 30 }, (_, i) => http('PUT', url(leader, `/api/kv/bulk-${i}`), { value: batch * 30 + i })));
    }
    const leaderStatus = await cluster.status(leader);
    expect(leaderStatus.snapshotIndex).toBeGreaterThan(0);
    await cluster.restart(lagging as string);
    await waitFor(`${lagging} caught up by snapshot`, async () => {
      const s = await cluster.status(lagging as string);
      return s.appliedIndex >= leaderStatus.commitIndex && s.snapshotIndex > 0;
    }, 20_000);
    const value = await http('GET', url(lagging as string, '/api/kv/bulk-29?consistency=stale'));
    expect(value.body.value).toBe(29 * 30 + 29);
    // Really through InstallSnapshot (the leader kept only 150 entries behind its snapshot),
    // with the image built on demand and the state machine restored from it.
    expect(cluster.output).toMatch(/snapshot image for InstallSnapshot at index=\d+/);
    expect(cluster.output).toMatch(new RegExp(`${lagging}.*installing snapshot index=\\d+`));
    // The installed state survives kill -9 (restored in the transaction that replaced the log).
    cluster.kill9(lagging as string);
    await cluster.restart(lagging as string);
    const again = await http('GET', url(lagging as string, '/api/kv/bulk-0?consistency=stale'));
    expect(again.body.value).toBe(29 * 30);
  });

  it('refuses a peer with the wrong secret', async () => {
    const leader = await cluster.waitForLeader();
    const [outsider] = await followers(leader);
    cluster.kill9(outsider as string);
    const wrongSecret = join(cluster.dataDir, 'wrong-secret');
    writeFileSync(wrongSecret, 'a-different-secret-0123456789\n', { mode: 0o600 });
    await cluster.restart(outsider as string, {}, (argv) => argv.map((arg, i) => (argv[i - 1] === '--secret-file' ? wrongSecret : arg)));
    const put = await http('PUT', url(leader, '/api/kv/secret-check'), { value: 'only-members' });
    expect(put.status).toBe(200);
    await sleep(1_500);
    const seen = await http('GET', url(outsider as string, '/api/kv/secret-check?consistency=stale'));
    expect(seen.status).toBe(404);
    expect(cluster.output).toMatch(/refused peer connection/i);
    cluster.kill9(outsider as string);
    await cluster.restart(outsider as string);
  });

  it('keeps every acknowledged write after kill -9 of all five nodes', async () => {
    const leader = await cluster.waitForLeader();
    const acked: Array<{ key: string; value: number }> = [];
    await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const res = await http('PUT', url(leader, `/api/kv/durable-${i}`), { value: i });
        if (res.status === 200) acked.push({ key: `durable-${i}`, value: i });
      }),
    );
    expect(acked.length).toBe(50);
    for (const node of cluster.nodes) cluster.kill9(node.id);
    await sleep(200);
    for (const node of cluster.nodes) await cluster.restart(node.id);
    const newLeader = await cluster.waitForLeader();
    for (const { key, value } of acked) {
      const res = await http('GET', url(newLeader, `/api/kv/${key}`));
      expect(res.body.value).toBe(value);
    }
  });
});
