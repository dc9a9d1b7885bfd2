import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, http, sleep, waitFor } from '../support/cluster.js';

/**
 * Issue 19: a follower forwards a write to the leader over the authenticated peer link and
 * answers once it has applied the entry itself. On real processes (ports 29000-29099): writes
 * through followers, idempotent retries through followers, and leader changes in the middle
 * of forwarded writes, where every answer must be a success that is in the state, a 503 that
 * is not, or a 504 (unknown).
 */
describe('write forwarding over the peer link (5 processes)', () => {
  let cluster: TestCluster;
  const url = (id: string, path: string): string => `${cluster.node(id).http}${path}`;
  const followersOf = (leader: string): string[] => cluster.nodes.map((n) => n.id).filter((id) => id !== leader);

  beforeAll(async () => {
    cluster = await TestCluster.start({ httpBase: 29080, raftBase: 29000, controllerBase: 29054, env: { RAFTQUOTES_SECRET: 'forwarding-test-secret-0123456' } });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('a write through each follower succeeds, names the leader, and no HTTP forward is made', async () => {
    const leader = await cluster.waitForLeader();
    for (const follower of followersOf(leader)) {
      const put = await http('PUT', url(follower, `/api/kv/fwd-${follower}`), { value: follower });
      expect(put.status).toBe(200);
      expect(put.headers.get('x-raft-leader')).toBe(leader);
      // Answered after the follower applied it: a stale read on that same follower sees it.
      const stale = await http('GET', url(follower, `/api/kv/fwd-${follower}?consistency=stale`));
      expect(stale.body).toMatchObject({ value: follower, index: put.body.index });
      const metrics = await fetch(url(follower, '/metrics')).then((r) => r.text());
      expect(metrics).not.toMatch(/raftquotes_http_forwarded_total\{[^}]*outcome="relayed"[^}]*\} [1-9]/);
    }
  });

  it('a retried write with the same Idempotency-Key through followers is applied once', async () => {
    const leader = await cluster.waitForLeader();
    const [a, b] = followersOf(leader) as [string, string];
    const headers = { 'idempotency-key': `fwd-retry-${Date.now()}` };
    const quote = { text: 'Forwarded once, applied once.', author: 'Test' };
    const first = await http('POST', url(a, '/api/quotes'), quote, headers);
    const again = await http('POST', url(a, '/api/quotes'), quote, headers);
    const elsewhere = await http('POST', url(b, '/api/quotes'), quote, headers);
    expect([first.status, again.status, elsewhere.status]).toEqual([201, 201, 201]);
    expect(again.body.quote).toEqual(first.body.quote);
    expect(elsewhere.body.quote).toEqual(first.body.quote);
    const list = await http('GET', url(leader, `/api/quotes?after=${first.body.quote.index - 1}`));
    expect(list.body.quotes.filter((q: { text: string }) => q.text === quote.text)).toHaveLength(1);
    const reused = await http('PUT', url(b, '/api/kv/other'), { value: 1 }, headers);
    expect(reused.status).toBe(422);
    expect(reused.body.error).toBe('idempotency_key_reused');
  });

  /**
   * Writers on the followers while the leader changes (a graceful step-down, then kill -9).
   * Every answer is 200 (then the key holds its value), 503 no_leader or unavailable (then it
   * never does), or 504 timeout (either); nothing else, and never a success that was lost.
   */
  for (const how of ['step-down', 'kill -9'] as const) {
    it(`leader change mid-forward (${how}): documented errors only, never a false success or a false failure`, async () => {
      const leader = await cluster.waitForLeader();
      const writers = followersOf(leader);
      const outcomes: Array<{ key: string; value: string; status: number; error?: string }> = [];
      let running = true;
      const writer = async (node: string, lane: number): Promise<void> => {
        for (let n = 0; running; n++) {
          const key = `chg-${how.replace(/\W/g, '')}-${node}-${lane}-${n}`;
          const value = `${key}-v`;
          const r = await http('PUT', url(node, `/api/kv/${key}`), { value }, {}, 10_000).catch(() => ({ status: 0, body: {} as { error?: string } }));
          outcomes.push({ key, value, status: r.status, error: r.body?.error });
          if (r.status !== 200) await sleep(20);
        }
      };
      const load = writers.flatMap((node) => [0, 1, 2].map((lane) => writer(node, lane)));
      await sleep(700);
      if (how === 'step-down') {
        const r = await http('POST', url(leader, '/api/admin/step-down'), {});
        expect(r.status).toBe(200);
      } else {
        cluster.kill9(leader);
      }
      await sleep(1_500);
      running = false;
      await Promise.all(load);
      if (how === 'kill -9') await cluster.restart(leader);
      const reader = followersOf(leader)[0] as string;
      await cluster.waitForLeader();
      expect(outcomes.length).toBeGreaterThan(20);
      for (const o of outcomes) {
        expect([200, 503, 504], `${o.key}: ${o.status} ${o.error}`).toContain(o.status);
        if (o.status === 503) expect(['no_leader', 'unavailable']).toContain(o.error);
      }
      // Whatever was still in flight has settled once a linearizable read goes through.
      await waitFor('a linearizable read', async () => (await http('GET', url(reader, '/api/kv/warm-up'))).status === 404, 15_000);
      for (const o of outcomes) {
        if (o.status === 504) continue;
        const got = await http('GET', url(reader, `/api/kv/${o.key}`));
        if (o.status === 200) expect(got.body.value, `${o.key} answered 200`).toBe(o.value);
        else expect(got.status, `${o.key} answered ${o.status} ${o.error}`).toBe(404);
      }
      expect(outcomes.filter((o) => o.status === 200).length).toBeGreaterThan(10);
      const counts = outcomes.reduce<Record<string, number>>((c, o) => ({ ...c, [`${o.status} ${o.error ?? ''}`.trim()]: (c[`${o.status} ${o.error ?? ''}`.trim()] ?? 0) + 1 }), {});
      process.stdout.write(`leader change (${how}) mid-forward: ${JSON.stringify(counts)}\n`);
    }, 90_000);
  }
});
