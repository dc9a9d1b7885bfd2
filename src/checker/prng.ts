import { itemAt } from './checked.js';

/**
 * A small deterministic PRNG for fault schedules and generated histories.
 *
 * mulberry32: 32-bit state, one multiply-xorshift round per output. It is not
 * cryptographic and has a period of 2^32, which is plenty for schedules of a few
 * hundred events. Every fault run is reproducible from its seed alone (TIGER_STYLE),
 * so nothing in test/fault may call Math.random.
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`Prng seed must be a finite number, got ${seed}`);
    this.state = seed >>> 0;
  }

  /** Next uniform 32-bit unsigned integer. */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return this.nextUint32() / 0x1_0000_0000;
  }

  /** Uniform integer in [0, n); 0 when n <= 1. */
  int(n: number): number {
    if (n <= 1) return 0;
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi], both inclusive. */
  range(lo: number, hi: number): number {
    if (hi < lo) throw new RangeError(`Prng.range: hi (${hi}) < lo (${lo})`);
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Prng.pick: empty array');
    return itemAt(items, this.int(items.length), 'Prng.pick');
  }

  /** A shuffled copy (Fisher-Yates); the input is left alone. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [itemAt(out, j, 'Prng.shuffle'), itemAt(out, i, 'Prng.shuffle')];
    }
    return out;
  }

  /** k distinct elements (k is clamped to the array length), in random order. */
  sample<T>(items: readonly T[], k: number): T[] {
    return this.shuffle(items).slice(0, Math.max(0, Math.min(k, items.length)));
  }

  /**
   * An independent generator derived from this one. Lets one seed drive several
   * streams (e.g. schedule and workload) so adding draws to one stream does not
   * shift the other.
   */
  fork(): Prng {
    return new Prng(this.nextUint32() ^ 0x9e3779b9);
  }
}

/** A 32-bit seed from a string (FNV-1a), so runs can be named: `--seed nightly-42`. */
export function seedFromString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
