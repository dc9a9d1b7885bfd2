/**
 * A/B of the forwarded-write path: two 5-node clusters up at once (A and B from two builds'
 * dist/cli/main.js), the same closed-loop PUT load alternated between them (ABBA) on each row:
 * writes spread over all nodes (client i to node i mod 5, so 4 in 5 are forwarded) and on the
 * leader. Per row and build: ops/s, p50/p99, and per role (leader, mean follower, load
 * generator) CPU µs per write beyond the node's idle CPU (sampled for 1 s before each run) and
 * read/write syscalls (/proc/<pid>/io syscr+syscw) per write.
 *
 *   npx tsx bench/spread-ab.ts <A main.js> <B main.js> [rounds=2] [seconds=4] [rows=s16,s64,s256,l64]
 *   (SPREAD_AB_PORT_BASE=N: A on N.., B on N+100..; default 29700)
 */
import { readFileSync } from 'node:fs';
import { closedLoop } from './load.js';
import { RaftquotesSystem } from './systems.js';

const [mainA, mainB, roundsArg, secondsArg, rowsArg] = process.argv.slice(2);
if (!mainA || !mainB) throw new Error('usage: spread-ab.ts <A main.js> <B main.js> [rounds] [seconds] [rows]');
const rounds = Number(roundsArg ?? 2);
const seconds = Number(secondsArg ?? 4);
const rows = (rowsArg ?? 's16,s64,s256,l64').split(',').map((r) => ({ name: r, spread: r.startsWith('s'), clients: Number(r.slice(1)) }));
const base = Number(process.env.SPREAD_AB_PORT_BASE ?? 29700);
const TICKS = 100;
/** How long each cluster's idle CPU is sampled before a run. */
const IDLE_SAMPLE_MS = 1_000;

/** [cpu seconds, syscalls] of a process so far. */
function usage(pid: number): [number, number] {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const calls = (name: string): number => Number(new RegExp(`${name}: (\\d+)`).exec(io)?.[1] ?? 0);
  return [(Number(fields[11]) + Number(fields[12])) / TICKS, calls('syscr') + calls('syscw')];
}

interface Sample {
  ops: number;
  opsPerSec: number;
  p50: number;
  p99: number;
  errors: number;
  leaderCpu: number;
  followerCpu: number;
  genCpu: number;
  leaderCalls: number;
  followerCalls: number;
}

const systems = {
  A: new RaftquotesSystem(5, [], {}, { http: base, raft: base + 20, controller: base + 40 }, mainA),
  B: new RaftquotesSystem(5, [], {}, { http: base + 100, raft: base + 120, controller: base + 140 }, mainB),
};

/** CPU seconds per second of each process while nothing loads it (ticks, pings), to subtract. */
async function idleRates(pids: number[]): Promise<number[]> {
  const before = pids.map(usage);
  const started = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, IDLE_SAMPLE_MS));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return pids.map((pid, i) => (usage(pid)[0] - before[i]![0]) / seconds);
}

async function measure(sys: RaftquotesSystem, row: (typeof rows)[number]): Promise<Sample> {
  const leader = await sys.leader();
  const pids = sys.nodes.map((n) => n.pid);
  const idle = await idleRates(pids);
  let before: Array<[number, number]> = [];
  let after: Array<[number, number]> = [];
  let gen = process.cpuUsage();
  const s = await closedLoop({
    clients: row.clients,
    durationMs: seconds * 1000,
    warmupMs: 500,
    targetOf: (c) => sys.target(row.spread ? c % sys.size : leader),
    requestOf: (c, seq) => sys.put(`w${c}-${seq % 512}`, 'v'.repeat(100)),
    window: {
      onStart: () => {
        before = pids.map(usage);
        gen = process.cpuUsage();
      },
      onEnd: () => {
        after = pids.map(usage);
        const g = process.cpuUsage(gen);
        gen = { user: g.user, system: g.system };
      },
    },
  });
  // The end-of-window timer can lose the race with the last answers on a loaded machine.
  if (after.length === 0) {
    after = pids.map(usage);
    const g = process.cpuUsage(gen);
    gen = { user: g.user, system: g.system };
  }
  const per = (v: number): number => (s.ops > 0 ? v / s.ops : NaN);
  // CPU beyond idle: what the writes cost, not the ticks (at a few ops/s idle would dominate).
  const delta = pids.map((_, i) => [after[i]![0] - before[i]![0] - idle[i]! * s.seconds, after[i]![1] - before[i]![1]] as const);
  const followers = delta.filter((_, i) => i !== leader);
  const mean = (xs: number[]): number => xs.reduce((x, y) => x + y, 0) / xs.length;
  if (s.errors > 0) {
    const terms = await Promise.all(sys.nodes.map((_, i) => sys.status(i).then((st: { id: string; state: string; term: number }) => `${st.id} ${st.state} term ${st.term}`, () => '?')));
    console.error(`# errors: ${JSON.stringify(s.errorKinds)}; now ${terms.join(', ')}`);
  }
  return {
    ops: s.ops,
    opsPerSec: s.opsPerSec,
    p50: s.p50Ms,
    p99: s.p99Ms,
    errors: s.errors,
    leaderCpu: per(delta[leader]![0] * 1e6),
    followerCpu: per(mean(followers.map((d) => d[0])) * 1e6),
    genCpu: per(gen.user + gen.system),
    leaderCalls: per(delta[leader]![1]),
    followerCalls: per(mean(followers.map((d) => d[1]))),
  };
}

const results: Record<string, Record<'A' | 'B', Sample[]>> = {};
try {
  await Promise.all([systems.A.start(), systems.B.start()]);
  for (let r = 0; r < rounds; r++) {
    for (const row of rows) {
      const order: Array<'A' | 'B'> = r % 2 === 0 ? ['A', 'B', 'B', 'A'] : ['B', 'A', 'A', 'B'];
      for (const name of order) {
        const sample = await measure(systems[name], row);
        (results[row.name] ??= { A: [], B: [] })[name].push(sample);
        console.error(`# ${row.name} ${name} round ${r}: ${sample.opsPerSec} ops/s p50 ${sample.p50} p99 ${sample.p99} err ${sample.errors} cpu µs/op L ${sample.leaderCpu.toFixed(0)} F ${sample.followerCpu.toFixed(0)} gen ${sample.genCpu.toFixed(0)} syscalls/op L ${sample.leaderCalls.toFixed(1)} F ${sample.followerCalls.toFixed(1)}`);
      }
    }
  }
} finally {
  await Promise.all([systems.A.stop(), systems.B.stop()]);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
console.log('| row | build | ops/s | p50 ms | p99 ms | errors | CPU µs/write leader | follower (mean) | load gen | syscalls/write leader | follower |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const [row, byBuild] of Object.entries(results)) {
  for (const name of ['A', 'B'] as const) {
    const xs = byBuild[name];
    const m = (f: (x: Sample) => number): string => median(xs.map(f)).toFixed(0);
    console.log(`| ${row} | ${name} | ${m((x) => x.opsPerSec)} | ${median(xs.map((x) => x.p50)).toFixed(1)} | ${median(xs.map((x) => x.p99)).toFixed(1)} | ${xs.reduce((a, x) => a + x.errors, 0)} | ${m((x) => x.leaderCpu)} | ${m((x) => x.followerCpu)} | ${m((x) => x.genCpu)} | ${median(xs.map((x) => x.leaderCalls)).toFixed(1)} | ${median(xs.map((x) => x.followerCalls)).toFixed(1)} |`);
  }
  const ratio = median(byBuild.B.map((x) => x.opsPerSec)) / median(byBuild.A.map((x) => x.opsPerSec));
  console.log(`| ${row} | B/A | ${ratio.toFixed(2)}× | | | | | | | | |`);
}
