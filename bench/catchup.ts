/**
 * SPEC §8 catch-up time of a node 100,000 entries behind (issue 19: ≤ 2.5 s by InstallSnapshot).
 * A follower is killed, fillCount writes go in, it is restarted: time until its applied index
 * reaches the leader's commit at the time of the restart. With the snapshot variant the row
 * also carries the phases the nodes log (image build on the leader, transfer, the install on
 * the follower), read back from the cluster log, so the time can be attributed; and the load
 * average, since the machine may be shared.
 *
 *   npx tsx bench/catchup.ts [--fill 100000] [snapshot|log]    (standalone: its own cluster)
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fill, round2, runIfMain, VALUE_100 } from './load.js';
import { waitFor } from '../test/support/wait.js';
import type { BenchPlan, Emit } from './benchmarks.js';
import { RaftquotesSystem } from './systems.js';

/** A jump of the applied index between two polls (10 ms apart) larger than this is an installed image. */
const INSTALL_JUMP_ENTRIES = 1_000;

/** The issue-19 target for InstallSnapshot of 100,000 entries. */
export const CATCHUP_TARGET_MS = 2_500;


/** A line of the cluster log: the node that wrote it, when (epoch ms) and what. */
interface LogLine {
  node: string;
  time: number;
  msg: string;
}

function parseLines(text: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const raw of text.split('\n')) {
    const json = raw.slice(raw.indexOf('{'));
    try {
      const line = JSON.parse(json) as Partial<LogLine>;
      if (typeof line.msg === 'string' && typeof line.time === 'number') lines.push({ node: String(line.node), time: line.time, msg: line.msg });
    } catch {
      // not a JSON log line
    }
  }
  return lines;
}

/**
 * The phases of the catch-up as the nodes logged them: the leader's image build, the transfer
 * (from the leader's "sending snapshot" to the follower's "installing snapshot", which the core
 * logs on the last chunk), the follower's install; how many images were built and how many
 * elections were won meanwhile (each new leader builds an image of its own).
 */
export function phasesFromLog(system: RaftquotesSystem, follower: string, sinceBytes: number): Record<string, number> {
  const phases: Record<string, number> = {};
  let lines: LogLine[];
  try {
    lines = parseLines(readFileSync(join(system.dataDir, 'cluster.log'), 'utf8').slice(sinceBytes));
  } catch {
    return phases; // no log: the row simply has no phases
  }
  // Built ahead of time (at a compaction while the follower was away) or when it asked.
  const images = lines.filter((l) => l.msg.startsWith('snapshot image for InstallSnapshot at'));
  const last = images[images.length - 1];
  const image = last ? /\((\d+) bytes, (\d+) ms(, ahead of time)?\)/.exec(last.msg) : null;
  if (image) {
    phases.imageBytes = Number(image[1]);
    // Off the catch-up's path when it was built ahead of time and then reused.
    phases.imageBuildMs = image[3] ? 0 : Number(image[2]);
    if (image[3]) phases.imageBuiltAheadMs = Number(image[2]);
  }
  phases.imagesBuilt = images.length;
  const reused = lines.filter((l) => l.msg.startsWith('snapshot image for InstallSnapshot reused'));
  phases.imagesReused = reused.length;
  const reusedBytes = reused.length > 0 && !image ? /\((\d+) bytes, built/.exec(reused[reused.length - 1]?.msg ?? '') : null;
  if (reusedBytes) {
    phases.imageBytes = Number(reusedBytes[1]);
    phases.imageBuildMs = 0;
  }
  phases.leadersElected = lines.filter((l) => l.msg.startsWith('became leader')).length;
  const sending = lines.filter((l) => l.msg.startsWith('sending snapshot') && l.msg.endsWith(` to ${follower}`)).pop();
  const installing = lines.find((l) => l.node === follower && l.msg.startsWith('installing snapshot') && (!sending || l.time >= sending.time));
  if (sending && installing) phases.transferMs = installing.time - sending.time;
  const installed = lines.find((l) => l.node === follower && l.msg.startsWith('installed snapshot'));
  const install = installed ? /, (\d+) ms\)/.exec(installed.msg) : null;
  if (install) phases.followerInstallMs = Number(install[1]);
  return phases;
}

function logSize(system: RaftquotesSystem): number {
  try {
    return readFileSync(join(system.dataDir, 'cluster.log')).length;
  } catch {
    return 0;
  }
}

/**
 * Where a catch-up runs: on a cluster started for it (the case: the state of exactly the
 * fill's writes), or on the cluster the other benchmarks left behind (a far larger state, so a
 * larger image: reported beside it, without the target, which names 100,000 entries).
 */
export type CatchUpCluster = 'fresh' | 'after-other-benchmarks';

/** A follower killed, fillCount writes, restarted: time until its applied index reaches the leader's. */
export async function catchUp(system: RaftquotesSystem, plan: BenchPlan, via: 'log' | 'snapshot', emit: Emit, cluster: CatchUpCluster = 'fresh'): Promise<void> {
  const leader = await system.leader();
  const follower = (leader + 1) % system.size;
  system.kill9(follower);
  const filled = await fill({ clients: 256, count: plan.fillCount, targetOf: () => system.target(leader), requestOf: (n) => system.put(`c${via}${n}`, VALUE_100), deadlineMs: 300_000 });
  const leaderStatus = await system.status(leader);
  const goal = leaderStatus.commitIndex as number;
  const logFrom = logSize(system);
  const loadAtStart = round2(loadavg()[0] as number);
  const started = performance.now();
  await system.spawnNode(follower);
  let upAt = NaN;
  let behindAtStart = NaN;
  // When the follower's applied index first jumped (the image installed): the rest is the log after the image.
  let movedAt = NaN;
  let movedTo = NaN;
  let lastApplied = NaN;
  const done = await waitFor(`${system.nodes[follower]?.id} applied ≥ ${goal}`, async () => {
    const s = await system.status(follower, 500).catch(() => null);
    if (!s) return null;
    if (Number.isNaN(upAt)) {
      upAt = performance.now() - started;
      behindAtStart = goal - (s.appliedIndex as number);
    }
    if (Number.isNaN(movedAt) && (s.appliedIndex as number) - lastApplied > INSTALL_JUMP_ENTRIES) {
      movedAt = performance.now() - started;
      movedTo = s.appliedIndex as number;
    }
    lastApplied = s.appliedIndex as number;
    return (s.appliedIndex as number) >= goal ? performance.now() - started : null;
  }, 120_000, 10).catch(() => NaN);
  const ms = round2(done);
  emit({
    bench: 'catch-up',
    system: system.name,
    via,
    cluster,
    entriesBehind: behindAtStart,
    writes: filled.done,
    leaderSnapshotIndex: leaderStatus.snapshotIndex,
    ms,
    msFromProcessUp: round2(done - upAt),
    processUpMs: round2(upAt),
    // The image installed (the applied index jumped) at this time and index; the rest came from the log.
    imageInstalledAtMs: round2(movedAt),
    imageInstalledIndex: movedTo,
    loadAverage1m: { atStart: loadAtStart, atEnd: round2(loadavg()[0] as number) },
    ...(via === 'snapshot' ? phasesFromLog(system, system.nodes[follower]?.id ?? '', logFrom) : {}),
    ...(via === 'snapshot' && cluster === 'fresh' ? { targetMs: CATCHUP_TARGET_MS, met: ms <= CATCHUP_TARGET_MS } : {}),
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

runIfMain(import.meta.url, standalone);
