import { describe, expect, it } from 'vitest';
import { parseKinds } from './harness.js';
import { describeEvent, faultyIntervals, faultyNodes, generateSchedule, KNOWN_KINDS, minorityBudget, NEMESIS_KINDS, swapNodes, type NemesisOptions, type NemesisSchedule } from './nemesis.js';
import { Prng, seedFromString } from '../../src/checker/prng.js';

const NODES = ['Node1', 'Node2', 'Node3', 'Node4', 'Node5'];
const base: NemesisOptions = { seed: 1, durationMs: 60_000, nodes: NODES, kinds: NEMESIS_KINDS };
/** Seeds checked by the invariant tests: enough to see rare majority outages, cheap to generate. */
const SEEDS = Array.from({ length: 300 }, (_, i) => i + 1);

describe('Prng', () => {
  it('repeats its sequence for a seed and differs across seeds', () => {
    const draw = (seed: number) => Array.from({ length: 5 }, () => new Prng(seed)).map((p, i) => p.range(0, 1000 + i));
    expect(draw(42)).toEqual(draw(42));
    const a = new Prng(7);
    const b = new Prng(7);
    expect([a.nextUint32(), a.float(), a.int(10), a.pick(['x', 'y', 'z'])]).toEqual([b.nextUint32(), b.float(), b.int(10), b.pick(['x', 'y', 'z'])]);
    expect(new Prng(1).nextUint32()).not.toBe(new Prng(2).nextUint32());
    expect(seedFromString('nightly-42')).toBe(seedFromString('nightly-42'));
  });

  it('keeps draws in range', () => {
    const prng = new Prng(3);
    for (let i = 0; i < 1000; i++) {
      const x = prng.range(-2, 2);
      expect(x >= -2 && x <= 2 && Number.isInteger(x)).toBe(true);
      expect(prng.float()).toBeLessThan(1);
    }
    expect(prng.sample([1, 2, 3], 5).sort()).toEqual([1, 2, 3]);
  });
});

describe('generateSchedule', () => {
  it('is a pure function of its options: same seed, same schedule', () => {
    const nodes = [...NODES];
    const first = generateSchedule({ ...base, nodes });
    expect(generateSchedule({ ...base, nodes })).toEqual(first);
    expect(nodes).toEqual(NODES);
    expect(generateSchedule({ ...base, seed: 2 })).not.toEqual(first);
    expect(first.events.length).toBeGreaterThan(10);
  });

  it('pairs every fault with one later heal, all by the end, in time order', () => {
    for (const seed of SEEDS) {
      const schedule = generateSchedule({ ...base, seed });
      const times = schedule.events.map((e) => e.atMs);
      expect(times).toEqual([...times].sort((a, b) => a - b));
      const starts = schedule.events.filter((e) => e.action === 'start');
      for (const start of starts) {
        const heals = schedule.events.filter((e) => e.action === 'heal' && e.faultId === start.faultId);
        expect(heals).toHaveLength(start.fault.kind === 'leader-change' ? 0 : 1);
        if (heals[0]) expect(heals[0].atMs > start.atMs && heals[0].atMs <= schedule.durationMs).toBe(true);
      }
    }
  });

  it('keeps a minority faulty most of the time, and takes a majority down only briefly', () => {
    let majorityMs = 0;
    let schedulesWithMajority = 0;
    for (const seed of SEEDS) {
      const schedule = generateSchedule({ ...base, seed });
      const down = majorityStretches(schedule);
      for (const ms of down) expect(ms).toBeLessThanOrEqual(1_500);
      majorityMs += down.reduce((a, b) => a + b, 0);
      if (down.length) schedulesWithMajority++;
      for (const interval of faultyIntervals(schedule)) expect(interval.faulty.length).toBeLessThanOrEqual(minorityBudget(NODES.length) + 1);
    }
    expect(schedulesWithMajority).toBeGreaterThan(SEEDS.length / 4); // "sometimes"
    expect(majorityMs / (SEEDS.length * base.durationMs)).toBeLessThan(0.05); // "briefly"
  });

  it('never gives one node two overlapping faults, and runs one partition at a time', () => {
    for (const seed of SEEDS) {
      const schedule = generateSchedule({ ...base, seed });
      const active = new Map<number, Set<string>>();
      let partitions = 0;
      for (const event of schedule.events) {
        if (event.fault.kind === 'leader-change') continue;
        const nodes = faultyNodes(event.fault, NODES);
        if (event.action === 'heal') {
          active.delete(event.faultId);
          if (event.fault.kind === 'partition') partitions--;
          continue;
        }
        if (event.fault.kind === 'partition') {
          expect(++partitions).toBe(1);
          const covered = [...event.fault.groups.flat(), ...(event.fault.bridge ? [event.fault.bridge] : [])].sort();
          expect(covered).toEqual(NODES);
        } else {
          for (const other of active.values()) for (const n of nodes) expect(other.has(n)).toBe(false);
        }
        active.set(event.faultId, nodes);
      }
    }
  });

});

describe('generateSchedule: options', () => {
  it('uses only the requested kinds', () => {
    const schedule = generateSchedule({ ...base, kinds: ['pause', 'leader-change'] });
    expect(new Set(schedule.events.map((e) => e.fault.kind))).toEqual(new Set(['pause', 'leader-change']));
  });

  it('works for small clusters', () => {
    for (const nodes of [['Node1'], ['Node1', 'Node2', 'Node3']]) {
      const schedule = generateSchedule({ ...base, nodes });
      for (const interval of faultyIntervals(schedule)) expect(interval.faulty.length).toBeLessThanOrEqual(minorityBudget(nodes.length) + 1);
    }
  });

  it('rejects bad options with a clear message', () => {
    expect(() => generateSchedule({ ...base, kinds: [] })).toThrow(/at least one kind/);
    expect(() => generateSchedule({ ...base, kinds: ['flood' as never] })).toThrow(/unknown kind flood/);
    expect(() => generateSchedule({ ...base, nodes: ['A', 'A'] })).toThrow(/unique/);
    expect(() => generateSchedule({ ...base, durationMs: 0 })).toThrow(/durationMs/);
  });

  it('describes events in one line each', () => {
    const schedule = generateSchedule({ ...base, seed: 5 });
    const lines = schedule.events.map(describeEvent);
    expect(lines.every((line) => /^\s*\d+ ms {2}(start|heal) {1,2}#\d+ (kill|pause|restart|partition|leader-change)/.test(line))).toBe(true);
  });
});

describe('swapNodes', () => {
  it('renames nodes in faults from that event on, keeping the budget', () => {
    const schedule = generateSchedule({ ...base, seed: 11 });
    const index = schedule.events.findIndex((e, i) => i > 3 && e.action === 'start' && (e.fault.kind === 'kill' || e.fault.kind === 'pause' || e.fault.kind === 'restart'));
    const event = schedule.events[index]!;
    if (event.fault.kind !== 'kill' && event.fault.kind !== 'pause' && event.fault.kind !== 'restart') throw new Error('unreachable');
    const victim = event.fault.nodes[0]!;
    const other = healthyAt(schedule, index).find((n) => n !== victim)!;
    const swapped = swapNodes(schedule, index, victim, other);
    expect(swapped.events.slice(0, index)).toEqual(schedule.events.slice(0, index));
    const moved = swapped.events[index]!.fault;
    expect(moved.kind !== 'partition' && moved.kind !== 'leader-change' && moved.kind !== 'forger' && moved.kind !== 'member' && moved.nodes).toContain(other);
    const counts = (s: NemesisSchedule) => faultyIntervals(s).map((i) => i.faulty.length);
    expect(counts(swapped)).toEqual(counts(schedule));
    expect(swapNodes(swapped, index, victim, other)).toEqual(schedule);
  });

  it('refuses to rename a node that is already faulty', () => {
    const schedule = generateSchedule({ ...base, seed: 11 });
    const index = schedule.events.findIndex((e, i) => i > 0 && e.action === 'start' && activeNodes(schedule, i).size > 0);
    const busy = [...activeNodes(schedule, index)][0]!;
    const free = healthyAt(schedule, index)[0]!;
    expect(() => swapNodes(schedule, index, free, busy)).toThrow(/already faulty/);
  });
});

/** Lengths of the stretches during which a majority of nodes is faulty. */
function majorityStretches(schedule: NemesisSchedule): number[] {
  const stretches: number[] = [];
  let current = 0;
  for (const interval of faultyIntervals(schedule)) {
    if (interval.faulty.length > minorityBudget(schedule.nodes.length)) current += interval.toMs - interval.fromMs;
    else if (current > 0) {
      stretches.push(current);
      current = 0;
    }
  }
  if (current > 0) stretches.push(current);
  return stretches;
}

function activeNodes(schedule: NemesisSchedule, index: number): Set<string> {
  const active = new Map<number, Set<string>>();
  for (const e of schedule.events.slice(0, index)) {
    if (e.action === 'heal') active.delete(e.faultId);
    else active.set(e.faultId, faultyNodes(e.fault, schedule.nodes));
  }
  return new Set([...active.values()].flatMap((s) => [...s]));
}

function healthyAt(schedule: NemesisSchedule, index: number): string[] {
  const busy = activeNodes(schedule, index);
  return schedule.nodes.filter((n) => !busy.has(n));
}

describe('the opt-in forger nemesis', () => {
  it('is not among the default kinds, and is chosen only by name', () => {
    expect(NEMESIS_KINDS).not.toContain('forger');
    expect(KNOWN_KINDS).toContain('forger');
    expect(parseKinds('all')).toEqual([...NEMESIS_KINDS]);
    expect(parseKinds('all,forger')).toEqual([...NEMESIS_KINDS, 'forger']);
    expect(parseKinds('forger,kill,leader')).toEqual(['forger', 'kill', 'leader-change']);
    expect(() => parseKinds('forgery')).toThrow(/unknown kind forgery/);
  });

  it('connects as one member to another, counts that member as faulty, and heals', () => {
    const schedule = generateSchedule({ ...base, seed: 5, kinds: ['forger'] });
    const starts = schedule.events.filter((e) => e.action === 'start');
    expect(starts.length).toBeGreaterThan(5);
    for (const event of starts) {
      if (event.fault.kind !== 'forger') throw new Error(`unexpected ${event.fault.kind}`);
      expect(event.fault.as).not.toBe(event.fault.target);
      expect([...faultyNodes(event.fault, NODES)]).toEqual([event.fault.as]);
      expect(schedule.events.filter((e) => e.faultId === event.faultId && e.action === 'heal')).toHaveLength(1);
      expect(describeEvent(event)).toContain(`forger as ${event.fault.as} to ${event.fault.target}`);
    }
  });
});
