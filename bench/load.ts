/**
 * One in-process closed-loop HTTP load generator, used for raftquotes and etcd alike so the
 * comparison is fair: N clients, each with one request in flight, over keep-alive sockets
 * (bench/raw-http.ts: one socket per client), for a fixed time. Latencies are kept in full and
 * summarised once at the end.
 */
import { http } from '../test/support/cluster.js';
import { RawHttpClient, type PreparedRequest, type Target } from './raw-http.js';

export type { PreparedRequest, Target };

export interface LoadOptions {
  clients: number;
  durationMs: number;
  /** Requests answered during the warm-up are not counted. */
  warmupMs: number;
  /** Target of client `i` (e.g. always the leader, or round-robin over all nodes). */
  targetOf: (client: number) => Target;
  /** Request number `seq` of client `client`. */
  requestOf: (client: number, seq: number) => PreparedRequest;
  /** Per-request deadline; a request over it counts as an error. */
  timeoutMs?: number;
  /** Called when the measured window opens and closes (CPU is read over the same window). */
  window?: { onStart(): void; onEnd(): void };
}

/** Summary of one run: throughput, latency percentiles in ms, error count by kind. */
export interface LoadStats {
  clients: number;
  ops: number;
  errors: number;
  errorKinds: Record<string, number>;
  seconds: number;
  opsPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

/** Percentile (0..100) of sorted samples, nearest-rank. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Rounds to 2 decimals (for the JSON lines). */
/** The median (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

/** A growable Float64 sample buffer (no per-sample allocation). */
export class Samples {
  private data = new Float64Array(1 << 16);
  length = 0;

  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }

  sorted(): Float64Array {
    return this.data.slice(0, this.length).sort();
  }
}

/** Runs the closed loop and returns its summary; bounded by durationMs + the request timeout. */
export async function closedLoop(options: LoadOptions): Promise<LoadStats> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const connections: RawHttpClient[] = [];
  const samples = new Samples();
  const errorKinds: Record<string, number> = {};
  let errors = 0;
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const end = measureFrom + options.durationMs;
  const windowTimers = options.window
    ? [setTimeout(() => options.window?.onStart(), options.warmupMs), setTimeout(() => options.window?.onEnd(), options.warmupMs + options.durationMs)]
    : [];
  const client = async (i: number): Promise<void> => {
    const connection = new RawHttpClient(options.targetOf(i));
    connections.push(connection);
    for (let seq = 0; ; seq++) {
      const sent = performance.now();
      if (sent >= end) return;
      const kind = await connection.send(options.requestOf(i, seq), timeoutMs);
      const now = performance.now();
      if (sent < measureFrom || now > end) continue;
      if (kind === null) samples.push(now - sent);
      else {
        errors++;
        errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
        // An error answers fast: pause briefly so a refusing server is not hammered in a tight loop.
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  await Promise.all(Array.from({ length: options.clients }, (_, i) => client(i)));
  for (const timer of windowTimers) clearTimeout(timer);
  for (const connection of connections) connection.close();
  const sorted = samples.sorted();
  const seconds = options.durationMs / 1000;
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    clients: options.clients,
    ops: sorted.length,
    errors,
    errorKinds,
    seconds,
    opsPerSec: Math.round(sorted.length / seconds),
    p50Ms: round2(percentile(sorted, 50)),
    p90Ms: round2(percentile(sorted, 90)),
    p99Ms: round2(percentile(sorted, 99)),
    maxMs: round2(sorted.length ? (sorted[sorted.length - 1] as number) : NaN),
    meanMs: round2(sorted.length ? sum / sorted.length : NaN),
  };
}

/** Sends `count` requests with `clients` in flight as fast as possible (used to load data). */
export async function fill(options: { clients: number; count: number; targetOf: (client: number) => Target; requestOf: (n: number) => PreparedRequest; deadlineMs: number }): Promise<{ done: number; errors: number; seconds: number }> {
  const connections: RawHttpClient[] = [];
  let next = 0;
  let done = 0;
  let errors = 0;
  const started = performance.now();
  const deadline = started + options.deadlineMs;
  const client = async (i: number): Promise<void> => {
    const connection = new RawHttpClient(options.targetOf(i));
    connections.push(connection);
    while (performance.now() < deadline) {
      const n = next++;
      if (n >= options.count) return;
      let kind = await connection.send(options.requestOf(n), 10_000);
      // Retry a refused one (e.g. 429 or a transient no_leader) a few times so the count is real.
      for (let retry = 0; kind !== null && retry < 20 && performance.now() < deadline; retry++) {
        await new Promise((r) => setTimeout(r, 20));
        kind = await connection.send(options.requestOf(n), 10_000);
      }
      if (kind === null) done++;
      else errors++;
    }
  };
  await Promise.all(Array.from({ length: options.clients }, (_, i) => client(i)));
  for (const connection of connections) connection.close();
  return { done, errors, seconds: round2((performance.now() - started) / 1000) };
}

/** Small JSON request helper for control calls (status, leader lookups), with a deadline: the tests' helper. */
export async function jsonCall(url: string, method = 'GET', body?: unknown, timeoutMs = 2_000): Promise<{ status: number; body: any }> {
  const { status, body: parsed } = await http(method, url, body, {}, timeoutMs);
  return { status, body: parsed };
}


/** The 100-byte value every write benchmark puts (SPEC §8). */
export const VALUE_100 = 'v'.repeat(100);

/** Runs `main` when the module at `moduleUrl` is the process's entry point (a bench file run by itself). */
export function runIfMain(moduleUrl: string, main: () => Promise<void>): void {
  if (moduleUrl !== `file://${process.argv[1]}`) return;
  main().then(
    () => process.exit(0),
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
