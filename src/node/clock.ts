/** An opaque timer handle: a NodeJS.Timeout for the real clock, a number in the simulator. */
export type TimerHandle = unknown;

/**
 * The node runtime's only source of time and scheduling, injected so the simulator can
 * run the real RaftNode on simulated time (TigerBeetle's VOPR runs its replica that way).
 */
export interface Clock {
  /** Milliseconds, monotonic enough for durations and "last contact" ages. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle): void;
  /** Runs `fn` after the current turn, once the inputs that arrived with it are in. */
  setImmediate(fn: () => void): void;
}

/** Node's own timers: the production clock. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
  setImmediate: (fn) => {
    setImmediate(fn);
  },
};
