import type { Clock, TimerHandle } from '../node/clock.js';
import { EventQueue } from './event-queue.js';

/** Everything that happens in a simulated run is one of these callbacks, at a simulated time. */
type Callback = () => void;

/** The simulator's time: one event queue, drained in (time, insertion) order. */
export class Scheduler {
  private readonly queue = new EventQueue<Callback>();
  now = 0;

  get size(): number {
    return this.queue.size;
  }

  at(time: number, fn: Callback): void {
    this.queue.push(Math.max(time, this.now), fn);
  }

  after(ms: number, fn: Callback): void {
    this.at(this.now + ms, fn);
  }

  /** Runs the next event if it is due by `until`; false when there is none. */
  runNext(until: number): boolean {
    const next = this.queue.peekTime();
    if (next === undefined || next > until) return false;
    const due = this.queue.pop();
    if (due === undefined) return false;
    this.now = due.at;
    due.event();
    return true;
  }
}

/**
 * One process's clock on simulated time. A crash kills it: every timer it set stops firing,
 * as the timers of a dead process do.
 */
export class SimClock implements Clock {
  private readonly timers = new Set<TimerHandle>();
  private nextId = 1;
  private alive = true;

  constructor(private readonly scheduler: Scheduler) {}

  now(): number {
    return this.scheduler.now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.add(id);
    this.scheduler.after(Math.max(0, ms), () => {
      if (!this.alive || !this.timers.delete(id)) return;
      fn();
    });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.add(id);
    const fire = (): void => {
      if (!this.alive || !this.timers.has(id)) return;
      this.scheduler.after(ms, fire);
      fn();
    };
    this.scheduler.after(ms, fire);
    return id;
  }

  clearInterval(handle: TimerHandle): void {
    this.timers.delete(handle);
  }

  setImmediate(fn: () => void): void {
    this.scheduler.after(0, () => {
      if (this.alive) fn();
    });
  }

  /** The process died: nothing it scheduled runs any more. */
  kill(): void {
    this.alive = false;
    this.timers.clear();
  }
}
