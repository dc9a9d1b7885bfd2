/**
 * Where the machine's CPU goes under load: CPU seconds of each node, the cluster supervisor
 * and the load generator over one closed-loop run.
 *
 *   npx tsx bench/cpu-split.ts [clients=64] [write|read|stale]
 */
import { readFileSync } from 'node:fs';
import { closedLoop } from './load.js';
import { RaftquotesSystem } from './systems.js';

const clients = Number(process.argv[2] ?? 64);
const kind = process.argv[3] ?? 'write';
const TICKS = 100;
/** [user, system] CPU seconds of a process so far. */
function cpuSeconds(pid: number): [number, number] {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return [Number(fields[11]) / TICKS, Number(fields[12]) / TICKS];
}
const rq = new RaftquotesSystem(5, []);
await rq.start();
try {
  const leader = await rq.leader();
  const pids = rq.nodes.map((n) => n.pid);
  const before = pids.map(cpuSeconds);
  const selfBefore = process.cpuUsage();
  const s = await closedLoop({ clients, durationMs: 8000, warmupMs: 0, targetOf: () => rq.target(leader), requestOf: (c, seq) => (kind === 'write' ? rq.put(`w${c}-${seq % 512}`, 'v'.repeat(100)) : rq.get(`w${c}`, kind === 'stale')) });
  const after = pids.map(cpuSeconds);
  const self = process.cpuUsage(selfBefore);
  console.log(`${kind} ${clients} clients: ${s.opsPerSec} ops/s p99 ${s.p99Ms} ms; leader is node ${leader}`);
  pids.forEach((_, i) => {
    const user = after[i]![0] - before[i]![0];
    const sys = after[i]![1] - before[i]![1];
    console.log(`node ${i}${i === leader ? ' (leader)' : ''}: user ${user.toFixed(2)} + sys ${sys.toFixed(2)} cpu-s, ${((1e6 * (user + sys)) / s.ops).toFixed(0)} µs/op`);
  });
  const selfS = (self.user + self.system) / 1e6;
  console.log(`load generator: user ${(self.user / 1e6).toFixed(2)} + sys ${(self.system / 1e6).toFixed(2)} cpu-s, ${((1e6 * selfS) / s.ops).toFixed(0)} µs/op`);
} finally {
  await rq.stop();
}
