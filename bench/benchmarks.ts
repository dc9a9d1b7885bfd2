/**
 * The benchmarks of SPEC §8 (and issue 8). Each one is bounded in time, drives a BenchSystem
 * through the shared closed-loop load generator, and emits its results as JSON lines.
 */
import { closedLoop, fill, percentile, round2, VALUE_100, type LoadOptions, type LoadStats, type Target } from './load.js';
import { sleep, waitFor } from '../test/support/wait.js';
import { CpuMeter, idleCores, type CpuPerOp } from './cpu.js';
import { type BenchSystem, type RaftquotesSystem } from './systems.js';

/** One JSON line of output. */
export type BenchRecord = { bench: string; system: string } & Record<string, unknown>;

/** Timings of a run: full (default) or --quick. */
export interface BenchPlan {
  quick: boolean;
  writeSeconds: number;
  warmupSeconds: number;
  concurrency: number[];
  failoverTrials: number;
  fillCount: number;
  fanoutClients: number;
  fanoutQuotes: number;
  soakSeconds: number;
  /** Length of one round of the paired raftquotes/etcd comparison. */
  pairedSeconds: number;
  /** Rounds per paired row and system (even: ABBA order). */
  pairedRounds: number;
  /** Unmeasured load per paired row before the paired rounds (warmUp). */
  warmupSecondsPerRow: number;
  /**
   * Unmeasured load of a paired row on each system again right before that row's rounds: V8
   * needs 15-30 s of a load to compile its paths, and the up-front warm-up was minutes earlier.
   */
  rowWarmupSeconds: number;
}

export function planFor(quick: boolean): BenchPlan {
  return quick
    ? { quick, writeSeconds: 3, warmupSeconds: 1, concurrency: [1, 16, 64, 256], failoverTrials: 5, fillCount: 100_000, fanoutClients: 1000, fanoutQuotes: 15, soakSeconds: 20, pairedSeconds: 3, pairedRounds: 2, warmupSecondsPerRow: 1, rowWarmupSeconds: 1 }
    : { quick, writeSeconds: 10, warmupSeconds: 2, concurrency: [1, 16, 64, 256], failoverTrials: 20, fillCount: 100_000, fanoutClients: 1000, fanoutQuotes: 40, soakSeconds: 300, pairedSeconds: 5, pairedRounds: 4, warmupSecondsPerRow: 4, rowWarmupSeconds: 10 };
}

export type Emit = (record: BenchRecord) => void;


function stats(record: BenchRecord, s: LoadStats): BenchRecord {
  return { ...record, ...s };
}

/**
 * Clients over all nodes, starting after the leader: client i talks to node (leader + 1 + i)
 * mod size. With 16 or more clients every node gets its share; a single client talks to a
 * follower, as 4 in 5 users of a 5-node cluster do (client i to node i alone would put it on
 * the leader whenever node 0 leads, and make the row depend on the election).
 */
export function spread(system: BenchSystem, leader: number): (client: number) => Target {
  return (client) => system.target((leader + 1 + client) % system.size);
}

/** PUT of 100-byte values at each concurrency, against the leader and spread over all nodes. */
export async function writes(system: BenchSystem, plan: BenchPlan, emit: Emit): Promise<void> {
  for (const placement of ['leader', 'spread'] as const) {
    for (const clients of plan.concurrency) {
      const leader = await system.leader();
      const targetOf = placement === 'leader' ? () => system.target(leader) : spread(system, leader);
      const s = await closedLoop({
        clients,
        durationMs: plan.writeSeconds * 1000,
        warmupMs: plan.warmupSeconds * 1000,
        targetOf,
        requestOf: (c, seq) => system.put(`w${c}-${seq % 512}`, VALUE_100),
      });
      emit(stats({ bench: 'writes', system: system.name, placement }, s));
    }
  }
}

/** Linearizable and stale GET at 64 clients, against the leader and spread. */
export async function reads(system: BenchSystem, plan: BenchPlan, emit: Emit): Promise<void> {
  const leader = await system.leader();
  const keys = 1000;
  await fill({ clients: 64, count: keys, targetOf: () => system.target(leader), requestOf: (n) => system.put(`r${n}`, VALUE_100), deadlineMs: 60_000 });
  for (const consistency of ['linearizable', 'stale'] as const) {
    for (const placement of ['leader', 'spread'] as const) {
      const now = await system.leader();
      const s = await closedLoop({
        clients: 64,
        durationMs: plan.writeSeconds * 1000,
        warmupMs: plan.warmupSeconds * 1000,
        targetOf: placement === 'leader' ? () => system.target(now) : spread(system, now),
        requestOf: (c, seq) => system.get(`r${(c * 131 + seq * 7) % keys}`, consistency === 'stale'),
      });
      emit(stats({ bench: 'reads', system: system.name, consistency, placement }, s));
    }
  }
}

/** One row of the paired comparison: what runs, where, with how many closed-loop clients. */
export interface PairedRow {
  kind: 'write' | 'linearizable-read';
  placement: 'leader' | 'spread';
  clients: number;
}

/**
 * The paired rows (issue 19): writes at 1, 16, 64 and 256 clients on the leader and spread
 * over all nodes (a user talks to whichever node served the page), and linearizable reads.
 */
export const PAIRED_ROWS: readonly PairedRow[] = [
  ...[1, 16, 64, 256].flatMap((clients) => (['leader', 'spread'] as const).map((placement) => ({ kind: 'write' as const, placement, clients }))),
  { kind: 'linearizable-read', placement: 'leader', clients: 64 },
  { kind: 'linearizable-read', placement: 'spread', clients: 64 },
];

/** Keys the paired reads spread over (written by preparePaired). */
export const PAIRED_KEYS = 1000;

/** Where a paired row's clients send their requests, and what they send. */
function rowLoad(system: BenchSystem, row: PairedRow, leader: number, keys: number): Pick<LoadOptions, 'targetOf' | 'requestOf'> {
  return {
    targetOf: row.placement === 'leader' ? () => system.target(leader) : spread(system, leader),
    requestOf: (c, seq) => (row.kind === 'write' ? system.put(`w${c}-${seq % 512}`, VALUE_100) : system.get(`p${(c * 131 + seq * 7) % keys}`, false)),
  };
}

/** The keys the paired reads read, then every row's load unmeasured (warmUp). */
export async function preparePaired(system: BenchSystem, secondsPerRow: number, rows: readonly PairedRow[] = PAIRED_ROWS): Promise<void> {
  const leader = await system.leader();
  await fill({ clients: 64, count: PAIRED_KEYS, targetOf: () => system.target(leader), requestOf: (n) => system.put(`p${n}`, VALUE_100), deadlineMs: 60_000 });
  await warmUp(system, secondsPerRow, PAIRED_KEYS, rows);
}

/** One measured round of a paired row on one system, with its CPU per operation by role. */
async function pairedRound(system: BenchSystem, row: PairedRow, plan: BenchPlan, keys: number): Promise<{ stats: LoadStats; cpu: CpuPerOp | null }> {
  const leader = await system.leader();
  const meter = new CpuMeter(Array.from({ length: system.size }, (_, i) => system.pid(i)), leader);
  const s = await closedLoop({
    clients: row.clients,
    durationMs: plan.pairedSeconds * 1000,
    warmupMs: 1000,
    ...rowLoad(system, row, leader, keys),
    window: meter.window,
  });
  return { stats: s, cpu: meter.perOp(s.ops) };
}

/**
 * Runs every paired row's load, unmeasured, for `secondsPerRow` each. A raftquotes node is
 * JavaScript: V8 compiles its hot paths only after they have run many times, so a node fresh
 * from start serves its first ~10,000 writes at a third of its steady speed, while etcd is
 * compiled ahead of time. A user's cluster has been up for hours: the rounds measure that.
 */
export async function warmUp(system: BenchSystem, secondsPerRow: number, keys: number, rows: readonly PairedRow[] = PAIRED_ROWS): Promise<void> {
  for (const row of rows) {
    const leader = await system.leader();
    await closedLoop({
      clients: row.clients,
      durationMs: secondsPerRow * 1000,
      warmupMs: 0,
      ...rowLoad(system, row, leader, keys),
    });
  }
}

/** Long enough for 10 ms ticks and 50 ms heartbeats to average out; /proc counts CPU in 10 ms ticks. */
const IDLE_CPU_SECONDS = 4;

const median = (xs: number[]): number => percentile([...xs].sort((a, b) => a - b), 50);

/** The median of each role's µs per operation over the rounds (followers in node order). */
function medianCpu(cpus: Array<CpuPerOp | null>): CpuPerOp | null {
  const known = cpus.filter((c): c is CpuPerOp => c !== null);
  if (known.length === 0) return null;
  const of = (pick: (c: CpuPerOp) => number | null): number | null => {
    const xs = known.map(pick).filter((x): x is number => x !== null);
    return xs.length ? Math.round(median(xs)) : null;
  };
  const followers = Math.max(...known.map((c) => c.followers.length));
  return {
    leader: of((c) => c.leader),
    followers: Array.from({ length: followers }, (_, i) => of((c) => c.followers[i] ?? null)),
    loadGenerator: of((c) => c.loadGenerator) ?? 0,
    total: of((c) => c.total) ?? 0,
  };
}

/**
 * The headline ratios measured in alternating rounds instead of one block per system: all
 * systems are up, and each row's clients run on each system in turn, the order flipping every
 * round (ABBA, or ABCCBA with the floor pipeline), so drift in the shared machine's load hits
 * them alike. Emits every round, then per row and system the medians, with CPU per operation
 * by role.
 */
export async function paired(systems: readonly BenchSystem[], plan: BenchPlan, emit: Emit, rows: readonly PairedRow[] = PAIRED_ROWS): Promise<void> {
  const keys = PAIRED_KEYS;
  for (const system of systems) await preparePaired(system, plan.warmupSecondsPerRow, rows);
  // Both clusters up, neither loaded: what each costs per second doing nothing (cpuBudgetTable).
  for (const system of systems) emit({ bench: 'idle-cpu', system: system.name, cores: round2(await idleCores(Array.from({ length: system.size }, (_, i) => system.pid(i)), IDLE_CPU_SECONDS)) });
  for (const row of rows) {
    for (const system of systems) await warmUp(system, plan.rowWarmupSeconds, keys, [row]);
    const rounds = new Map<string, Array<{ stats: LoadStats; cpu: CpuPerOp | null }>>(systems.map((s) => [s.name, []]));
    for (let round = 0; round < plan.pairedRounds; round++) {
      for (const system of round % 2 ? [...systems].reverse() : systems) {
        const r = await pairedRound(system, row, plan, keys);
        rounds.get(system.name)?.push(r);
        emit(stats({ bench: 'paired-round', system: system.name, ...row, round, cpuUsPerOp: r.cpu }, r.stats));
      }
    }
    for (const system of systems) {
      const r = (rounds.get(system.name) ?? []).map((x) => x.stats);
      const cpu = medianCpu((rounds.get(system.name) ?? []).map((x) => x.cpu));
      emit({ bench: 'paired', system: system.name, ...row, rounds: r.length, opsPerSec: round2(median(r.map((x) => x.opsPerSec))), p50Ms: round2(median(r.map((x) => x.p50Ms))), p99Ms: round2(median(r.map((x) => x.p99Ms))), minOpsPerSec: Math.min(...r.map((x) => x.opsPerSec)), maxOpsPerSec: Math.max(...r.map((x) => x.opsPerSec)), errors: r.reduce((n, x) => n + x.errors, 0), cpuUsPerOp: cpu });
    }
  }
}

/** Until a write through any survivor succeeds; several writers per survivor, each retrying. */
async function firstWrite(system: BenchSystem, survivors: number[], started: number, deadlineMs: number, trial: number): Promise<number> {
  const { request } = await import('node:http');
  let winner = -1;
  const attempt = (node: number, n: number): Promise<boolean> =>
    new Promise((resolve) => {
      const t = system.target(node);
      const req = system.put(`failover-${trial}-${node}-${n}`, VALUE_100);
      const r = request({ host: t.host, port: t.port, method: req.method, path: req.path, headers: { ...req.headers, connection: 'close' } }, (res) => {
        res.resume();
        res.on('end', () => resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300));
        res.on('error', () => resolve(false));
      });
      r.setTimeout(2_000, () => r.destroy());
      r.on('error', () => resolve(false));
      r.end(req.body);
    });
  const writer = async (node: number, lane: number): Promise<void> => {
    await sleep(lane * 5);
    for (let n = 0; winner < 0 && performance.now() - started < deadlineMs; n++) {
      if (await attempt(node, n * 10 + lane)) {
        if (winner < 0) winner = performance.now() - started;
        return;
      }
      await sleep(10);
    }
  };
  await Promise.all(survivors.flatMap((node) => [0, 1].map((lane) => writer(node, lane))));
  return winner;
}

/** kill -9 of the leader, N trials: time until a write through a survivor succeeds. */
export async function failover(system: BenchSystem, plan: BenchPlan, emit: Emit): Promise<void> {
  const times: number[] = [];
  for (let trial = 0; trial < plan.failoverTrials; trial++) {
    const leader = await system.leader(20_000);
    // Decorrelate the kill from the heartbeat phase.
    await sleep(100 + Math.random() * 200);
    const survivors = Array.from({ length: system.size }, (_, i) => i).filter((i) => i !== leader);
    const started = performance.now();
    system.kill9(leader);
    const ms = await firstWrite(system, survivors, started, 15_000, trial);
    times.push(ms < 0 ? Infinity : ms);
    emit({ bench: 'failover-trial', system: system.name, trial, killed: leader, ms: round2(ms) });
    await system.restart(leader);
    await system.leader(20_000);
    await sleep(500);
  }
  const sorted = [...times].sort((a, b) => a - b);
  emit({ bench: 'failover', system: system.name, trials: times.length, p50Ms: round2(percentile(sorted, 50)), maxMs: round2(sorted[sorted.length - 1] as number), minMs: round2(sorted[0] as number), failed: times.filter((t) => !Number.isFinite(t)).length });
}

/** 64 clients spread over the nodes for soakSeconds, counting leader changes seen by polling. */
export async function soak(system: RaftquotesSystem, plan: BenchPlan, emit: Emit): Promise<void> {
  const first = await system.status(await system.leader());
  const terms = new Set<number>([first.term as number]);
  const leaders: string[] = [first.id as string];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const statuses = await Promise.all(system.nodes.map((_, i) => system.status(i, 500).catch(() => null)));
      for (const s of statuses) {
        if (s?.state !== 'leader') continue;
        if (!terms.has(s.term)) {
          terms.add(s.term);
          leaders.push(`${s.id}@${s.term}`);
        }
      }
      await sleep(200);
    }
  })();
  const s = await closedLoop({
    clients: 64,
    durationMs: plan.soakSeconds * 1000,
    warmupMs: 0,
    targetOf: spread(system, await system.leader()),
    requestOf: (c, seq) => system.put(`s${c}-${seq % 512}`, VALUE_100),
  });
  polling = false;
  await poller;
  // A node busy past the deadline (e.g. writing a large snapshot) answers null; wait for one.
  const last = await waitFor('a status after the soak', async () => {
    const statuses = await Promise.all(system.nodes.map((_, i) => system.status(i, 2000).catch(() => null)));
    return statuses.some(Boolean) ? statuses : null;
  }, 30_000, 200).catch(() => []);
  const endTerms = last.map((x) => x?.term as number | undefined).filter((t): t is number => t !== undefined);
  const maxTerm = endTerms.length ? Math.max(...endTerms) : null;
  emit(stats({ bench: 'soak', system: system.name, seconds: plan.soakSeconds, leaderChanges: terms.size - 1, termAtStart: first.term, termAtEnd: maxTerm, leaders }, s));
}
