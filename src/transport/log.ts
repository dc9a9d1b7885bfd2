/**
 * The slice of a pino logger the transport uses. Always called as (fields, message), so a
 * recording logger in tests needs nothing more.
 */
export interface TransportLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/**
 * A misconfigured peer redials every second for as long as it runs; log the first of each
 * kind of problem at once and then at most one line per interval, with a count of the rest.
 */
export const REPEAT_LOG_INTERVAL_MS = 30_000;

/** Distinct keys remembered before old ones are forgotten (keys come from untrusted peers). */
const MAX_TRACKED_KEYS = 1024;

/** Rate limits repeated log lines by key. */
export class RepeatLimiter {
  private readonly lastLogged = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly intervalMs: number = REPEAT_LOG_INTERVAL_MS, private readonly now: () => number = Date.now) {}

  /**
   * Returns null when a line with this key was logged recently (and counts it), else the
   * number of lines suppressed since the last one (0 the first time), and logs it now.
   */
  admit(key: string): number | null {
    const now = this.now();
    const entry = this.lastLogged.get(key);
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed++;
      return null;
    }
    if (!entry && this.lastLogged.size >= MAX_TRACKED_KEYS) this.lastLogged.clear();
    this.lastLogged.set(key, { at: now, suppressed: 0 });
    return entry?.suppressed ?? 0;
  }

  /** Forgets a key, so the next occurrence is logged (e.g. once a link came back up). */
  reset(key: string): void {
    this.lastLogged.delete(key);
  }
}

/** Logs through the limiter at the given level; appends "(N similar suppressed)" when relevant. */
export function logLimited(
  limiter: RepeatLimiter,
  logger: TransportLogger,
  level: 'debug' | 'info' | 'warn' | 'error',
  key: string,
  fields: object,
  message: string,
): void {
  const suppressed = limiter.admit(key);
  if (suppressed === null) return;
  logger[level](suppressed > 0 ? { ...fields, suppressed } : fields, suppressed > 0 ? `${message} (${suppressed} similar suppressed)` : message);
}
