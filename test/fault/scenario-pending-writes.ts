import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Target } from './clients.js';
import { ProcessCluster, sleep, type PortBases } from './harness-cluster.js';
import { waitCaughtUp, waitForAgreedLeader } from './harness.js';
import { httpCall } from './http-client.js';
import { pollStatus } from './monitor.js';

/** Writes left pending on the cut-off leader. */
const PENDING_WRITES = 8;
/** Time for the pending writes to reach the leader's log and its one reachable follower. */
const REPLICATE_MS = 300;
/** Deadline per write (above the node's own 5 s). */
const WRITE_TIMEOUT_MS = 8_000;

/** One write left pending, how it was answered, and whether it was applied in the end. */
export interface PendingWrite {
  key: string;
  status: number | 'refused' | 'timeout' | 'broken';
  error?: string;
  applied?: boolean;
}

export interface PendingWritesScenario {
  leader: string;
  follower: string;
  newLeader: string;
  writes: PendingWrite[];
  log: string[];
}

/**
 * What happens to writes that are pending on a leader when it is shut down (controller
 * SHUTDOWN, as POST /api/admin/shutdown; a SIGTERM'd leader ends its waiters the same way):
 *
 * 1. cut every link except leader L ↔ follower F: L appends the writes and sends them to F,
 *    but cannot commit them (2 of 5);
 * 2. shut L down: its pending writes are answered;
 * 3. a star around F (F ↔ each other node, nothing else): only F can win an election (the
 *    others see no one but F, and F's log is the most up to date), and it commits the
 *    writes with its first entry.
 *
 * So the writes pending at step 2 were applied. The answer they got must not have said
 * "not applied" (503): SPEC §3 keeps "the outcome is unknown" for 504 timeout.
 */
export async function runPendingWritesScenario(ports: PortBases, env: NodeJS.ProcessEnv = {}): Promise<PendingWritesScenario> {
  const workDir = mkdtempSync(join(tmpdir(), 'raftquotes-fault-pending-'));
  const log: string[] = [];
  let cluster: ProcessCluster | undefined;
  try {
    cluster = await ProcessCluster.start({ ports, workDir, env });
    const targets: Target[] = cluster.nodes.map((n) => ({ id: n.id, http: n.http }));
    const clock = (): number => 0;
    const leader = await waitForAgreedLeader(targets, 30_000, clock);
    const others = cluster.ids.filter((id) => id !== leader);
    const follower = others[0] as string;
    const rest = others.slice(1);
    const leaderUrl = cluster.node(leader).http;
    log.push(`leader ${leader}, its one reachable follower ${follower}`);

    cluster.network.partition([[leader, follower], ...rest.map((id) => [id])]);
    const writes: PendingWrite[] = Array.from({ length: PENDING_WRITES }, (_, i) => ({ key: `pending-${i}`, status: 'timeout' }));
    const answers = writes.map(async (write) => {
      const result = await httpCall({ method: 'PUT', url: `${leaderUrl}/api/kv/${write.key}`, body: { value: write.key }, timeoutMs: WRITE_TIMEOUT_MS });
      if (result.kind === 'response') Object.assign(write, { status: result.status, error: result.body?.error });
      else write.status = result.error;
    });
    await sleep(REPLICATE_MS);
    const shutdown = await httpCall({ method: 'POST', url: `${leaderUrl}/api/admin/shutdown`, body: {}, timeoutMs: 3_000 });
    if (shutdown.kind !== 'response' || shutdown.status !== 200) throw new Error(`shutdown of ${leader} failed: ${JSON.stringify(shutdown)}`);
    await Promise.all(answers);
    log.push(`answers after the shutdown: ${writes.map((w) => `${w.key}=${w.status}${w.error ? ` ${w.error}` : ''}`).join(', ')}`);

    for (const id of rest) {
      cluster.network.healLink(follower, id);
      cluster.network.healLink(id, follower);
    }
    const newLeader = await waitForLeaderAmong(targets.filter((t) => t.id !== leader), clock);
    log.push(`${newLeader} leads the star`);

    cluster.network.healAll();
    const resumed = await httpCall({ method: 'POST', url: `${leaderUrl}/api/admin/resume`, body: {}, timeoutMs: 3_000 });
    if (resumed.kind !== 'response' || resumed.status !== 200) throw new Error(`resume of ${leader} failed`);
    await waitForAgreedLeader(targets, 15_000, clock);
    const caughtUp = await waitCaughtUp(targets, 15_000, clock);
    if (!caughtUp.ok) throw new Error(`cluster did not catch up: ${caughtUp.detail}`);
    for (const write of writes) {
      const result = await httpCall({ method: 'GET', url: `${cluster.node(follower).http}/api/kv/${write.key}`, timeoutMs: 5_000 });
      if (result.kind !== 'response' || (result.status !== 200 && result.status !== 404)) throw new Error(`final read of ${write.key} failed`);
      write.applied = result.status === 200;
    }
    log.push(`applied in the end: ${writes.filter((w) => w.applied).map((w) => w.key).join(', ') || 'none'}`);
    return { leader, follower, newLeader, writes, log };
  } finally {
    await cluster?.close();
    rmSync(workDir, { recursive: true, force: true });
  }
}

async function waitForLeaderAmong(targets: Target[], clock: () => number): Promise<string> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const statuses = await Promise.all(targets.map((t) => pollStatus(t, clock)));
    const leader = statuses.find((s) => s?.state === 'leader');
    if (leader) return leader.nodeId;
    await sleep(100);
  }
  throw new Error('no leader among the star within 15 s');
}
