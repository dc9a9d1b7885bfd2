import type { Rejection, RejectReason } from '@raftquotes/raft';
import { LogBudget } from '../log/logger.js';
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
  private readonly suppressed = new Map<RejectReason, number>();
  private readonly budget: LogBudget;

  constructor(
    private readonly logger: NodeLogger,
    private readonly onCount: (reason: RejectReason) => void = () => {},
    now: () => number = Date.now,
  ) {
    this.budget = new LogBudget(REJECTIONS_LOGGED_PER_WINDOW, REJECTION_LOG_WINDOW_MS, () => this.logSuppressed(), now);
  }

  report(rejection: Rejection): void {
    this.onCount(rejection.reason);
    if (this.budget.admit()) {
      const { reason, type, from, term, detail } = rejection;
      this.logger.warn({ reason, type, from, term, detail }, `dropped peer message ${type} from ${from} term ${term}: ${reason}: ${detail}`);
      return;
    }
    this.suppressed.set(rejection.reason, (this.suppressed.get(rejection.reason) ?? 0) + 1);
  }

  private logSuppressed(): void {
    const counts = Object.fromEntries(this.suppressed);
    const total = [...this.suppressed.values()].reduce((a, b) => a + b, 0);
    this.logger.warn({ suppressed: counts }, `dropped ${total} more peer messages without logging them (${Object.entries(counts).map(([r, n]) => `${r}=${n}`).join(' ')})`);
    this.suppressed.clear();
  }
}
