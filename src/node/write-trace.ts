/**
 * Where the time of one write goes: with RAFTQUOTES_TRACE_WRITES=1 a node marks
 * each stage of each log entry it handles (HTTP in, propose, Ready, send, fsync, receive, ack,
 * commit, apply, HTTP out) with the monotonic clock and the count of Ready-loop turns so far.
 * process.hrtime is CLOCK_MONOTONIC, one clock for every process on the machine, so the marks
 * of the five nodes line up into one timeline (bench/timeline.ts joins them by log index).
 *
 * Off by default and free when off (the node holds no trace). When on, marks go to a bounded
 * buffer, written out as one log line per TRACE_FLUSH_MS: never on the write's own path.
 */

/** The environment switch (a debug aid for the benchmark; no flag, no effect on behaviour). */
export const TRACE_ENV = 'RAFTQUOTES_TRACE_WRITES';
/** Marks kept between two flushes; past it marks are dropped (and counted), never grown. */
export const MAX_TRACE_MARKS = 50_000;
/** How often the buffered marks are logged. */
export const TRACE_FLUSH_MS = 1_000;

/**
 * A stage of one entry on one node. `ack:<peer>` (leader: a follower's successful append
 * response covering the entry arrived) is the one stage with a suffix.
 */
export type TraceStage =
  | 'http_in'
  | 'propose'
  | 'ready'
  | 'sent'
  | 'persisted'
  | 'ack_sent'
  | 'recv'
  | `ack:${string}`
  | 'commit_recv'
  | 'apply_ready'
  | 'applied'
  | 'http_out';

/** One mark: [log index, stage, monotonic time in µs, Ready-loop turns so far]. */
export type TraceMark = [number, TraceStage, number, number];

/** Now, on the machine-wide monotonic clock, in µs. */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Whether the environment asks for tracing ("1" or "true"; anything else is off). */
export function traceEnabled(env: NodeJS.ProcessEnv): boolean {
  const value = env[TRACE_ENV];
  return value === '1' || value === 'true';
}

/** The buffer of one node's marks. */
export class WriteTrace {
  private marks: TraceMark[] = [];
  private dropped = 0;
  /** Ready-loop turns run so far (the runtime counts them). */
  turns = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly emit: (marks: TraceMark[], dropped: number) => void) {}

  mark(index: number, stage: TraceStage, atMicros = monotonicMicros()): void {
    if (this.marks.length >= MAX_TRACE_MARKS) {
      this.dropped++;
      return;
    }
    this.marks.push([index, stage, atMicros, this.turns]);
  }

  /** Logs the buffered marks every TRACE_FLUSH_MS (unref'd: it never keeps a process alive). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.flush(), TRACE_FLUSH_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.flush();
  }

  private flush(): void {
    if (this.marks.length === 0 && this.dropped === 0) return;
    const marks = this.marks;
    const dropped = this.dropped;
    this.marks = [];
    this.dropped = 0;
    this.emit(marks, dropped);
  }
}

/** The running trace when RAFTQUOTES_TRACE_WRITES asks for one (its marks logged as `write trace` lines), else undefined. */
export function writeTraceFromEnv(env: NodeJS.ProcessEnv, logger: { info(fields: object, message: string): void }): WriteTrace | undefined {
  if (!traceEnabled(env)) return undefined;
  const trace = new WriteTrace((marks, dropped) => logger.info({ trace: marks, dropped }, 'write trace'));
  trace.start();
  return trace;
}
