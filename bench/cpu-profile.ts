/**
 * Where the CPU of one write goes, by role (issue 19): every node of a 5-node cluster runs
 * with --cpu-prof, closed-loop clients (CLIENTS=N, default 1) write to the leader (or, SPREAD=1, to a follower)
 * for a few seconds, then the cluster is stopped gracefully so each node writes its profile.
 * Prints, for the leader and one follower, the self time per write of the heaviest functions
 * and of a few groups (SQLite, the peer link, HTTP, GC, idle), from the measured window only.
 *
 *   [CLIENTS=256] npx tsx bench/cpu-profile.ts [portBase=29000] [seconds=6] [profile dir=/tmp/rq-prof]
 *   (KIND=read: linearizable GETs of the keys written first; KIND=stale: the same with
 *   ?consistency=stale; ALL=1: client i to node i mod 5, the paired rows' spread placement)
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { closedLoop, fill } from './load.js';
import { sleep } from '../test/support/wait.js';
import { RaftquotesSystem } from './systems.js';

const base = Number(process.argv[2] ?? 29000);
const seconds = Number(process.argv[3] ?? 6);
const dir = process.argv[4] ?? '/tmp/rq-prof';
const spread = process.env.SPREAD === '1';
const clients = Number(process.env.CLIENTS ?? 1);
const kind = process.env.KIND ?? 'write';
const all = process.env.ALL === '1';
/** Sampling interval of the profiler, µs: fine enough for functions of a few µs per write. */
const SAMPLE_US = 250;

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number }

rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const sys = new RaftquotesSystem(5, [], {}, { http: base, raft: base + 20, controller: base + 40 });
await sys.start();
// --cpu-prof is refused in NODE_OPTIONS: each node is restarted from its data dir with it.
for (let i = 0; i < sys.size; i++) sys.kill9(i);
const children = await Promise.all(sys.nodes.map((_, i) => sys.spawnNode(i, ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-interval=${SAMPLE_US}`])));
await sleep(1_000);
const leader = await sys.leader(30_000);
await sleep(1_000);
const entry = spread ? (leader + 1) % sys.size : leader;
let windowStart = 0;
let windowEnd = 0;
const idle = process.env.IDLE === '1';
if (kind !== 'write') await fill({ clients: 16, count: 64, targetOf: () => sys.target(leader), requestOf: (n) => sys.put(`p${n}`, 'v'.repeat(100)), deadlineMs: 30_000 });
const stats = idle ? await idleWindow() : await closedLoop({
  clients,
  durationMs: seconds * 1000,
  warmupMs: Number(process.env.WARM ?? 0.5) * 1000,
  targetOf: (c) => sys.target(all ? c % sys.size : entry),
  requestOf: (c, seq) => (kind === 'write' ? sys.put(`p${seq % 64}`, 'v'.repeat(100)) : sys.get(`p${(c + seq) % 64}`, kind === 'stale')),
  window: { onStart: () => (windowStart = Number(process.hrtime.bigint() / 1000n)), onEnd: () => (windowEnd = Number(process.hrtime.bigint() / 1000n)) },
});
/** IDLE=1: no load; "per write" is then per second of an idle cluster. */
async function idleWindow(): Promise<{ opsPerSec: number; p50Ms: number; p99Ms: number; ops: number }> {
  windowStart = Number(process.hrtime.bigint() / 1000n);
  await sleep(seconds * 1000);
  windowEnd = Number(process.hrtime.bigint() / 1000n);
  return { opsPerSec: 0, p50Ms: 0, p99Ms: 0, ops: seconds };
}
const pids = sys.nodes.map((_, i) => sys.pid(i));
// Graceful stop of every node (the profile is written at exit).
for (const child of children) child.kill('SIGTERM');
await Promise.all(children.map((c) => new Promise((resolve) => (c.exitCode === null ? c.once('exit', resolve) : resolve(null)))));
await sys.stop();
console.log(JSON.stringify({ bench: 'cpu-profile', spread, opsPerSec: stats.opsPerSec, p50Ms: stats.p50Ms, p99Ms: stats.p99Ms, ops: stats.ops }));

/**
 * Self time by function within the measured window (profile clock = monotonic µs), as samples
 * x SAMPLE_US: the sampling signal is handled only while the thread runs, so a sample count
 * estimates CPU time, where the wall-time gaps between samples would also count the time the
 * process waited for a core (most of it, on a loaded machine).
 */
function selfTimes(profile: Profile): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    const dt = SAMPLE_US;
    if (t < windowStart || t > windowEnd) continue;
    const node = byId.get(profile.samples[i] as number);
    if (!node) continue;
    const f = node.callFrame;
    const key = `${f.functionName || '(anon)'} ${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
    totals.set(key, (totals.get(key) ?? 0) + dt);
  }
  return totals;
}

const GROUPS: Array<[string, RegExp]> = [
  ['(idle)', /^\(idle\)/],
  ['(gc)', /^\(garbage collector\)/],
  ['(program)', /^\(program\)/],
  ['sqlite (native run/get/all)', /^(run|get|all|prepare|exec|pragma) /],
  ['node:net/stream', /node:(net|internal\/streams|stream|internal\/stream_base)/],
  ['node:http', /node:(_http|http|internal\/http)/],
  ['timers', /node:(timers|internal\/timers)/],
  ['crypto', /node:(crypto|internal\/crypto)/],
  ['msgpackr', /msgpackr/],
  ['dist/ (our code)', /dist\//],
];

for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
  const pid = Number(/CPU\.\d+\.\d+\.(\d+)\./.exec(file)?.[1]);
  const node = pids.indexOf(pid);
  if (node < 0) continue;
  const role = node === leader ? 'leader' : node === entry ? 'entry follower' : `follower ${node + 1}`;
  if (role !== 'leader' && node !== (leader + 1) % sys.size && node !== (leader + 2) % sys.size) continue;
  const totals = selfTimes(JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile);
  const perOp = (us: number): number => Math.round(us / Math.max(1, stats.ops));
  const busy = [...totals].filter(([k]) => !k.startsWith('(idle)')).reduce((s, [, v]) => s + v, 0);
  console.log(`\n${role} (node ${node + 1}, pid ${pid}): busy ${perOp(busy)} µs per write`);
  const groups = new Map<string, number>();
  for (const [key, us] of totals) {
    const group = GROUPS.find(([, re]) => re.test(key))?.[0] ?? 'other (node internals)';
    groups.set(group, (groups.get(group) ?? 0) + us);
  }
  for (const [g, us] of [...groups].sort((a, b) => b[1] - a[1])) console.log(`  ${String(perOp(us)).padStart(6)} µs  ${g}`);
  console.log('  top functions:');
  for (const [k, us] of [...totals].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`  ${String(perOp(us)).padStart(6)} µs  ${k}`);
}
