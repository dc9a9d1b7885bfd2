/**
 * Per-source budget of controller reply BYTES (SPEC §7). UDP sources are
 * spoofable and a RETRIEVE reply is ~2,700 times its request, so without a budget an allowed
 * range is an amplifier aimed at whoever the attacker names as the source. Each source address
 * gets a token bucket of bytes: a burst a course grader paging through a log never exhausts,
 * refilled at a steady rate. A reply that does not fit is not sent at all (a truncated JSON
 * datagram would be useless), and the caller counts it.
 */

/**
 * Bytes a source may receive at once: about 8 full 60,000-byte RETRIEVE pages, more than the
 * course grading sequence or a ctl RETRIEVE of a test-sized log ever asks for in a burst.
 */
export const REPLY_BURST_BYTES = 512 * 1024;
/** Steady refill per source: two full RETRIEVE pages a second. */
export const REPLY_BYTES_PER_SECOND = 128 * 1024;
/**
 * Sources tracked at most (least recently seen evicted first), so a spoofed-source flood
 * cannot grow the map without bound. An evicted source starts again with a full burst, which
 * is no more than a new address gets.
 */
export const MAX_TRACKED_SOURCES = 10_000;

/** Budget settings; the defaults are the named limits above. */
export interface ReplyBudgetOptions {
  burstBytes?: number;
  bytesPerSecond?: number;
  maxSources?: number;
  /** Milliseconds clock (injected in tests so they assert no timing). */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** Token buckets of reply bytes, one per source address, in a bounded LRU map. */
export class ReplyBudget {
  readonly burstBytes: number;
  readonly bytesPerSecond: number;
  private readonly maxSources: number;
  private readonly now: () => number;
  /** Insertion order is recency order: a touched source is re-inserted at the end. */
  private readonly buckets = new Map<string, Bucket>();

  constructor(options: ReplyBudgetOptions = {}) {
    this.burstBytes = options.burstBytes ?? REPLY_BURST_BYTES;
    this.bytesPerSecond = options.bytesPerSecond ?? REPLY_BYTES_PER_SECOND;
    this.maxSources = options.maxSources ?? MAX_TRACKED_SOURCES;
    this.now = options.now ?? Date.now;
  }

  /** Sources currently tracked (at most maxSources). */
  get size(): number {
    return this.buckets.size;
  }

  /** Bytes `source` may be sent right now. */
  available(source: string): number {
    return this.refill(source).tokens;
  }

  /** True when `bytes` fit in the source's budget, and then spends them. */
  trySpend(source: string, bytes: number): boolean {
    const bucket = this.refill(source);
    if (bucket.tokens < bytes) return false;
    bucket.tokens -= bytes;
    return true;
  }

  /** Gives back bytes spent up front and not used (never above the burst). */
  refund(source: string, bytes: number): void {
    const bucket = this.refill(source);
    bucket.tokens = Math.min(this.burstBytes, bucket.tokens + bytes);
  }

  private refill(source: string): Bucket {
    const now = this.now();
    let bucket = this.buckets.get(source);
    if (bucket) {
      this.buckets.delete(source);
      const elapsed = Math.max(0, now - bucket.updatedAt);
      bucket.tokens = Math.min(this.burstBytes, bucket.tokens + (elapsed * this.bytesPerSecond) / 1000);
      bucket.updatedAt = now;
    } else {
      bucket = { tokens: this.burstBytes, updatedAt: now };
      if (this.buckets.size >= this.maxSources) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
    }
    this.buckets.set(source, bucket);
    return bucket;
  }
}
