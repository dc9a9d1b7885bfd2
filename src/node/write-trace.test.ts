import { describe, expect, it } from 'vitest';
import { MAX_TRACE_MARKS, traceEnabled, WriteTrace, type TraceMark } from './write-trace.js';

describe('WriteTrace (issue 19 timeline)', () => {
  it('is on only for "1" or "true"', () => {
    expect(traceEnabled({})).toBe(false);
    expect(traceEnabled({ RAFTQUOTES_TRACE_WRITES: '0' })).toBe(false);
    expect(traceEnabled({ RAFTQUOTES_TRACE_WRITES: 'yes' })).toBe(false);
    expect(traceEnabled({ RAFTQUOTES_TRACE_WRITES: '1' })).toBe(true);
    expect(traceEnabled({ RAFTQUOTES_TRACE_WRITES: 'true' })).toBe(true);
  });

  it('hands over its marks with the turn count at each, then starts empty', () => {
    const flushed: Array<{ marks: TraceMark[]; dropped: number }> = [];
    const trace = new WriteTrace((marks, dropped) => flushed.push({ marks, dropped }));
    trace.mark(7, 'propose', 100);
    trace.turns = 3;
    trace.mark(7, 'ack:Node2', 250);
    trace.stop();
    trace.stop(); // nothing new: no second flush
    expect(flushed).toEqual([{ marks: [[7, 'propose', 100, 0], [7, 'ack:Node2', 250, 3]], dropped: 0 }]);
  });

  it('keeps at most MAX_TRACE_MARKS between flushes and counts the rest', () => {
    const flushed: Array<{ count: number; dropped: number }> = [];
    const trace = new WriteTrace((marks, dropped) => flushed.push({ count: marks.length, dropped }));
    for (let i = 0; i < MAX_TRACE_MARKS + 5; i++) trace.mark(i, 'ready', i);
    trace.stop();
    expect(flushed).toEqual([{ count: MAX_TRACE_MARKS, dropped: 5 }]);
  });
});
