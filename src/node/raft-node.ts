import { randomInt } from 'node:crypto';
import { allMembers, assert, type ConfChange, defined, type Configuration, describeValue, type Entry, findMember, type HardState, type Message, type NodeId, type ProposeResult, type RaftConfig, RaftCore, type Ready, type Rejection, SeededPrng } from '@raftquotes/raft';
import type { Logger } from '../log/logger.js';
import { changeFinished, confChangeRefusal, membersView, type MembersView, voterIds } from './membership.js';
import type { ApplyResult, Command, StateMachine } from '../state/types.js';
import { StorageError } from '../storage/errors.js';
import { hasUnsyncedWrites, type RaftStorage, type RecoveredLog } from '../storage/types.js';
import { isForwardMessage, type ForwardMessage, type PeerMessage } from '../transport/forward-message.js';
import { checkMessage } from '../transport/message-shape.js';
import { SNAPSHOT_CHUNK_BYTES } from '../transport/limits.js';
import type { Transport } from '../transport/types.js';
import { decodeCommand } from '../state/command-codec.js';
import { quotaProblem } from '../state/quota.js';
import { CommitNotices } from './commit-notices.js';
import { LogSync, type EntryId } from './log-sync.js';
import { answerProposal, HeldAnswers, ProposalForwarder } from './forwarding.js';
import { type TickHandle, type Ticker } from './controllable-clock.js';
import { realClock, type Clock } from './clock.js';
import type { NodeMetrics } from './metrics.js';
import { RejectionLog } from './rejection-log.js';
import { NodeError, type ApplyListener, type NodeStatus, type PeerStatus, type RaftNodeHandle } from './types.js';
import { Waiters } from './waiters.js';
import { monotonicMicros, type TraceStage, type WriteTrace } from './write-trace.js';

/** Minimal logger surface (pino-compatible). */
/** The node logs at three levels (no debug lines on its paths). */
export type NodeLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

/** Runtime settings of one node. */
export interface RaftNodeOptions {
  id: NodeId;
  voters: NodeId[];
  httpUrl: string;
  tickMs: number;
  /** Snapshot and compact after this many applied entries (SPEC §2 default 10,000). */
  snapshotEvery: number;
  defaultTimeoutMs: number;
  raft?: Partial<RaftConfig>;
  /**
   * The first configuration (SPEC §9: `--peers` seeds a new cluster; a joining node gets it
   * from the cluster). The log's and the snapshot's configurations replace it.
   */
  initialConfiguration?: Configuration;
  /** Test-only switch used by the fault harness to prove the checker catches stale reads. */
  unsafeLocalReads?: boolean;
  /** SPEC §5 `--quota-bytes`: checked here for writes forwarded over the peer link (the API checks its own). */
  quotaBytes?: number;
}

/**
 * Called once when the node must stop because continuing could corrupt data (a broken
 * invariant, a failed fsync). It has already been logged and the node has stopped stepping.
 */
export type FatalHandler = (error: unknown) => void;

/** Exit code of a fatal stop (EX_SOFTWARE): the supervisor restarts from durable state. */
export const FATAL_EXIT_CODE = 70;

/** The production FatalHandler: exit 70 once the log line above has been written. */
export const exitOnFatal: FatalHandler = () => {
  process.exitCode = FATAL_EXIT_CODE;
  setImmediate(() => process.exit(FATAL_EXIT_CODE));
};

export interface RaftNodeDeps {
  storage: RaftStorage;
  stateMachine: StateMachine;
  transport: Transport;
  logger: NodeLogger;
  metrics: NodeMetrics;
  /** Defaults to exitOnFatal; tests and the simulator inject their own to observe it. */
  onFatal?: FatalHandler;
  /** The tick timer's source (default setInterval); the dashboard's clock control (SPEC §11) slows or freezes it. */
  ticker?: Ticker;
  /** Sees each processed Ready and the snapshot index after it (the event ring, SPEC §11). */
  observeReady?: (rd: Ready, snapshotIndex: number) => void;
  /** Timers and time; defaults to the real clock (the simulator drives a simulated one). */
  clock?: Clock;
  /** Seed of the core's election-timeout randomness; defaults to a random one. */
  prngSeed?: number;
  /** Marks each write's stages (RAFTQUOTES_TRACE_WRITES, bench/timeline.ts); absent: no tracing. */
  trace?: WriteTrace;
}

/** Proposals queued before being handed to the core: bounded, so overload answers 429. */
const MAX_PENDING_PROPOSALS = 100_000;
/** How long graceful stop waits for a leadership transfer to complete. */
const TRANSFER_WAIT_MS = 1_500;

/**
 * The node runtime: drives the pure core with a tick timer and the Ready loop
 * (send → persist → send acks → apply → advance), turns client calls into proposals and
 * ReadIndex requests, and implements the controller's actions.
 */
export class RaftNode implements RaftNodeHandle {
  readonly id: NodeId;
  readonly stateMachine: StateMachine;
  /** The peers the transport was last told to link to (see syncPeerLinks). */
  private linkedPeersKey = '';
  /** What syncPeerLinks last ran for (see syncPeerLinksIfChanged); null forces the next. */
  private linkedFor: { config: Configuration; leader: NodeId | null; state: string } | null = null;
  private readonly core: RaftCore;
  private readonly clock: Clock;
  private readonly proposals: Waiters<ApplyResult>;
  private readonly reads: Waiters<void>;
  /** Reads whose index is known, waiting for the state machine to catch up. */
  private readonly readsWaitingApply: Array<{ id: string; index: number }> = [];
  private readonly proposalTerms = new Map<number, { id: string; term: number }>();
  private readonly applyListeners = new Set<ApplyListener>();
  /** Writes this node forwarded to the leader over the peer link. */
  private readonly forwarder: ProposalForwarder;
  /** Answers to forwarded proposals, sent with the next Ready's messages (see HeldAnswers). */
  private readonly forwardAnswers = new HeldAnswers();
  /** Commit-only appends held back for the next append to carry (see commit-notices.ts). */
  private readonly commitNotices: CommitNotices;
  private tickTimer: TickHandle | null = null;
  private loopScheduled = false;
  private shutdownByController = false;
  private stopped = false;
  /** An InstallSnapshot image being built (at most one at a time). */
  private imageInProgress = false;
  /** The last image built, offered again to a follower that needs one (see provideSnapshotImage). */
  private lastImage: { index: number; data: Uint8Array; builtAt: number } | null = null;
  /** The core asked for an image while one was being built ahead of time: offer it when done. */
  private imageAsked = false;
  /** The snapshot index an image was last built ahead of time for (at most one per compaction). */
  private imagePreparedFor = -1;
  /** When the last image built ahead of time started, and how long it took (its CPU budget). */
  private lastAheadBuild: { startedAt: number; tookMs: number } | null = null;
  private readSeq = 0;
  /** ReadIndex requests followers forwarded to this node (their clients' reads, served by its read rounds). */
  private forwardedReads = 0;
  /**
   * A follower's read barrier that the reads of this turn share (null: none open). Every read
   * that joins it arrived before the next Ready hands its ReadIndex request to the transport
   * (only runReadyLoop takes the core's messages, and it closes the group first), so the read
   * point the request earns (the leader's commit index when it takes the request, confirmed by
   * a heartbeat round sent after that, thesis §6.4) covers every write completed before any of
   * them arrived. One request, one answer and one waiter per turn instead of per read: under
   * 64 spread readers a follower forwarded a ReadIndex and got a ReadIndexResponse per read,
   * each encoded, sealed, verified and checked. A leader's own reads need no group: they cost
   * no messages, and its commit index may move within a turn. Only reads with the same
   * deadline join (the controller's RETRIEVE waits longer than an HTTP read).
   */
  private readGroup: { promise: Promise<void>; timeoutMs: number } | null = null;
  private lastSoft: Pick<Ready['softState'], 'state' | 'leader' | 'term'> | null = null;
  /** Tracing only: the highest commit index a leader message has told us of. */
  private traceCommitSeen = 0;
  private readonly lastContact = new Map<NodeId, number>();
  private readonly rejections: RejectionLog;
  /** The hard state last written, to assert it never goes backwards. */
  private persistedHardState: HardState;
  /** A leader's appends written without waiting for the disk (null: the storage cannot). */
  private readonly logSync: LogSync | null;
  /**
   * Answers to this node's clients for entries applied before its own copy was on disk (a
   * leader's unsynced appends that followers committed): SPEC §2 acknowledges a client only
   * once the entries involved are on the node's disk. In index order; see releaseDurableAnswers.
   */
  private readonly answersAwaitingSync: Array<{ entry: Entry; result: ApplyResult }> = [];
  /** Marks an HTTP stage of a write (RaftNodeHandle.traceWrite); only present while tracing, so the API skips it otherwise. */
  readonly traceWrite?: (index: number, stage: 'http_in' | 'http_out', atMicros?: number) => void;

  constructor(
    private readonly options: RaftNodeOptions,
    private readonly deps: RaftNodeDeps,
  ) {
    this.id = options.id;
    this.stateMachine = deps.stateMachine;
    this.clock = deps.clock ?? realClock;
    this.proposals = new Waiters<ApplyResult>(this.clock);
    this.reads = new Waiters<void>(this.clock);
    const trace = deps.trace;
    if (trace) this.traceWrite = (index, stage, atMicros) => trace.mark(index, stage, atMicros);
    this.rejections = new RejectionLog(deps.logger, (reason) => deps.metrics.rejectedMessages.inc({ reason }));
    this.forwarder = new ProposalForwarder({
      id: options.id,
      clock: this.clock,
      term: () => this.core.term,
      send: (to, message) => deps.transport.send(to, message),
      linkUp: (peer) => deps.transport.linkUp?.(peer) ?? true,
      appliedIndex: () => this.stateMachine.appliedIndex(),
    });
    this.commitNotices = new CommitNotices({
      clock: this.clock,
      leading: () => this.core.state === 'leader' && !this.stopped && !this.shutdownByController,
      term: () => this.core.term,
      send: (to, message) => deps.transport.send(to, message),
      flush: () => deps.transport.flush?.(),
    });
    this.logSync = hasUnsyncedWrites(deps.storage)
      ? new LogSync(deps.storage, { synced: (through, ms) => this.onSynced(through, ms), failed: (err) => this.fatal(err, 'syncing the log') }, deps.clock ? () => this.clock.now() : () => performance.now())
      : null;
    const recovered = deps.storage.recover();
    const appliedIndex = RaftNode.catchUpStateMachine(recovered, deps);
    this.persistedHardState = { ...recovered.hardState };
    const seed = options.initialConfiguration === undefined ? {} : { initialConfiguration: options.initialConfiguration };
    this.core = new RaftCore({ snapshotChunkBytes: SNAPSHOT_CHUNK_BYTES, ...options.raft, id: options.id, voters: options.voters, ...seed }, new SeededPrng(deps.prngSeed ?? randomInt(2 ** 31)), {
      ...recovered,
      appliedIndex,
    });
    deps.metrics.watchCore(this.core, () => this.stateMachine.appliedIndex());
    deps.logger.info(
      { term: recovered.hardState.term, lastIndex: this.core.log.lastIndex(), appliedIndex, snapshotIndex: this.core.snapshotIndex() },
      `recovered term=${recovered.hardState.term} lastIndex=${this.core.log.lastIndex()} applied=${appliedIndex}`,
    );
  }

  /**
   * A crash between persisting an installed snapshot and restoring the state machine from
   * it leaves the applied state behind the compacted log: restore it from the snapshot now.
   */
  private static catchUpStateMachine(recovered: RecoveredLog, deps: RaftNodeDeps): number {
    const snapshot = recovered.snapshot;
    if (snapshot && deps.stateMachine.appliedIndex() < recovered.offset) {
      if (snapshot.data === null) {
        // Compaction without an image only follows a durable apply, so this is a damaged data dir.
        throw new StorageError(`state machine at ${deps.stateMachine.appliedIndex()} is behind the compacted log (${recovered.offset}) and no snapshot image is stored; refusing to start`);
      }
      deps.logger.warn(`state machine at ${deps.stateMachine.appliedIndex()} is behind the snapshot at ${snapshot.meta.index}: restoring it`);
      deps.stateMachine.restore(snapshot.meta.index, snapshot.meta.term, snapshot.data);
    }
    return deps.stateMachine.appliedIndex();
  }

  /** Starts peer traffic and the tick timer. */
  async start(): Promise<void> {
    // The transport delivers only what came over a link authenticated as `from` (SPEC §7).
    this.deps.transport.onMessage((message) => this.receive(message, true));
    this.deps.transport.onPeerDown((peer) => {
      if (this.stopped) return;
      this.forwarder.onPeerDown(peer);
      this.guard(() => {
        this.core.reportUnreachable(peer);
        if (this.shutdownByController) return;
        this.core.reportLeaderLinkDown(peer);
      });
      this.schedule();
    });
    await this.deps.transport.start();
    this.syncPeerLinks();
    this.startTicking();
    this.schedule();
  }

  // ---------------------------------------------------------------- RaftNodeHandle

  status(): NodeStatus {
    const core = this.core.basicStatus();
    const timer = this.core.electionTimerView();
    return {
      id: this.id,
      state: this.shutdownByController ? 'shutdown' : this.core.membership().removed ? 'removed' : core.state,
      term: core.term,
      leader: this.knownLeader(),
      commitIndex: core.commitIndex,
      appliedIndex: this.stateMachine.appliedIndex(),
      lastIndex: core.lastIndex,
      snapshotIndex: core.snapshotIndex,
      electionElapsedMs: timer.elapsed * this.options.tickMs,
      electionTimeoutMs: timer.timeout * this.options.tickMs,
      http: this.options.httpUrl,
      peers: this.peerStatuses(),
      members: this.membersSummary(),
    };
  }

  knownLeader(): NodeId | null {
    return this.shutdownByController ? null : this.core.leader;
  }

  /** Voters of the configuration in effect (both halves while joint), this node included if it votes. */
  get voters(): NodeId[] {
    return voterIds(this.core.membership().config);
  }

  /** The configuration in effect, with addresses (GET /api/members). */
  members(): MembersView {
    return membersView(this.core.membership(), (id) => ({ raft: '', http: this.peerHttpUrl(id) ?? '' }));
  }

  private membersSummary(): NodeStatus['members'] {
    const view = this.members();
    const current = new Set([...view.voters, ...view.learners].map((m) => m.id));
    const removed = new Set<NodeId>();
    for (const m of this.core.knownMembers()) if (!current.has(m.id) && !view.joint?.outgoing.includes(m.id)) removed.add(m.id);
    // A leader keeps telling removed members for a while (their progress outlives their membership).
    for (const peer of this.core.progressView().keys()) if (!current.has(peer) && !view.joint?.outgoing.includes(peer)) removed.add(peer);
    return { configIndex: view.configIndex, voters: view.voters.map((m) => m.id), learners: view.learners.map((m) => m.id), joint: view.joint, removed: [...removed].sort() };
  }

  /**
   * Proposes a membership change on the leader and resolves once the final configuration is
   * committed (after leaving the joint one, if any). Throws MembershipError (400/409) or
   * NodeError (not_leader, so the API forwards it; timeout).
   */
  async changeMembers(changes: readonly ConfChange[], timeoutMs = this.options.defaultTimeoutMs): Promise<{ index: number; members: MembersView }> {
    const refused = this.refusal();
    if (refused) throw refused;
    const result = this.core.proposeConfChange(changes);
    if (!result.ok) {
      const error = confChangeRefusal(result);
      if (error) throw error;
      throw this.proposeError({ ok: false, error: result.error === 'transferring' ? 'transferring' : 'not_leader', leader: result.leader });
    }
    this.deps.logger.info({ changes, index: result.index, joint: result.joint }, `membership change proposed at index ${result.index}${result.joint ? ' (joint)' : ''}`);
    this.schedule();
    await this.waitFor(() => changeFinished(this.core.membership(), result.index), timeoutMs);
    if (!changeFinished(this.core.membership(), result.index)) {
      throw new NodeError('timeout', `the membership change at index ${result.index} was not known committed within ${timeoutMs} ms; it may still complete`);
    }
    return { index: this.core.membership().configIndex, members: this.members() };
  }

  /**
   * syncPeerLinks when what it reads may have changed: the configuration in effect (a new
   * point, or one dropped by truncation), the leader or role (a leader's progress), an
   * installed snapshot. The ticker also forces it now and then (a retired member's progress
   * ends on a tick). Building its key on every Ready was idle CPU on every node.
   */
  private syncPeerLinksIfChanged(rd: Ready): void {
    const config = this.core.membership().config;
    const seen = this.linkedFor;
    if (seen && !rd.snapshot && seen.config === config && seen.leader === rd.softState.leader && seen.state === rd.softState.state) return;
    this.syncPeerLinks();
    this.linkedFor = { config, leader: rd.softState.leader, state: rd.softState.state };
  }

  /**
   * Keeps one transport link per member of the configuration in effect, per removed member
   * the leader still tells of its removal, and to the leader we follow, dialing the Raft address recorded in the
   * configuration (seed members keep the address --peers gave the transport).
   */
  private syncPeerLinks(): void {
    const setPeers = this.deps.transport.setPeers?.bind(this.deps.transport);
    if (!setPeers) return;
    const config = this.core.membership().config;
    const wanted = new Map<NodeId, string>();
    for (const m of allMembers(config)) if (m.id !== this.id) wanted.set(m.id, m.raft);
    // Members of the earlier configurations still held, too: when the latest one is an
    // uncommitted leftover a new leader will truncate (§4.1), that leader and the voters
    // electing it may be missing from it, and refusing them would deadlock the election (sim seed 371).
    for (const m of this.core.knownMembers()) if (m.id !== this.id && !wanted.has(m.id)) wanted.set(m.id, m.raft);
    for (const peer of this.core.progressView().keys()) if (!wanted.has(peer)) wanted.set(peer, '');
    // A leader removing itself leads until its removal commits (§4.2.2): keep answering it.
    const leader = this.core.leader;
    if (leader !== null && leader !== this.id && !wanted.has(leader)) wanted.set(leader, '');
    const key = [...wanted].map(([id, raft]) => `${id}=${raft}`).sort().join(',');
    if (key === this.linkedPeersKey) return;
    this.linkedPeersKey = key;
    setPeers([...wanted].map(([id, raft]) => ({ id, raft })));
  }

  private peerStatuses(): Record<NodeId, PeerStatus> {
    const progress = this.core.progressView();
    const links = new Map(this.deps.transport.stats().map((s) => [s.peer, s]));
    const peers: Record<NodeId, PeerStatus> = {};
    const now = this.clock.now();
    const members = allMembers(this.core.membership().config).map((m) => m.id);
    for (const peer of new Set([...members, ...progress.keys()])) {
      if (peer === this.id) continue;
      const pr = progress.get(peer);
      const contact = this.lastContact.get(peer);
      peers[peer] = {
        matchIndex: pr?.matchIndex ?? 0,
        nextIndex: pr?.nextIndex ?? 0,
        lastContactMs: contact === undefined ? null : now - contact,
        inflight: pr?.inflight ?? 0,
        progress: pr?.state ?? 'none',
        connected: links.get(peer)?.connected ?? false,
      };
    }
    return peers;
  }

  peerHttpUrl(peer: NodeId): string | null {
    if (peer === this.id) return this.options.httpUrl;
    // A member added at run time: the URL recorded in the configuration (SPEC §9).
    const recorded = findMember(this.core.membership().config, peer)?.http;
    return this.deps.transport.peerHttpUrl(peer) ?? (recorded ? recorded : null);
  }

  isShutdown(): boolean {
    return this.shutdownByController;
  }

  recentLog(from: number, limit: number): { entries: Array<{ index: number; term: number; type: string }>; commitIndex: number; firstIndex: number } {
    const log = this.core.log;
    const start = Math.max(from, log.firstIndex());
    const entries: Array<{ index: number; term: number; type: string }> = [];
    for (let index = start; index <= log.lastIndex() && entries.length < limit; index++) {
      const entry = defined(log.entryAt(index), () => `no entry ${index} in ${log.firstIndex()}..${log.lastIndex()}`);
      entries.push({ index, term: entry.term, type: entry.type });
    }
    return { entries, commitIndex: log.commitIndex, firstIndex: log.firstIndex() };
  }

  propose(command: Command, timeoutMs = this.options.defaultTimeoutMs): Promise<ApplyResult> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    if (this.proposals.size >= MAX_PENDING_PROPOSALS) {
      return Promise.reject(new NodeError('too_many_requests', 'too many writes in flight; retry shortly'));
    }
    const result = this.core.propose(JSON.stringify(command));
    if (!result.ok) return Promise.reject(this.proposeError(result));
    this.supersedeProposalAt(result.index);
    this.deps.trace?.mark(result.index, 'propose');
    // Term and index: a leader deposed and re-elected proposes again at indexes it used before.
    const id = `p${result.term}.${result.index}`;
    this.proposalTerms.set(result.index, { id, term: result.term });
    this.deps.metrics.proposals.inc();
    this.schedule();
    return this.proposals.wait(id, timeoutMs, () => {
      if (this.proposalTerms.get(result.index)?.id === id) this.proposalTerms.delete(result.index);
      return new NodeError('timeout', `write at index ${result.index} not applied within ${timeoutMs} ms; it may or may not commit`);
    });
  }

  /**
   * This node, leading again, proposes at `index` where its proposal of an earlier term still
   * waits. That entry is not committed now (Leader Completeness: this leader would hold it),
   * but it may survive on other nodes, and a later leader that has it can still commit it
   * (when this term's entries never reach a majority). So the outcome is unknown: answer
   * 504 now (its deadline would otherwise be taken for the new proposal's), never "not applied".
   */
  private supersedeProposalAt(index: number): void {
    const old = this.proposalTerms.get(index);
    if (!old) return;
    assert(old.term < this.core.term, () => `two proposals at index ${index} in term ${old.term}`);
    this.proposalTerms.delete(index);
    this.proposals.reject(old.id, new NodeError('timeout', `leadership changed before the write at index ${index} committed; it may or may not commit`));
  }

  private proposeError(result: Extract<ProposeResult, { ok: false }>): NodeError {
    if (result.error === 'too_many_requests') return new NodeError('too_many_requests', 'too many uncommitted entries; retry shortly');
    if (result.error === 'transferring') return new NodeError('no_leader', 'leadership transfer in progress; retry shortly');
    if (result.leader && result.leader !== this.id) return new NodeError('not_leader', `not the leader; the leader is ${result.leader}`, result.leader);
    return new NodeError('no_leader', 'no leader is known right now; retry shortly');
  }

  /**
   * Proposes on the leader; a follower forwards the command over the peer link and answers
   * with its own apply result (see forwarding.ts). Never forwards twice: the leader proposes.
   */
  async submit(command: Command, timeoutMs = this.options.defaultTimeoutMs): Promise<{ result: ApplyResult; leader: NodeId }> {
    const refused = this.refusal();
    if (refused) throw refused;
    const leader = this.core.leader;
    if (this.core.state === 'leader' || leader === null || leader === this.id) return { result: await this.propose(command, timeoutMs), leader: this.id };
    const result = await this.forwarder.forward(leader, JSON.stringify(command), timeoutMs);
    return { result, leader };
  }

  /** Forwarded proposals arrived from a follower: propose them and answer (term, index) or a refusal each. */
  private acceptForwarded(m: Extract<PeerMessage, { type: 'Propose' | 'ProposeBatch' }>): void {
    answerProposal(m, {
      id: this.id,
      unavailable: () => this.refusal() !== null,
      term: () => this.core.term,
      propose: (data) => {
        const result = this.core.propose(data);
        if (result.ok) this.deps.metrics.proposals.inc();
        if (result.ok) this.deps.trace?.mark(result.index, 'propose');
        if (result.ok) this.commitNotices.forwarded(m.from, result.index);
        return result.ok ? result : { ok: false, error: result.error === 'transferring' || result.error === 'too_many_requests' ? result.error : 'not_leader' };
      },
      admit: (data) => this.admitForwarded(data),
      send: (to, message) => this.forwardAnswers.hold(to, message),
    });
    this.schedule();
  }

  /** The quota check the API makes before a local propose (SPEC §5), for a forwarded command. */
  private admitForwarded(data: string): 'bad_command' | 'quota_exceeded' | null {
    if (this.options.quotaBytes === undefined || this.core.state !== 'leader') return null;
    const command = decodeCommand(data);
    if (!command) return 'bad_command';
    return quotaProblem(this.stateMachine, command, this.options.quotaBytes) ? 'quota_exceeded' : null;
  }

  /**
   * A count that grows with the work this node does for clients: entries applied, read
   * barriers opened here, reads followers forwarded here. The heap trimmer (cli/heap-trim.ts)
   * takes a node whose count stands still as quiet; reads apply nothing, so the applied index
   * alone called a node serving thousands of reads a second quiet.
   */
  activity(): number {
    return this.stateMachine.appliedIndex() + this.readSeq + this.forwardedReads;
  }

  readBarrier(timeoutMs = this.options.defaultTimeoutMs): Promise<void> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    if (this.options.unsafeLocalReads) return Promise.resolve();
    if (this.readGroup?.timeoutMs === timeoutMs) return this.readGroup.promise;
    const id = `r${++this.readSeq}`;
    const promise = this.reads.wait(id, timeoutMs, () => new NodeError('timeout', `read index not confirmed within ${timeoutMs} ms`));
    this.core.readIndex(id);
    if (this.core.state === 'follower') this.readGroup = { promise, timeoutMs };
    this.schedule();
    return promise;
  }

  onApply(listener: ApplyListener): () => void {
    this.applyListeners.add(listener);
    return () => this.applyListeners.delete(listener);
  }

  campaign(): void {
    if (this.shutdownByController) {
      this.deps.logger.warn('ignoring TIMEOUT: node is shut down (send CONVERT_FOLLOWER to revive it)');
      return;
    }
    this.core.campaign(true);
    this.schedule();
  }

  becomeFollower(): void {
    if (this.shutdownByController) this.resume();
    this.core.becomeFollowerKeepTerm('told to become follower');
    this.schedule();
  }

  shutdown(): void {
    if (this.shutdownByController) return;
    this.shutdownByController = true;
    this.stopTicking();
    this.failAllWaiters(new NodeError('unavailable', 'node is shut down by the controller'));
    this.deps.logger.warn('shut down by the controller: raft activity stopped');
  }

  resume(): void {
    if (!this.shutdownByController) return;
    this.shutdownByController = false;
    this.core.becomeFollowerKeepTerm('resumed after shutdown');
    this.startTicking();
    this.deps.logger.info(`resumed as follower term=${this.core.term}`);
    this.schedule();
  }

  async transferLeadership(to?: NodeId): Promise<void> {
    const refused = this.refusal();
    if (refused) throw refused;
    const target = to ?? this.core.bestTransferTarget();
    if (this.core.state !== 'leader') throw new NodeError('not_leader', 'only the leader can transfer leadership', this.core.leader);
    if (!target || !this.core.transferLeadership(target)) throw new NodeError('no_leader', `cannot transfer leadership to ${to ?? 'a peer'}`);
    this.schedule();
    await this.waitFor(() => this.core.state !== 'leader' || this.core.transferTarget() === null, TRANSFER_WAIT_MS);
  }

  /** Graceful stop (SIGTERM): hand leadership over first, then close everything cleanly. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    if (this.core.state === 'leader' && !this.shutdownByController) {
      await this.transferLeadership().catch((err: Error) => this.deps.logger.warn(`leadership transfer on stop failed: ${err.message}`));
    }
    this.stopped = true;
    this.stopTicking();
    this.failAllWaiters(new NodeError('unavailable', 'node is stopping'));
    await this.deps.transport.close();
    this.syncBeforeClose();
    this.deps.storage.close();
  }

  /** A clean stop leaves nothing it wrote unsynced (closing SQLite syncs too; this does not rely on it). */
  private syncBeforeClose(): void {
    try {
      this.logSync?.syncNow();
    } catch (err) {
      this.deps.logger.warn(`sync on stop failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /**
   * The core, for the simulator's safety checker and forger to read (its state is behind
   * getters and #private fields, so reading is all they can do short of stepping it).
   */
  raftView(): RaftCore {
    return this.core;
  }

  // ---------------------------------------------------------------- driving the core

  /**
   * Steps a message from a peer (the transport's handler, which vouches for the sender; the
   * simulator's forger calls it too, vouching for nothing) and returns the Rejection of a message refused by validation. Anything from the network may be hostile (SPEC §7), so:
   * - The core validates the message before it changes any state, and returns a Rejection
   *   for one that is malformed or impossible from a correct peer. Validation is a pure
   *   read of the core that cannot throw (message-validation.ts), so a rejected message
   *   provably left the core as it was: it is counted, logged (rate-limited) and dropped,
   *   and the node goes on: a forged Heartbeat or a RequestVote of term 2^53 ends here.
   * - A throw from step() can then only come after validation accepted the message, while
   *   the core was changing its state: the core may be half-updated (say, a new term without
   *   the vote reset), and going on could break safety. So it stays fatal, loudly, naming the
   *   message: restarting from the last durable state is safe, continuing is not. It must be
   *   a bug in our own code, since validation is meant to refuse every message that could
   *   trip an assertion; the fuzz test (src/sim/forged-messages.test.ts) holds it to that.
   * Catching and continuing after a partial update, or snapshotting the core before every
   * step to roll back, were rejected: the first risks safety, the second costs a copy per
   * message on the hot path to handle what should be unreachable.
   */
  receive(message: PeerMessage, authenticatedSender = false): Rejection | null {
    if (isForwardMessage(message)) return this.receiveForward(message);
    if (this.shutdownByController || this.stopped) return null;
    const receivedAt = this.deps.trace ? monotonicMicros() : 0;
    let rejected: Rejection | null;
    try {
      rejected = this.core.step(message, authenticatedSender);
    } catch (err) {
      this.fatal(err, `while stepping ${describeValue(message.type)} from ${describeValue(message.from)} term ${describeValue(message.term)}`);
      return null;
    }
    if (rejected) {
      this.rejections.report(rejected);
      return rejected;
    }
    // Only after validation: `from` is then a member, not a key an attacker chose.
    this.lastContact.set(message.from, this.clock.now());
    if (message.type === 'ReadIndex') this.forwardedReads++;
    if (this.deps.trace) this.traceReceive(this.deps.trace, message, receivedAt);
    this.schedule();
    return null;
  }

  /**
   * A forwarding frame: not Raft, never stepped. Checked field by field again here
   * (the transport did, but the simulator's forger calls receive directly), then handled;
   * answered even while shut down (a refusal), so a follower's client gets its 503 at once.
   */
  private receiveForward(message: ForwardMessage): Rejection | null {
    if (this.stopped) return null;
    const checked = checkMessage(message, message.from, this.id);
    if ('reason' in checked || !isForwardMessage(checked.message)) {
      const rejection: Rejection = { reason: 'malformed', detail: 'reason' in checked ? checked.reason : 'not a forwarding frame', type: String(message.type), from: describeValue(message.from), term: describeValue(message.term) };
      this.rejections.report(rejection);
      return rejection;
    }
    const m = checked.message;
    if (m.type === 'Propose' || m.type === 'ProposeBatch') this.guard(() => this.acceptForwarded(m));
    else this.forwarder.onResponse(m);
    return null;
  }

  private startTicking(): void {
    if (this.tickTimer) return;
    let ticks = 0;
    this.tickTimer = (this.deps.ticker ?? clockTicker(this.clock)).every(this.options.tickMs, () => {
      this.guard(() => {
        this.core.tick();
        if (++ticks % 50 === 0) {
          this.deps.metrics.observePeers(this.core);
          this.dropStaleImage();
          this.linkedFor = null;
          this.prepareImageForLaggards(this.core.log.offset);
        }
      });
      // Most ticks only count time (a follower sends nothing on them): a Ready-loop turn for them is idle CPU.
      if (!this.stopped && this.core.hasReady()) this.schedule();
    });
  }

  private stopTicking(): void {
    this.tickTimer?.cancel();
    this.tickTimer = null;
  }

  /** Runs the Ready loop once per event-loop turn, so inputs that arrived together batch. */
  private schedule(): void {
    if (this.loopScheduled || this.stopped) return;
    this.loopScheduled = true;
    this.clock.setImmediate(() => {
      this.loopScheduled = false;
      this.runReadyLoop();
    });
  }

  private runReadyLoop(): void {
    if (this.stopped) return;
    if (this.deps.trace) this.deps.trace.turns++;
    // The reads so far share the request this Ready sends; a later one needs a new request.
    this.readGroup = null;
    this.guard(() => {
      // Before the Ready's messages: an answer precedes the entries it names on the link.
      this.forwardAnswers.sendAll((to, message) => this.deps.transport.send(to, message));
      // Writes forwarded this turn go out with the Ready's first flush, not after its fsync.
      this.forwarder.flush();
      for (let rounds = 0; rounds < 64 && this.core.hasReady(); rounds++) this.processReady(this.core.ready());
      if (this.core.hasReady()) this.schedule();
    });
  }

  /** A broken invariant or a storage failure: stop loudly rather than risk corrupting data. */
  private guard(body: () => void): void {
    try {
      body();
    } catch (err) {
      this.fatal(err, '');
    }
  }

  /**
   * Stops the node for good: logs, stops stepping and ticking, then hands over to the fatal
   * handler (exit 70 in production). Nothing after this touches the core or the storage.
   */
  private fatal(err: unknown, context: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopTicking();
    const message = err instanceof Error ? err.message : String(err);
    this.deps.logger.error({ err }, `fatal${context ? ` ${context}` : ''}: ${message}`);
    (this.deps.onFatal ?? exitOnFatal)(err);
  }

  private processReady(rd: Ready): void {
    this.traceEntries(rd.entries, 'ready');
    this.logTransitions(rd);
    // Before sending: the core may now address a member added (or keep one removed) since the last Ready.
    this.syncPeerLinksIfChanged(rd);
    this.sendAll(rd.messages);
    // On the wire before the fsync below (a queued send would otherwise wait for it): the
    // leader's followers persist in parallel with the leader (SPEC §2 durability rule).
    this.deps.transport.flush?.();
    this.traceEntries(rd.entries, 'sent');
    const unsynced = this.mayWriteUnsynced(rd);
    const { restored, synced } = unsynced ? this.writeUnsynced(rd) : this.persistAndRestore(rd);
    this.traceEntries(rd.entries, 'persisted');
    const covered = unsynced ? null : this.coverEarlierWrites(rd, synced);
    this.sendAll(rd.messagesAfterPersist);
    this.deps.transport.flush?.();
    if (rd.messagesAfterPersist.length > 0) this.traceEntries(rd.entries, 'ack_sent');
    if (rd.snapshot && !restored) this.stateMachine.restore(rd.snapshot.meta.index, rd.snapshot.meta.term, rd.snapshot.data);
    if (rd.snapshot) this.forwarder.onSnapshot(rd.snapshot.meta.index);
    this.traceEntries(rd.committedEntries, 'apply_ready');
    if (rd.committedEntries.length > 0) this.apply(rd.committedEntries);
    this.traceEntries(rd.committedEntries, 'applied');
    for (const rs of rd.readStates) this.onReadState(rs.requestId, rs.index);
    if (rd.snapshotImageWanted) this.provideSnapshotImage();
    this.core.advance(rd, !unsynced);
    if (covered) this.core.syncedTo(covered.index, covered.term);
    this.releaseDurableAnswers();
    this.releaseReads();
    this.maybeSnapshot();
    this.deps.observeReady?.(rd, this.core.snapshotIndex());
  }

  /**
   * Persists the Ready. An installed snapshot goes into a durable state machine in the same
   * transaction as the log is replaced, so its tables are the snapshot and the image is not
   * stored as well: that halved the install's writes, and an image over SQLite's 1 GB blob
   * limit could not be stored at all. Returns whether the state machine was restored here.
   */
  private persistAndRestore(rd: Ready): { restored: boolean; synced: boolean } {
    const snapshot = rd.snapshot;
    const storage = this.deps.storage;
    if (!snapshot || !this.stateMachine.durable || !storage.atomically) return { restored: false, synced: this.persist(rd, true) };
    const started = this.clock.now();
    storage.atomically(() => {
      this.persist(rd, false);
      this.stateMachine.restore(snapshot.meta.index, snapshot.meta.term, snapshot.data);
    });
    this.deps.logger.info(`installed snapshot index=${snapshot.meta.index} term=${snapshot.meta.term} (${snapshot.data.length} bytes, ${this.clock.now() - started} ms)`);
    return { restored: true, synced: true };
  }

  /**
   * A leader's Ready whose only durable change is its new entries (and the commit index) is
   * written without waiting for the disk (see LogSync). Anything else (a term or vote, a
   * snapshot, messages that must follow the write, a follower's appends, which it acknowledges)
   * is written and synced before the Ready goes on.
   */
  private mayWriteUnsynced(rd: Ready): boolean {
    if (!this.logSync || rd.softState.state !== 'leader' || rd.entries.length === 0 || rd.snapshot || rd.messagesAfterPersist.length > 0) return false;
    const hardState = rd.hardState;
    return !hardState || (hardState.term === this.persistedHardState.term && hardState.vote === this.persistedHardState.vote);
  }

  private writeUnsynced(rd: Ready): { restored: boolean; synced: boolean } {
    const logSync = defined(this.logSync, 'unsynced writes need a storage that has them');
    const last = defined(rd.entries[rd.entries.length - 1], 'an unsynced write has entries');
    if (rd.hardState) this.checkHardStateMovesForward(rd.hardState);
    logSync.write({ hardState: rd.hardState, snapshot: null, entries: rd.entries }, { index: last.index, term: last.term });
    if (rd.hardState) this.persistedHardState = { ...rd.hardState };
    this.deps.metrics.appendBatch.observe(rd.entries.length);
    return { restored: false, synced: false };
  }

  /**
   * Earlier unsynced writes are durable once this Ready's synced write is (one WAL, synced in
   * order); a Ready that wrote nothing but sends messages that promise our log is durable (a
   * deposed leader's acknowledgement, say) syncs first. Returns the last entry now durable.
   */
  private coverEarlierWrites(rd: Ready, synced: boolean): EntryId | null {
    if (!this.logSync?.pending) return null;
    if (synced) return this.logSync.covered();
    return rd.messagesAfterPersist.length > 0 ? this.logSync.syncNow() : null;
  }

  /** The leader's unsynced appends are durable up to `through`: they now count for commit. */
  private onSynced(through: EntryId, ms: number): void {
    if (this.stopped) return;
    this.deps.metrics.persistSeconds.observe(ms / 1000);
    this.guard(() => this.core.syncedTo(through.index, through.term));
    this.releaseDurableAnswers();
    this.releaseReads();
    this.schedule();
  }

  /** Writes and syncs the Ready's durable part; returns whether anything was written (and synced). */
  private persist(rd: Ready, storeImage: boolean): boolean {
    if (!rd.hardState && !rd.snapshot && rd.entries.length === 0) return false;
    if (rd.hardState) this.checkHardStateMovesForward(rd.hardState);
    if (rd.hardState && this.onlyMovesCommit(rd, rd.hardState)) {
      this.persistedHardState = { ...rd.hardState };
      return false;
    }
    const started = process.hrtime.bigint();
    this.deps.storage.persist({ hardState: rd.hardState, snapshot: rd.snapshot, entries: rd.entries, storeImage });
    if (rd.hardState) this.persistedHardState = { ...rd.hardState };
    this.deps.metrics.persistSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    if (rd.entries.length > 0) this.deps.metrics.appendBatch.observe(rd.entries.length);
    return true;
  }

  /**
   * A Ready whose only durable change is the commit index is not written: it would cost
   * an fsync (SQLite FULL) between a write's commit and its apply on the leader, and between a
   * follower learning a commit and applying it. etcd's raft.MustSync does not sync it either.
   * The commit index is volatile state (Figure 2); the stored one is only a lower bound to
   * re-apply from at restart, and it stays one: it is written with the next entries, term or
   * vote, the state machine's applied index covers what was applied since, and the core
   * recovers max(stored commit, applied index). A restarted node learns the rest from the
   * leader, as it would after a power cut lost an unsynced write.
   */
  private onlyMovesCommit(rd: Ready, hardState: HardState): boolean {
    if (rd.entries.length > 0 || rd.snapshot !== null) return false;
    return hardState.term === this.persistedHardState.term && hardState.vote === this.persistedHardState.vote;
  }

  /**
   * The term only grows, a vote once cast stands for its term, and the commit index only
   * grows: a hard state going backwards on disk would let a restarted node vote twice.
   */
  private checkHardStateMovesForward(next: HardState): void {
    const prev = this.persistedHardState;
    assert(next.term >= prev.term, () => `persisting term ${next.term} after term ${prev.term}`);
    assert(next.term > prev.term || prev.vote === null || next.vote === prev.vote, () => `persisting vote ${next.vote} in term ${next.term} after voting ${prev.vote}`);
    assert(next.commit >= prev.commit, () => `persisting commit ${next.commit} after commit ${prev.commit}`);
  }

  private sendAll(messages: Message[]): void {
    this.commitNotices.sendAll(messages);
  }

  /** Committed entries apply in order, each exactly once: from just past the applied index. */
  private apply(entries: Entry[]): void {
    const applied = this.stateMachine.appliedIndex();
    assert(entries[0]?.index === applied + 1, () => `applying from ${entries[0]?.index} after applied ${applied}`);
    const results = this.stateMachine.apply(entries);
    const last = entries[entries.length - 1]?.index;
    assert(this.stateMachine.appliedIndex() === last, () => `state machine at ${this.stateMachine.appliedIndex()} after applying up to ${last}`);
    assert(results.length === entries.length, () => `${results.length} results for ${entries.length} entries`);
    entries.forEach((entry, i) => {
      const result = defined(results[i], () => `no result for entry ${entry.index}`);
      this.answerWhenDurable(entry, result);
      this.forwarder.onApplied(entry, result);
    });
    for (const listener of this.applyListeners) {
      try {
        listener(entries, results);
      } catch (err) {
        this.deps.logger.warn(`apply listener failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /** Marks `stage` for each entry (tracing only). */
  private traceEntries(entries: readonly Entry[], stage: TraceStage): void {
    const trace = this.deps.trace;
    if (!trace) return;
    for (const entry of entries) trace.mark(entry.index, stage);
  }

  /**
   * Tracing: a follower receives entries (or learns a commit index), the leader an append
   * acknowledged by a follower. Called only for a message the core validated.
   */
  private traceReceive(trace: WriteTrace, message: Message, at: number): void {
    if (message.type === 'AppendEntries') {
      for (const entry of message.entries) trace.mark(entry.index, 'recv', at);
      if (message.commit > this.traceCommitSeen) trace.mark(message.commit, 'commit_recv', at);
      this.traceCommitSeen = Math.max(this.traceCommitSeen, message.commit);
    } else if (message.type === 'Heartbeat' && message.commit > this.traceCommitSeen) {
      trace.mark(message.commit, 'commit_recv', at);
      this.traceCommitSeen = message.commit;
    } else if (message.type === 'AppendEntriesResponse' && message.success) {
      trace.mark(message.matchIndex, `ack:${message.from}`, at);
    }
  }

  /**
   * Everything this node wrote is on its disk (lastIndex) unless a leader's unsynced append
   * is still pending; then the core's stable index (which this Ready's own write, if synced,
   * raises at advance: answers held for that are released right after it).
   */
  private durableNow(): number {
    return this.logSync?.pending ? this.core.log.stableIndex : this.core.log.lastIndex();
  }

  private answerWhenDurable(entry: Entry, result: ApplyResult): void {
    if (!this.proposalTerms.has(entry.index)) return;
    if (entry.index <= this.durableNow() && this.answersAwaitingSync.length === 0) this.settleProposal(entry, result);
    else this.answersAwaitingSync.push({ entry, result });
  }

  private releaseDurableAnswers(): void {
    const durable = this.durableNow();
    let count = 0;
    while (count < this.answersAwaitingSync.length && (this.answersAwaitingSync[count]?.entry.index ?? Infinity) <= durable) count++;
    for (const { entry, result } of this.answersAwaitingSync.splice(0, count)) this.settleProposal(entry, result);
  }

  private settleProposal(entry: Entry, result: ApplyResult): void {
    const proposal = this.proposalTerms.get(entry.index);
    if (!proposal) return;
    this.proposalTerms.delete(entry.index);
    if (proposal.term === entry.term) this.proposals.resolve(proposal.id, result);
    else this.proposals.reject(proposal.id, new NodeError('no_leader', 'leadership changed before the write committed; it was not applied'));
  }

  private onReadState(id: string, index: number | null): void {
    if (index === null) {
      const leader = this.core.leader;
      this.reads.reject(id, new NodeError('no_leader', leader ? `leader ${leader} could not confirm the read` : 'no leader to confirm the read'));
      return;
    }
    this.readsWaitingApply.push({ id, index });
  }

  private releaseReads(): void {
    if (this.readsWaitingApply.length === 0) return;
    // Applied here, and on this node's disk (SPEC §2; see answersAwaitingSync).
    const ready = Math.min(this.stateMachine.appliedIndex(), this.durableNow());
    let kept = 0;
    for (const read of this.readsWaitingApply) {
      if (read.index <= ready) this.reads.resolve(read.id, undefined);
      else this.readsWaitingApply[kept++] = read;
    }
    this.readsWaitingApply.length = kept;
  }

  /**
   * Local snapshot + compaction. A durable state machine is its own snapshot, so this costs
   * two small transactions; both are FULL, which also syncs the NORMAL apply frames before
   * them in the one WAL, so the applied state is on disk before any entry it covers is dropped.
   */
  private maybeSnapshot(): void {
    const applied = this.stateMachine.appliedIndex();
    if (applied - this.core.snapshotIndex() < this.options.snapshotEvery) return;
    // An image being built must stay at or after the log's offset to be usable: wait for it.
    if (this.imageInProgress) return;
    const started = this.clock.now();
    const { meta, offset, offsetTerm } = this.core.compact(applied, this.imageHeldAt(applied));
    const data = this.stateMachine.durable ? null : this.stateMachine.snapshot();
    this.deps.storage.saveSnapshot({ meta, data });
    this.deps.storage.compact(offset, offsetTerm);
    this.deps.logger.info(`snapshot at index=${applied} (${data ? `${data.length} bytes` : 'the state machine itself'}, ${this.clock.now() - started} ms), log compacted to ${offset}`);
    this.prepareImageForLaggards(offset);
  }

  /**
   * The index of the last InstallSnapshot image while it is at most IMAGE_HOLD_INTERVALS
   * snapshot intervals old: compaction keeps the log after it, so a follower that comes back
   * gets that image at once and the entries since from the log. Without the hold, every
   * compaction made the last image useless, and a follower that came back before the next one
   * was built (the build budget below skips some) waited for a build on demand: 0.9 s of a
   * 2.9 s catch-up of 100,000 entries. The log held is at most IMAGE_HOLD_INTERVALS + 1
   * intervals of entries, and only while an image is held (a peer is behind, or was lately).
   */
  private imageHeldAt(applied: number): number {
    const image = this.reusableImage();
    return image && applied - image.index <= IMAGE_HOLD_INTERVALS * this.options.snapshotEvery ? image.index : applied;
  }

  /**
   * The last image's hold ends within a snapshot interval: its successor is built now, over the
   * budget if need be (at most one build per IMAGE_HOLD_INTERVALS - 1 intervals), so that a
   * follower coming back always finds an image. Compaction waits while it is built.
   */
  private imageHoldEnding(): boolean {
    const image = this.lastImage;
    return image !== null && this.stateMachine.appliedIndex() - image.index >= (IMAGE_HOLD_INTERVALS - 1) * this.options.snapshotEvery;
  }

  /** The last image is a snapshot interval old or more: worth replacing with a newer one (its catch-up replays fewer entries). */
  private imageAging(): boolean {
    const image = this.lastImage;
    return image === null || this.stateMachine.appliedIndex() - image.index >= this.options.snapshotEvery;
  }

  /**
   * While a peer is down under steady writes, every compaction would start another build (seconds
   * of a leader's time each for a large state), slowing the writes of everyone else for
   * an image that only a returning peer uses. So the next one waits until the last one's
   * duration is at most AHEAD_BUILD_MAX_SHARE of the time since it started; the 50-tick check
   * builds the one that was skipped once writes quiet down.
   */
  private aheadBuildOverBudget(): boolean {
    const last = this.lastAheadBuild;
    return last !== null && this.clock.now() - last.startedAt < last.tookMs / AHEAD_BUILD_MAX_SHARE;
  }

  /**
   * A peer whose match is now behind the log's offset can only be caught up by InstallSnapshot
   * (§7). The leader builds that image now, in the background, rather than when the peer comes
   * back: building it then was a large share of a catch-up. The image stays usable until the
   * next compaction, so a peer that stays away gets a fresh one at a compaction when the build
   * budget allows (aheadBuildOverBudget); it then catches up the rest from the log.
   * Also checked every 50 ticks, for a leader elected while the peer was away; at most one image
   * per compaction, so a member that stays down does not cost a build every IMAGE_REUSE_MS.
   */
  private prepareImageForLaggards(offset: number): void {
    if (this.imageInProgress || this.stopped || this.imagePreparedFor === this.core.snapshotIndex() || offset === 0) return;
    let lagging = false;
    for (const [peer, p] of this.core.progressView()) {
      // A peer that answers gets its image when its probe asks (and a new leader knows no matches yet).
      const silent = p.ticksSinceContact === null || p.ticksSinceContact >= LAGGARD_SILENT_TICKS;
      if (peer !== this.id && p.matchIndex < offset && silent) lagging = true;
    }
    if (!lagging || (this.aheadBuildOverBudget() && !this.imageHoldEnding())) return;
    this.dropStaleImage();
    // The last image stays held (imageHeldAt) and offered until the new one replaces it.
    if (!this.imageAging()) return;
    this.imageInProgress = true;
    this.imageAsked = false;
    this.imagePreparedFor = this.core.snapshotIndex();
    this.buildImage(true, (_index, _data, startedAt) => {
      this.imageInProgress = false;
      this.lastAheadBuild = { startedAt, tookMs: this.clock.now() - startedAt };
      if (this.imageAsked) this.provideSnapshotImage();
    });
  }

  /**
   * A follower needs InstallSnapshot: an image of the state machine, built page by page while
   * the node keeps serving (freed by the core after the transfer). Building it in one go
   * blocked a leader of 200,000 keys for ~1 s, past the election timeout: every new leader
   * then started its own image and lost leadership in turn, and catch-up took 20-55 s.
   *
   * The last image built is offered again while the log still covers everything after it
   * (etcd sends its latest snapshot file the same way): a second follower, or a transfer
   * that broke off, does not cost another build (1-3 s of a leader's CPU for 100,000 keys).
   * The follower then catches up the entries after the image from the log.
   */
  private provideSnapshotImage(): void {
    if (this.imageInProgress) {
      this.imageAsked = true;
      return;
    }
    this.imageInProgress = true;
    const reusable = this.reusableImage();
    if (reusable) {
      this.deps.logger.info(`snapshot image for InstallSnapshot reused at index=${reusable.index} (${reusable.data.length} bytes, built ${this.clock.now() - reusable.builtAt} ms ago)`);
      void Promise.resolve().then(() => this.offerImage(reusable.index, reusable.data));
      return;
    }
    this.buildImage(false, (index, data) => this.offerImage(index, data));
  }

  /** Builds an image in the background (StateMachine.buildImage), keeps it as lastImage and hands it to `done`. */
  private buildImage(aheadOfTime: boolean, done: (index: number, data: Uint8Array, startedAt: number) => void): void {
    const started = this.clock.now();
    this.stateMachine
      .buildImage()
      .then(({ index, term, data }) => {
        if (this.stopped) return;
        this.deps.logger.info(`snapshot image for InstallSnapshot at index=${index} term=${term} (${data.length} bytes, ${this.clock.now() - started} ms${aheadOfTime ? ', ahead of time' : ''})`);
        this.lastImage = { index, data, builtAt: this.clock.now() };
        done(index, data, started);
      })
      .catch((err: Error) => {
        this.imageInProgress = false;
        this.deps.logger.error({ err }, `snapshot image failed (a follower's probe asks again): ${err.message}`);
      });
  }

  private offerImage(index: number, data: Uint8Array): void {
    this.imageInProgress = false;
    if (this.stopped) return;
    this.guard(() => {
      if (!this.core.provideSnapshotImage(index, data) && this.lastImage?.index === index) this.lastImage = null;
    });
    this.schedule();
  }

  /** The last image, if the log still holds every entry after it and it is not too old to keep. */
  private reusableImage(): { index: number; data: Uint8Array; builtAt: number } | null {
    this.dropStaleImage();
    return this.lastImage;
  }

  /**
   * Forgets the last image once the log was compacted past it (a follower given it could not
   * catch up from the log) or after IMAGE_REUSE_MS, so an idle leader does not hold tens of MB.
   */
  private dropStaleImage(): void {
    const image = this.lastImage;
    // Older than the core's snapshot is fine while the log holds what follows it; should the
    // configuration at its index be compacted away, the core refuses it and it is dropped (offerImage).
    const compactedPast = image !== null && image.index < this.core.log.offset;
    if (image && (compactedPast || this.clock.now() - image.builtAt > IMAGE_REUSE_MS)) this.lastImage = null;
  }

  private logTransitions(rd: Ready): void {
    for (const event of rd.events) this.deps.logger.info(event);
    const soft = rd.softState;
    const last = this.lastSoft;
    if (last && soft.state === last.state && soft.leader === last.leader && soft.term === last.term) return;
    this.commitNotices.clear();
    if (soft.state === 'leader') this.deps.metrics.leaderChanges.inc();
    this.lastSoft = { state: soft.state, leader: soft.leader, term: soft.term };
  }

  // ---------------------------------------------------------------- helpers

  /** Why this node cannot serve clients right now, or null. */
  private refusal(): NodeError | null {
    if (this.shutdownByController) return new NodeError('unavailable', 'node is shut down by the controller');
    if (this.stopped) return new NodeError('unavailable', 'node is stopping');
    return null;
  }

  /**
   * Stop or controller SHUTDOWN: pending reads fail with `error`, but a pending proposal is
   * already in the log and may still commit through the next leader, so its outcome is
   * unknown: 504 timeout (SPEC §3), never a 503 that tells the client it was not applied.
   * (Found by the fault harness: writes answered 503 unavailable were applied.)
   */
  private failAllWaiters(error: NodeError): void {
    this.proposals.rejectAll(new NodeError('timeout', `${error.message} before the write was known committed; it may or may not commit`));
    this.forwarder.failAll(error.message);
    this.commitNotices.clear();
    this.reads.rejectAll(error);
    this.proposalTerms.clear();
    this.readsWaitingApply.length = 0;
    this.answersAwaitingSync.length = 0;
  }

  private async waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = this.clock.now() + timeoutMs;
    while (!condition() && this.clock.now() < deadline) await new Promise<void>((resolve) => this.clock.setTimeout(resolve, this.options.tickMs));
  }
}

/** A peer silent this long (the check's cadence) while behind the log's offset gets an image built ahead of time. */
const LAGGARD_SILENT_TICKS = 50;
/** How many snapshot intervals of log compaction keeps behind the last image (imageHeldAt). */
const IMAGE_HOLD_INTERVALS = 3;
/** The largest share of a leader's time spent building images ahead of time for a silent peer. */
const AHEAD_BUILD_MAX_SHARE = 0.25;

/**
 * How long a built InstallSnapshot image is kept for another follower or a retried transfer:
 * long enough for a follower whose transfer broke off to come back, short enough that an idle
 * leader soon frees it.
 */
const IMAGE_REUSE_MS = 60_000;

/** The tick timer on the node's clock, when no controllable ticker (SPEC §11) is injected. */
function clockTicker(clock: Clock): Ticker {
  return {
    every(intervalMs, onTick) {
      const timer = clock.setInterval(onTick, intervalMs);
      return { cancel: () => clock.clearInterval(timer) };
    },
  };
}
