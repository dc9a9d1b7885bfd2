/**
 * How long a raftquotes cluster takes to reach its steady speed, and whether it keeps it across
 * quiet spells (issue 19). A node is JavaScript: V8 compiles a path only after it has run many
 * times, on its own worker threads, so a fresh cluster is slow at first and its CPU goes partly
 * to the compiler. Prints, per window, the ops/s and each node's CPU per operation split into the
 * JavaScript (main) thread and V8's worker threads (the compiler and the concurrent GC), then
 * the bursts after quiet spells.
 *
 *   npx tsx bench/warmup.ts [write|read] [windows=12] [window s=5] [bursts=4] [quiet s=15]
 *   (64 closed-loop clients, client i to node i mod 5; writes: 512 keys per client, 100-byte
 *   values; reads: linearizable GETs of one key per client, written first)
 *
 * Measured on a fresh cluster (2 vCPUs): reads 4,300/s in the first 5 s, ~11,700 from the 20th
 * s; writes 1,500/s, then ~3,000 from the 25th s. In the first windows V8's worker threads took
 * 25-40 % of a node's CPU; once warm, 3-10 %.
 */
import { readdirSync } from 'node:fs';
import { statCpuSeconds } from './cpu.js';
import { closedLoop, fill } from './load.js';
import { sleep } from '../test/support/wait.js';
import { RaftquotesSystem } from './systems.js';

const [kind = 'write', windowsArg = '12', windowArg = '5', burstsArg = '4', quietArg = '15'] = process.argv.slice(2);
const CLIENTS = 64;
const KEYS_PER_CLIENT = 512;
const ports = { http: 29800, raft: 29820, controller: 29840 };

/** CPU seconds of a process's main thread (its tid is its pid) and of all its other threads. */
function threadCpu(pid: number): { main: number; workers: number } {
  const cpu = { main: 0, workers: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let seconds = 0;
    try {
      seconds = statCpuSeconds(`/proc/${pid}/task/${tid}/stat`);
    } catch {
      continue; // the thread ended between the listing and the read
    }
    if (tid === String(pid)) cpu.main += seconds;
    else cpu.workers += seconds;
  }
  return cpu;
}

const rq = new RaftquotesSystem(5, [], {}, ports);
try {
  await rq.start();
  const leader = await rq.leader();
  if (kind === 'read') await fill({ clients: 16, count: CLIENTS, targetOf: () => rq.target(leader), requestOf: (n) => rq.put(`w${n}`, 'v'.repeat(100)), deadlineMs: 30_000 });
  const load = (ms: number) =>
    closedLoop({
      clients: CLIENTS,
      durationMs: ms,
      warmupMs: 0,
      targetOf: (c) => rq.target(c % rq.size),
      requestOf: (c, seq) => (kind === 'read' ? rq.get(`w${c}`, false) : rq.put(`w${c}-${seq % KEYS_PER_CLIENT}`, 'v'.repeat(100))),
    });
  const pids = rq.nodes.map((_, i) => rq.pid(i) ?? 0);
  for (let w = 0; w < Number(windowsArg); w++) {
    const before = pids.map(threadCpu);
    const s = await load(Number(windowArg) * 1000);
    const perOp = (i: number, part: 'main' | 'workers'): number => Math.round(((threadCpu(pids[i]!)[part] - before[i]![part]) * 1e6) / Math.max(1, s.ops));
    const roles = pids.map((_, i) => `${i === leader ? 'L' : 'F'} ${perOp(i, 'main')}+${perOp(i, 'workers')}`);
    console.log(`window ${w + 1}: ${s.opsPerSec} ops/s  µs/op main+V8 workers: ${roles.join('  ')}`);
  }
  for (let b = 0; b < Number(burstsArg); b++) {
    await sleep(Number(quietArg) * 1000);
    const first = await load(2500);
    const next = await load(2500);
    console.log(`after ${quietArg} s quiet: first 2.5 s ${first.opsPerSec} ops/s, next 2.5 s ${next.opsPerSec}`);
  }
} finally {
  await rq.stop();
}
