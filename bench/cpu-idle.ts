/**
 * CPU of an idle 5-node cluster, by role (issue 19): heartbeats, ticks and timers compete
 * with the write path for the machine's 2 cores. Optional A/B: a second build's main.js, both
 * clusters up at once and measured in alternate windows.
 *
 *   npx tsx bench/cpu-idle.ts [portBase=29000] [seconds=10] [rounds=3] [other main.js]
 */
import { cpuSecondsOf } from './cpu.js';
import { sleep } from '../test/support/wait.js';
import { RaftquotesSystem } from './systems.js';

const base = Number(process.argv[2] ?? 29000);
const seconds = Number(process.argv[3] ?? 10);
const rounds = Number(process.argv[4] ?? 3);
const other = process.argv[5];
/** CPU_IDLE_NODE_ARGS: extra node flags for this build's cluster (e.g. "--tick-ms 25"). */
const nodeArgs = process.env.CPU_IDLE_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
const systems = [new RaftquotesSystem(5, nodeArgs, {}, { http: base, raft: base + 20, controller: base + 40 })];
if (other) systems.push(new RaftquotesSystem(5, [], {}, { http: base + 100, raft: base + 120, controller: base + 140 }, other));
try {
  await Promise.all(systems.map((s) => s.start()));
  await sleep(2_000);
  for (let r = 0; r < rounds; r++) {
    for (const [i, sys] of systems.entries()) {
      const leader = await sys.leader();
      const pids = sys.nodes.map((_, n) => sys.pid(n));
      const before = pids.map(cpuSecondsOf);
      await sleep(seconds * 1000);
      const after = pids.map(cpuSecondsOf);
      const percent = pids.map((_, n) => Math.round((((after[n] ?? 0) - (before[n] ?? 0)) / seconds) * 1000) / 10);
      const total = Math.round(percent.reduce((a, b) => a + b, 0) * 10) / 10;
      console.log(JSON.stringify({ bench: 'cpu-idle', build: i === 0 ? 'this' : 'other', round: r, leaderPercent: percent[leader], followersPercent: percent.filter((_, n) => n !== leader), totalPercentOfOneCore: total }));
    }
  }
} finally {
  await Promise.all(systems.map((s) => s.stop()));
}
