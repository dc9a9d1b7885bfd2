/**
 * The timer source of a node's ticks (SPEC §11 "Time"): real time, slow motion, or frozen and
 * advanced a tick at a time from the dashboard. Raft's timers are counted in ticks (the core
 * has no clock, STYLE.md), so slowing the ticks slows elections and heartbeats together and
 * keeps their ratio: the protocol sees nothing but a slower machine. Only timers move slower;
 * messages still travel at network speed (hold links to slow them too).
 */

/** A running periodic callback; cancel() stops it for good. */
export interface TickHandle {
  cancel(): void;
}

/** What the node runtime needs of time: a periodic callback. */
export interface Ticker {
  /** Calls `onTick` every `intervalMs` (scaled by the source's rate) until cancelled. */
  every(intervalMs: number, onTick: () => void): TickHandle;
}

/** setInterval, unscaled: the production ticker when no control is wanted. */
export const realTicker: Ticker = {
  every(intervalMs, onTick) {
    const timer = setInterval(onTick, intervalMs);
    return { cancel: () => clearInterval(timer) };
  },
};

/** Fastest rate: real time (SPEC §11 allows 0 to 1). */
export const MAX_CLOCK_RATE = 1;
/**
 * Slowest running rate. Slower would stretch a 50 ms tick past minutes and the timer past
 * setTimeout's 2^31 ms range; 0 (frozen) is the way to stop time.
 */
export const MIN_CLOCK_RATE = 0.01;
/** Ticks one request may advance a frozen clock by (a few election timeouts at 10 ms/tick). */
export const MAX_CLOCK_TICKS = 1_000;

/** A refused clock operation (a bad rate, or ticking a running clock). */
export class ClockError extends Error {
  override readonly name = 'ClockError';
  constructor(
    readonly code: 'bad_rate' | 'bad_ticks' | 'not_frozen',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface Subscription {
  intervalMs: number;
  onTick: () => void;
  timer: NodeJS.Timeout | null;
  cancelled: boolean;
}

/** Whether `rate` is one the clock accepts: 0, or in [MIN_CLOCK_RATE, MAX_CLOCK_RATE]. */
export function isValidRate(rate: number): boolean {
  return Number.isFinite(rate) && (rate === 0 || (rate >= MIN_CLOCK_RATE && rate <= MAX_CLOCK_RATE));
}

/**
 * A Ticker whose rate can change at run time: 1 is real time, 0.1 ten times slower, 0 frozen.
 * A frozen clock moves only by tick(n). Changing the rate restarts each interval from now
 * (the phase of the current tick is lost: at most one tick's worth, which Raft's randomized
 * timeouts absorb).
 */
export class ControllableClock implements Ticker {
  private currentRate = MAX_CLOCK_RATE;
  private readonly subscriptions = new Set<Subscription>();
  /** Ticks delivered by tick(n) since start, for status. */
  steppedTicks = 0;

  get rate(): number {
    return this.currentRate;
  }

  every(intervalMs: number, onTick: () => void): TickHandle {
    if (!(intervalMs > 0)) throw new RangeError(`tick interval must be positive, got ${intervalMs}`);
    const subscription: Subscription = { intervalMs, onTick, timer: null, cancelled: false };
    this.subscriptions.add(subscription);
    this.arm(subscription);
    return {
      cancel: () => {
        subscription.cancelled = true;
        this.disarm(subscription);
        this.subscriptions.delete(subscription);
      },
    };
  }

  /** Sets the rate; throws ClockError for a rate outside 0 or [MIN_CLOCK_RATE, MAX_CLOCK_RATE]. */
  setRate(rate: number): void {
    if (!isValidRate(rate)) throw new ClockError('bad_rate', `rate must be 0 (frozen) or between ${MIN_CLOCK_RATE} and ${MAX_CLOCK_RATE}, got ${rate}`);
    if (rate === this.currentRate) return;
    this.currentRate = rate;
    for (const subscription of this.subscriptions) {
      this.disarm(subscription);
      this.arm(subscription);
    }
  }

  /**
   * Advances a frozen clock by `n` ticks: each subscriber's callback runs n times, now, in
   * order. Refused while running (the ticks would race the timer).
   */
  tick(n: number): void {
    if (!Number.isSafeInteger(n) || n < 1 || n > MAX_CLOCK_TICKS) throw new ClockError('bad_ticks', `ticks must be an integer from 1 to ${MAX_CLOCK_TICKS}, got ${n}`);
    if (this.currentRate !== 0) throw new ClockError('not_frozen', `the clock runs at rate ${this.currentRate}; freeze it (rate 0) before stepping ticks`);
    for (const subscription of [...this.subscriptions]) {
      for (let i = 0; i < n && !subscription.cancelled; i++) subscription.onTick();
    }
    this.steppedTicks += n;
  }

  private arm(subscription: Subscription): void {
    if (this.currentRate === 0 || subscription.cancelled) return;
    subscription.timer = setInterval(subscription.onTick, subscription.intervalMs / this.currentRate);
  }

  private disarm(subscription: Subscription): void {
    if (subscription.timer) clearInterval(subscription.timer);
    subscription.timer = null;
  }
}
