/**
 * How long a node process takes from spawn until its HTTP API answers (issue 19: on the path
 * of every restart and catch-up). Makes a one-node cluster in a temp data dir (--init, a few
 * writes so the database is not empty), stops it, then restarts it from that data dir RUNS
 * times: each run spawns `node dist/cli/main.js node ...`, polls GET /api/status every
 * POLL_MS and records the time of the first answer, then stops the node with SIGTERM.
 * Prints every run and the medians of the wall time and of the CPU time used until then. With PROFILE_DIR set, each run writes a --cpu-prof there.
 * RAFTQUOTES_BENCH_MAIN_B=<another build's main.js> alternates runs between the two builds
 * (A, B, B, A, ...) on the same data dir, so a change is compared under the same load.
 *
 *   npx tsx bench/startup.ts [runs=7] [portBase=27150] [fill=200]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSecondsOf } from './cpu.js';
import { jsonCall, median } from './load.js';
import { sleep } from '../test/support/wait.js';
import { REPO_ROOT } from './systems.js';
import { NODE_MALLOC_ENV, NODE_V8_FLAGS } from '../src/cli/cluster.js';

const runs = Number(process.argv[2] ?? 7);
const base = Number(process.argv[3] ?? 27150);
const fill = Number(process.argv[4] ?? 200);
const MAIN_JS = process.env.RAFTQUOTES_BENCH_MAIN ?? join(REPO_ROOT, 'dist/cli/main.js');
const MAIN_JS_B = process.env.RAFTQUOTES_BENCH_MAIN_B;
const PROFILE_DIR = process.env.PROFILE_DIR;
/** Poll interval for /api/status: small next to the ~400 ms measured. */
const POLL_MS = 2;
/** One run's deadline: a node that does not answer by then is a failure, not a slow run. */
const UP_DEADLINE_MS = 20_000;

const dataDir = mkdtempSync(join(tmpdir(), 'raftquotes-startup-'));
const url = `http://127.0.0.1:${base}`;
const nodeArgs = ['node', '--id', 'Node1', '--peers', `Node1=127.0.0.1:${base + 1}`, '--http', `127.0.0.1:${base}`, '--raft', `127.0.0.1:${base + 1}`, '--controller', `127.0.0.1:${base + 2}`, '--data-dir', dataDir, '--log-format', 'json', '--rate-limit', '0'];
// The V8 flags and malloc settings `raftquotes cluster` starts every node with.
const env = { ...NODE_MALLOC_ENV, ...process.env, RAFTQUOTES_SECRET: 'startup-bench-secret-0123456789' };

function spawnNode(extra: string[], execArgv: string[] = [], mainJs = MAIN_JS): ChildProcess {
  return spawn(process.execPath, [...NODE_V8_FLAGS, ...execArgv, mainJs, ...nodeArgs, ...extra], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'], env });
}

/** Milliseconds from `t0` until GET /api/status answers 200 (throws past the deadline or if the node exits). */
async function upAfter(child: ChildProcess, t0: number): Promise<number> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`node exited with ${child.exitCode}`);
    if (performance.now() - t0 > UP_DEADLINE_MS) throw new Error('node did not answer in time');
    const answered = await jsonCall(`${url}/api/status`, 'GET', undefined, 500).then((r) => r.status === 200, () => false);
    if (answered) return performance.now() - t0;
    await sleep(POLL_MS);
  }
}

async function stopNode(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(10_000)]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

async function fillData(): Promise<void> {
  const first = spawnNode(['--init']);
  try {
    await upAfter(first, performance.now());
    // Writes need a leader: a one-node cluster elects itself within an election timeout.
    for (let i = 0; i < fill; i++) {
      for (let attempt = 0; ; attempt++) {
        const r = await jsonCall(`${url}/api/kv/k${i}`, 'PUT', { value: `quote ${i}` }, 2_000).catch(() => null);
        if (r?.status === 200) break;
        if (attempt > 200) throw new Error(`write ${i} failed: ${r?.status}`);
        await sleep(25);
      }
    }
  } finally {
    await stopNode(first);
  }
}

/** ABBA order, so a drift in load over the runs weighs on both builds alike. */
function buildOf(run: number): 'A' | 'B' {
  return MAIN_JS_B === undefined || [0, 3].includes(run % 4) ? 'A' : 'B';
}

function summary(times: number[]): { runs: number; medianMs: number; minMs: number; maxMs: number } {
  const r = (x: number): number => Math.round(x * 10) / 10;
  return { runs: times.length, medianMs: r(median(times)), minMs: r(Math.min(...times)), maxMs: r(Math.max(...times)) };
}

// Node 20 reads and parses this CA bundle at process start, before V8 (~40 ms per start on this machine).
if (process.env.NODE_EXTRA_CA_CERTS) process.stderr.write(`# NODE_EXTRA_CA_CERTS=${process.env.NODE_EXTRA_CA_CERTS} is set: every node start loads it\n`);
try {
  await fillData();
  const times = { A: [] as number[], B: [] as number[] };
  const cpu = { A: [] as number[], B: [] as number[] };
  for (let run = 0; run < runs; run++) {
    const build = buildOf(run);
    const execArgv = PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : [];
    const t0 = performance.now();
    const child = spawnNode([], execArgv, build === 'A' ? MAIN_JS : MAIN_JS_B);
    let ms: number;
    let cpuMs: number | null;
    try {
      ms = await upAfter(child, t0);
      const cpuSeconds = cpuSecondsOf(child.pid ?? null);
      cpuMs = cpuSeconds === null ? null : cpuSeconds * 1000;
    } finally {
      await stopNode(child);
    }
    times[build].push(ms);
    if (cpuMs !== null) cpu[build].push(cpuMs);
    process.stdout.write(`run ${run + 1} (${build}): ${ms.toFixed(1)} ms, ${cpuMs ?? '?'} ms CPU\n`);
  }
  const row = (build: 'A' | 'B', main: string): object => ({ main, ...summary(times[build]), ...(cpu[build].length > 0 ? { cpuMedianMs: median(cpu[build]) } : {}) });
  console.log(JSON.stringify({ fill, A: row('A', MAIN_JS), ...(MAIN_JS_B ? { B: row('B', MAIN_JS_B) } : {}) }));
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
