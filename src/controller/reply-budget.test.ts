import { describe, expect, it } from 'vitest';
import { MAX_TRACKED_SOURCES, REPLY_BURST_BYTES, REPLY_BYTES_PER_SECOND, ReplyBudget } from './reply-budget.js';

describe('ReplyBudget: per-source token buckets of reply bytes', () => {
  const clock = (): { now: () => number; advance: (ms: number) => void } => {
    let t = 1_000_000;
    return { now: () => t, advance: (ms) => void (t += ms) };
  };

  it('gives a new source the full burst, then refuses what does not fit', () => {
    const c = clock();
    const budget = new ReplyBudget({ now: c.now });
    expect(budget.available('10.0.0.1')).toBe(REPLY_BURST_BYTES);
    let sent = 0;
    while (budget.trySpend('10.0.0.1', 60_000)) sent += 60_000;
    expect(sent).toBeLessThanOrEqual(REPLY_BURST_BYTES);
    expect(sent).toBeGreaterThan(REPLY_BURST_BYTES - 60_000);
    expect(budget.trySpend('10.0.0.1', 60_000)).toBe(false);
    // Another source has its own budget.
    expect(budget.trySpend('10.0.0.2', 60_000)).toBe(true);
  });

  it('refills at the steady rate, never above the burst', () => {
    const c = clock();
    const budget = new ReplyBudget({ now: c.now });
    expect(budget.trySpend('a', REPLY_BURST_BYTES)).toBe(true);
    expect(budget.available('a')).toBe(0);
    c.advance(500);
    expect(budget.available('a')).toBe(REPLY_BYTES_PER_SECOND / 2);
    c.advance(3_600_000);
    expect(budget.available('a')).toBe(REPLY_BURST_BYTES);
  });

  it('refunds bytes reserved up front, capped at the burst', () => {
    const c = clock();
    const budget = new ReplyBudget({ now: c.now, burstBytes: 100_000 });
    expect(budget.trySpend('a', 60_000)).toBe(true);
    budget.refund('a', 59_000);
    expect(budget.available('a')).toBe(99_000);
    budget.refund('a', 50_000);
    expect(budget.available('a')).toBe(100_000);
  });

  it('tracks at most maxSources, evicting the least recently seen', () => {
    const c = clock();
    const budget = new ReplyBudget({ now: c.now, maxSources: 3, burstBytes: 10 });
    for (const s of ['a', 'b', 'c']) budget.trySpend(s, 10);
    budget.available('a'); // a is now the most recent
    budget.trySpend('d', 10); // evicts b
    expect(budget.size).toBe(3);
    expect(budget.available('a')).toBe(0);
    expect(budget.available('c')).toBe(0); // c was kept
    expect(budget.available('b')).toBe(10); // b was evicted: it starts over (and evicts d)
    expect(budget.size).toBe(3);
  });

  it('keeps its map bounded under a flood of distinct sources', () => {
    const budget = new ReplyBudget();
    for (let i = 0; i < MAX_TRACKED_SOURCES + 5_000; i++) budget.trySpend(`s${i}`, 1);
    expect(budget.size).toBe(MAX_TRACKED_SOURCES);
  });
});
