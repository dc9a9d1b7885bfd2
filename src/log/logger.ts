/**
 * Logging, as every module sees it: one interface (the slice of pino we use) and one budget
 * for lines that an outsider can cause, so a flood of bad input never floods the log.
 * A leaf: it imports nothing, and every module but the pure core may import it.
 */

/** The slice of a pino logger the modules use: `(fields, message)`, or a message alone. */
export interface Logger {
  debug(fields: object | string, message?: string): void;
  info(fields: object | string, message?: string): void;
  warn(fields: object | string, message?: string): void;
  error(fields: object | string, message?: string): void;
}

/** A logger that drops everything (tests, and components started without one). */
export const SILENT_LOGGER: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * At most `perWindow` lines per window of `windowMs`; the lines beyond are counted, and the
 * first admission of the next window reports the count (through `onSuppressed`) before
 * anything else. The budget is global to its owner and keyed on nothing an outsider chose.
 */
export class LogBudget {
  private windowStart = -Infinity;
  private logged = 0;
  private suppressed = 0;

  constructor(
    private readonly perWindow: number,
    private readonly windowMs: number,
    private readonly onSuppressed: (count: number) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when a line may be logged now; false when it was counted instead. */
  admit(): boolean {
    const now = this.now();
    if (now - this.windowStart >= this.windowMs) this.startWindow(now);
    if (this.logged < this.perWindow) {
      this.logged++;
      return true;
    }
    this.suppressed++;
    return false;
  }

  private startWindow(now: number): void {
    if (this.suppressed > 0) this.onSuppressed(this.suppressed);
    this.windowStart = now;
    this.logged = 0;
    this.suppressed = 0;
  }
}
