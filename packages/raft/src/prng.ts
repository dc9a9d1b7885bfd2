import type { Prng } from './types.js';

/**
 * SplitMix32-style seeded generator: tiny, fast, and good enough for election jitter and
 * simulation schedules. Same seed, same sequence.
 */
export class SeededPrng implements Prng {
  private state: number;

  /** A generator whose sequence is fixed by `seed` (an unsigned 32-bit integer). */
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Next 32-bit unsigned value. */
  next(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (n <= 1) return 0;
    return this.next() % n;
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return this.next() / 0x1_0000_0000;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }
}
