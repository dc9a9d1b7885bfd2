import type { Logger } from '../log/logger.js';

/** The transport logs through the common interface, always as (fields, message). */
export type TransportLogger = Logger;

/**
 * A misconfigured peer redials every second for as long as it runs; log the first of each
 * kind of problem at once and then at most one line per interval, with a count of the rest.
 */
export const REPEAT_LOG_INTERVAL_MS = 30_000;

/**
 * Distinct keys remembered. Keys are built from a fixed reason category and a source
 * address or configured peer id (never from strings a peer sends), so their number is
 * bounded by the addresses an attacker controls; past this cap every new key of a category
 * shares one overflow key, so neither the map nor the log rate can be grown by a flood.
 */
export const MAX_TRACKED_KEYS = 1024;

/**
 * The key for a rate-limited line: a fixed category (a literal in our code) and who caused
 * it (a socket's remote address or a configured peer id). Never pass a claimed id, a
 * reason text or anything else a peer chose.
 */
export function limitKey(category: string, source: string): string {
  return `${category}|${source}`;
}

/** Rate limits repeated log lines by key, remembering at most maxKeys keys. */
export class RepeatLimiter {
  private readonly lastLogged = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number = REPEAT_LOG_INTERVAL_MS,
    private readonly now: () => number = Date.now,
    private readonly maxKeys: number = MAX_TRACKED_KEYS,
  ) {}

  /** Keys currently remembered (for tests and metrics). */
  get size(): number {
    return this.lastLogged.size;
  }

  /**
   * Returns null when a line with this key was logged recently (and counts it), else the
   * number of lines suppressed since the last one (0 the first time), and logs it now.
   */
  admit(key: string): number | null {
    const now = this.now();
    const effective = this.lastLogged.has(key) ? key : this.roomFor(key, now);
    const entry = this.lastLogged.get(effective);
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed++;
      return null;
    }
    this.lastLogged.delete(effective); // re-insert: Map order is then oldest-logged first
    this.lastLogged.set(effective, { at: now, suppressed: 0 });
    return entry?.suppressed ?? 0;
  }

  /** Forgets a key, so the next occurrence is logged (e.g. once a link came back up). */
  reset(key: string): void {
    this.lastLogged.delete(key);
  }

  /**
   * The key to use for a key not yet tracked: itself while there is room (after forgetting
   * entries older than the interval, oldest first), else its category's overflow key.
   */
  private roomFor(key: string, now: number): string {
    for (const [old, entry] of this.lastLogged) {
      if (this.lastLogged.size < this.maxKeys || now - entry.at < this.intervalMs) break;
      this.lastLogged.delete(old);
    }
    if (this.lastLogged.size < this.maxKeys) return key;
    const [category = key] = key.split('|', 1);
    const overflow = limitKey(category, '*');
    if (!this.lastLogged.has(overflow)) {
      // Make room for the overflow key itself: evict the oldest entry (its next line logs sooner, which is harmless).
      const oldest = this.lastLogged.keys().next().value;
      if (oldest !== undefined) this.lastLogged.delete(oldest);
    }
    return overflow;
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
