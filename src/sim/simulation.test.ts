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

/** Seeds per test case: a case is a unit of progress reporting, and its timeout only guards against a hang. */
const SEEDS_PER_CASE = 50;
const CASE_TIMEOUT_MS = 180_000;

function seedRanges(first: number, count: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  for (let start = first; start < first + count; start += SEEDS_PER_CASE) ranges.push([start, Math.min(start + SEEDS_PER_CASE, first + count) - 1]);
  return ranges;
}

describe('simulator: safety under faults, liveness after healing', () => {
  it.each(seedRanges(1, 400))('runs seeds %i..%i on 5 nodes with no violation', (from, to) => {
    for (let seed = from; seed <= to; seed++) expectClean(seed, 5);
  }, CASE_TIMEOUT_MS);

  it.each(seedRanges(1001, 150))('runs seeds %i..%i on 3 nodes with no violation', (from, to) => {
    for (let seed = from; seed <= to; seed++) expectClean(seed, 3);
  }, CASE_TIMEOUT_MS);

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
