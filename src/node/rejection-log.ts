import type { Rejection, RejectReason } from '@raftquotes/raft';
import type { NodeLogger } from './raft-node.js';

/** One log window: at most REJECTIONS_LOGGED_PER_WINDOW lines per window, then a summary. */
export const REJECTION_LOG_WINDOW_MS = 10_000;
export const REJECTIONS_LOGGED_PER_WINDOW = 10;

/**
 * Logs peer messages the core dropped (message-validation.ts), rate-limited so a flood of
 * hostile messages cannot flood the log or the disk. The budget is global, and what was left
 * out is counted by reason, a fixed set: nothing is keyed on strings the sender chose.
 */
export class RejectionLog {
  private windowStart = -Infinity;
  private loggedInWindow = 0;
  private readonly suppressed = new Map<RejectReason, number>();

  constructor(
    private readonly logger: NodeLogger,
    private readonly onCount: (reason: RejectReason) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  report(rejection: Rejection): void {
    this.onCount(rejection.reason);
    const now = this.now();
    if (now - this.windowStart >= REJECTION_LOG_WINDOW_MS) this.startWindow(now);
    if (this.loggedInWindow < REJECTIONS_LOGGED_PER_WINDOW) {
      this.loggedInWindow++;
      const { reason, type, from, term, detail } = rejection;
      this.logger.warn({ reason, type, from, term, detail }, `dropped peer message ${type} from ${from} term ${term}: ${reason}: ${detail}`);
      return;
    }
    this.suppressed.set(rejection.reason, (this.suppressed.get(rejection.reason) ?? 0) + 1);
  }

  private startWindow(now: number): void {
    if (this.suppressed.size > 0) {
      const counts = Object.fromEntries(this.suppressed);
      const total = [...this.suppressed.values()].reduce((a, b) => a + b, 0);
      this.logger.warn({ suppressed: counts }, `dropped ${total} more peer messages without logging them (${Object.entries(counts).map(([r, n]) => `${r}=${n}`).join(' ')})`);
      this.suppressed.clear();
    }
    this.windowStart = now;
    this.loggedInWindow = 0;
  }
}
