/**
 * Token buckets per client address for posting quotes (SPEC §7 "Rate limit"). The map is
 * bounded: it is kept in least-recently-used order and the oldest buckets go first, so a
 * flood of addresses cannot grow it without limit.
 */
import { MAX_RATE_LIMIT_BUCKETS } from './limits.js';

export interface RateLimitOptions {
  /** Tokens added per second (sustained requests per second). */
  perSecond: number;
  /** Bucket size (requests allowed in a burst). */
  burst: number;
  maxBuckets?: number;
  /** Clock in ms (tests inject one). */
  now?: () => number;
}

/** A token bucket: its tokens as of `updatedMs`. */
export interface Bucket {
  tokens: number;
  updatedMs: number;
}

/** Adds the tokens earned since the bucket's last update (`perSecond`), up to `burst`. */
export function refill(bucket: Bucket, now: number, perSecond: number, burst: number): void {
  const elapsedSeconds = Math.max(0, now - bucket.updatedMs) / 1000;
  bucket.tokens = Math.min(burst, bucket.tokens + elapsedSeconds * perSecond);
  bucket.updatedMs = now;
}

/** `{ok: true}`, or how many whole seconds to wait before a token is available. */
export type RateDecision = { ok: true } | { ok: false; retryAfterSeconds: number };

/** Per-client token buckets (see the file comment). */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly maxBuckets: number;
  private readonly now: () => number;

  constructor(private readonly options: RateLimitOptions) {
    if (!(options.perSecond > 0) || !(options.burst >= 1)) throw new Error(`rate limit: perSecond must be > 0 and burst >= 1 (got ${options.perSecond}, ${options.burst})`);
    this.maxBuckets = options.maxBuckets ?? MAX_RATE_LIMIT_BUCKETS;
    this.now = options.now ?? Date.now;
  }

  /** Takes `cost` tokens (at most the burst) for `client`. */
  take(client: string, cost = 1): RateDecision {
    const now = this.now();
    const bucket = this.refilled(client, now);
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((cost - bucket.tokens) / this.options.perSecond)) };
  }

  /** Buckets currently held (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  private refilled(client: string, now: number): Bucket {
    const existing = this.buckets.get(client);
    // Delete and re-insert: the Map's order is then least recently used first.
    if (existing) this.buckets.delete(client);
    const bucket = existing ?? { tokens: this.options.burst, updatedMs: now };
    refill(bucket, now, this.options.perSecond, this.options.burst);
    this.buckets.set(client, bucket);
    this.evict();
    return bucket;
  }

  /** Drops the least recently used buckets beyond the bound (an idle bucket is full anyway). */
  private evict(): void {
    for (const client of this.buckets.keys()) {
      if (this.buckets.size <= this.maxBuckets) break;
      this.buckets.delete(client);
    }
  }
}

/** The address a bucket is keyed by: IPv4-mapped IPv6 addresses are folded to IPv4. */
export function clientAddress(remoteAddress: string | undefined): string {
  if (!remoteAddress) return 'unknown';
  return remoteAddress.startsWith('::ffff:') && remoteAddress.includes('.') ? remoteAddress.slice(7) : remoteAddress;
}
