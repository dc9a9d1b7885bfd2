// The browser simulator's engine (web/sim/engine.ts), driven directly in Node: the same seed
// and actions replay exactly whatever the chunking of time; a crashed leader is replaced; bad
// actions and recordings are refused without harm. The page itself is tested in sim.test.ts.

import { describe, expect, it } from 'vitest';
import { BrowserSim, parseRecording, SimActionError } from '../../web/sim/engine.js';

/** Runs to `until` ms in chunks of `chunk` ms, as frames of different lengths would. */
function runInChunks(sim: BrowserSim, until: number, chunk: number): void {
  while (sim.now < until) sim.runUntil(Math.min(until, sim.now + chunk));
}

describe('browser simulator engine', () => {
  it('same seed, same events, whatever the frame size; another seed differs', () => {
    const a = new BrowserSim(42);
    const b = new BrowserSim(42);
    runInChunks(a, 3_000, 16.7);
    runInChunks(b, 3_000, 250);
    expect(a.steps).toBeGreaterThan(100);
    expect(a.hash()).toBe(b.hash());
    expect(a.leader()).not.toBeNull();
    const c = new BrowserSim(43);
    runInChunks(c, 3_000, 16.7);
    expect(c.hash()).not.toBe(a.hash());
  });

  it('crashing the leader elects another; the recording replays to the same hash', () => {
    const sim = new BrowserSim(7);
    runInChunks(sim, 2_000, 33);
    const first = sim.leader()!;
    expect(first).not.toBeNull();
    sim.apply({ kind: 'write', text: 'before the crash' });
    runInChunks(sim, 2_300, 20);
    sim.apply({ kind: 'crash', node: first });
    const [x, y] = sim.ids.filter((id) => id !== first);
    sim.apply({ kind: 'cut', a: x!, b: y! });
    const flying = [...sim.inFlight.keys()][0];
    if (flying !== undefined) sim.apply({ kind: 'drop', message: flying });
    runInChunks(sim, 5_000, 20);
    const second = sim.leader();
    expect(second).not.toBeNull();
    expect(second).not.toBe(first);
    sim.apply({ kind: 'restart', node: first });
    sim.apply({ kind: 'write', text: 'after the crash' });
    runInChunks(sim, 6_000, 20);
    expect([...sim.applied.values()]).toEqual(['before the crash', 'after the crash']);

    const recording = parseRecording(JSON.stringify(sim.exportRecording()));
    const replay = new BrowserSim(recording.seed, recording.actions);
    replay.runToStep(sim.steps);
    expect(replay.hash()).toBe(sim.hash());
    expect(replay.recording).toEqual(sim.recording);
  });

  it('refuses bad actions and recordings, and changes nothing', () => {
    const sim = new BrowserSim(1);
    sim.runUntil(500);
    const before = sim.hash();
    expect(() => sim.apply({ kind: 'crash', node: 'Node9' })).toThrow(SimActionError);
    expect(() => sim.apply({ kind: 'cut', a: 'Node1', b: 'Node1' })).toThrow(SimActionError);
    expect(() => sim.apply({ kind: 'write', text: 'x'.repeat(201) })).toThrow(SimActionError);
    expect(() => sim.apply({ kind: 'drop-rate', rate: 2 })).toThrow(SimActionError);
    expect(() => sim.apply({ kind: 'nonsense' } as never)).toThrow(SimActionError);
    expect(sim.hash()).toBe(before);
    expect(sim.recording).toEqual([]);
    expect(() => parseRecording('{')).toThrow(/not JSON/);
    expect(() => parseRecording(JSON.stringify({ version: 2, seed: 1, actions: [] }))).toThrow(SimActionError);
    expect(() => parseRecording(JSON.stringify({ version: 1, seed: 1, actions: [{ step: -1, at: 0, action: {} }] }))).toThrow(SimActionError);
    // A recorded action that is not valid is skipped when replayed, not thrown.
    const replay = new BrowserSim(1, [{ step: 3, at: 1, action: { kind: 'crash', node: 'Nobody' } }]);
    replay.runUntil(500);
    expect(replay.events.some((e) => e.text.startsWith('recorded action ignored'))).toBe(true);
  });
});
