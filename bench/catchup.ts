/**
 * SPEC §8 catch-up time of a node 100,000 entries behind (issue 19: ≤ 2.5 s by InstallSnapshot).
 * A follower is killed, fillCount writes go in, it is restarted: time until its applied index
 * reaches the leader's commit at the time of the restart. With the snapshot variant the row
 * also carries the phases the nodes log (image build on the leader, the install on the
 * follower), read back from the cluster log, so the time can be attributed.
 *
 *   npx tsx bench/catchup.ts [--fill 100000] [snapshot|log]    (standalone: its own cluster)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fill, round2 } from './load.js';
import { waitFor } from '../test/support/wait.js';
import type { BenchPlan, Emit } from './benchmarks.js';
import { RaftquotesSystem } from './systems.js';

/** The issue-19 target for InstallSnapshot of 100,000 entries. */
export const CATCHUP_TARGET_MS = 2_500;

const VALUE_100 = 'v'.repeat(100);

/** The leader's image line and the follower's install line, when the nodes logged them. */
function phasesFromLog(system: RaftquotesSystem, follower: string, sinceBytes: number): Record<string, number> {
  const phases: Record<string, number> = {};
  try {
    const text = readFileSync(join(system.dataDir, 'cluster.log'), 'utf8').slice(sinceBytes);
    const image = /snapshot image for InstallSnapshot at index=\d+ term=\d+ \((\d+) bytes, (\d+) ms\)/.exec(text);
    if (image) {
      phases.imageBytes = Number(image[1]);
      phases.imageBuildMs = Number(image[2]);
    }
    for (const line of text.split('\n')) {
      if (!line.includes(`"node":"${follower}"`)) continue;
      const install = /installed snapshot .*?\((\d+) ms\)/.exec(line);
      if (install) phases.followerInstallMs = Number(install[1]);
    }
  } catch {
    // no log: the row simply has no phases
  }
  return phases;
}

function logSize(system: RaftquotesSystem): number {
  try {
    return readFileSync(join(system.dataDir, 'cluster.log')).length;
  } catch {
    return 0;
  }
}

/** A follower killed, fillCount writes, restarted: time until its applied index reaches the leader's. */
export async function catchUp(system: RaftquotesSystem, plan: BenchPlan, via: 'log' | 'snapshot', emit: Emit): Promise<void> {
  const leader = await system.leader();
  const follower = (leader + 1) % system.size;
  system.kill9(follower);
  const filled = await fill({ clients: 256, count: plan.fillCount, targetOf: () => system.target(leader), requestOf: (n) => system.put(`c${via}${n}`, VALUE_100), deadlineMs: 300_000 });
  const leaderStatus = await system.status(leader);
  const goal = leaderStatus.commitIndex as number;
  const logFrom = logSize(system);
  const started = performance.now();
  await system.spawnNode(follower);
  let upAt = NaN;
  let behindAtStart = NaN;
  const done = await waitFor(`${system.nodes[follower]?.id} applied ≥ ${goal}`, async () => {
    const s = await system.status(follower, 500).catch(() => null);
    if (!s) return null;
    if (Number.isNaN(upAt)) {
      upAt = performance.now() - started;
      behindAtStart = goal - (s.appliedIndex as number);
    }
    return (s.appliedIndex as number) >= goal ? performance.now() - started : null;
  }, 120_000, 10).catch(() => NaN);
  const ms = round2(done);
  emit({
    bench: 'catch-up',
    system: system.name,
    via,
    entriesBehind: behindAtStart,
    writes: filled.done,
    leaderSnapshotIndex: leaderStatus.snapshotIndex,
    ms,
    msFromProcessUp: round2(done - upAt),
    processUpMs: round2(upAt),
    ...(via === 'snapshot' ? { ...phasesFromLog(system, system.nodes[follower]?.id ?? '', logFrom), targetMs: CATCHUP_TARGET_MS, met: ms <= CATCHUP_TARGET_MS } : {}),
  });
}

async function standalone(): Promise<void> {
  const fillAt = process.argv.indexOf('--fill');
  const fillCount = fillAt > 0 ? Number(process.argv[fillAt + 1]) : 100_000;
  const via = process.argv.includes('log') ? 'log' : 'snapshot';
  const { planFor } = await import('./benchmarks.js');
  const plan = { ...planFor(true), fillCount };
  const rq = new RaftquotesSystem(5, via === 'log' ? ['--snapshot-every', '10000000'] : []);
  try {
    await rq.start();
    await catchUp(rq, plan, via, (r) => process.stdout.write(`${JSON.stringify(r)}\n`));
  } finally {
    await rq.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  standalone().then(() => process.exit(0), (err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
