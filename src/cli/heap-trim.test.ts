import { describe, expect, it } from 'vitest';
import { fullGc, HEAP_TRIM_MIN_GROWTH_BYTES, HEAP_TRIM_QUIET_MS, shouldTrim } from './heap-trim.js';

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
});
