import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, http, sleep, waitFor } from '../support/cluster.js';

/** Ports no other test uses (cluster.test.ts: the SPEC defaults; e2e: 18600; screenshots: 18700). */
const PORTS = { httpBase: 18900, raftBase: 17900, controllerBase: 16900 };
/** node-command.ts forces exit(1) after 5 s; a graceful stop must finish well before. */
const EXIT_BOUND_MS = 4_000;
const DATABASE_FILE = 'raftquotes.db';
const WRITERS = 2;
const MAX_WRITES_PER_WRITER = 400;
const MAX_ATTEMPTS_PER_WRITE = 60;

interface Failure {
  status: number;
  error: string;
}

/**
 * SPEC §2 / issue 4: a graceful stop (SIGTERM) of the leader transfers leadership first,
 * then closes the database cleanly; no acknowledged write is lost. Light write load runs
 * through the other nodes the whole time, each write retried with its Idempotency-Key.
 */
describe('graceful stop (SIGTERM) of the leader under light write load', () => {
  let cluster: TestCluster;
  const url = (id: string, path: string): string => `${cluster.node(id).http}${path}`;
  const linesOf = (id: string): string[] => cluster.output.split('\n').filter((line) => line.startsWith(`${id} `));

  beforeAll(async () => {
    cluster = await TestCluster.start(PORTS);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('hands leadership over, exits 0 promptly, leaves a cleanly closed database, and loses no acknowledged write', async () => {
    const oldLeader = await cluster.waitForLeader();
    const others = cluster.nodes.map((n) => n.id).filter((id) => id !== oldLeader);
    const acked = new Map<string, { value: number; index: number }>();
    const failures: Failure[] = [];
    let running = true;

    /** Sequential PUTs through the followers; a failed write is retried with the same key. */
    const writer = async (w: number): Promise<void> => {
      for (let n = 0; running && n < MAX_WRITES_PER_WRITER; n++) {
        const key = `graceful-${w}-${n}`;
        for (let attempt = 0; attempt < MAX_ATTEMPTS_PER_WRITE; attempt++) {
          const via = others[(w + n + attempt) % others.length] as string;
          const res = await http('PUT', url(via, `/api/kv/${key}`), { value: n }, { 'idempotency-key': key }, 3_000).catch((err: Error) => ({
            status: 0,
            headers: new Headers(),
            body: { error: 'network', message: err.message },
          }));
          if (res.status === 200) {
            acked.set(key, { value: n, index: res.body.index as number });
            break;
          }
          failures.push({ status: res.status, error: String(res.body?.error) });
          await sleep(20);
        }
        await sleep(15);
      }
    };
    const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));

    try {
      await waitFor('some acknowledged writes', () => acked.size >= 20, 15_000);
      const before = await cluster.status(oldLeader);
      expect(before.state).toBe('leader');
      const oldTerm = before.term as number;
      const dataDir = cluster.node(oldLeader).dataDir;

      // ---------------------------------------------------------------- SIGTERM
      const sentAt = Date.now();
      process.kill(cluster.node(oldLeader).pid, 'SIGTERM');

      // A new leader, elected by the TimeoutNow of the transfer: the very next term.
      const elected = await waitFor(
        'a new leader',
        async () => {
          const statuses = await Promise.all(others.map((id) => cluster.status(id).catch(() => null)));
          const leader = statuses.find((s) => s?.state === 'leader' && s.term > oldTerm);
          return leader ? { id: leader.id as string, term: leader.term as number, ms: Date.now() - sentAt } : undefined;
        },
        5_000,
        20,
      );
      expect(elected.term).toBe(oldTerm + 1);

      // The process exits 0, within the bound (the cluster process logs a node's exit).
      const exitLine = new RegExp(`^${oldLeader} +\\| exited \\((code \\d+|SIG\\w+)\\)`, 'm');
      const exit = await waitFor('the stopped leader to exit', () => exitLine.exec(cluster.output)?.[1], EXIT_BOUND_MS + 2_000, 20);
      const exitMs = Date.now() - sentAt;
      expect(exit).toBe('code 0');
      expect(exitMs).toBeLessThan(EXIT_BOUND_MS);

      // The logs show the transfer, not an election after a timeout.
      const stopped = linesOf(oldLeader).join('\n');
      expect(stopped).toContain('SIGTERM: stopping');
      expect(stopped).toContain(`transferring leadership to ${elected.id} term=${oldTerm}`);
      expect(stopped).not.toContain('leadership transfer on stop failed');
      const successor = linesOf(elected.id).join('\n');
      expect(successor).toContain(`received TimeoutNow from ${oldLeader}`);
      expect(successor).toContain(`campaigning term=${oldTerm + 1} (forced)`);
      console.log(`graceful stop: new leader ${elected.id} term=${elected.term} after ${elected.ms} ms; ${oldLeader} exited (${exit}) after ${exitMs} ms`);

      // Closed cleanly: the last connection's close checkpointed the WAL and removed it.
      expect(existsSync(join(dataDir, DATABASE_FILE))).toBe(true);
      expect(existsSync(join(dataDir, `${DATABASE_FILE}-wal`)), 'a -wal file left behind: the database was not closed').toBe(false);

      // Restarted, it recovers everything it had committed and applied, then catches up.
      await sleep(300);
      await cluster.restart(oldLeader);
      const recovered = await waitFor(
        'the recovery line',
        () => /\(restarted\) \| .*recovered term=(\d+) lastIndex=(\d+) applied=(\d+)/.exec(cluster.output),
        10_000,
      );
      expect(Number(recovered[2])).toBeGreaterThanOrEqual(before.commitIndex as number);
      expect(Number(recovered[3])).toBeGreaterThanOrEqual(before.appliedIndex as number);
      expect(cluster.output).not.toMatch(/\(restarted\) \|.*(corrupt|refusing to start|behind the snapshot)/);
    } finally {
      running = false;
      await Promise.all(writers);
    }

    // Writes only failed in ways a client retries (503 no_leader/unavailable, 504 timeout).
    expect(failures.filter((f) => f.status !== 503 && f.status !== 504), JSON.stringify(failures.slice(0, 10))).toEqual([]);
    console.log(`graceful stop: ${acked.size} writes acknowledged, ${failures.length} retried (${[...new Set(failures.map((f) => `${f.status} ${f.error}`))].join(', ') || 'none'})`);

    // No acknowledged write is lost: each reads back linearizably, and from the restarted node.
    const leader = await cluster.waitForLeader();
    const maxIndex = Math.max(...[...acked.values()].map((a) => a.index));
    await waitFor(`${oldLeader} caught up`, async () => (await cluster.status(oldLeader)).appliedIndex >= maxIndex, 15_000);
    for (const [key, { value }] of acked) {
      const viaLeader = await http('GET', url(leader, `/api/kv/${key}`));
      expect(viaLeader.body?.value, key).toBe(value);
      const viaRestarted = await http('GET', url(oldLeader, `/api/kv/${key}?consistency=stale`));
      expect(viaRestarted.body?.value, key).toBe(value);
    }
  });
});
