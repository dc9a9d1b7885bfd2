import { assert, defined } from '../assert.js';
import type { RaftConfig } from '../config.js';
import { SeededPrng } from '../prng.js';
import { RaftCore } from '../raft.js';
import type { Entry, HardState, Message, NodeId, Ready } from '../types.js';
import { formatEntries, formatHardState, formatMessage } from './format.js';
import { SafetyChecker } from '../safety.js';
import { MemoryDisk } from './memory-disk.js';
import { ManualNetwork, type MessageFilter } from './network.js';

/** The knobs `add-nodes` accepts, on top of the core's defaults. */
export type NodeOptions = Partial<Omit<RaftConfig, 'id' | 'voters'>> & { seed?: number };

/** One node of the test cluster: a core (null while crashed), its disk, its Ready in flight. */
export interface HarnessNode {
  id: NodeId;
  core: RaftCore | null;
  disk: MemoryDisk;
  /** A Ready taken by `ready` and not yet persisted by `persist`. */
  inFlight: Ready | null;
  config: Partial<RaftConfig> & Pick<RaftConfig, 'id' | 'voters'>;
  seed: number;
  boots: number;
}

/** Defaults of the test cluster: small timeouts as in etcd-io/raft's tests, production features on. */
export const TEST_NODE_DEFAULTS = { electionTicks: 10, heartbeatTicks: 1, preVote: true, checkQuorum: true } as const;

/** A hard cap on stabilize rounds: a script that never quiesces is a bug (e.g. a message storm). */
const MAX_STABILIZE_ROUNDS = 200;

/**
 * A deterministic in-memory cluster of RaftCores driven one step at a time (etcd-io/raft's
 * rafttest InteractionEnv): nothing happens unless a command says so. Every method appends
 * human-readable lines to `out`; safety properties are checked after every command.
 */
export class InteractionEnv {
  readonly nodes: HarnessNode[] = [];
  readonly network = new ManualNetwork();
  private readonly safety = new SafetyChecker('throw');
  /** Delivered messages by kind since the last reset (`msg-stats`). */
  readonly stats = new Map<string, number>();

  // ---------------------------------------------------------------- nodes

  addNodes(count: number, options: NodeOptions): void {
    assert(this.nodes.length === 0, 'add-nodes: the cluster already has nodes');
    const voters = Array.from({ length: count }, (_, i) => String(i + 1));
    const { seed = 1, ...raft } = options;
    for (const id of voters) {
      const config = { ...TEST_NODE_DEFAULTS, ...raft, id, voters };
      const node: HarnessNode = { id, core: null, disk: new MemoryDisk(), inFlight: null, config, seed: seed * 1000 + Number(id) * 10, boots: 0 };
      this.nodes.push(node);
      this.boot(node);
    }
  }

  /**
   * A node that is not in the cluster yet (it will join): seeded with the configuration it was
   * told (`voters` and `learners` ids), the way `node --join` starts.
   */
  addJoiningNode(id: NodeId, voters: NodeId[], learners: NodeId[], options: NodeOptions): void {
    if (this.nodes.some((n) => n.id === id)) throw new Error(`add-node: ${id} exists`);
    const { seed = 1, ...raft } = options;
    const member = (m: NodeId): { id: NodeId; raft: string; http: string } => ({ id: m, raft: '', http: '' });
    const initialConfiguration = { voters: voters.map(member), learners: learners.map(member), outgoing: null };
    const config = { ...TEST_NODE_DEFAULTS, ...raft, id, voters, initialConfiguration };
    const node: HarnessNode = { id, core: null, disk: new MemoryDisk(), inFlight: null, config, seed: seed * 1000 + Number(id) * 10, boots: 0 };
    this.nodes.push(node);
    this.boot(node);
  }

  node(id: NodeId): HarnessNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  /** The running core of a node; throws if it is crashed. */
  core(id: NodeId): RaftCore {
    const core = this.node(id).core;
    if (!core) throw new Error(`node ${id} is down`);
    return core;
  }

  ids(): NodeId[] {
    return this.nodes.map((n) => n.id);
  }

  private boot(node: HarnessNode): RaftCore {
    const core = new RaftCore(node.config, new SeededPrng(node.seed + node.boots), node.disk.recover());
    node.core = core;
    node.boots++;
    node.inFlight = null;
    return core;
  }

  /** Loses everything not on disk: memory, the unpersisted Ready, its after-persist messages. */
  crash(id: NodeId, out: string[]): void {
    const node = this.node(id);
    const core = this.core(id);
    out.push(`${id} crashed: memory had last=${core.log.lastTerm()}/${core.log.lastIndex()} ${formatHardState(core.hardState())}`);
    out.push(`  disk keeps last=${node.disk.lastIndex()} ${formatHardState(node.disk.hardState)} applied=${node.disk.stateMachine.applied}`);
    node.core = null;
    node.inFlight = null;
  }

  restart(id: NodeId, out: string[]): void {
    const node = this.node(id);
    if (node.core) throw new Error(`restart: node ${id} is running (crash it first)`);
    const core = this.boot(node);
    out.push(`${id} restarted: ${formatHardState(core.hardState())} applied=${core.log.appliedIndex} last=${core.log.lastTerm()}/${core.log.lastIndex()} snapshot=${snapshotText(core)}`);
  }

  /** Replaces a node's disk with a log of the given terms (setup for divergent logs), and reboots it. */
  setDisk(id: NodeId, hardState: HardState, terms: number[]): void {
    const node = this.node(id);
    const entries: Entry[] = terms.map((term, i) => ({ index: i + 1, term, type: 'normal', data: `t${term}` }));
    node.disk.overwrite(hardState, entries);
    this.boot(node);
  }

  // ---------------------------------------------------------------- Ready handling

  /** Stage 1 of a Ready: take it and send what may go before the fsync. */
  readyStage(id: NodeId, out: string[]): boolean {
    const node = this.node(id);
    const core = this.core(id);
    if (node.inFlight) throw new Error(`ready: node ${id} has a Ready in flight (persist it first)`);
    if (!core.hasReady()) return false;
    const rd = core.ready();
    node.inFlight = rd;
    out.push(`> ${id} handling Ready`);
    for (const event of rd.events) out.push(`  event: ${event}`);
    if (rd.hardState) out.push(`  hard state: ${formatHardState(rd.hardState)}`);
    if (rd.snapshot) out.push(`  snapshot: ${rd.snapshot.meta.term}/${rd.snapshot.meta.index} (${rd.snapshot.data.length} bytes)`);
    if (rd.entries.length > 0) out.push(`  entries: ${formatEntries(rd.entries)}`);
    for (const m of rd.messages) this.send(m, '  send: ', out);
    return true;
  }

  /** Stage 2: the fsync completed; send the rest, apply, serve reads, advance. */
  persistStage(id: NodeId, out: string[], header: boolean): void {
    const node = this.node(id);
    const core = this.core(id);
    const rd = node.inFlight;
    if (!rd) throw new Error(`persist: node ${id} has no Ready in flight`);
    if (header) out.push(`> ${id} persisting Ready`);
    node.disk.persist(rd);
    if (rd.hardState || rd.entries.length > 0 || rd.snapshot) out.push('  persisted');
    for (const m of rd.messagesAfterPersist) this.send(m, '  send after persist: ', out);
    if (rd.snapshot) {
      node.disk.stateMachine.restore(rd.snapshot);
      out.push(`  apply snapshot: ${rd.snapshot.meta.term}/${rd.snapshot.meta.index}`);
    }
    for (const entry of rd.committedEntries) node.disk.stateMachine.apply(entry);
    this.safety.checkApplied(id, core.term, rd.committedEntries);
    if (rd.committedEntries.length > 0) out.push(`  apply: ${formatEntries(rd.committedEntries)}`);
    for (const rs of rd.readStates) out.push(`  read: ${rs.requestId} ${rs.index === null ? 'failed' : `index=${rs.index}`}`);
    if (rd.snapshotImageWanted) {
      const applied = node.disk.stateMachine.applied;
      const image = node.disk.stateMachine.serializeAt(applied);
      out.push(`  snapshot image wanted: provided at index=${applied} (${image.length} bytes)`);
      core.provideSnapshotImage(applied, image);
    }
    node.inFlight = null;
    core.advance(rd);
  }

  /** Both stages; finishes a Ready left in flight first. Returns whether anything happened. */
  processReady(id: NodeId, out: string[]): boolean {
    const node = this.node(id);
    if (node.inFlight) {
      this.persistStage(id, out, true);
      return true;
    }
    if (!this.readyStage(id, out)) return false;
    this.persistStage(id, out, false);
    return true;
  }

  /** Queues a message; one sent across a partition is lost right away. */
  private send(m: Message, prefix: string, out: string[]): void {
    if (this.network.isCut(m.from, m.to)) {
      out.push(`${prefix}${formatMessage(m)} (dropped: partition)`);
      return;
    }
    out.push(prefix + formatMessage(m));
    this.network.send(m);
  }

  // ---------------------------------------------------------------- delivery

  /** Delivers one message, unless its recipient is down or the link is cut. */
  deliver(m: Message, out: string[], prefix = '  '): void {
    const target = this.nodes.find((n) => n.id === m.to);
    if (!target?.core) {
      out.push(`${prefix}${formatMessage(m)} (dropped: ${m.to} is down)`);
      return;
    }
    if (this.network.isCut(m.from, m.to)) {
      out.push(`${prefix}${formatMessage(m)} (dropped: partition)`);
      return;
    }
    out.push(prefix + formatMessage(m));
    const kind = m.type === 'AppendEntriesResponse' && !m.success ? 'AppendEntriesResponse(reject)' : m.type;
    this.stats.set(kind, (this.stats.get(kind) ?? 0) + 1);
    // The harness network is an authenticated transport: it vouches for the sender (forge does not).
    const rejected = target.core.step(m, true);
    if (rejected) out.push(`${prefix}  rejected by ${m.to}: ${rejected.reason}: ${rejected.detail}`);
  }

  deliverMatching(filter: MessageFilter, out: string[], options: { drop?: boolean; dup?: boolean; reverse?: boolean; count?: number }): number {
    const taken = this.network.take(filter, options.count);
    if (options.reverse) taken.reverse();
    for (const m of taken) {
      if (options.drop) {
        out.push(`  ${formatMessage(m)} (dropped)`);
        continue;
      }
      this.deliver(m, out);
      if (options.dup) this.deliver(m, out, '  (again) ');
    }
    return taken.length;
  }

  /**
   * Processes Readys and delivers messages until nothing is left to do (etcd's stabilize),
   * restricted to `ids`: only their Readys, only messages addressed to them.
   */
  stabilize(ids: NodeId[], out: string[]): void {
    for (let round = 0; round < MAX_STABILIZE_ROUNDS; round++) {
      let progressed = false;
      for (const id of ids) {
        if (this.node(id).core && this.processReady(id, out)) progressed = true;
      }
      const pending = this.network.queue.filter((m) => ids.includes(m.to)).length;
      if (pending > 0) {
        out.push(`> delivering ${pending} message${pending === 1 ? '' : 's'}`);
        this.deliverMatching({ to: ids }, out, {});
        progressed = true;
      }
      if (!progressed) return;
    }
    throw new Error(`stabilize: not quiet after ${MAX_STABILIZE_ROUNDS} rounds`);
  }

  // ---------------------------------------------------------------- checks and views

  /** Runs the safety checks over every running node (after each command). */
  checkSafety(): void {
    const cores = this.nodes.flatMap((n) => (n.core ? [n.core] : []));
    this.safety.checkNodes(cores);
    for (const core of cores) this.safety.checkLeaderCompleteness(core);
  }

  status(id: NodeId, out: string[]): void {
    const node = this.node(id);
    const core = node.core;
    if (!core) {
      const disk = node.disk;
      out.push(`${id}: down; disk ${formatHardState(disk.hardState)} last=${disk.lastIndex()} applied=${disk.stateMachine.applied}`);
      return;
    }
    const log = core.log;
    const inFlight = node.inFlight ? ' (Ready in flight)' : '';
    out.push(
      `${id}: ${core.state} term=${core.term} vote=${core.vote ?? '-'} leader=${core.leader ?? '-'} ` +
        `commit=${log.commitIndex} applied=${log.appliedIndex} last=${log.lastTerm()}/${log.lastIndex()} ` +
        `stable=${log.stableIndex} snapshot=${snapshotText(core)}${inFlight}`,
    );
    for (const [peer, pr] of core.progressView()) {
      out.push(`  ${peer}: ${pr.state} match=${pr.matchIndex} next=${pr.nextIndex} inflight=${pr.inflight}`);
    }
    const target = core.transferTarget();
    if (target !== null) out.push(`  transferring leadership to ${target}`);
  }

  raftLog(id: NodeId, out: string[]): void {
    const node = this.node(id);
    const core = node.core;
    if (!core) {
      if (node.disk.offset > 0) out.push(`compacted through ${node.disk.offsetTerm}/${node.disk.offset} (disk)`);
      out.push(node.disk.entries.length === 0 ? '(empty disk)' : formatEntries(node.disk.entries));
      return;
    }
    const log = core.log;
    if (log.offset > 0) out.push(`compacted through ${log.offsetTerm}/${log.offset}`);
    const entries: Entry[] = [];
    for (let i = log.firstIndex(); i <= log.lastIndex(); i++) entries.push(defined(log.entryAt(i), () => `no entry ${i} in ${log.firstIndex()}..${log.lastIndex()}`));
    const stable = entries.filter((e) => e.index <= log.stableIndex);
    const unstable = entries.filter((e) => e.index > log.stableIndex);
    out.push(entries.length === 0 ? '(empty)' : formatEntries(stable) + (unstable.length > 0 ? ` unstable ${formatEntries(unstable)}` : ''));
  }
}

function snapshotText(core: RaftCore): string {
  const index = core.snapshotIndex();
  return index === 0 ? '0' : `${core.log.termAt(index) ?? '?'}/${index}`;
}
