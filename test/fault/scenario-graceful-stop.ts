import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Target } from './clients.js';
import { ProcessCluster, sleep, type PortBases } from './harness-cluster.js';
import { waitCaughtUp, waitForAgreedLeader } from './harness.js';
import { httpCall } from './http-client.js';

/** Concurrent writers aimed at the leader while it is stopped. */
const WRITERS = 32;
/** How long the writers run before the SIGTERM. */
const LOAD_BEFORE_STOP_MS = 1_000;
/** Deadline per write (above the node's own 5 s). */
const WRITE_TIMEOUT_MS = 6_000;

/** One write of the scenario and how it was answered. */
export interface StopWrite {
  key: string;
  status: number | 'refused' | 'timeout' | 'broken';
  error?: string;
  /** Whether the key exists after the cluster recovered (the write was applied). */
  applied?: boolean;
}

export interface GracefulStopScenario {
  leader: string;
  writes: StopWrite[];
  /** Writes answered 503 (no_leader or unavailable) that were applied nevertheless. */
  appliedDespite503: StopWrite[];
  log: string[];
}

/**
 * A graceful stop (SIGTERM) of the leader under write load: WRITERS clients write
 * unique keys through the leader as fast as they can, the leader gets SIGTERM (it
 * transfers leadership, then stops), and each writer goes on until its first answer that
 * is not a 200 (a connection refused at the latest, once the process is gone).
 * Then the cluster recovers (the old leader restarts) and every key is read: a write
 * answered with a definite "not applied" error (503) must not exist. SPEC §3 reserves the
 * "outcome unknown" answer for 504 `timeout`.
 */
export async function runGracefulStopScenario(ports: PortBases): Promise<GracefulStopScenario> {
  const workDir = mkdtempSync(join(tmpdir(), 'raftquotes-fault-stop-'));
  const log: string[] = [];
  let cluster: ProcessCluster | undefined;
  try {
    cluster = await ProcessCluster.start({ ports, workDir });
    const targets: Target[] = cluster.nodes.map((n) => ({ id: n.id, http: n.http }));
    const clock = (): number => 0;
    const leader = await waitForAgreedLeader(targets, 30_000, clock);
    const leaderUrl = cluster.node(leader).http;
    log.push(`leader ${leader}`);
    const writes: StopWrite[] = [];
    let stopped = false;
    const writer = async (w: number): Promise<void> => {
      for (let n = 0; ; n++) {
        const key = `stop-${w}-${n}`;
        const result = await httpCall({ method: 'PUT', url: `${leaderUrl}/api/kv/${key}`, body: { value: key }, timeoutMs: WRITE_TIMEOUT_MS });
        const write: StopWrite = result.kind === 'response' ? { key, status: result.status, error: result.body?.error } : { key, status: result.error };
        writes.push(write);
        // Keep writing through the stop until the old leader stops answering 200.
        if (stopped && write.status !== 200) return;
      }
    };
    const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
    await sleep(LOAD_BEFORE_STOP_MS);
    const terminated = cluster.terminate(leader);
    stopped = true;
    await terminated;
    await Promise.all(writers);
    log.push(`${writes.length} writes; answers: ${summarize(writes)}`);
    await cluster.healEverything();
    await waitForAgreedLeader(targets, 15_000, clock);
    const caughtUp = await waitCaughtUp(targets, 15_000, clock);
    if (!caughtUp.ok) throw new Error(`cluster did not catch up after the restart: ${caughtUp.detail}`);
    const reader = targets.find((t) => t.id !== leader) as Target;
    for (const write of writes) {
      if (write.status === 200) continue;
      const result = await httpCall({ method: 'GET', url: `${reader.http}/api/kv/${write.key}`, timeoutMs: 5_000 });
      if (result.kind !== 'response' || (result.status !== 200 && result.status !== 404)) throw new Error(`final read of ${write.key} failed`);
      write.applied = result.status === 200;
    }
    const appliedDespite503 = writes.filter((w) => w.status === 503 && w.applied);
    log.push(`applied although answered 503: ${appliedDespite503.map((w) => `${w.key} (${w.error})`).join(', ') || 'none'}`);
    return { leader, writes, appliedDespite503, log };
  } finally {
    await cluster?.close();
    rmSync(workDir, { recursive: true, force: true });
  }
}

function summarize(writes: StopWrite[]): string {
  const counts = new Map<string, number>();
  for (const w of writes) counts.set(`${w.status}${w.error ? ` ${w.error}` : ''}`, (counts.get(`${w.status}${w.error ? ` ${w.error}` : ''}`) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k}: ${n}`).join(', ');
}
