import { describe, expect, it } from 'vitest';
import { LogBudget } from './logger.js';

describe('LogBudget', () => {
  it('admits perWindow lines a window, counts the rest and reports them when the next window opens', () => {
    let now = 0;
    const reports: number[] = [];
    const budget = new LogBudget(2, 1000, (n) => reports.push(n), () => now);
    expect([budget.admit(), budget.admit(), budget.admit(), budget.admit()]).toEqual([true, true, false, false]);
    expect(reports).toEqual([]);
    now = 999;
    expect(budget.admit()).toBe(false);
    now = 1000;
    expect(budget.admit()).toBe(true);
    expect(reports).toEqual([3]);
    now = 5000;
    expect(budget.admit()).toBe(true);
    expect(reports).toEqual([3]); // nothing was left out of the last window: no empty report
  });
});
