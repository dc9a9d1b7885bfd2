import type { ConfChange } from '../raft/confchange.js';
import type { Configuration } from '../raft/configuration.js';
import { SeededPrng } from '../raft/prng.js';
import { RaftCore } from '../raft/raft.js';
import type { RaftConfig } from '../raft/config.js';
import type { Message, NodeId, Ready } from '../raft/types.js';
import { EventQueue } from './event-queue.js';
import { coreFingerprint, forgeChaos, forgeInvalid, type ForgerMode } from './forger.js';
import { InvariantChecker, type Violation } from './invariants.js';
import { SimNetwork } from './network.js';
import { SimDisk } from './sim-disk.js';

/** Knobs of one simulated run. Everything else derives from the seed. */
export interface SimOptions {
  seed: number;
  nodes: number;
  /** Simulated milliseconds of faults and client load. */
  faultMs: number;
  /** After the faults heal, a leader and a new commit must appear within this budget. */
  livenessMs: number;
  tickMs: number;
  /** Take a snapshot every this many applied entries (small, to exercise InstallSnapshot). */
  snapshotEvery: number;
  trace: boolean;
  raft?: Partial<RaftConfig>;
  /**
   * A hostile peer during the fault phase (forger.ts): one forged message every `everyMs`.
   * `messages`, if given, are stepped first, in order (the fast-check test generates them).
   */
  forger?: { mode: ForgerMode; everyMs: number; messages?: unknown[] };
  /**
   * Membership changes among the faults (thesis chapter 4): this many spare nodes, outside the
   * first configuration, join as learners when added; members are promoted, demoted, removed,
   * several at once through joint consensus, keeping 1..MAX_SIM_VOTERS voters.
   */
  spares?: number;
}

/** Voters the membership nemesis never goes past. */
const MAX_SIM_VOTERS = 7;

export const DEFAULT_SIM_OPTIONS: Omit<SimOptions, 'seed'> = {
  nodes: 5,
  faultMs: 8_000,
  livenessMs: 10_000,
  tickMs: 10,
  snapshotEvery: 40,
  trace: false,
  // A short trailing window and small chunks, so lagging nodes really need InstallSnapshot
  // and receive it in several chunks (the production 5,000-entry window would hide it).
  raft: { compactionTrailingEntries: 10, snapshotChunkBytes: 256 },
};

/** The outcome of one seed. */
export interface SimResult {
  seed: number;
  violations: Violation[];
  /** Simulated ms from start to the first leader, and from heal to a working leader. */
  firstElectionMs: number | null;
  recoveryMs: number | null;
  committed: number;
  leaderChanges: number;
  /** Snapshots installed by followers (InstallSnapshot completed): the path is exercised. */
  snapshotsInstalled: number;
  /** Forged messages stepped, and honest (simulated network) messages the core rejected, by reason. */
  forged: number;
  honestRejections: Record<string, number>;
  /** Membership changes the nemesis got accepted by a leader (with `spares`). */
  membershipChanges: number;
  trace: string[];
}

type SimEvent =
  | { kind: 'tick'; node: number }
  | { kind: 'deliver'; message: Message }
  | { kind: 'persisted'; node: number; epoch: number }
  | { kind: 'fault' }
  | { kind: 'client' }
  | { kind: 'restart'; node: number }
  | { kind: 'liveness' }
  | { kind: 'forge' }
  | { kind: 'membership' };

interface PendingRead {
  requestId: string;
  key: string;
  requiredIndex: number;
  readIndex: number | null;
}

/** One simulated node: a core, its disk, and the Ready being written. */
interface SimNode {
  id: NodeId;
  core: RaftCore | null;
  disk: SimDisk;
  inFlight: Ready | null;
  /** Bumped on crash so a completion scheduled before the crash is ignored. */
  epoch: number;
  reads: Map<string, PendingRead>;
  proposals: Map<number, { term: number; key: string }>;
  /** A spare: the configuration it was told when added (null until then: it is not running). */
  joinedWith?: Configuration | null;
}

const MAX_TRACE_LINES = 400;
const MAX_EVENTS_PER_RUN = 2_000_000;

/**
 * A deterministic simulation of a Raft cluster (TigerBeetle's VOPR in miniature):
 * simulated time, network faults, crashes that lose unsynced writes, clients that write
 * and read, and safety checks after every event; then a liveness phase after healing.
 */
export class Simulation {
  private readonly prng: SeededPrng;
  private readonly queue = new EventQueue<SimEvent>();
  private readonly network: SimNetwork;
  private readonly checker = new InvariantChecker();
  private readonly nodes: SimNode[];
  private readonly ids: NodeId[];
  private now = 0;
  private healed = false;
  private requestSeq = 0;
  private writeSeq = 0;
  /** Highest acknowledged write index per key (acknowledged = applied on the proposer). */
  private readonly ackedIndex = new Map<string, number>();
  private firstElectionMs: number | null = null;
  private recoveryMs: number | null = null;
  private livenessProposal: { node: number; index: number; term: number } | null = null;
  private leaderChanges = 0;
  private snapshotsInstalled = 0;
  private lastLeader: string | null = null;
  private readonly trace: string[] = [];
  private events = 0;
  /** Recent honest messages, the raw material of forged ones. */
  private readonly recentMessages: Message[] = [];
  private forged = 0;
  private readonly honestRejections: Record<string, number> = {};
  /** The first configuration's voters (the rest are spares). */
  private readonly seedVoters: NodeId[];
  private membershipChanges = 0;

  constructor(private readonly options: SimOptions) {
    this.prng = new SeededPrng(options.seed);
    this.network = new SimNetwork(new SeededPrng(options.seed ^ 0x5eed));
    const spares = options.spares ?? 0;
    this.ids = Array.from({ length: options.nodes + spares }, (_, i) => `Node${i + 1}`);
    this.seedVoters = this.ids.slice(0, options.nodes);
    this.nodes = this.ids.map((id, i) => ({ id, core: null, disk: new SimDisk(), inFlight: null, epoch: 0, reads: new Map(), proposals: new Map(), ...(i >= options.nodes ? { joinedWith: null } : {}) }));
    this.nodes.forEach((node, i) => {
      if (node.joinedWith !== null) this.boot(i);
    });
  }

  run(): SimResult {
    this.queue.push(this.prng.int(300), { kind: 'fault' });
    this.queue.push(50, { kind: 'client' });
    if (this.options.forger) this.queue.push(this.options.forger.everyMs, { kind: 'forge' });
    if (this.options.spares !== undefined) this.queue.push(100 + this.prng.int(400), { kind: 'membership' });
    const end = this.options.faultMs + this.options.livenessMs;
    while (this.queue.size > 0 && this.checker.violations.length === 0 && this.events < MAX_EVENTS_PER_RUN) {
      const next = this.queue.pop() as { at: number; event: SimEvent };
      if (next.at > end) break;
      this.now = next.at;
      this.checker.now = this.now;
      if (!this.healed && this.now >= this.options.faultMs) this.heal();
      this.handle(next.event);
      this.events++;
      if (this.events % 500 === 0) this.checkLogMatching();
      if (this.healed && this.recoveryMs !== null) break;
    }
    this.checkLogMatching();
    this.checkLiveness();
    return this.result();
  }

  private result(): SimResult {
    const committed = Math.max(...this.nodes.map((n) => n.core?.log.commitIndex ?? n.disk.stateMachine.applied));
    return {
      seed: this.options.seed,
      violations: this.checker.violations,
      firstElectionMs: this.firstElectionMs,
      recoveryMs: this.recoveryMs,
      committed,
      leaderChanges: this.leaderChanges,
      snapshotsInstalled: this.snapshotsInstalled,
      forged: this.forged,
      honestRejections: this.honestRejections,
      membershipChanges: this.membershipChanges,
      trace: this.trace,
    };
  }

  // ---------------------------------------------------------------- node lifecycle

  private boot(i: number): void {
    const node = this.nodes[i] as SimNode;
    const joined = node.joinedWith ? { initialConfiguration: node.joinedWith } : {};
    const config = { ...this.options.raft, id: node.id, voters: this.seedVoters, ...joined };
    node.core = new RaftCore(config, new SeededPrng(this.options.seed * 31 + i * 7919 + node.epoch), node.disk.recover());
    node.inFlight = null;
    node.reads.clear();
    node.proposals.clear();
    // Each node ticks on its own phase so timers do not fire in lockstep.
    this.queue.push(this.now + 1 + this.prng.int(this.options.tickMs), { kind: 'tick', node: i });
    this.log(`${node.id} booted term=${node.core.term} last=${node.core.log.lastIndex()} applied=${node.disk.stateMachine.applied}`);
  }

  private crash(i: number): void {
    const node = this.nodes[i] as SimNode;
    if (!node.core) return;
    node.core = null;
    node.inFlight = null;
    node.epoch++;
    this.log(`${node.id} crashed (unsynced writes lost)`);
    this.queue.push(this.now + 50 + this.prng.int(1500), { kind: 'restart', node: i });
  }

  // ---------------------------------------------------------------- events

  private handle(event: SimEvent): void {
    switch (event.kind) {
      case 'tick':
        return this.onTick(event.node);
      case 'deliver':
        return this.onDeliver(event.message);
      case 'persisted':
        return this.onPersisted(event.node, event.epoch);
      case 'fault':
        return this.onFault();
      case 'client':
        return this.onClient();
      case 'restart':
        if (!this.nodes[event.node]?.core && this.nodes[event.node]?.joinedWith !== null) this.boot(event.node);
        return;
      case 'liveness':
        return this.onLivenessProbe();
      case 'forge':
        return this.onForge();
      case 'membership':
        if (this.healed) return;
        this.queue.push(this.now + 100 + this.prng.int(400), { kind: 'membership' });
        return this.membershipChange();
    }
  }

  private onTick(i: number): void {
    const node = this.nodes[i] as SimNode;
    if (!node.core) return;
    node.core.tick();
    this.afterInput(i);
    this.queue.push(this.now + this.options.tickMs, { kind: 'tick', node: i });
  }

  private onDeliver(message: Message): void {
    const i = this.ids.indexOf(message.to);
    if (!this.nodes[i]?.core) return;
    const rejected = (this.nodes[i] as SimNode).core?.step(message);
    if (rejected) this.honestRejections[rejected.reason] = (this.honestRejections[rejected.reason] ?? 0) + 1;
    this.afterInput(i);
  }

  /** After any input: check invariants, then hand out a Ready if none is being written. */
  private afterInput(i: number): void {
    const node = this.nodes[i] as SimNode;
    const core = node.core as RaftCore;
    this.checker.checkNode(core);
    this.observeLeader();
    if (node.inFlight || !core.hasReady()) return;
    const rd = core.ready();
    for (const line of rd.events) this.log(`${node.id} ${line}`);
    node.inFlight = rd;
    this.sendAll(rd.messages);
    // The disk write completes later; a crash before then loses it entirely.
    const latency = this.prng.chance(0.3) ? 0 : this.prng.int(4);
    if (latency === 0) this.onPersisted(i, node.epoch);
    else this.queue.push(this.now + latency, { kind: 'persisted', node: i, epoch: node.epoch });
  }

  private onPersisted(i: number, epoch: number): void {
    const node = this.nodes[i] as SimNode;
    const rd = node.inFlight;
    if (!node.core || !rd || epoch !== node.epoch) return;
    node.disk.persist(rd);
    if (rd.snapshot) this.snapshotsInstalled++;
    this.sendAll(rd.messagesAfterPersist);
    node.disk.apply(rd.committedEntries);
    this.checker.checkApplied(node.id, rd.committedEntries);
    this.ackProposals(node, rd);
    for (const rs of rd.readStates) this.onReadState(node, rs.requestId, rs.index);
    if (rd.snapshotImageWanted) node.core.provideSnapshotImage(node.disk.stateMachine.applied, node.disk.stateMachine.serialize());
    node.inFlight = null;
    node.core.advance(rd);
    this.serveReads(node);
    this.maybeSnapshot(node);
    this.afterInput(i);
  }

  private maybeSnapshot(node: SimNode): void {
    const core = node.core as RaftCore;
    const applied = node.disk.stateMachine.applied;
    if (applied - core.snapshotIndex() < this.options.snapshotEvery) return;
    // The simulated state machine is not durable by itself, so the image is saved with the log.
    const { meta, offset, offsetTerm } = core.compact(applied);
    node.disk.saveSnapshot({ meta, data: node.disk.stateMachine.serialize() }, offset, offsetTerm);
  }

  private sendAll(messages: Message[]): void {
    for (const message of messages) {
      if (this.options.forger && this.prng.chance(0.05)) this.recentMessages[this.prng.int(16)] = message;
      for (const delay of this.network.deliveryDelays(message.from, message.to)) {
        this.queue.push(this.now + delay, { kind: 'deliver', message });
      }
    }
  }

  private observeLeader(): void {
    const leaders = this.nodes.filter((n) => n.core?.state === 'leader');
    const top = leaders.sort((a, b) => (b.core?.term ?? 0) - (a.core?.term ?? 0))[0];
    if (!top) return;
    const key = `${top.id}@${top.core?.term}`;
    if (key === this.lastLeader) return;
    this.lastLeader = key;
    this.leaderChanges++;
    if (this.firstElectionMs === null) this.firstElectionMs = this.now;
  }

  // ---------------------------------------------------------------- clients

  private onClient(): void {
    this.queue.push(this.now + 1 + this.prng.int(10), { kind: 'client' });
    const i = this.prng.int(this.nodes.length);
    const node = this.nodes[i] as SimNode;
    if (!node.core) return;
    const key = `k${this.prng.int(4)}`;
    if (this.prng.chance(0.5)) this.propose(i, key);
    else this.startRead(i, key);
    this.afterInput(i);
  }

  /** Proposes on the node, or on the leader it knows of (like HTTP forwarding). */
  private propose(i: number, key: string): void {
    let node = this.nodes[i] as SimNode;
    const known = node.core?.leader;
    if (node.core?.state !== 'leader' && known) node = this.nodes[this.ids.indexOf(known)] as SimNode;
    if (!node.core) return;
    const result = node.core.propose(`${key}=w${++this.writeSeq}`);
    if (result.ok) node.proposals.set(result.index, { term: result.term, key });
    if (node !== this.nodes[i]) this.afterInput(this.nodes.indexOf(node));
  }

  private ackProposals(node: SimNode, rd: Ready): void {
    const live = this.livenessProposal;
    for (const entry of rd.committedEntries) {
      if (live && this.nodes[live.node] === node && live.index === entry.index && live.term === entry.term) {
        this.recoveryMs ??= this.now - this.options.faultMs;
      }
      const proposal = node.proposals.get(entry.index);
      if (!proposal) continue;
      node.proposals.delete(entry.index);
      if (proposal.term !== entry.term) continue;
      this.ackedIndex.set(proposal.key, Math.max(this.ackedIndex.get(proposal.key) ?? 0, entry.index));
    }
  }

  private startRead(i: number, key: string): void {
    const node = this.nodes[i] as SimNode;
    const requestId = `r${++this.requestSeq}`;
    node.reads.set(requestId, { requestId, key, requiredIndex: this.ackedIndex.get(key) ?? 0, readIndex: null });
    (node.core as RaftCore).readIndex(requestId);
  }

  private onReadState(node: SimNode, requestId: string, index: number | null): void {
    const read = node.reads.get(requestId);
    if (!read) return;
    if (index === null) node.reads.delete(requestId);
    else read.readIndex = index;
  }

  private serveReads(node: SimNode): void {
    const sm = node.disk.stateMachine;
    for (const read of node.reads.values()) {
      if (read.readIndex === null || sm.applied < read.readIndex) continue;
      node.reads.delete(read.requestId);
      this.checker.checkRead(node.id, read.key, sm.kv.get(read.key)?.index ?? 0, read.requiredIndex);
    }
  }

  // ---------------------------------------------------------------- hostile peer

  /**
   * Steps one forged message into a random live node. In `invalid` mode the core must reject
   * it and change nothing; in `chaos` mode it must only not throw (run() reports a throw).
   */
  private onForge(): void {
    const forger = this.options.forger;
    if (!forger || this.healed) return;
    this.queue.push(this.now + 1 + this.prng.int(2 * forger.everyMs), { kind: 'forge' });
    const i = this.prng.int(this.nodes.length);
    const core = this.nodes[i]?.core;
    if (!core) return;
    const scripted = forger.messages?.[this.forged];
    const base = this.recentMessages[this.prng.int(16)] ?? null;
    const forged = scripted !== undefined ? { message: withRecipient(scripted, core.id), mutation: 'scripted' } : (forger.mode === 'invalid' ? forgeInvalid : forgeChaos)(this.prng, base, core, this.ids);
    this.forged++;
    const before = coreFingerprint(core);
    const rejected = core.step(forged.message as Message);
    this.log(`forged -> ${core.id} (${forged.mutation}): ${rejected ? `rejected ${rejected.reason}` : 'stepped'}`);
    if (forger.mode === 'invalid' && rejected === null) this.checker.report('forged message accepted', `${core.id} stepped ${JSON.stringify(forged.message)?.slice(0, 300)} (${forged.mutation})`);
    if (rejected !== null && coreFingerprint(core) !== before) this.checker.report('rejected message changed state', `${core.id}: ${rejected.reason} ${rejected.detail}`);
    this.afterInput(i);
  }

  // ---------------------------------------------------------------- faults

  private onFault(): void {
    if (this.healed) return;
    this.queue.push(this.now + 50 + this.prng.int(500), { kind: 'fault' });
    const roll = this.prng.int(100);
    if (roll < 25) this.crash(this.prng.chance(0.5) ? this.leaderIndex() : this.prng.int(this.nodes.length));
    else if (roll < 35) this.isolateLeader();
    else if (roll < 45) this.randomPartition();
    else if (roll < 55) this.asymmetricCut();
    else if (roll < 70) this.network.healAll();
    else if (roll < 80) this.lossyNetwork();
    else if (roll < 88) this.controllerAction();
    else this.network.faults.maxDelayMs = 3 + this.prng.int(60);
  }

  private randomPartition(): void {
    const shuffled = [...this.ids].sort(() => this.prng.int(3) - 1);
    const cut = 1 + this.prng.int(shuffled.length - 1);
    this.network.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
    this.log(`partition ${shuffled.slice(0, cut).join(',')} | ${shuffled.slice(cut).join(',')}`);
  }

  private leaderIndex(): number {
    const i = this.nodes.findIndex((n) => n.core?.state === 'leader');
    return i >= 0 ? i : this.prng.int(this.nodes.length);
  }

  /** Cuts the leader off right after it appended, the classic way to strand uncommitted entries. */
  private isolateLeader(): void {
    const leader = this.ids[this.leaderIndex()] as NodeId;
    this.network.partition([[leader], this.ids.filter((id) => id !== leader)]);
    this.log(`isolate ${leader}`);
  }

  private asymmetricCut(): void {
    const from = this.ids[this.prng.int(this.ids.length)] as NodeId;
    const to = this.ids[this.prng.int(this.ids.length)] as NodeId;
    if (from !== to) this.network.cutLink(from, to);
    this.log(`cut link ${from} -> ${to}`);
  }

  private lossyNetwork(): void {
    this.network.faults = { dropRate: this.prng.float() * 0.3, duplicateRate: this.prng.float() * 0.1, minDelayMs: 1, maxDelayMs: 5 + this.prng.int(40) };
    this.log(`lossy network drop=${this.network.faults.dropRate.toFixed(2)}`);
  }

  /** The controller's actions: forced campaign, step down, leadership transfer. */
  private controllerAction(): void {
    const i = this.prng.int(this.nodes.length);
    const core = this.nodes[i]?.core;
    if (!core) return;
    const roll = this.prng.int(3);
    if (roll === 0) core.campaign(true);
    else if (roll === 1) core.becomeFollowerKeepTerm('controller CONVERT_FOLLOWER');
    else {
      const target = core.bestTransferTarget();
      if (target) core.transferLeadership(target);
    }
    this.afterInput(i);
  }

  /**
   * The membership nemesis: on whoever leads, one random change (add a spare as a learner,
   * promote, demote, remove, or a joint change of several voters). A spare added boots with
   * the configuration in effect, as `node --join` does; a removed node keeps running.
   */
  private membershipChange(): void {
    const i = this.leaderIndex();
    const core = this.nodes[i]?.core;
    if (!core || core.state !== 'leader') return;
    const config = core.membership().config;
    const voters = config.voters.map((m) => m.id);
    const learners = config.learners.map((m) => m.id);
    const spare = this.nodes.find((n) => n.joinedWith === null);
    const pick = <T>(list: T[]): T | undefined => list[this.prng.int(Math.max(1, list.length))];
    const changes: ConfChange[] = [];
    const roll = this.prng.int(5);
    if (roll === 0 && spare) changes.push({ op: 'add-learner', id: spare.id, raft: `sim:${spare.id}`, http: `http://${spare.id}` });
    else if (roll === 1 && learners.length > 0 && voters.length < MAX_SIM_VOTERS) changes.push({ op: 'promote', id: pick(learners) as NodeId });
    else if (roll === 2 && voters.length > 1) changes.push({ op: 'demote', id: pick(voters) as NodeId });
    else if (roll === 3 && voters.length + learners.length > 1) changes.push({ op: 'remove', id: pick([...voters, ...learners]) as NodeId });
    else if (roll === 4) {
      for (const id of learners.slice(0, 2)) if (voters.length + changes.length < MAX_SIM_VOTERS) changes.push({ op: 'promote', id });
      const removable = voters.filter(() => this.prng.chance(0.4)).slice(0, Math.max(0, voters.length - 1));
      for (const id of removable) changes.push({ op: 'remove', id });
    }
    if (changes.length === 0) return;
    const result = core.proposeConfChange(changes);
    this.log(`membership ${changes.map((c) => `${c.op} ${c.id}`).join(', ')} on ${core.id}: ${result.ok ? `index=${result.index}${result.joint ? ' joint' : ''}` : result.error}`);
    if (!result.ok) return;
    this.membershipChanges++;
    if (spare && changes[0]?.op === 'add-learner') {
      spare.joinedWith = core.membership().config;
      this.boot(this.nodes.indexOf(spare));
    }
    this.afterInput(i);
  }

  private heal(): void {
    this.healed = true;
    this.network.healAll();
    this.log('healed: network calm, crashed nodes restarting');
    this.nodes.forEach((node, i) => {
      if (!node.core && node.joinedWith !== null) this.boot(i);
    });
    this.queue.push(this.now + 1, { kind: 'client' });
    this.queue.push(this.now + 1, { kind: 'liveness' });
  }

  /** Keeps proposing a marker on whoever leads until one commits. */
  private onLivenessProbe(): void {
    if (this.recoveryMs !== null) return;
    this.queue.push(this.now + 50, { kind: 'liveness' });
    const i = this.nodes.findIndex((n) => n.core?.state === 'leader');
    const core = this.nodes[i]?.core;
    if (!core) return;
    const result = core.propose(`liveness=${this.now}`);
    if (!result.ok) return;
    this.livenessProposal = { node: i, index: result.index, term: result.term };
    this.afterInput(i);
  }

  private checkLiveness(): void {
    if (this.checker.violations.length > 0) return;
    if (this.recoveryMs === null) {
      this.checker.now = this.now;
      this.checker.violations.push({ at: this.now, rule: 'liveness', detail: `no leader committed a new entry within ${this.options.livenessMs} ms after healing` });
    }
  }

  private checkLogMatching(): void {
    this.checker.checkLogMatching(this.nodes.flatMap((n) => (n.core ? [n.core] : [])));
  }

  private log(line: string): void {
    if (!this.options.trace) return;
    this.trace.push(`${this.now.toFixed(1).padStart(9)} ms  ${line}`);
    if (this.trace.length > MAX_TRACE_LINES) this.trace.shift();
  }
}

/** A scripted forged message, addressed to the node it is stepped into when it is an object. */
function withRecipient(message: unknown, to: NodeId): unknown {
  return typeof message === 'object' && message !== null && !Array.isArray(message) ? { ...message, to } : message;
}

/** Runs one seed; on a violation, re-runs it with tracing so the failure is readable. */
export function runSeed(seed: number, overrides: Partial<Omit<SimOptions, 'seed'>> = {}): SimResult {
  const options: SimOptions = { ...DEFAULT_SIM_OPTIONS, ...overrides, seed };
  const result = new Simulation(options).run();
  if (result.violations.length === 0 || options.trace) return result;
  return new Simulation({ ...options, trace: true }).run();
}
