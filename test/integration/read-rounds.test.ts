import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, http, waitFor } from '../support/cluster.js';

/**
 * Issue 19: a read round of the leader's own reads goes to just enough followers for a
 * majority (2 of 4), those whose acks are the latest (packages/raft sendReadRound). On real
 * processes (ports 13100-13399), with clients reading on the leader all along: the followers a
 * round picks are killed with -9 and stay dead, one, then a second; every read still answers
 * 200 with the last write. With a third dead (2 of 5 left) no read may answer at all: the
 * leader can no longer prove it leads, so a read is refused, never served stale.
 */
describe('linearizable reads on the leader while the followers a round picks die (5 processes)', () => {
  let cluster: TestCluster;
  const url = (id: string, path: string): string => `${cluster.node(id).http}${path}`;

  beforeAll(async () => {
    cluster = await TestCluster.start({ httpBase: 13100, raftBase: 13200, controllerBase: 13300, env: { RAFTQUOTES_SECRET: 'read-rounds-test-secret-0123456' } });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('keeps answering every read with the last write as two followers are killed, and refuses reads once no majority is left', async () => {
    const leader = await cluster.waitForLeader();
    const put = await http('PUT', url(leader, '/api/kv/rr'), { value: 'before the kills' });
    expect(put.status).toBe(200);
    // With no acks yet to choose by, a round goes to the first followers in voter order: kill those.
    const followers = cluster.nodes.map((n) => n.id).filter((id) => id !== leader);
    const [first, second, third] = followers as [string, string, string, string];

    const answers: Array<{ status: number; value: unknown; phase: number }> = [];
    let phase = 0;
    let reading = true;
    const reader = async (): Promise<void> => {
      while (reading) {
        const r = await http('GET', url(leader, '/api/kv/rr'), undefined, {}, 10_000);
        answers.push({ status: r.status, value: (r.body as { value?: unknown } | null)?.value, phase });
      }
    };
    const readers = Array.from({ length: 8 }, () => reader());
    const readsIn = async (p: number, count: number): Promise<void> => {
      await waitFor(`${count} reads in phase ${p}`, () => answers.filter((a) => a.phase === p).length >= count, 15_000, 20);
    };
    await readsIn(0, 200);
    cluster.kill9(first);
    phase = 1;
    await readsIn(1, 400);
    cluster.kill9(second);
    phase = 2;
    await readsIn(2, 400);
    reading = false;
    await Promise.all(readers);
    // Every read, before and after each kill, answered the last write: none failed, none stale.
    expect(answers.filter((a) => a.status !== 200 || a.value !== 'before the kills')).toEqual([]);
    // The leader is still the leader of 3 of 5; it must say so to writes too.
    expect((await http('PUT', url(leader, '/api/kv/rr'), { value: 'after two kills' })).status).toBe(200);
    expect((await http('GET', url(leader, '/api/kv/rr'))).body).toMatchObject({ value: 'after two kills' });

    // 2 of 5: no heartbeat round can be confirmed, so a linearizable read is refused, not served.
    cluster.kill9(third);
    const refused = await http('GET', url(leader, '/api/kv/rr'), undefined, {}, 15_000);
    expect([503, 504]).toContain(refused.status);
  }, 90_000);
});
