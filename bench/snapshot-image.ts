/**
 * In-process microbenchmark of the two ends of InstallSnapshot (issue 19): the leader building
 * the image of a state machine holding `--rows` puts (as bench/catchup.ts writes them), and a
 * follower installing it into an empty database. No cluster, no network: CPU and SQLite only.
 *
 *   npx tsx bench/snapshot-image.ts [--rows 100000] [--rounds 3] [--leader-dir DIR] [--install-only]
 *
 * --leader-dir keeps the filled leader database in DIR and reuses it on the next run (a
 * profile of the build and install then holds no fill).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry } from '@raftquotes/raft';
import { initDataDir, openNodeDatabase } from '../src/storage/sqlite-storage.js';
import type { SnapshotImage } from '../src/state/types.js';
import { VALUE_100 } from './load.js';

const APPLY_BATCH = 1000;

function argOf(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}

function fillDir(dir: string, rows: number): ReturnType<typeof openNodeDatabase> {
  if (existsSync(join(dir, 'raftquotes.db'))) return openNodeDatabase(dir, { clusterId: 'bench', nodeId: 'n1' });
  initDataDir(dir, { clusterId: 'bench', nodeId: 'n1' });
  const opened = openNodeDatabase(dir, { clusterId: 'bench', nodeId: 'n1' });
  for (let from = 1; from <= rows; from += APPLY_BATCH) {
    const entries: Entry[] = [];
    for (let index = from; index < Math.min(from + APPLY_BATCH, rows + 1); index++) {
      entries.push({ index, term: 1, type: 'normal', data: JSON.stringify({ op: 'put', key: `csnapshot${index}`, value: VALUE_100 }) });
    }
    opened.stateMachine.apply(entries);
  }
  return opened;
}

/** User + system CPU of this process since `from`, in ms. */
function cpuMsSince(from: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(from);
  return Math.round((used.user + used.system) / 1000);
}

async function main(): Promise<void> {
  const rows = argOf('--rows', 100_000);
  const rounds = argOf('--rounds', 3);
  const root = mkdtempSync(join(tmpdir(), 'rq-image-bench-'));
  try {
    const leaderDirAt = process.argv.indexOf('--leader-dir');
    const leader = fillDir(leaderDirAt > 0 ? String(process.argv[leaderDirAt + 1]) : join(root, 'leader'), rows);
    // --install-only builds the image once and installs it `rounds` times.
    const installOnly = process.argv.includes('--install-only');
    let built: SnapshotImage | null = null;
    for (let round = 0; round < rounds; round++) {
      let started = performance.now();
      let cpu = process.cpuUsage();
      const image: SnapshotImage = installOnly && built ? built : await leader.stateMachine.buildImage();
      const buildMs = installOnly && built ? 0 : performance.now() - started;
      const buildCpuMs = installOnly && built ? 0 : cpuMsSince(cpu);
      built = image;
      const whole = installOnly ? image.data : leader.stateMachine.snapshot();
      initDataDir(join(root, `follower${round}`), { clusterId: 'bench', nodeId: 'n2' });
      const follower = openNodeDatabase(join(root, `follower${round}`), { clusterId: 'bench', nodeId: 'n2' });
      started = performance.now();
      cpu = process.cpuUsage();
      follower.stateMachine.restore(image.index, image.term, image.data);
      const installMs = performance.now() - started;
      const installCpuMs = cpuMsSince(cpu);
      follower.storage.close();
      process.stdout.write(`${JSON.stringify({ bench: 'snapshot-image', rows, bytes: image.data.length, sameBytes: Buffer.compare(Buffer.from(whole), Buffer.from(image.data)) === 0, buildMs: Math.round(buildMs), buildCpuMs, installMs: Math.round(installMs), installCpuMs })}\n`);
    }
    leader.storage.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
