/** One pending caller: settled by the Ready loop, or by its timeout. */
interface Waiter<T> {
  resolve(value: T): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** Pending promises keyed by request id, each with its own deadline. */
export class Waiters<T> {
  private readonly pending = new Map<string, Waiter<T>>();

  get size(): number {
    return this.pending.size;
  }

  /** Waits for `id` to be settled; after `timeoutMs` rejects with `onTimeout()`. */
  wait(id: string, timeoutMs: number, onTimeout: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
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
    clearTimeout(waiter.timer);
    this.pending.delete(id);
    return waiter;
  }
}
