import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, http, sleep, waitFor } from '../support/cluster.js';

/**
 * Issue 19 cut the writes that did not need an fsync from a write's path: a Ready that only
 * moves the commit index is not written, the state machine applies at synchronous=NORMAL, and
 * the leader holds commit notices for the next append to carry. None of that may lose an
 * acknowledged write or apply one twice. Here one client writes a chain of compare-and-sets
 * (each from the value the previous one left) while nodes, the leader among them, are killed
 * with SIGKILL and restarted, with snapshots and compaction every 40 entries. The counter must
 * never go back below an acknowledged value (a lost cas would send the chain back), and in the
 * end every node must have applied everything committed and hold every acknowledged write and
 * the same counter. (Applying an entry twice cannot show through this API, whose writes are
 * idempotent at one index: that rests on the apply and its applied index sharing one
 * transaction, which the simulator's disk tests with torn and lost unsynced applies.)
 *
 * Ports 20100-20159 (this work's range); runs under the global lock like the other process tests.
 */
const KILLS = 6;
const RUN_MS = 12_000;
const REQUEST_TIMEOUT_MS = 2_000;

describe('kill -9 while writing: nothing acknowledged is lost, nothing is applied twice', () => {
  let cluster: TestCluster;
  const url = (id: string, path: string): string => `${cluster.node(id).http}${path}`;

  beforeAll(async () => {
    cluster = await TestCluster.start({ httpBase: 20100, raftBase: 20120, controllerBase: 20140, nodeArgs: ['--snapshot-every', '40'], env: { RAFTQUOTES_SECRET: 'lazy-commit-crash-secret-0123' } });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('keeps every acknowledged write on every node after kills of the leader and followers', async () => {
    let leader = await cluster.waitForLeader();
    expect((await http('PUT', url(leader, '/api/kv/counter'), { value: 0 })).status).toBe(200);
    const acked = new Map<string, number>();
    let counter = 0;
    let unknown = 0;
    const regressions: string[] = [];
    let stop = false;
    const writer = (async (): Promise<void> => {
      for (let n = 1; !stop; n++) {
        const target = cluster.nodes[n % cluster.nodes.length]?.id as string;
        // A cas whose outcome is unknown (timeout, node killed) may have applied: read the counter back.
        const res = await http('POST', url(target, '/api/kv/counter/cas'), { from: counter, to: counter + 1 }, {}, REQUEST_TIMEOUT_MS).catch(() => null);
        if (res?.status === 200) {
          counter++;
          acked.set(`k${counter}`, counter);
          await http('PUT', url(target, `/api/kv/k${counter}`), { value: counter }, {}, REQUEST_TIMEOUT_MS).then((put) => put.status === 200 || acked.delete(`k${counter}`)).catch(() => acked.delete(`k${counter}`));
        } else if (res?.status === 409) {
          const current = res.body.current as number; // an earlier unknown outcome did apply
          if (current < counter) regressions.push(`counter ${current} after acknowledged ${counter}`);
          counter = current;
        } else {
          unknown++;
          await sleep(50);
        }
      }
    })();
    const deadline = Date.now() + RUN_MS;
    for (let kill = 0; kill < KILLS && Date.now() < deadline; kill++) {
      await sleep(RUN_MS / (KILLS + 1));
      leader = await cluster.waitForLeader(undefined, 10_000).catch(() => leader);
      const victim = kill % 2 === 0 ? leader : (cluster.nodes.find((n) => n.id !== leader)?.id as string);
      cluster.kill9(victim);
      await sleep(300);
      await cluster.restart(victim);
    }
    stop = true;
    await writer;
    expect(regressions).toEqual([]);
    expect(counter).toBeGreaterThan(10);
    leader = await cluster.waitForLeader(undefined, 15_000);
    const final = await http('GET', url(leader, '/api/kv/counter'));
    // Every acknowledged cas counted once, and an unknown one at most once more each.
    expect(final.body.value).toBeGreaterThanOrEqual(counter);
    expect(final.body.value).toBeLessThanOrEqual(counter + unknown);
    const applied = (await cluster.status(leader)).commitIndex as number;
    for (const node of cluster.nodes) {
      await waitFor(`${node.id} to apply up to ${applied}`, async () => ((await cluster.status(node.id).catch(() => null))?.appliedIndex ?? 0) >= applied, 20_000);
      const stale = async (key: string): Promise<unknown> => (await http('GET', url(node.id, `/api/kv/${key}?consistency=stale`))).body.value;
      expect(await stale('counter'), node.id).toBe(final.body.value);
      for (const [key, value] of acked) expect(await stale(key), `${node.id} ${key}`).toBe(value);
    }
  }, 120_000);
});
