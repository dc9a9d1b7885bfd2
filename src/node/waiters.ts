import { assert } from '@raftquotes/raft';
import { realClock, type Clock, type TimerHandle } from './clock.js';

/** One pending caller: settled by the Ready loop, or by its timeout. */
interface Waiter<T> {
  resolve(value: T): void;
  reject(error: Error): void;
  timer: TimerHandle;
}

/** Pending promises keyed by request id, each with its own deadline. */
export class Waiters<T> {
  private readonly pending = new Map<string, Waiter<T>>();

  constructor(private readonly clock: Clock = realClock) {}

  get size(): number {
    return this.pending.size;
  }

  has(id: string): boolean {
    return this.pending.has(id);
  }

  /**
   * Waits for `id` to be settled; after `timeoutMs` rejects with `onTimeout()`. An id in use
   * is a bug of the caller: replacing its waiter would let the old deadline fire on the new
   * caller (a committed write answered 504), so it is refused loudly.
   */
  wait(id: string, timeoutMs: number, onTimeout: () => Error): Promise<T> {
    assert(!this.pending.has(id), () => `waiter id ${id} is already in use`);
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        // Only this waiter's own entry: the id may have been settled and reused since.
        if (this.pending.get(id)?.timer === timer) this.pending.delete(id);
        reject(onTimeout());
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  resolve(id: string, value: T): void {
    const waiter = this.take(id);
    waiter?.resolve(value);
  }

  reject(id: string, error: Error): void {
    const waiter = this.take(id);
    waiter?.reject(error);
  }

  rejectAll(error: Error): void {
    for (const id of [...this.pending.keys()]) this.reject(id, error);
  }

  private take(id: string): Waiter<T> | undefined {
    const waiter = this.pending.get(id);
    if (!waiter) return undefined;
    this.clock.clearTimeout(waiter.timer);
    this.pending.delete(id);
    return waiter;
  }
}
