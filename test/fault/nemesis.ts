import { Prng } from '../../src/checker/prng.js';

/** The faults a schedule can contain. */
export type NemesisKind = 'kill' | 'pause' | 'partition' | 'restart' | 'leader-change' | 'forger' | 'member';

/** Every default kind, for "all faults" runs (`--nemesis all`, the default, and the campaign in npm test). */
export const NEMESIS_KINDS: readonly NemesisKind[] = ['kill', 'pause', 'partition', 'restart', 'leader-change'];

/**
 * Kinds a run gets only when asked by name (`--nemesis forger`, or in a list). The forger is
 * a member holding the cluster secret that sends hostile peer messages: a holder of the
 * secret is trusted, so it is not part of "every fault", but what it shows matters (issue
 * 15): such messages are refused or harmless, never fatal.
 */
export const OPT_IN_KINDS: readonly NemesisKind[] = ['forger', 'member'];

/** What a `member` fault asks of the configuration (member-nemesis.ts resolves it against the live one). */
export type MemberOp = 'add' | 'remove' | 'promote' | 'replace';
const MEMBER_OPS: readonly MemberOp[] = ['add', 'remove', 'promote', 'replace'];

/** Every kind there is. */
export const KNOWN_KINDS: readonly NemesisKind[] = [...NEMESIS_KINDS, ...OPT_IN_KINDS];

/** Average time between two fault starts. */
export const DEFAULT_MEAN_GAP_MS = 3_000;
/** Shortest and longest fault (time until its heal). */
export const DEFAULT_MIN_FAULT_MS = 500;
export const DEFAULT_MAX_FAULT_MS = 5_000;
/** Chance that a fault may take a majority down; such faults last at most MAJORITY_MAX_MS. */
export const DEFAULT_MAJORITY_CHANCE = 0.15;
export const DEFAULT_MAJORITY_MAX_MS = 1_500;
/** Chance that a process fault asks for the leader (see Fault.preferLeader). */
const PREFER_LEADER_CHANCE = 0.5;
/** Tries at finding a partition that respects the fault budget before skipping it. */
const MAX_PARTITION_ATTEMPTS = 8;

/** The shape of a network partition (all of them cover every node). */
export type PartitionShape = 'isolate' | 'split' | 'bridge' | 'no-majority';

/**
 * One fault, and what the harness does to start and heal it:
 *
 * | kind          | start                                  | heal                              |
 * |---------------|----------------------------------------|-----------------------------------|
 * | kill          | SIGKILL the nodes                      | start them again from their argv  |
 * | pause         | SIGSTOP the nodes                      | SIGCONT                           |
 * | restart       | SIGTERM (graceful stop), wait for exit | start them again from their argv  |
 * | partition     | FaultNetwork.partition(groups) or .bridge(...) | FaultNetwork.healAll()    |
 * | leader-change | leader transfers to target (POST /api/admin/transfer-leadership), or controller TIMEOUT to target | none (instant) |
 * | forger        | connect to target as member `as` with the secret, send hostile messages (forger-nemesis.ts) | disconnect |
 * | member        | add a spare (it joins as a learner), promote a learner, remove a member, or replace a voter (member-nemesis.ts) | none (instant) |
 *
 * `preferLeader`: the harness should hit the current leader. It keeps the schedule's
 * fault budget by renaming, not by choosing: if the leader is healthy and not already in
 * `nodes`, it applies swapNodes(schedule, thisEventIndex, nodes[0], leader) and uses the
 * result from then on.
 */
export type Fault =
  | { kind: 'kill' | 'pause' | 'restart'; nodes: string[]; preferLeader: boolean }
  | { kind: 'partition'; shape: PartitionShape; groups: string[][]; bridge?: string }
  | { kind: 'leader-change'; via: 'transfer' | 'timeout'; target: string }
  | { kind: 'forger'; target: string; as: string }
  /** `pick` chooses among the candidates the live configuration offers when it runs (member-nemesis.ts). */
  | { kind: 'member'; op: MemberOp; pick: number };

/** A timed action on a fault. A heal refers to its start by faultId. */
export interface NemesisEvent {
  atMs: number;
  action: 'start' | 'heal';
  faultId: number;
  fault: Fault;
}

/** A complete, reproducible fault plan. */
export interface NemesisSchedule {
  seed: number;
  durationMs: number;
  nodes: string[];
  kinds: NemesisKind[];
  events: NemesisEvent[];
}

/** Inputs of generateSchedule; only seed, durationMs, nodes and kinds are required. */
export interface NemesisOptions {
  seed: number;
  durationMs: number;
  nodes: readonly string[];
  kinds: readonly NemesisKind[];
  meanGapMs?: number;
  minFaultMs?: number;
  maxFaultMs?: number;
  majorityChance?: number;
  majorityMaxMs?: number;
  /** How many nodes the fault budget counts (default all): with spares, the first configuration's voters. */
  budgetNodes?: number;
}

interface ActiveFault {
  faulty: Set<string>;
  endMs: number;
  majority: boolean;
  partition: boolean;
}

/**
 * A seeded fault schedule: a pure function of its options, so a failing run is
 * reproduced from its seed alone (TIGER_STYLE, VOPR). Faults start at random gaps and
 * heal after a random duration, all by durationMs (the harness then checks liveness).
 * Most of the time at most a minority of nodes is faulty (killed, paused, restarting
 * or cut off from the largest group), so the cluster must stay available; now and then
 * a fault may take a majority down, briefly, so it must also recover from that.
 */
export function generateSchedule(options: NemesisOptions): NemesisSchedule {
  validate(options);
  const prng = new Prng(options.seed);
  const config = withDefaults(options);
  const events: NemesisEvent[] = [];
  let active: ActiveFault[] = [];
  let nextFaultId = 0;
  const lastStart = options.durationMs - config.minFaultMs;
  for (let t = gap(prng, config.meanGapMs); t <= lastStart; t += gap(prng, config.meanGapMs)) {
    active = active.filter((a) => a.endMs > t);
    const majority = prng.chance(config.majorityChance) && !active.some((a) => a.majority);
    const fault = buildFault(prng, prng.pick(options.kinds), options.nodes, active, majority, options.budgetNodes ?? options.nodes.length);
    if (!fault) continue;
    const faultId = nextFaultId++;
    events.push({ atMs: t, action: 'start', faultId, fault });
    if (isInstant(fault)) continue;
    const endMs = Math.min(options.durationMs, t + prng.range(config.minFaultMs, majority ? config.majorityMaxMs : config.maxFaultMs));
    events.push({ atMs: endMs, action: 'heal', faultId, fault });
    active.push({ faulty: faultyNodes(fault, options.nodes), endMs, majority, partition: fault.kind === 'partition' });
  }
  return { seed: options.seed, durationMs: options.durationMs, nodes: [...options.nodes], kinds: [...options.kinds], events: sortEvents(events) };
}

function validate(options: NemesisOptions): void {
  if (options.nodes.length < 1 || new Set(options.nodes).size !== options.nodes.length) throw new RangeError('nemesis: nodes must be non-empty and unique');
  if (options.kinds.length === 0) throw new RangeError('nemesis: give at least one kind');
  for (const kind of options.kinds) if (!KNOWN_KINDS.includes(kind)) throw new RangeError(`nemesis: unknown kind ${kind} (known: ${KNOWN_KINDS.join(', ')})`);
  if (!(options.durationMs > 0)) throw new RangeError(`nemesis: durationMs must be positive, got ${options.durationMs}`);
}

/** Faults with no heal: they happen at once. */
export function isInstant(fault: Fault): fault is Extract<Fault, { kind: 'leader-change' | 'member' }> {
  return fault.kind === 'leader-change' || fault.kind === 'member';
}

function withDefaults(options: NemesisOptions): Required<Omit<NemesisOptions, 'seed' | 'durationMs' | 'nodes' | 'kinds' | 'budgetNodes'>> {
  const minFaultMs = options.minFaultMs ?? DEFAULT_MIN_FAULT_MS;
  return {
    meanGapMs: options.meanGapMs ?? DEFAULT_MEAN_GAP_MS,
    minFaultMs,
    maxFaultMs: Math.max(minFaultMs, options.maxFaultMs ?? DEFAULT_MAX_FAULT_MS),
    majorityChance: options.majorityChance ?? DEFAULT_MAJORITY_CHANCE,
    majorityMaxMs: Math.max(minFaultMs, options.majorityMaxMs ?? DEFAULT_MAJORITY_MAX_MS),
  };
}

/** Uniform in [mean/2, 3·mean/2]: integer ms, no Math.log, so every platform agrees. */
function gap(prng: Prng, meanMs: number): number {
  return Math.max(1, prng.range(Math.floor(meanMs / 2), Math.floor((3 * meanMs) / 2)));
}

/** Nodes that may be faulty at once without losing the quorum. */
export function minorityBudget(nodeCount: number): number {
  return Math.floor((nodeCount - 1) / 2);
}

function buildFault(prng: Prng, kind: NemesisKind, nodes: readonly string[], active: readonly ActiveFault[], majority: boolean, budgetNodes: number): Fault | undefined {
  const faultyNow = new Set(active.flatMap((a) => [...a.faulty]));
  const limit = majority ? minorityBudget(budgetNodes) + 1 : minorityBudget(budgetNodes);
  if (kind === 'leader-change') return { kind, via: prng.chance(0.5) ? 'transfer' : 'timeout', target: prng.pick(nodes) };
  if (kind === 'member') return { kind, op: prng.pick(MEMBER_OPS), pick: prng.range(0, 1_000_000) };
  if (kind === 'partition') return active.some((a) => a.partition) ? undefined : buildPartition(prng, nodes, faultyNow, limit, majority);
  const budget = limit - faultyNow.size;
  const healthy = nodes.filter((n) => !faultyNow.has(n));
  if (budget <= 0 || healthy.length === 0) return undefined;
  if (kind === 'forger') {
    // `as` is the member whose link to the target the forger's connection replaces: it counts as faulty.
    const as = prng.pick(healthy);
    const others = nodes.filter((n) => n !== as);
    return others.length === 0 ? undefined : { kind, as, target: prng.pick(others) };
  }
  const count = majority ? budget : prng.range(1, budget);
  return { kind, nodes: prng.sample(healthy, count).sort(), preferLeader: prng.chance(PREFER_LEADER_CHANCE) };
}

function buildPartition(prng: Prng, nodes: readonly string[], faultyNow: Set<string>, limit: number, majority: boolean): Fault | undefined {
  for (let attempt = 0; attempt < MAX_PARTITION_ATTEMPTS; attempt++) {
    const fault = majority ? noMajorityPartition(prng, nodes) : minorityPartition(prng, nodes);
    if (!fault) continue;
    const faulty = new Set([...faultyNow, ...faultyNodes(fault, nodes)]);
    if (faulty.size <= limit) return fault;
  }
  return undefined;
}

/** A partition whose largest group (or bridge side) is still a majority. */
function minorityPartition(prng: Prng, nodes: readonly string[]): Fault | undefined {
  const shuffled = prng.shuffle(nodes);
  const shapes: PartitionShape[] = nodes.length >= 3 ? ['isolate', 'split', 'bridge'] : ['isolate'];
  const shape = prng.pick(shapes);
  if (shape === 'bridge') {
    const bridge = shuffled[0] as string;
    const rest = shuffled.slice(1);
    const half = Math.ceil(rest.length / 2);
    return { kind: 'partition', shape, groups: [rest.slice(0, half).sort(), rest.slice(half).sort()], bridge };
  }
  const size = shape === 'isolate' ? 1 : prng.range(1, Math.max(1, minorityBudget(nodes.length)));
  if (size >= nodes.length) return undefined;
  return { kind: 'partition', shape, groups: [shuffled.slice(size).sort(), shuffled.slice(0, size).sort()] };
}

/** A partition where no group holds a majority: the cluster cannot elect or commit. */
function noMajorityPartition(prng: Prng, nodes: readonly string[]): Fault | undefined {
  const largest = minorityBudget(nodes.length);
  if (largest < 1) return undefined;
  const shuffled = prng.shuffle(nodes);
  const groups: string[][] = [];
  for (let i = 0; i < shuffled.length; i += largest) groups.push(shuffled.slice(i, i + largest).sort());
  return { kind: 'partition', shape: 'no-majority', groups };
}

/**
 * The nodes a fault takes out of the quorum: the processes it stops, or the nodes
 * outside the best-connected group of a partition (for a bridge, the smaller side).
 */
export function faultyNodes(fault: Fault, nodes: readonly string[]): Set<string> {
  if (isInstant(fault)) return new Set();
  if (fault.kind === 'forger') return new Set([fault.as]);
  if (fault.kind !== 'partition') return new Set(fault.nodes);
  const groups = fault.bridge ? fault.groups.map((g) => [...g, fault.bridge as string]) : fault.groups;
  const best = groups.reduce((a, b) => (b.length > a.length ? b : a), [] as string[]);
  return new Set(nodes.filter((n) => !best.includes(n)));
}

/** Time order; at equal times heals first (a node is back before the next fault picks it), then by id. */
function sortEvents(events: NemesisEvent[]): NemesisEvent[] {
  const rank = (e: NemesisEvent): number => (e.action === 'heal' ? 0 : 1);
  return events.sort((a, b) => a.atMs - b.atMs || rank(a) - rank(b) || a.faultId - b.faultId);
}

/** A stretch of time and the nodes faulty during it. */
export interface FaultyInterval {
  fromMs: number;
  toMs: number;
  faulty: string[];
}

/** The schedule as consecutive intervals with their faulty nodes (for tests and run logs). */
export function faultyIntervals(schedule: NemesisSchedule): FaultyInterval[] {
  const active = new Map<number, Set<string>>();
  const intervals: FaultyInterval[] = [];
  let from = 0;
  const close = (to: number): void => {
    if (to <= from) return;
    const faulty = [...new Set([...active.values()].flatMap((s) => [...s]))].sort();
    intervals.push({ fromMs: from, toMs: to, faulty });
    from = to;
  };
  for (const event of schedule.events) {
    close(event.atMs);
    if (event.action === 'heal') active.delete(event.faultId);
    else if (!isInstant(event.fault)) active.set(event.faultId, faultyNodes(event.fault, schedule.nodes));
  }
  close(schedule.durationMs);
  return intervals;
}

/** One line per event, e.g. "  1234 ms  start #3 kill Node2,Node4 (prefer leader)". */
export function describeEvent(event: NemesisEvent): string {
  const f = event.fault;
  const what =
    f.kind === 'partition'
      ? `partition ${f.shape} ${f.groups.map((g) => `[${g.join(',')}]`).join(' ')}${f.bridge ? ` bridge ${f.bridge}` : ''}`
      : f.kind === 'leader-change'
        ? `leader-change via ${f.via} to ${f.target}`
        : f.kind === 'forger'
          ? `forger as ${f.as} to ${f.target}`
          : f.kind === 'member'
            ? `member ${f.op} (pick ${f.pick})`
            : `${f.kind} ${f.nodes.join(',')}${f.preferLeader ? ' (prefer leader)' : ''}`;
  return `${String(event.atMs).padStart(7)} ms  ${event.action.padEnd(5)} #${event.faultId} ${what}`;
}

/**
 * Renames node a to b and b to a in every fault that starts at or after events[fromIndex]
 * (with their heals). Faults are symmetric in node names, so the schedule keeps its
 * budget; this is how a harness aims a fault at the current leader. Both nodes must be
 * healthy at that point, so no node gets two overlapping faults.
 */
export function swapNodes(schedule: NemesisSchedule, fromIndex: number, a: string, b: string): NemesisSchedule {
  const at = schedule.events[fromIndex];
  if (!at) throw new RangeError(`swapNodes: no event ${fromIndex}`);
  const busy = [a, b].filter((n) => activeBefore(schedule, fromIndex).has(n));
  if (busy.length) throw new Error(`swapNodes: ${busy.join(', ')} already faulty at ${at.atMs} ms`);
  const moved = new Set(schedule.events.slice(fromIndex).filter((e) => e.action === 'start').map((e) => e.faultId));
  const rename = (n: string): string => (n === a ? b : n === b ? a : n);
  const renamed = new Map<number, Fault>();
  const events = schedule.events.map((event) => {
    if (!moved.has(event.faultId)) return event;
    const fault = renamed.get(event.faultId) ?? renameFault(event.fault, rename);
    renamed.set(event.faultId, fault);
    return { ...event, fault };
  });
  return { ...schedule, events };
}

/** Nodes made faulty by faults started, and not healed, before events[index]. */
function activeBefore(schedule: NemesisSchedule, index: number): Set<string> {
  const active = new Map<number, Set<string>>();
  for (const event of schedule.events.slice(0, index)) {
    if (event.action === 'heal') active.delete(event.faultId);
    else active.set(event.faultId, faultyNodes(event.fault, schedule.nodes));
  }
  return new Set([...active.values()].flatMap((nodes) => [...nodes]));
}

function renameFault(fault: Fault, rename: (n: string) => string): Fault {
  if (fault.kind === 'member') return fault;
  if (fault.kind === 'leader-change') return { ...fault, target: rename(fault.target) };
  if (fault.kind === 'forger') return { ...fault, target: rename(fault.target), as: rename(fault.as) };
  if (fault.kind === 'partition') return { ...fault, groups: fault.groups.map((g) => g.map(rename).sort()), ...(fault.bridge ? { bridge: rename(fault.bridge) } : {}) };
  return { ...fault, nodes: fault.nodes.map(rename).sort() };
}
