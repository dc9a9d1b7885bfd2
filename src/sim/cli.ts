import { fork, type ChildProcess } from 'node:child_process';
import type { ForgerMode } from './forger.js';
import { runSeed, seedSpares, type SimResult } from './simulation.js';

/** Forged messages per simulated ms with --forger: one every FORGE_EVERY_MS on average. */
const FORGE_EVERY_MS = 20;
/** Spare nodes at most: the nemesis keeps at most 7 voters, a few learners beyond that are enough. */
const MAX_SPARES = 8;
/** Child processes at most: one per core is the useful limit, and the machines we run on are small. */
const MAX_JOBS = 16;
/** Seeds in one run at most (a bound on the seed list, not on what is worth running). */
const MAX_SEEDS = 10_000_000;
/** Seed numbers stay exact integers in every derivation (seed * 31, seed ^ constant). */
const MAX_SEED = 2 ** 31 - 1;
/** A progress line on stderr every this many seeds, for long runs whose output goes to a file. */
const PROGRESS_EVERY = 500;
/** Lines of the failing run's trace printed with a failure. */
const FAILURE_TRACE_LINES = 120;
/** Marks a child process started by --jobs: it reports to its parent over IPC instead of printing a summary. */
const WORKER_ENV = 'RAFTQUOTES_SIM_WORKER';

const USAGE = 'use --seeds N, --from S, --seed N, --nodes 1..9, --spares 0..8, --jobs 1..16, --shard K/N, --forger invalid|chaos';

interface Args {
  seeds: number;
  from: number;
  nodes: number;
  seed: number | null;
  forger: ForgerMode | null;
  /** null: drawn from each seed (seedSpares); 0: no membership nemesis. */
  spares: number | null;
  jobs: number;
  shard: { index: number; count: number } | null;
}

/**
 * `npm run sim -- --seeds 10000 [--from 1] [--nodes 5] [--spares N] [--jobs N] [--seed N] [--forger invalid|chaos]`:
 * runs seeds and prints one failure report per failing seed (with the line that reproduces it)
 * and a JSON summary. By default most seeds run the membership nemesis with spare nodes drawn
 * from the seed (seedSpares); --spares N forces N spares in every seed, --spares 0 turns the
 * nemesis off. --jobs N splits the seeds over N child processes and merges their summaries;
 * --shard K/N runs only the seeds whose position modulo N is K (to split a run over machines).
 * --forger adds a hostile peer (forger.ts): with `invalid` every safety property and liveness
 * are still checked; with `chaos` (Byzantine messages too) only that no node throws.
 */
function parseArgs(argv: string[]): Args {
  const args: Args = { seeds: 1000, from: 1, nodes: 5, seed: null, forger: null, spares: null, jobs: 1, shard: null };
  let listFlags = false;
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i] ?? '';
    const value = argv[i + 1];
    if (value === undefined) fail(`${flag} needs a value (${USAGE})`);
    if (flag === '--forger') {
      if (value !== 'invalid' && value !== 'chaos') fail('--forger needs invalid or chaos');
      args.forger = value;
    } else if (flag === '--shard') {
      args.shard = parseShard(value);
    } else if (flag === '--seeds') {
      args.seeds = integer(flag, value, 1, MAX_SEEDS);
      listFlags = true;
    } else if (flag === '--from') {
      args.from = integer(flag, value, 0, MAX_SEED);
      listFlags = true;
    } else if (flag === '--seed') args.seed = integer(flag, value, 0, MAX_SEED);
    else if (flag === '--nodes') args.nodes = integer(flag, value, 1, 9);
    else if (flag === '--spares') args.spares = integer(flag, value, 0, MAX_SPARES);
    else if (flag === '--jobs') args.jobs = integer(flag, value, 1, MAX_JOBS);
    else fail(`unknown flag ${flag} (${USAGE})`);
  }
  if (args.seed !== null && listFlags) fail('--seed runs one seed: give it without --seeds and --from');
  if (args.from + args.seeds - 1 > MAX_SEED) fail(`--from + --seeds must stay below ${MAX_SEED}`);
  if (args.shard !== null && args.jobs > 1) fail('--shard and --jobs do not combine: run one shard per process');
  return args;
}

function integer(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) fail(`${flag} needs an integer between ${min} and ${max}, got ${JSON.stringify(text)}`);
  return value;
}

function parseShard(text: string): { index: number; count: number } {
  const match = /^(\d+)\/(\d+)$/.exec(text);
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (!match || count < 1 || count > MAX_SEEDS || index >= count) fail(`--shard needs K/N with 0 <= K < N, got ${JSON.stringify(text)}`);
  return { index, count };
}

function fail(message: string): never {
  console.error(`sim: ${message}`);
  process.exit(2);
}

/** The seeds this process runs, in order. */
function seedList(args: Args): number[] {
  if (args.seed !== null) return [args.seed];
  const all = Array.from({ length: args.seeds }, (_, i) => args.from + i);
  const shard = args.shard;
  return shard ? all.filter((_, i) => i % shard.count === shard.index) : all;
}

/** The spares a seed runs with: forced by --spares, else drawn from the seed; undefined: no membership nemesis. */
function sparesFor(args: Args, seed: number): number | undefined {
  if (args.spares === null) return seedSpares(seed);
  return args.spares === 0 ? undefined : args.spares;
}

/** The command line that runs exactly this seed again. */
function reproduceLine(args: Args, seed: number): string {
  const spares = sparesFor(args, seed) ?? 0;
  return `npm run sim -- --seed ${seed} --nodes ${args.nodes} --spares ${spares}${args.forger ? ` --forger ${args.forger}` : ''}`;
}

function failureReport(args: Args, result: SimResult): string {
  const lines = [`FAILED seed=${result.seed}`];
  for (const v of result.violations) lines.push(`  violation at ${v.at.toFixed(1)} ms: ${v.rule}: ${v.detail}`);
  lines.push('  last events:');
  for (const line of result.trace.slice(-FAILURE_TRACE_LINES)) lines.push(`    ${line}`);
  lines.push(`  reproduce: ${reproduceLine(args, result.seed)}`);
  return lines.join('\n');
}

/** Sums and extremes of a set of seeds' results: merged across --jobs children by adding. */
interface Summary {
  seeds: number;
  violations: number;
  failedSeeds: number[];
  election: { n: number; sum: number; max: number };
  recovery: { n: number; sum: number; max: number };
  committed: number;
  installs: number;
  forged: number;
  honestRejections: Record<string, number>;
  clientOps: Record<string, number>;
  storage: Record<string, number>;
  unknownHistories: number;
  seedsWithNemesis: number;
  seedsWithChanges: number;
  membershipChanges: number;
  finalVoterCounts: Record<string, number>;
  cpuMs: number;
}

function emptySummary(): Summary {
  return {
    seeds: 0,
    violations: 0,
    failedSeeds: [],
    election: { n: 0, sum: 0, max: 0 },
    recovery: { n: 0, sum: 0, max: 0 },
    committed: 0,
    installs: 0,
    forged: 0,
    honestRejections: {},
    clientOps: {},
    storage: {},
    unknownHistories: 0,
    seedsWithNemesis: 0,
    seedsWithChanges: 0,
    membershipChanges: 0,
    finalVoterCounts: {},
    cpuMs: 0,
  };
}

function addCounts(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

function addStat(stat: { n: number; sum: number; max: number }, value: number | null): void {
  if (value === null) return;
  stat.n++;
  stat.sum += value;
  stat.max = Math.max(stat.max, value);
}

function addResult(summary: Summary, result: SimResult, nemesis: boolean): void {
  summary.forged += result.forged;
  addCounts(summary.honestRejections, result.honestRejections);
  addStat(summary.election, result.firstElectionMs);
  addStat(summary.recovery, result.recoveryMs);
  summary.committed += result.committed;
  addCounts(summary.clientOps, { ...result.clients });
  addCounts(summary.storage, result.disk);
  if (result.linearizable === 'unknown') summary.unknownHistories++;
  summary.installs += result.snapshotsInstalled;
  if (nemesis) summary.seedsWithNemesis++;
  if (result.membershipChanges > 0) summary.seedsWithChanges++;
  summary.membershipChanges += result.membershipChanges;
  addCounts(summary.finalVoterCounts, { [String(result.finalVoters.length)]: 1 });
}

function mergeSummary(into: Summary, from: Summary): void {
  into.seeds += from.seeds;
  into.violations += from.violations;
  into.failedSeeds.push(...from.failedSeeds);
  for (const key of ['election', 'recovery'] as const) {
    into[key].n += from[key].n;
    into[key].sum += from[key].sum;
    into[key].max = Math.max(into[key].max, from[key].max);
  }
  into.committed += from.committed;
  into.installs += from.installs;
  into.forged += from.forged;
  addCounts(into.honestRejections, from.honestRejections);
  addCounts(into.clientOps, from.clientOps);
  addCounts(into.storage, from.storage);
  into.unknownHistories += from.unknownHistories;
  into.seedsWithNemesis += from.seedsWithNemesis;
  into.seedsWithChanges += from.seedsWithChanges;
  into.membershipChanges += from.membershipChanges;
  addCounts(into.finalVoterCounts, from.finalVoterCounts);
  into.cpuMs += from.cpuMs;
}

/** What a --jobs child tells its parent. */
type WorkerMessage = { kind: 'failure'; report: string } | { kind: 'progress' } | { kind: 'summary'; summary: Summary };

/** Runs this process's seeds; failures and progress go to `report` as they happen. */
async function runSeeds(args: Args, report: (message: WorkerMessage) => void): Promise<Summary> {
  const summary = emptySummary();
  const cpuStart = process.cpuUsage();
  for (const s of seedList(args)) {
    summary.seeds++;
    const spares = sparesFor(args, s);
    let result: SimResult;
    try {
      result = await runSeed(s, { nodes: args.nodes, ...(spares !== undefined ? { spares } : {}), ...(args.forger ? { forger: { mode: args.forger, everyMs: FORGE_EVERY_MS } } : {}) });
    } catch (err) {
      summary.violations++;
      summary.failedSeeds.push(s);
      report({ kind: 'failure', report: `FAILED seed=${s}: threw ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n  reproduce: ${reproduceLine(args, s)}` });
      report({ kind: 'progress' });
      continue;
    }
    // Byzantine (chaos) messages may break safety by design: only a throw fails that mode.
    if (args.forger === 'chaos') result = { ...result, violations: [] };
    addResult(summary, result, spares !== undefined);
    if (result.violations.length > 0) {
      summary.violations++;
      summary.failedSeeds.push(s);
      report({ kind: 'failure', report: failureReport(args, result) });
    }
    report({ kind: 'progress' });
  }
  const cpu = process.cpuUsage(cpuStart);
  summary.cpuMs = (cpu.user + cpu.system) / 1000;
  return summary;
}

/** Splits the seeds over `args.jobs` child processes (shard K of N each) and merges what they report. */
async function runJobs(args: Args, onFailure: (report: string) => void, onProgress: () => void): Promise<Summary> {
  const total = emptySummary();
  const script = process.argv[1];
  if (script === undefined) fail('cannot tell which script to run in the child processes');
  const children: Array<Promise<void>> = [];
  for (let k = 0; k < args.jobs; k++) {
    const childArgs = ['--seeds', String(args.seeds), '--from', String(args.from), '--nodes', String(args.nodes), '--shard', `${k}/${args.jobs}`];
    if (args.spares !== null) childArgs.push('--spares', String(args.spares));
    if (args.forger) childArgs.push('--forger', args.forger);
    const child: ChildProcess = fork(script, childArgs, { env: { ...process.env, [WORKER_ENV]: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(
      new Promise<void>((resolve) => {
        let summarized = false;
        child.on('message', (message: WorkerMessage) => {
          if (message.kind === 'failure') onFailure(message.report);
          else if (message.kind === 'progress') onProgress();
          else {
            summarized = true;
            mergeSummary(total, message.summary);
          }
        });
        child.on('exit', (code, signal) => {
          if (!summarized) {
            total.violations++;
            onFailure(`FAILED shard ${k}/${args.jobs}: the child process exited (code ${code}, signal ${signal}) before its summary; rerun it with --shard ${k}/${args.jobs}`);
          }
          resolve();
        });
      }),
    );
  }
  await Promise.all(children);
  return total;
}

function printSummary(args: Args, summary: Summary, wallSeconds: number): void {
  const stats = (s: { n: number; sum: number; max: number }): string => (s.n > 0 ? `max=${s.max.toFixed(0)}ms mean=${(s.sum / s.n).toFixed(0)}ms` : 'n/a');
  const perSeed = (ms: number): number => Number((summary.seeds > 0 ? ms / summary.seeds : 0).toFixed(1));
  console.log(
    JSON.stringify({
      seeds: summary.seeds,
      from: args.seed ?? args.from,
      nodes: args.nodes,
      violations: summary.violations,
      ...(summary.failedSeeds.length > 0 ? { failedSeeds: summary.failedSeeds.sort((a, b) => a - b) } : {}),
      firstElection: stats(summary.election),
      recoveryAfterHeal: stats(summary.recovery),
      entriesCommitted: summary.committed,
      snapshotsInstalled: summary.installs,
      clientOps: summary.clientOps,
      unknownHistories: summary.unknownHistories,
      storage: summary.storage,
      ...(args.forger ? { forger: args.forger, forged: summary.forged } : {}),
      spares: args.spares === null ? 'from the seed' : args.spares,
      membership: { seedsWithNemesis: summary.seedsWithNemesis, seedsWithChanges: summary.seedsWithChanges, changes: summary.membershipChanges, finalVoterCounts: summary.finalVoterCounts },
      honestRejections: summary.honestRejections,
      jobs: args.jobs,
      seconds: Number(wallSeconds.toFixed(1)),
      wallMsPerSeed: perSeed(wallSeconds * 1000),
      cpuMsPerSeed: perSeed(summary.cpuMs),
    }),
  );
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const send = process.send?.bind(process);
  if (process.env[WORKER_ENV] === '1' && send) {
    const summary = await runSeeds(args, (message) => send(message));
    send({ kind: 'summary', summary } satisfies WorkerMessage, () => process.exit(0));
    return;
  }
  const started = Date.now();
  const expected = seedList(args).length;
  let done = 0;
  let failures = 0;
  const onFailure = (report: string): void => {
    failures++;
    console.log(report);
  };
  const onProgress = (): void => {
    done++;
    if (done % PROGRESS_EVERY === 0 && done < expected) console.error(`sim: ${done}/${expected} seeds, ${failures} failed, ${((Date.now() - started) / 1000).toFixed(0)} s`);
  };
  const summary =
    args.jobs > 1
      ? await runJobs(args, onFailure, onProgress)
      : await runSeeds(args, (message) => {
          if (message.kind === 'failure') onFailure(message.report);
          else if (message.kind === 'progress') onProgress();
        });
  printSummary(args, summary, (Date.now() - started) / 1000);
  process.exit(summary.violations > 0 ? 1 : 0);
}

void main();
