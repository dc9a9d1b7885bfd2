/**
 * A/B of the SPEC §11 event ring's cost on write throughput (issue 20: "keep it under 3 %").
 *
 * Two 5-node clusters run at once from the same dist/: ON keeps the event ring (the default),
 * OFF runs every node with `--event-ring off`. The same closed-loop PUT load (100-byte values,
 * SPEC §8) is run on each in turn, in paired rounds whose order alternates (ON then OFF, then
 * OFF then ON), so a drift in the machine's load during the run hits both alike. Each pair
 * gives one estimate of the cost, (OFF - ON) / OFF; the spread of those estimates is the noise
 * floor of this machine, and the median is the number to quote.
 *
 *   npx tsx bench/event-ring-ab.ts [--rounds 10] [--clients 64] [--seconds 4]
 *
 * Standalone (not part of bench/run.ts). Ports 31900-31960 (the teaching pages' range).
 * Prints one JSON line per measured run and one summary line.
 */
import { parseArgs } from 'node:util';
import { closedLoop, median, type LoadStats } from './load.js';
import { RaftquotesSystem } from './systems.js';

/** Port bases of the two clusters (node i uses base + i). */
const PORTS_ON = { http: 31900, raft: 31910, controller: 31920 };
const PORTS_OFF = { http: 31930, raft: 31940, controller: 31950 };
const VALUE = 'v'.repeat(100);
/** Distinct keys per client, so the state machine does real upserts rather than one hot key. */
const KEYS_PER_CLIENT = 512;
const WARMUP_MS = 500;
/** Bounds on the command line, so a typo cannot start an hour-long run. */
const MAX_ROUNDS = 50;
const MAX_CLIENTS = 512;
const MAX_SECONDS = 60;

interface Options {
  rounds: number;
  clients: number;
  seconds: number;
}

function intArg(value: string | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${name}: an integer from 1 to ${max} expected, got ${JSON.stringify(value)}`);
  return n;
}

function options(): Options {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, clients: { type: 'string' }, seconds: { type: 'string' } } });
  return {
    rounds: intArg(values.rounds, 'rounds', 10, MAX_ROUNDS),
    clients: intArg(values.clients, 'clients', 64, MAX_CLIENTS),
    seconds: intArg(values.seconds, 'seconds', 4, MAX_SECONDS),
  };
}

/** One closed-loop run of PUTs against the current leader. */
async function run(system: RaftquotesSystem, o: Options): Promise<LoadStats> {
  const leader = await system.leader();
  return closedLoop({
    clients: o.clients,
    durationMs: o.seconds * 1000,
    warmupMs: WARMUP_MS,
    targetOf: () => system.target(leader),
    requestOf: (client, seq) => system.put(`ab-${client}-${seq % KEYS_PER_CLIENT}`, VALUE),
  });
}

function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Median, min, max, mean and standard deviation of the per-pair cost estimates, in percent. */
function summarize(costs: number[], on: number[], off: number[]): Record<string, unknown> {
  const mean = costs.reduce((a, b) => a + b, 0) / costs.length;
  const sd = Math.sqrt(costs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, costs.length - 1));
  return {
    bench: 'event-ring-ab',
    pairs: costs.length,
    medianOpsOn: median(on),
    medianOpsOff: median(off),
    costPctMedian: round(median(costs)),
    costPctMean: round(mean),
    costPctSd: round(sd),
    costPctMin: round(Math.min(...costs)),
    costPctMax: round(Math.max(...costs)),
    costPctOfMedians: round((100 * (median(off) - median(on))) / median(off)),
  };
}

async function main(): Promise<void> {
  const o = options();
  const on = new RaftquotesSystem(5, [], {}, PORTS_ON);
  const off = new RaftquotesSystem(5, ['--event-ring', 'off'], {}, PORTS_OFF);
  const stop = (): void => {
    on.abort();
    off.abort();
    process.exit(130);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await Promise.all([on.start(), off.start()]);
    const ops: Record<'on' | 'off', number[]> = { on: [], off: [] };
    const costs: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const order: Array<['on' | 'off', RaftquotesSystem]> = r % 2 === 0 ? [['on', on], ['off', off]] : [['off', off], ['on', on]];
      const pair: Partial<Record<'on' | 'off', number>> = {};
      for (const [ring, system] of order) {
        const stats = await run(system, o);
        pair[ring] = stats.opsPerSec;
        ops[ring].push(stats.opsPerSec);
        process.stdout.write(`${JSON.stringify({ bench: 'event-ring-ab', round: r, ring, clients: o.clients, opsPerSec: stats.opsPerSec, p50Ms: stats.p50Ms, p99Ms: stats.p99Ms, errors: stats.errors })}\n`);
      }
      costs.push((100 * ((pair.off as number) - (pair.on as number))) / (pair.off as number));
    }
    process.stdout.write(`${JSON.stringify({ ...summarize(costs, ops.on, ops.off), clients: o.clients, seconds: o.seconds })}\n`);
  } finally {
    await Promise.all([on.stop(), off.stop()]);
  }
}

await main();
