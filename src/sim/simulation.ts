import { itemAt } from '../checker/checked.js';
import { checkLinearizability } from '../checker/linearizability.js';
import type { HistoryOp } from '../checker/types.js';
import { NodeMetrics } from '../node/metrics.js';
import { RaftNode, type NodeLogger } from '../node/raft-node.js';
import { allMembers, type ConfChange, type Configuration, type Entry, type Message, type NodeId, planConfChange, type RaftConfig, type Rejection, SeededPrng } from '@raftquotes/raft';
import { SafetyChecker, type Violation } from '@raftquotes/raft/testing';
import { CorruptionError } from '../state/checksum.js';
import { MemoryStateMachine } from '../state/memory-state-machine.js';
import type { StateMachine } from '../state/types.js';
import { errorText, SimClients, type ClientStats } from './clients.js';
import { coreFingerprint, forgeChaos, forgeInvalid, type ForgerMode } from './forger.js';
import { SimNetwork, SimTransport } from './network.js';
import { Scheduler, SimClock } from './scheduler.js';
import { SimDisk, SimFsyncError, type DiskFaults } from './sim-disk.js';

export type { Violation } from '@raftquotes/raft/testing';

/** Knobs of one simulated run. Everything else derives from the seed. */
export interface SimOptions {
  seed: number;
  nodes: number;
  /** Simulated milliseconds of faults and client load. */
  faultMs: number;
  /** After the faults heal, a client write must succeed within this budget. */
  livenessMs: number;
  tickMs: number;
  /** Take a snapshot every this many applied entries (small, to exercise InstallSnapshot). */
  snapshotEvery: number;
  /** Simulated clients issuing operations concurrently. */
  clients: number;
  /** The node's deadline for a write or a read (a 504 after it); each seed draws 0.5x to 3x of it. */
  requestTimeoutMs: number;
  /** Storage faults (failed fsyncs, lost and torn unsynced writes, corruption). */
  storageFaults: boolean;
  trace: boolean;
  raft?: Partial<RaftConfig>;
  /** The node's debug switch that skips ReadIndex: the client history check must catch it. */
  unsafeLocalReads?: boolean;
  /**
   * A hostile peer during the fault phase (forger.ts): one forged message every `everyMs`.
   * `messages`, if given, are stepped first, in order (the fast-check test generates them).
   */
  forger?: { mode: ForgerMode; everyMs: number; messages?: unknown[] };
  /**
   * The membership nemesis (thesis chapter 4): this many spare nodes, outside the first
   * configuration, join as learners when the leader adds them; during the fault phase the node
   * believed to lead is asked (RaftNode.changeMembers) to add, promote, demote or remove
   * members, or to change two voters at once through joint consensus, keeping 1..MAX_SIM_VOTERS voters.
   */
  spares?: number;
}

/** Of every MEMBERSHIP_SEED_CHOICES seeds run in the default mode, this many have no membership nemesis. */
const SEEDS_WITHOUT_MEMBERSHIP = 2;
const MEMBERSHIP_SEED_CHOICES = 10;
/** Spare nodes a seed of the default mode draws: 1..MAX_SEED_SPARES. */
const MAX_SEED_SPARES = 3;

/**
 * The membership nemesis of a seed run in the default mode (`npm run sim` without --spares):
 * spare nodes drawn from the seed, or undefined (no nemesis, the first configuration stays) for
 * one seed in five, so fixed clusters keep being tested too. A pure function of the seed: a
 * seed reproduces alone.
 */
export function seedSpares(seed: number): number | undefined {
  const roll = new SeededPrng(seed ^ 0x5a4e5).int(MEMBERSHIP_SEED_CHOICES);
  return roll < SEEDS_WITHOUT_MEMBERSHIP ? undefined : 1 + ((roll - SEEDS_WITHOUT_MEMBERSHIP) % MAX_SEED_SPARES);
}

/** Voters the membership nemesis never goes past. */
const MAX_SIM_VOTERS = 7;
/** Mean simulated ms between two membership changes the nemesis asks for. */
const MEMBERSHIP_EVERY_MS = 300;

export const DEFAULT_SIM_OPTIONS: Omit<SimOptions, 'seed'> = {
  nodes: 5,
  faultMs: 6_000,
  livenessMs: 10_000,
  tickMs: 10,
  snapshotEvery: 40,
  clients: 4,
  requestTimeoutMs: 1_000,
  storageFaults: true,
  trace: false,
  // A short trailing window and small chunks, so lagging nodes really need InstallSnapshot
  // and receive it in several chunks (the production 5,000-entry window would hide it).
  raft: { compactionTrailingEntries: 10, snapshotChunkBytes: 256, heartbeatTicks: 5, electionTicks: 30 },
};

/** The outcome of one seed. */
export interface SimResult {
  seed: number;
  violations: Violation[];
  /** Simulated ms from start to the first leader, and from heal to the first successful write. */
  firstElectionMs: number | null;
  recoveryMs: number | null;
  committed: number;
  leaderChanges: number;
  /** Snapshots installed by followers (InstallSnapshot completed): the path is exercised. */
  snapshotsInstalled: number;
  /** Forged messages stepped, and honest (simulated network) messages the core rejected, by reason. */
  forged: number;
  honestRejections: Record<string, number>;
  clients: ClientStats;
  disk: { crashes: number; fsyncFailures: number; unsyncedLost: number; torn: number; corruptionsDetected: number };
  /** The linearizability verdict of the client history ('unknown': the search ran out of budget). */
  linearizable: boolean | 'unknown';
  /** Membership changes a leader accepted (with `spares`), and the voters at the end. */
  membershipChanges: number;
  finalVoters: NodeId[];
  trace: string[];
}

/** One simulated machine: a disk that outlives crashes, and the node process running on it. */
interface Host {
  id: NodeId;
  disk: SimDisk;
  metrics: NodeMetrics;
  /** A durable (SQLite-like) state machine, or the in-memory one rebuilt from snapshots. */
  durableStateMachine: boolean;
  process: { node: RaftNode; clock: SimClock; transport: SimTransport } | null;
  /** Refused to start on a corrupt disk: down for good (an operator restores it). */
  corrupt: boolean;
  boots: number;
  /** The configuration it starts from: the first one, or for a spare the one it was added in (null: never added, not running). */
  joinedWith: Configuration | null;
}

/** The node's request deadline of a seed: one of these multiples of SimOptions.requestTimeoutMs. */
const TIMEOUT_SCALES = [0.5, 1, 3];
const MAX_TRACE_LINES = 400;
const MAX_EVENTS_PER_RUN = 3_000_000;
/** Microtask turns drained after each event, so promise continuations run before the next one. */
const MICROTASK_TURNS = 6;
/** Budget of the linearizability search per seed (steps, so the verdict is deterministic). */
const CHECK_MAX_STEPS = 200_000;

/**
 * A deterministic simulation of a cluster of real RaftNodes (TigerBeetle's VOPR in
 * miniature): the production node runtime, core and state machine, on a simulated clock,
 * network and disk, with network, process and storage faults from the seed; simulated
 * clients use the node's real write and read paths, and their history is checked for
 * linearizability, besides the Raft safety properties after every event and liveness
 * after the faults heal.
 */
export class Simulation {
  private readonly prng: SeededPrng;
  private readonly sched = new Scheduler();
  private readonly network: SimNetwork;
  private readonly checker = new SafetyChecker('record');
  private readonly hosts: Host[];
  readonly ids: NodeId[];
  private readonly clients: SimClients;
  private healed = false;
  private firstElectionMs: number | null = null;
  private leaderChanges = 0;
  private snapshotsInstalled = 0;
  private crashes = 0;
  private lastLeader: string | null = null;
  private readonly trace: string[] = [];
  private events = 0;
  /** Recent honest messages, the raw material of forged ones. */
  private readonly recentMessages: Message[] = [];
  private forged = 0;
  private readonly honestRejections: Record<string, number> = {};
  private live: RaftNode[] | null = null;
  private membershipChanges = 0;

  private readonly options: SimOptions;

  constructor(options: SimOptions) {
    this.options = options;
    this.prng = new SeededPrng(options.seed);
    this.network = new SimNetwork(new SeededPrng(options.seed ^ 0x5eed));
    this.ids = Array.from({ length: options.nodes + (options.spares ?? 0) }, (_, i) => `Node${i + 1}`);
    const first: Configuration = { voters: this.ids.slice(0, options.nodes).map(simMember), learners: [], outgoing: null };
    this.hosts = this.ids.map((id, i) => ({
      id,
      disk: new SimDisk(new SeededPrng(options.seed * 17 + i), this.diskFaults()),
      metrics: new NodeMetrics(id, { processMetrics: false }),
      durableStateMachine: this.prng.chance(0.7),
      process: null,
      corrupt: false,
      boots: 0,
      joinedWith: i < options.nodes ? first : null,
    }));
    const requestTimeoutMs = Math.round(options.requestTimeoutMs * itemAt(TIMEOUT_SCALES, this.prng.int(TIMEOUT_SCALES.length), 'timeout scales'));
    this.options = { ...options, requestTimeoutMs };
    this.clients = new SimClients(this, new SeededPrng(options.seed ^ 0xc11e), this.options);
  }

  private diskFaults(): DiskFaults {
    if (!this.options.storageFaults) return { fsyncFailRate: 0, tornRate: 0 };
    return { fsyncFailRate: this.prng.chance(0.5) ? this.prng.float() * 0.004 : 0, tornRate: this.prng.float() };
  }

  get now(): number {
    return this.sched.now;
  }

  get isHealed(): boolean {
    return this.healed;
  }

  async run(): Promise<SimResult> {
    for (let i = 0; i < this.hosts.length; i++) await this.boot(i);
    this.sched.after(this.prng.int(300), () => this.onFault());
    if (this.options.forger) this.sched.after(this.options.forger.everyMs, () => this.onForge());
    if (this.options.spares !== undefined) this.sched.after(100 + this.prng.int(MEMBERSHIP_EVERY_MS), () => this.onMembership());
    this.sched.at(this.options.faultMs, () => this.heal());
    this.clients.start();
    const end = this.options.faultMs + this.options.livenessMs;
    while (this.checker.violations.length === 0 && this.events < MAX_EVENTS_PER_RUN && this.sched.runNext(end)) {
      this.checker.now = this.now;
      await drainMicrotasks();
      this.afterEvent();
      if (this.healed && this.clients.recoveryMs !== null) break;
    }
    this.clients.stop();
    await drainMicrotasks();
    this.checkLogMatching();
    const linearizable = this.checkHistory();
    this.checkLiveness();
    return this.result(linearizable);
  }

  private afterEvent(): void {
    this.events++;
    for (const node of this.liveNodes()) this.checker.checkNode(node.raftView());
    for (const host of this.hosts) {
      if (host.process && host.disk.fsyncFailed) this.checker.report('failed fsync ignored', `${host.id} went on after an fsync failed`);
    }
    this.observeLeader();
    if (this.events % 500 === 0) this.checkLogMatching();
  }

  private result(linearizable: boolean | 'unknown'): SimResult {
    const committed = Math.max(0, ...this.liveNodes().map((n) => n.raftView().log.commitIndex));
    const counts = this.hosts.map((h) => h.disk.counts);
    const sum = (f: (c: SimDisk['counts']) => number): number => counts.reduce((a, c) => a + f(c), 0);
    return {
      seed: this.options.seed,
      violations: this.checker.violations,
      firstElectionMs: this.firstElectionMs,
      recoveryMs: this.clients.recoveryMs,
      committed,
      leaderChanges: this.leaderChanges,
      snapshotsInstalled: this.snapshotsInstalled,
      forged: this.forged,
      honestRejections: this.honestRejections,
      clients: this.clients.stats,
      disk: { crashes: this.crashes, fsyncFailures: sum((c) => c.fsyncFailures), unsyncedLost: sum((c) => c.unsyncedLost), torn: sum((c) => c.torn), corruptionsDetected: sum((c) => c.corruptionsDetected) },
      linearizable,
      membershipChanges: this.membershipChanges,
      finalVoters: this.finalVoters(),
      trace: this.trace,
    };
  }

  // ---------------------------------------------------------------- what clients see

  /** The running node of `id`, or null while it is down. */
  node(id: NodeId): RaftNode | null {
    return this.hosts[this.ids.indexOf(id)]?.process?.node ?? null;
  }

  /** Resolves after `ms` of simulated time. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.sched.after(ms, resolve));
  }

  /** Schedules `fn` after `ms` of simulated time. */
  after(ms: number, fn: () => void): void {
    this.sched.after(ms, fn);
  }

  report(rule: string, detail: string): void {
    this.checker.report(rule, detail);
  }

  log(line: string): void {
    if (!this.options.trace) return;
    this.trace.push(`${this.now.toFixed(1).padStart(9)} ms  ${line}`);
    if (this.trace.length > MAX_TRACE_LINES) this.trace.shift();
  }

  /** Host i: callers pass an index of `hosts` (a loop over it, or a draw below its length). */
  private host(i: number): Host {
    return itemAt(this.hosts, i, 'hosts');
  }

  /** The running nodes (cached: read after every event, changed only by boots and kills). */
  private liveNodes(): RaftNode[] {
    this.live ??= this.hosts.flatMap((h) => (h.process ? [h.process.node] : []));
    return this.live;
  }

  // ---------------------------------------------------------------- node lifecycle

  private async boot(i: number): Promise<void> {
    const host = this.host(i);
    if (host.process || host.corrupt || !host.joinedWith) return;
    const joined = host.joinedWith;
    host.boots++;
    host.disk.fsyncFailed = false;
    const clock = new SimClock(this.sched);
    const transport = new SimTransport(host.id, allMembers(joined).map((m) => m.id), (m) => this.send(m), (id) => this.ids.includes(id));
    const stateMachine: StateMachine = host.durableStateMachine ? host.disk.openStateMachine() : new MemoryStateMachine();
    let node: RaftNode;
    try {
      node = new RaftNode(
        { id: host.id, voters: joined.voters.map((m) => m.id), initialConfiguration: joined, httpUrl: `sim://${host.id}`, tickMs: this.options.tickMs, snapshotEvery: this.options.snapshotEvery, defaultTimeoutMs: this.options.requestTimeoutMs, raft: this.options.raft, unsafeLocalReads: this.options.unsafeLocalReads },
        { storage: host.disk.openStorage(clock), stateMachine, transport, logger: this.nodeLogger(host.id), metrics: host.metrics, clock, prngSeed: this.options.seed * 31 + i * 7919 + host.boots, onFatal: (err) => this.onFatal(i, err) },
      );
    } catch (err) {
      if (err instanceof CorruptionError && host.disk.corruptNextRecovery) {
        host.corrupt = true;
        this.log(`${host.id} refused to start: ${err.message.slice(0, 80)}`);
        return;
      }
      this.report('boot failed', `${host.id}: ${errorText(err)}`);
      return;
    }
    node.onApply((entries) => this.onApplied(host, node, entries));
    host.process = { node, clock, transport };
    this.live = null;
    this.checker.forgetNode(host.id);
    await node.start();
    const status = node.raftView();
    this.log(`${host.id} booted term=${status.term} last=${status.log.lastIndex()} applied=${stateMachine.appliedIndex()}${host.durableStateMachine ? ' (durable sm)' : ''}`);
  }

  private onApplied(host: Host, node: RaftNode, entries: Entry[]): void {
    this.checker.checkApplied(host.id, node.raftView().term, entries);
    this.clients.onApplied(host.id, entries, node.raftView().term);
  }

  /** The process dies: its timers stop, its socket closes, unsynced writes are lost. */
  private kill(i: number, why: string): void {
    const host = this.host(i);
    const proc = host.process;
    if (!proc) return;
    proc.clock.kill();
    proc.transport.detach();
    host.process = null;
    this.live = null;
    this.crashes++;
    const damage = host.disk.crash();
    this.log(`${host.id} ${why} (unsynced sm txs: kept ${damage.kept}, lost ${damage.lost}${damage.torn ? ', last torn' : ''})`);
    if (!this.healed) this.sched.after(50 + this.prng.int(1500), () => void this.boot(i));
  }

  private onFatal(i: number, err: unknown): void {
    const host = this.host(i);
    if (err instanceof SimFsyncError) {
      this.kill(i, 'stopped on a failed fsync (exit 70, supervisor restarts it)');
      return;
    }
    this.report('node fatal', `${host.id}: ${errorText(err)}`);
    this.kill(i, 'fatal');
  }

  private nodeLogger(id: NodeId): NodeLogger {
    const line = (obj: object | string, msg?: string): void => {
      if (this.options.trace) this.log(`${id} ${msg ?? (typeof obj === 'string' ? obj : JSON.stringify(obj))}`);
    };
    return { info: line, warn: line, error: line };
  }

  private send(message: Message): void {
    if (this.options.forger && this.prng.chance(0.05)) this.recentMessages[this.prng.int(16)] = message;
    if (message.type === 'InstallSnapshotResponse' && message.done) this.snapshotsInstalled++;
    for (const delay of this.network.deliveryDelays(message.from, message.to)) {
      this.sched.after(delay, () => this.deliver(message));
    }
  }

  private deliver(message: Message): void {
    const host = this.hosts[this.ids.indexOf(message.to)];
    const rejected = host?.process?.transport.receive(message);
    if (!isRejection(rejected)) return;
    this.honestRejections[rejected.reason] = (this.honestRejections[rejected.reason] ?? 0) + 1;
    // A late reply to a read forwarded before a restart is expected; any other honest message
    // refused as impossible would be logged to operators as an attack, and its news lost.
    // With membership changes, a member just removed (or not yet known to a node behind) may
    // still be heard from: its messages are refused as unknown_sender, which is expected.
    if (rejected.reason === 'unknown_sender' && this.options.spares !== undefined) return;
    if (rejected.reason !== 'unsolicited_response') this.report('honest message rejected', `${message.to} refused ${message.type} from ${message.from}: ${rejected.reason} ${rejected.detail}`);
  }

  private observeLeader(): void {
    let top: { id: NodeId; term: number } | null = null;
    for (const node of this.liveNodes()) {
      const core = node.raftView();
      if (core.state === 'leader' && (!top || core.term > top.term)) top = { id: core.id, term: core.term };
    }
    if (!top) return;
    const key = `${top.id}@${top.term}`;
    if (key === this.lastLeader) return;
    this.lastLeader = key;
    this.leaderChanges++;
    this.firstElectionMs ??= this.now;
  }

  leaderHint(): NodeId | null {
    return this.lastLeader?.split('@')[0] ?? null;
  }

  // ---------------------------------------------------------------- hostile peer

  /**
   * Delivers one forged message to a random live node through its real receive path. In
   * `invalid` mode it must be rejected and change nothing; in `chaos` mode a rejected one
   * must change nothing and no node may stop (a throw inside the core is fatal).
   */
  private onForge(): void {
    const forger = this.options.forger;
    if (!forger || this.healed) return;
    this.sched.after(1 + this.prng.int(2 * forger.everyMs), () => this.onForge());
    const node = this.hosts[this.prng.int(this.hosts.length)]?.process?.node;
    if (!node || node.isShutdown()) return;
    const core = node.raftView();
    const scripted = forger.messages?.[this.forged];
    const base = this.recentMessages[this.prng.int(16)] ?? null;
    const forged = scripted !== undefined ? { message: withRecipient(scripted, core.id), mutation: 'scripted' } : (forger.mode === 'invalid' ? forgeInvalid : forgeChaos)(this.prng, base, core, this.ids);
    this.forged++;
    const before = coreFingerprint(core);
    // A hostile peer sends anything: the node must refuse it by validating at run time, whatever the static type says.
    const rejected = node.receive(forged.message as Message);
    this.log(`forged -> ${core.id} (${forged.mutation}): ${rejected ? `rejected ${rejected.reason}` : 'stepped'}`);
    if (forger.mode === 'invalid' && rejected === null) this.report('forged message accepted', `${core.id} stepped ${JSON.stringify(forged.message)?.slice(0, 300)} (${forged.mutation})`);
    if (rejected !== null && coreFingerprint(core) !== before) this.report('rejected message changed state', `${core.id}: ${rejected.reason} ${rejected.detail}`);
  }

  // ---------------------------------------------------------------- faults

  private onFault(): void {
    if (this.healed) return;
    this.sched.after(50 + this.prng.int(500), () => this.onFault());
    const roll = this.prng.int(100);
    if (roll < 22) this.kill(this.prng.chance(0.5) ? this.leaderIndex() : this.prng.int(this.hosts.length), 'crashed');
    else if (roll < 32) this.isolateLeader();
    else if (roll < 42) this.randomPartition();
    else if (roll < 52) this.asymmetricCut();
    else if (roll < 66) this.network.healAll();
    else if (roll < 76) this.lossyNetwork();
    else if (roll < 84) this.controllerAction();
    else if (roll < 88) this.flapLeader();
    else if (roll < 90) this.corruptDisk();
    else this.network.faults.maxDelayMs = 3 + this.prng.int(60);
  }

  /** Flips a stored log entry on one node and crashes it: it must refuse to start. At most one per run. */
  private corruptDisk(): void {
    if (!this.options.storageFaults || this.hosts.some((h) => h.disk.corruptNextRecovery)) return;
    const i = this.prng.int(this.hosts.length);
    const host = this.host(i);
    if (!host.process) return;
    // Down for good: with membership changes the cluster may have shrunk so far that this
    // disk is part of every majority; an operator would restore it first (not simulated).
    // A node that is down may hold a configuration no running node shows: corrupt only when all can be asked.
    if (this.options.spares !== undefined && !this.mayLoseForGood(host.id)) return;
    host.disk.corruptNextRecovery = true;
    this.kill(i, 'crashed with a corrupted log page');
  }

  private randomPartition(): void {
    const shuffled = [...this.ids].sort(() => this.prng.int(3) - 1);
    const cut = 1 + this.prng.int(shuffled.length - 1);
    this.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
    this.log(`partition ${shuffled.slice(0, cut).join(',')} | ${shuffled.slice(cut).join(',')}`);
  }

  /** A partition, and the link-down notices TCP would give each side. */
  private partition(groups: NodeId[][]): void {
    this.network.partition(groups);
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue;
        for (const x of a) for (const y of b) this.hosts[this.ids.indexOf(x)]?.process?.transport.linkDown(y);
      }
    }
  }

  private leaderIndex(): number {
    const i = this.hosts.findIndex((h) => h.process?.node.raftView().state === 'leader');
    return i >= 0 ? i : this.prng.int(this.hosts.length);
  }

  /** Cuts the leader off right after it appended, the classic way to strand uncommitted entries. */
  private isolateLeader(): void {
    const leader = itemAt(this.ids, this.leaderIndex(), 'node ids');
    this.partition([[leader], this.ids.filter((id) => id !== leader)]);
    this.log(`isolate ${leader}`);
  }

  private asymmetricCut(): void {
    const from = itemAt(this.ids, this.prng.int(this.ids.length), 'node ids');
    const to = itemAt(this.ids, this.prng.int(this.ids.length), 'node ids');
    if (from !== to) this.network.cutLink(from, to);
    this.log(`cut link ${from} -> ${to}`);
  }

  private lossyNetwork(): void {
    this.network.faults = { dropRate: this.prng.float() * 0.3, duplicateRate: this.prng.float() * 0.1, minDelayMs: 1, maxDelayMs: 5 + this.prng.int(40) };
    this.log(`lossy network drop=${this.network.faults.dropRate.toFixed(2)}`);
  }

  /** The controller's actions, through the node's own methods: campaign, step down, transfer, shutdown. */
  private controllerAction(): void {
    const node = this.hosts[this.prng.int(this.hosts.length)]?.process?.node;
    if (!node) return;
    const roll = this.prng.int(4);
    if (roll === 0) node.campaign();
    else if (roll === 1) node.becomeFollower();
    else if (roll === 2) node.transferLeadership().catch(() => undefined);
    else if (!node.isShutdown()) {
      node.shutdown();
      this.sched.after(100 + this.prng.int(1000), () => node.resume());
    }
    this.log(`controller ${['campaign', 'convert-follower', 'transfer', 'shutdown'][roll]} -> ${node.id}`);
  }

  /**
   * Deposes the leader and re-elects it soon after: cut off (clients still send it writes it
   * cannot commit), another node forced to campaign, the link back, the old leader forced to
   * campaign again. It then proposes at indexes where its stranded proposals still wait.
   */
  private flapLeader(): void {
    const i = this.leaderIndex();
    const old = this.hosts[i]?.process?.node;
    if (!old || old.raftView().state !== 'leader') return;
    const others = this.ids.filter((id) => id !== old.id);
    const rival = itemAt(others, this.prng.int(others.length), 'rivals');
    this.partition([[old.id], others]);
    this.log(`flap leader ${old.id}: isolated, ${rival} to campaign`);
    let at = 20 + this.prng.int(100);
    this.sched.after(at, () => this.node(rival)?.campaign());
    at += 5 + this.prng.int(60);
    this.sched.after(at, () => this.network.healAll());
    at += 5 + this.prng.int(60);
    this.sched.after(at, () => this.node(old.id)?.campaign());
  }

  // ---------------------------------------------------------------- membership nemesis

  /**
   * One random change asked of the node the simulator believes leads, through the runtime's
   * own RaftNode.changeMembers: add a spare as a learner (it then boots with the configuration
   * in effect, as `node --join` does), promote a learner, demote or remove a member, or a
   * joint change (§4.3) promoting a learner and removing a voter. Refusals (not leader, a
   * change pending, a lagging learner) are expected and only traced. A removed node keeps running.
   */
  private onMembership(): void {
    if (this.healed) return;
    this.sched.after(1 + this.prng.int(2 * MEMBERSHIP_EVERY_MS), () => this.onMembership());
    const hint = this.leaderHint();
    const node = hint === null ? null : this.node(hint);
    if (!node || node.isShutdown()) return;
    const current = node.raftView().membership().config;
    const changes = this.pickChanges(current);
    if (changes.length === 0) return;
    // Like etcd's strict reconfiguration check, the operator never asks for a configuration
    // a majority of whose voters are down for good (a corrupt disk): no change could ever commit.
    const plan = planConfChange(current, changes);
    if (plan.ok && !this.keepsLiveMajority(plan.config)) {
      this.log(`membership ${changes.map((c) => `${c.op} ${c.id}`).join(', ')} skipped: would leave no live majority`);
      return;
    }
    const before = node.raftView().membership().configIndex;
    // changeMembers proposes synchronously: by the time it returns its promise, the new
    // configuration is in effect on the leader (thesis §4.1) or the change was refused.
    node.changeMembers(changes).then(
      () => undefined,
      (err: Error) => this.log(`membership change on ${node.id} ended: ${err.message.slice(0, 100)}`),
    );
    const membership = node.raftView().membership();
    const accepted = membership.configIndex !== before;
    this.log(`membership ${changes.map((c) => `${c.op} ${c.id}`).join(', ')} on ${node.id}: ${accepted ? `index=${membership.configIndex}${membership.config.outgoing ? ' joint' : ''}` : 'refused'}`);
    if (!accepted) return;
    this.membershipChanges++;
    const added = changes[0]?.op === 'add-learner' ? this.hosts.find((h) => h.id === changes[0]?.id) : undefined;
    if (added && added.joinedWith === null) {
      added.joinedWith = membership.config;
      void this.boot(this.hosts.indexOf(added));
    }
  }

  private pickChanges(config: Configuration): ConfChange[] {
    if (config.outgoing !== null) return [];
    const voters = config.voters.map((m) => m.id);
    const learners = config.learners.map((m) => m.id);
    const spare = this.hosts.find((h) => h.joinedWith === null);
    const pick = (list: NodeId[]): NodeId => itemAt(list, this.prng.int(list.length), 'members');
    const roll = this.prng.int(5);
    if (roll === 0 && spare) return [{ op: 'add-learner', ...simMember(spare.id) }];
    if (roll === 1 && learners.length > 0 && voters.length < MAX_SIM_VOTERS) return [{ op: 'promote', id: pick(learners) }];
    if (roll === 2 && voters.length > 1) return [{ op: 'demote', id: pick(voters) }];
    if (roll === 3 && voters.length + learners.length > 1) return [{ op: 'remove', id: pick([...voters, ...learners]) }];
    if (roll === 4 && learners.length > 0 && voters.length > 1) {
      // Two voters change at once (one in, one out): §4.3 joint consensus.
      return [{ op: 'promote', id: pick(learners) }, { op: this.prng.chance(0.5) ? 'remove' : 'demote', id: pick(voters) }];
    }
    return [];
  }

  /** Whether every configuration a node holds keeps a live majority without `id` (all must be running to tell). */
  private mayLoseForGood(id: NodeId): boolean {
    if (this.hosts.some((h) => h.joinedWith !== null && !h.corrupt && !h.process)) return false;
    return this.liveNodes().every((n) => this.keepsLiveMajority(n.raftView().membership().config, id));
  }

  /** Whether each voter set of `config` keeps a majority on disks that can still start (not `lost`). */
  private keepsLiveMajority(config: Configuration, lost: NodeId | null = null): boolean {
    const dead = (id: NodeId): boolean => id === lost || (this.hosts[this.ids.indexOf(id)]?.corrupt ?? false) || (this.hosts[this.ids.indexOf(id)]?.disk.corruptNextRecovery ?? false);
    const majority = (voters: readonly { id: NodeId }[]): boolean => voters.length === 0 || voters.filter((m) => !dead(m.id)).length * 2 > voters.length;
    return majority(config.voters) && (config.outgoing === null || majority(config.outgoing));
  }

  /** The voters of the configuration the most up-to-date running node holds. */
  private finalVoters(): NodeId[] {
    let best: RaftNode | null = null;
    for (const node of this.liveNodes()) {
      if (!best || node.raftView().membership().configIndex > best.raftView().membership().configIndex) best = node;
    }
    return best ? best.raftView().membership().config.voters.map((m) => m.id) : [];
  }

  private heal(): void {
    this.healed = true;
    this.network.healAll();
    this.log('healed: network calm, disks healthy, crashed nodes restarting');
    this.hosts.forEach((host, i) => {
      host.disk.faults.fsyncFailRate = 0;
      host.process?.node.resume();
      if (!host.process) void this.boot(i);
    });
  }

  // ---------------------------------------------------------------- end-of-run checks

  private checkHistory(): boolean | 'unknown' {
    const history: HistoryOp[] = this.clients.history();
    if (history.length === 0) return true;
    const verdict = checkLinearizability(history, { maxSteps: CHECK_MAX_STEPS, maxElapsedMs: 60_000 });
    if (verdict.ok === false) {
      const failure = verdict.failure;
      this.report('linearizability', failure ? `key ${failure.key}: ${failure.explanation}` : 'no linearization exists');
    }
    return verdict.ok;
  }

  private checkLiveness(): void {
    if (this.checker.violations.length > 0 || this.clients.recoveryMs !== null) return;
    this.report('liveness', `no client write succeeded within ${this.options.livenessMs} ms after healing`);
  }

  private checkLogMatching(): void {
    this.checker.checkLogMatching(this.liveNodes().map((n) => n.raftView()));
  }
}

/** The addresses a simulated member is known by (its transport ignores them: links are by id). */
function simMember(id: NodeId): { id: NodeId; raft: string; http: string } {
  return { id, raft: `sim:${id}`, http: `sim://${id}` };
}

/** Whether what a node's message handler returned is a refusal (RaftNode.receive returns a Rejection or null). */
function isRejection(value: unknown): value is Rejection {
  return typeof value === 'object' && value !== null && 'reason' in value && typeof value.reason === 'string' && 'detail' in value && typeof value.detail === 'string';
}

/** Lets promise continuations (client code awaiting the node) run before the next event. */
async function drainMicrotasks(): Promise<void> {
  for (let i = 0; i < MICROTASK_TURNS; i++) await null;
}

/** A scripted forged message, addressed to the node it is stepped into when it is an object. */
function withRecipient(message: unknown, to: NodeId): unknown {
  return typeof message === 'object' && message !== null && !Array.isArray(message) ? { ...message, to } : message;
}

/** Runs one seed; on a violation, re-runs it with tracing so the failure is readable. */
export async function runSeed(seed: number, overrides: Partial<Omit<SimOptions, 'seed'>> = {}): Promise<SimResult> {
  const options: SimOptions = { ...DEFAULT_SIM_OPTIONS, ...overrides, seed };
  const result = await new Simulation(options).run();
  if (result.violations.length === 0 || options.trace) return result;
  return new Simulation({ ...options, trace: true }).run();
}

