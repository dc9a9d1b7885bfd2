/**
 * Where each node's JavaScript thread spends its wall time under a write load (issue 19):
 * running on a core, runnable but waiting for one (the run queue), or blocked (fsync, idle in
 * epoll). From /proc/<pid>/task/<pid>/schedstat (ns on the CPU, ns waiting on a run queue)
 * around a measured window, after a warm-up. With 2 cores shared by 5 nodes and the load
 * generator, a long run-queue wait says the cluster is bound by the machine's CPU; a long
 * blocked time on a loaded leader, by its own fsync.
 *
 *   npx tsx bench/sched-probe.ts [clients=64] [leader|spread] [seconds=8] [warm s=20]
 */
import { readFileSync } from 'node:fs';
import { spread } from './benchmarks.js';
import { closedLoop } from './load.js';
import { RaftquotesSystem } from './systems.js';

const [clientsArg = '64', placement = 'leader', secondsArg = '8', warmArg = '20'] = process.argv.slice(2);
const clients = Number(clientsArg);
const base = Number(process.env.PROBE_PORT_BASE ?? 21200);
const sys = new RaftquotesSystem(5, [], {}, { http: base, raft: base + 20, controller: base + 40 });

/** [ns on a core, ns runnable on a run queue] of a process's main thread. */
function schedstat(pid: number): [number, number] {
  const [run = '0', wait = '0'] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(/\s+/);
  return [Number(run), Number(wait)];
}

try {
  await sys.start();
  const leader = await sys.leader();
  const load = (durationMs: number): ReturnType<typeof closedLoop> =>
    closedLoop({ clients, durationMs, warmupMs: 500, targetOf: placement === 'spread' ? spread(sys, leader) : () => sys.target(leader), requestOf: (c, seq) => sys.put(`w${c}-${seq % 512}`, 'v'.repeat(100)) });
  await load(Number(warmArg) * 1000);
  const pids = sys.nodes.map((_, i) => {
    const pid = sys.pid(i);
    if (pid === null) throw new Error(`Node${i + 1} has no process`);
    return pid;
  });
  const before = pids.map(schedstat);
  const started = process.hrtime.bigint();
  const stats = await load(Number(secondsArg) * 1000);
  const wallNs = Number(process.hrtime.bigint() - started);
  const after = pids.map(schedstat);
  const pct = (ns: number): number => Math.round((ns / wallNs) * 1000) / 10;
  const roles = pids.map((_, i) => {
    const run = (after[i]?.[0] ?? 0) - (before[i]?.[0] ?? 0);
    const wait = (after[i]?.[1] ?? 0) - (before[i]?.[1] ?? 0);
    return { node: i + 1, role: i === leader ? 'leader' : 'follower', runningPct: pct(run), runQueuePct: pct(wait), blockedOrIdlePct: pct(wallNs - run - wait) };
  });
  console.log(JSON.stringify({ bench: 'sched-probe', clients, placement, opsPerSec: stats.opsPerSec, p50Ms: stats.p50Ms, threads: roles }));
  for (const r of roles) console.log(`Node${r.node} ${r.role.padEnd(8)} running ${r.runningPct} %, waiting for a core ${r.runQueuePct} %, blocked or idle ${r.blockedOrIdlePct} %`);
} finally {
  await sys.stop();
}
