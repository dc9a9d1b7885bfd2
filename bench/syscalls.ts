/**
 * Write syscalls per operation by role (issue 19): a socket write on this 2-vCPU VM wakes the
 * peer that reads it, and that wakeup, not the bytes, is what a message costs. Reads each node's
 * /proc/<pid>/io syscw, CPU and voluntary context switches (each is a later wakeup: the main
 * thread's, and all threads' with V8's and libuv's) around a closed-loop load and prints them
 * per operation.
 *
 *   npx tsx bench/syscalls.ts [read|stale|write] [clients=64] [leader|spread] [seconds=5] [main.js]
 *   (stale: GETs with ?consistency=stale, the same HTTP work without the read barrier)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { closedLoop, fill } from './load.js';
import { spread } from './benchmarks.js';
import { cpuSecondsOf } from './cpu.js';
import { RaftquotesSystem } from './systems.js';

const [kind = 'read', clientsArg = '64', placement = 'spread', secondsArg = '5', mainJs] = process.argv.slice(2);
const clients = Number(clientsArg);
const ports = { http: 29700, raft: 29720, controller: 29740 };
const rq = mainJs ? new RaftquotesSystem(5, [], {}, ports, mainJs) : new RaftquotesSystem(5, [], {}, ports);
const writesOf = (pid: number): number => Number(/syscw: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
/** Times the process blocked (each one is a later wakeup): all its threads' voluntary context switches. */
const blocksOf = (pid: number): number => {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) total += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))?.[1] ?? 0);
  return total;
};
/** The main (JavaScript) thread's alone: its thread id is the pid. */
const mainBlocksOf = (pid: number): number => Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8'))?.[1] ?? 0);
try {
  await rq.start();
  const leader = await rq.leader();
  await fill({ clients: 16, count: clients, targetOf: () => rq.target(leader), requestOf: (n) => rq.put(`w${n}-1`, 'v'.repeat(100)), deadlineMs: 30_000 });
  const load = (ms: number) =>
    closedLoop({
      clients,
      durationMs: ms,
      warmupMs: 0,
      targetOf: placement === 'leader' ? () => rq.target(leader) : spread(rq, leader),
      requestOf: (c, seq) => (kind === 'write' ? rq.put(`w${c}-${seq % 512}`, 'v'.repeat(100)) : rq.get(`w${c}-1`, kind === 'stale')),
    });
  await load(4000);
  const pids = rq.nodes.map((_, i) => rq.pid(i) ?? 0);
  const sample = (p: number) => [writesOf(p), cpuSecondsOf(p) ?? NaN, mainBlocksOf(p), blocksOf(p)] as const;
  const before = pids.map(sample);
  const s = await load(Number(secondsArg) * 1000);
  const after = pids.map(sample);
  console.log(JSON.stringify({ kind, placement, clients, opsPerSec: s.opsPerSec, p99Ms: s.p99Ms }));
  pids.forEach((_, i) => {
    const writes = after[i]![0] - before[i]![0];
    const cpu = after[i]![1] - before[i]![1];
    const wakeups = after[i]![2] - before[i]![2];
    const allThreads = after[i]![3] - before[i]![3];
    console.log(`${i === leader ? 'leader  ' : 'follower'} ${(writes / s.ops).toFixed(2)} writes/op  ${((cpu * 1e6) / s.ops).toFixed(0)} µs/op  ${(wakeups / s.ops).toFixed(2)} main-thread wakeups/op (${(allThreads / s.ops).toFixed(2)} all threads)`);
  });
} finally {
  await rq.stop();
}
