import { describe, expect, it } from 'vitest';
import { runSeed } from './simulation.js';

/** Seeds that once found bugs stay here forever (STYLE.md: every bug becomes a seed). */
const REGRESSION_SEEDS: number[] = [];

function expectClean(seed: number, nodes: number): void {
  const result = runSeed(seed, { nodes });
  if (result.violations.length > 0) {
    const detail = result.violations.map((v) => `${v.rule}: ${v.detail}`).join('\n');
    throw new Error(`seed ${seed} (${nodes} nodes) violated:\n${detail}\n--- trace ---\n${result.trace.slice(-60).join('\n')}`);
  }
  expect(result.recoveryMs).not.toBeNull();
}

describe('simulator: safety under faults, liveness after healing', () => {
  it('runs 400 seeds on 5 nodes with no violation', () => {
    for (let seed = 1; seed <= 400; seed++) expectClean(seed, 5);
  });

  it('runs 150 seeds on 3 nodes with no violation', () => {
    for (let seed = 1001; seed <= 1150; seed++) expectClean(seed, 3);
  });

  it('keeps regression seeds clean', () => {
    for (const seed of REGRESSION_SEEDS) expectClean(seed, 5);
  });

  it('is reproducible from the seed alone', () => {
    const a = runSeed(42, { trace: true });
    const b = runSeed(42, { trace: true });
    expect(a.trace).toEqual(b.trace);
    expect(a.committed).toBe(b.committed);
  });
});
