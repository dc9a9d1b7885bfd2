import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { HistoryOp } from '../../src/checker/index.js';
import { Workload, type Target } from './clients.js';
import { ProcessCluster, sleep, type PortBases } from './harness-cluster.js';
import type { CheckReport } from './harness-checks.js';
import { checkRun, endPhase, waitCaughtUp, waitForAgreedLeader } from './harness.js';
import { pollStatus, StatusMonitor } from './monitor.js';
import { Prng } from '../../src/checker/prng.js';

/** How long the majority side may take to elect its own leader. */
const MAJORITY_LEADER_MS = 15_000;
/** Writes tried through the majority until one is acknowledged (each bounded by the client deadline). */
const MAX_MAJORITY_WRITE_ATTEMPTS = 10;

/** What the arranged scenario did, for assertions and messages. */
export interface StaleReadScenario {
  oldLeader: string;
  follower: string;
  majority: string[];
  newLeader: string;
  /** The read through the follower cut off with the old leader, after the new value was acknowledged. */
  minorityRead: HistoryOp | undefined;
  /** The acknowledged write of the new value through the majority. */
  majorityWrite: HistoryOp;
  report: CheckReport;
  log: string[];
}

/**
 * The classic stale-read setup, arranged step by step rather than hoped for from a random
 * schedule, so its verdict does not depend on timing:
 *
 * 1. write k = "v1" and wait until every node applied it;
 * 2. partition {old leader, one follower} from the other three;
 * 3. the three elect a leader; write k = "v2" through them and get it acknowledged;
 * 4. read k through the follower on the minority side (a linearizable GET).
 *
 * A correct node must not answer step 4 with "v1": its ReadIndex request cannot be
 * confirmed by a majority, so it times out (504) or is refused. With the debug switch
 * RAFTQUOTES_UNSAFE_LOCAL_READS=1 the follower answers from its local state, "v1", which
 * the checker must report as a linearizability violation. The run then heals and goes
 * through the harness's normal end phase and checks.
 */
export async function runStaleReadScenario(ports: PortBases, env: NodeJS.ProcessEnv): Promise<StaleReadScenario> {
  const workDir = mkdtempSync(join(tmpdir(), 'raftquotes-fault-scenario-'));
  const log: string[] = [];
  let cluster: ProcessCluster | undefined;
  try {
    cluster = await ProcessCluster.start({ ports, workDir, env });
    const targets: Target[] = cluster.nodes.map((n) => ({ id: n.id, http: n.http }));
    const target = (id: string): Target => targets.find((t) => t.id === id) as Target;
    const t0 = performance.now();
    const clock = (): number => Math.round((performance.now() - t0) * 10) / 10;
    const workload = new Workload({ targets, keys: ['k'], kvClients: 0, quoteClients: 0, quoteReaders: 0, requestTimeoutMs: 6_000, idempotentShare: 0, maxRetries: 0, thinkMs: 0, quoteThinkMs: 0, prng: new Prng(7), clock });
    const monitor = new StatusMonitor(targets, clock);
    monitor.start();

    const oldLeader = await waitForAgreedLeader(targets, 30_000, clock);
    const others = cluster.ids.filter((id) => id !== oldLeader);
    const follower = others[0] as string;
    const majority = others.slice(1);
    log.push(`leader ${oldLeader}; minority side {${oldLeader}, ${follower}}; majority side {${majority.join(', ')}}`);

    const first = await workload.scriptedWrite('setup', target(oldLeader), 'k', 'v1');
    if (first?.outcome !== 'ok') throw new Error(`setup: the first write was not acknowledged: ${JSON.stringify(first)}`);
    const caughtUp = await waitCaughtUp(targets, 15_000, clock);
    if (!caughtUp.ok) throw new Error(`setup: nodes did not apply the first write: ${caughtUp.detail}`);

    cluster.network.partition([[oldLeader, follower], majority]);
    const newLeader = await majorityLeader(majority.map(target), clock);
    log.push(`partitioned at ${clock()} ms; ${newLeader} leads the majority`);

    let majorityWrite: HistoryOp | undefined;
    for (let attempt = 0; attempt < MAX_MAJORITY_WRITE_ATTEMPTS && majorityWrite?.outcome !== 'ok'; attempt++) {
      majorityWrite = await workload.scriptedWrite('writer', target(newLeader), 'k', `v2.${attempt}`);
      if (majorityWrite?.outcome !== 'ok') await sleep(300);
    }
    if (majorityWrite?.outcome !== 'ok') throw new Error(`setup: no write through the majority was acknowledged in ${MAX_MAJORITY_WRITE_ATTEMPTS} attempts`);
    log.push(`majority write of ${JSON.stringify(majorityWrite.input.value)} acknowledged at ${majorityWrite.completeMs} ms`);

    const minorityRead = await workload.scriptedRead('reader', target(follower), 'k');
    log.push(`read through ${follower} on the minority side: ${minorityRead ? `${minorityRead.outcome}${minorityRead.outcome === 'ok' ? ` ${JSON.stringify(minorityRead.output)}` : ''}` : 'refused (not applied)'}`);

    const end = await endPhase(cluster, targets, workload, clock, (line) => log.push(line));
    const report = checkRun(workload, end, await monitor.stop());
    return { oldLeader, follower, majority, newLeader, minorityRead, majorityWrite, report, log };
  } finally {
    await cluster?.close();
    rmSync(workDir, { recursive: true, force: true });
  }
}

/** A leader that the majority side's nodes all name, in a term newer than any the minority saw. */
async function majorityLeader(majority: Target[], clock: () => number): Promise<string> {
  const deadline = Date.now() + MAJORITY_LEADER_MS;
  while (Date.now() < deadline) {
    const statuses = await Promise.all(majority.map((t) => pollStatus(t, clock)));
    const leader = statuses.find((s) => s?.state === 'leader');
    if (leader && statuses.every((s) => s && s.leader === leader.nodeId && s.term === leader.term)) return leader.nodeId;
    await sleep(100);
  }
  throw new Error(`the majority side elected no leader within ${MAJORITY_LEADER_MS} ms`);
}
