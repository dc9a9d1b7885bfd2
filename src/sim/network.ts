import type { SeededPrng } from '../raft/prng.js';
import type { NodeId } from '../raft/types.js';

/** Fault settings of the simulated network. */
export interface NetworkFaults {
  dropRate: number;
  duplicateRate: number;
  minDelayMs: number;
  maxDelayMs: number;
}

export const CALM_NETWORK: NetworkFaults = { dropRate: 0, duplicateRate: 0, minDelayMs: 1, maxDelayMs: 3 };

/**
 * The simulated network: per-message delay (which reorders), loss, duplication, and
 * directed link cuts, so partitions can be symmetric or asymmetric.
 */
export class SimNetwork {
  faults: NetworkFaults = { ...CALM_NETWORK };
  private readonly cut = new Set<string>();

  constructor(private readonly prng: SeededPrng) {}

  /** Delivery delays for one message: [] when lost, two entries when duplicated. */
  deliveryDelays(from: NodeId, to: NodeId): number[] {
    if (this.cut.has(linkKey(from, to))) return [];
    if (this.prng.chance(this.faults.dropRate)) return [];
    const delays = [this.delay()];
    if (this.prng.chance(this.faults.duplicateRate)) delays.push(this.delay());
    return delays;
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(linkKey(from, to));
  }

  /** Splits the nodes into groups that cannot talk to each other. */
  partition(groups: NodeId[][]): void {
    this.cut.clear();
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue;
        for (const x of a) for (const y of b) this.cutLink(x, y);
      }
    }
  }

  healAll(): void {
    this.cut.clear();
    this.faults = { ...CALM_NETWORK };
  }

  cutLinks(): number {
    return this.cut.size;
  }

  private delay(): number {
    const { minDelayMs, maxDelayMs } = this.faults;
    return minDelayMs + this.prng.float() * (maxDelayMs - minDelayMs);
  }
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}>${to}`;
}
