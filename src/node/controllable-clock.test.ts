import { afterEach, describe, expect, it, vi } from 'vitest';
import { ClockError, ControllableClock, MAX_CLOCK_TICKS, MIN_CLOCK_RATE, isValidRate } from './controllable-clock.js';

// Fake timers drive setInterval deterministically: no real time, no timing assertions.
afterEach(() => {
  vi.useRealTimers();
});

describe('ControllableClock (SPEC §11 time)', () => {
  it('ticks in real time at rate 1, ten times slower at 0.1, and not at all when frozen', () => {
    vi.useFakeTimers();
    const clock = new ControllableClock();
    let ticks = 0;
    clock.every(10, () => ticks++);
    vi.advanceTimersByTime(100);
    expect(ticks).toBe(10);
    clock.setRate(0.1);
    vi.advanceTimersByTime(1_000);
    expect(ticks).toBe(20);
    clock.setRate(0);
    vi.advanceTimersByTime(10_000);
    expect(ticks).toBe(20);
    clock.setRate(1);
    vi.advanceTimersByTime(30);
    expect(ticks).toBe(23);
  });

  it('steps a frozen clock by exactly n ticks, and refuses to step a running one', () => {
    vi.useFakeTimers();
    const clock = new ControllableClock();
    let ticks = 0;
    clock.every(10, () => ticks++);
    expect(() => clock.tick(1)).toThrow(ClockError);
    clock.setRate(0);
    clock.tick(7);
    expect(ticks).toBe(7);
    expect(clock.steppedTicks).toBe(7);
    for (const bad of [0, -1, 1.5, MAX_CLOCK_TICKS + 1, Number.NaN]) expect(() => clock.tick(bad), String(bad)).toThrow(ClockError);
  });

  it('stops calling a cancelled subscriber, even in the middle of a step', () => {
    vi.useFakeTimers();
    const clock = new ControllableClock();
    let ticks = 0;
    const handle = clock.every(10, () => {
      ticks++;
      if (ticks === 3) handle.cancel();
    });
    clock.setRate(0);
    clock.tick(10);
    expect(ticks).toBe(3);
    clock.setRate(1);
    vi.advanceTimersByTime(100);
    expect(ticks).toBe(3);
  });

  it('accepts 0 or a rate in [MIN_CLOCK_RATE, 1] only', () => {
    for (const rate of [0, MIN_CLOCK_RATE, 0.1, 0.5, 1]) expect(isValidRate(rate), String(rate)).toBe(true);
    for (const rate of [-0.1, 0.001, 1.01, 2, Number.NaN, Number.POSITIVE_INFINITY]) expect(isValidRate(rate), String(rate)).toBe(false);
    expect(() => new ControllableClock().setRate(5)).toThrow(ClockError);
  });
});
