import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { getHeapSpaceStatistics } from 'node:v8';
import { compactingGc, fullGc, HEAP_TRIM_MIN_GROWTH_BYTES, HEAP_TRIM_QUIET_MS, shouldTrim } from './heap-trim.js';

const MB = 1024 * 1024;

describe('heap trim', () => {
  it('collects only after a quiet spell, once the heap grew past the last trim', () => {
    const quietMs = HEAP_TRIM_QUIET_MS;
    expect(shouldTrim({ heapTotal: 40 * MB, quietMs }, 20 * MB)).toBe(true);
    expect(shouldTrim({ heapTotal: 40 * MB, quietMs: quietMs - 1 }, 20 * MB)).toBe(false);
    expect(shouldTrim({ heapTotal: 20 * MB + HEAP_TRIM_MIN_GROWTH_BYTES - 1, quietMs }, 20 * MB)).toBe(false);
    expect(shouldTrim({ heapTotal: 20 * MB + HEAP_TRIM_MIN_GROWTH_BYTES, quietMs }, 20 * MB)).toBe(true);
  });

  it('gets V8\'s full GC without --expose-gc, and it gives garbage back', () => {
    const gc = fullGc();
    let garbage: unknown[] | null = Array.from({ length: 200_000 }, (_, i) => ({ i, s: `x${i}` }));
    const before = process.memoryUsage().heapUsed;
    expect(garbage).toHaveLength(200_000);
    garbage = null;
    gc();
    expect(process.memoryUsage().heapUsed).toBeLessThan(before);
  });

  it('a compacting GC gives back old-space pages a plain full GC leaves fragmented', async () => {
    const oldSpace = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')?.space_size ?? 0;
    const gc = fullGc();
    // Full GCs until the (concurrent) sweeper has given back what a plain GC can.
    const settled = async (): Promise<number> => {
      for (let i = 0; i < 3; i++) {
        gc();
        await sleep(50);
      }
      return oldSpace();
    };
    const all = Array.from({ length: 400_000 }, (_, i) => ({ i, s: `y${i}` }));
    await settled();
    // One survivor in three on every page: too many for V8 to pick those pages to compact.
    const kept = all.filter((_, i) => i % 3 === 0);
    all.length = 0;
    const fragmented = await settled();
    compactingGc(gc)();
    await sleep(50);
    expect(kept).toHaveLength(133_334);
    expect(oldSpace()).toBeLessThan(fragmented - 3 * MB);
  });
});
