/**
 * CPU per write by role at ONE closed-loop client (issue 19's latency row): on 2 shared
 * cores every node's CPU per write sits on the path of the next write, so this is the
 * noise-robust half of the latency story (timings swing with the machine's load; CPU per
 * write much less). Optional A/B: a second build's main.js, alternated in rounds.
 *
 *   npx tsx bench/cpu-one.ts [portBase=37300] [seconds=5] [rounds=3] [other main.js]   (SIZE=n members, default 5)
 */
import { CpuMeter } from './cpu.js';
import { closedLoop } from './load.js';
import { preparePaired } from './benchmarks.js';
import { RaftquotesSystem } from './systems.js';

const base = Number(process.argv[2] ?? 37300);
const seconds = Number(process.argv[3] ?? 5);
const rounds = Number(process.argv[4] ?? 3);
const other = process.argv[5];
/** CPU_ONE_ENV / CPU_ONE_OTHER_ENV: JSON objects of environment for each cluster's nodes (experiments). */
const envOf = (name: string): Record<string, string> => JSON.parse(process.env[name] ?? '{}') as Record<string, string>;
/** SPREAD=1: the client writes through a follower instead of the leader. */
const spread = process.env.SPREAD === '1';
/** CLIENTS=n closed-loop clients (default 1). */
const clients = Number(process.env.CLIENTS ?? 1);
const systems = [new RaftquotesSystem(Number(process.env.SIZE ?? 5), [], envOf('CPU_ONE_ENV'), { http: base, raft: base + 20, controller: base + 40 })];
if (other) systems.push(new RaftquotesSystem(5, [], envOf('CPU_ONE_OTHER_ENV'), { http: base + 100, raft: base + 120, controller: base + 140 }, other));
try {
  await Promise.all(systems.map((s) => s.start()));
  /** WARMUP=s: every paired row's load for s seconds each, unmeasured, before the rounds. */
  const warmSeconds = Number(process.env.WARMUP ?? 0);
  if (warmSeconds) for (const sys of systems) await preparePaired(sys, warmSeconds);
  for (let r = 0; r < rounds; r++) {
    for (const [i, sys] of systems.entries()) {
      const leader = await sys.leader();
      const meter = new CpuMeter(sys.nodes.map((_, n) => sys.pid(n)), leader);
      const entry = spread ? (leader + 1) % sys.size : leader;
      const s = await closedLoop({ clients, durationMs: seconds * 1000, warmupMs: 300, targetOf: () => sys.target(entry), requestOf: (c, seq) => sys.put(`c${c}-${seq % 64}`, 'v'.repeat(100)), window: meter.window });
      const cpu = meter.perOp(s.ops);
      console.log(JSON.stringify({ bench: 'cpu-one', build: i === 0 ? 'this' : 'other', round: r, clients, spread, opsPerSec: s.opsPerSec, p50Ms: s.p50Ms, p99Ms: s.p99Ms, cpuUsPerWrite: cpu }));
    }
  }
} finally {
  await Promise.all(systems.map((s) => s.stop()));
}
