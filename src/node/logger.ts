/**
 * The node's logger: pino's JSON lines ({"level":30,"time":…,"node":…,…,"msg":…}, the
 * err serializer's {type,message,stack,…}) written by hand. pino loads a worker-thread
 * transport, sonic-boom and a redactor the node never uses, a few MB on every node (issue 19);
 * the node needs levels, child bindings and one synchronous line per record.
 */
const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
type LevelName = keyof typeof LEVELS;
const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** Nested causes written with an error; a cycle of causes stops here. */
const MAX_CAUSE_DEPTH = 5;

/** A logger with pino's calling convention: `(fields, message)`, or a message alone. */
export interface NodeLog {
  trace(fields: object | string, message?: string): void;
  debug(fields: object | string, message?: string): void;
  info(fields: object | string, message?: string): void;
  warn(fields: object | string, message?: string): void;
  error(fields: object | string, message?: string): void;
  fatal(fields: object | string, message?: string): void;
  /** A logger that adds `bindings` to every record (e.g. `{ component: 'api' }`). */
  child(bindings: Record<string, unknown>): NodeLog;
  /** Records are written synchronously: nothing is ever pending. */
  flush(): void;
}

/** What pino's std err serializer writes for an Error: type, message, stack, own fields, cause. */
export function serializeError(err: Error, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = { type: err.constructor?.name ?? err.name, message: err.message, stack: err.stack };
  for (const [key, value] of Object.entries(err)) if (!(key in out) && key !== 'cause') out[key] = value instanceof Error ? serializeError(value, depth + 1) : value;
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error && depth < MAX_CAUSE_DEPTH) out['cause'] = serializeError(cause, depth + 1);
  return out;
}

/** JSON.stringify replacer: any Error value becomes its serialized form; BigInt a string. */
function replacer(this: unknown, _key: string, value: unknown): unknown {
  if (value instanceof Error) return serializeError(value);
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** One record as a JSON line; fields that cannot be written (a cycle) are named, never thrown. */
function jsonLine(level: number, bindings: Record<string, unknown>, fields: object, message: string | undefined): string {
  const record: Record<string, unknown> = { level, time: Date.now(), ...bindings, ...fields };
  if (message !== undefined) record['msg'] = message;
  try {
    return `${JSON.stringify(record, replacer)}\n`;
  } catch (err) {
    return `${JSON.stringify({ level, time: record['time'], ...bindings, msg: message, logError: `fields not serializable: ${(err as Error).message}` })}\n`;
  }
}

/** `12:00:01.234 INFO  became leader term=7`, plus the error's message when the line lacks it. */
function prettyLine(level: number, fields: object, message: string | undefined): string {
  const time = new Date().toISOString().slice(11, 23);
  const err = (fields as { err?: unknown }).err;
  const errMessage = err instanceof Error ? err.message : undefined;
  const suffix = errMessage && !message?.includes(errMessage) ? ` (${errMessage})` : '';
  return `${time} ${(LEVEL_NAMES[level] ?? String(level)).padEnd(5)} ${message ?? ''}${suffix}\n`;
}

class Log implements NodeLog {
  constructor(
    private readonly threshold: number,
    private readonly bindings: Record<string, unknown>,
    private readonly pretty: boolean,
    private readonly write: (line: string) => void,
  ) {}

  private record(level: number, fields: object | string, message?: string): void {
    if (level < this.threshold) return;
    const [body, text] = typeof fields === 'string' ? [{}, fields] : [fields, message];
    this.write(this.pretty ? prettyLine(level, body, text) : jsonLine(level, this.bindings, body, text));
  }

  trace(fields: object | string, message?: string): void {
    this.record(LEVELS.trace, fields, message);
  }
  debug(fields: object | string, message?: string): void {
    this.record(LEVELS.debug, fields, message);
  }
  info(fields: object | string, message?: string): void {
    this.record(LEVELS.info, fields, message);
  }
  warn(fields: object | string, message?: string): void {
    this.record(LEVELS.warn, fields, message);
  }
  error(fields: object | string, message?: string): void {
    this.record(LEVELS.error, fields, message);
  }
  fatal(fields: object | string, message?: string): void {
    this.record(LEVELS.fatal, fields, message);
  }

  child(bindings: Record<string, unknown>): NodeLog {
    return new Log(this.threshold, { ...this.bindings, ...bindings }, this.pretty, this.write);
  }

  flush(): void {}
}

/** The lowest level written: a pino level name ('silent' writes nothing). */
function thresholdOf(level: string): number {
  return level === 'silent' ? Infinity : (LEVELS[level as LevelName] ?? LEVELS.info);
}

/**
 * The node's logger: JSON lines by default, readable lines under `cluster`. stdout writes
 * are synchronous on Linux for files, pipes and terminals, so a fatal line is out before exit.
 */
export function createLogger(nodeId: string, format: 'json' | 'pretty', level: string, write: (line: string) => void = (line) => void process.stdout.write(line)): NodeLog {
  return new Log(thresholdOf(level), { node: nodeId }, format === 'pretty', write);
}
