import { assert, defined } from './assert.js';
import { type ConfChange, leaveJoint, planConfChange } from './confchange.js';
import { allMembers, allVoterIds, ConfigHistory, type Configuration, decodeConfiguration, encodeConfiguration, isJoint, isMember, isVoter, type Member, seedConfiguration, voterSets } from './configuration.js';
import { DEFAULT_RAFT_CONFIG, type RaftConfig, validateRaftConfig } from './config.js';
import { MAX_PROMOTE_LAG } from './limits.js';
import { type Rejection, validateMessage, type ValidationView } from './message-validation.js';
import { Progress } from './progress.js';
import { jointCommittedIndex, jointTally, majority } from './quorum.js';
import { RaftLog } from './raft-log.js';
import { ReadOnly } from './read-only.js';
import type {
  AppendEntriesRequest,
  AppendEntriesResponse,
  Entry,
  EntryType,
  HardState,
  HeartbeatRequest,
  HeartbeatResponse,
  InstallSnapshotRequest,
  InstallSnapshotResponse,
  Message,
  NodeId,
  PreVoteRequest,
  Prng,
  RaftState,
  Ready,
  Snapshot,
  SnapshotMeta,
  SoftState,
  VoteRequest,
  VoteResponse,
  PreVoteResponse,
} from './types.js';
import type { BasicStatus, ConfChangeError, ConfChangeResult, MembershipView, PeerProgressView, ProposeResult, RaftRestore } from './status.js';

export type { BasicStatus, ConfChangeError, ConfChangeResult, MembershipView, PeerProgressView, ProposeError, ProposeResult, RaftRestore } from './status.js';

/**
 * A member removed from the configuration keeps receiving heartbeats for this many ticks after
 * the removal commits, so it learns the commit and stops (SPEC §9: within 5 s), and is dropped
 * after RETIRE_MAX_ELECTIONS election timeouts whatever happens.
 */
const RETIRE_CONFIRM_HEARTBEATS = 3;
const RETIRE_MAX_ELECTIONS = 10;

/** A removed member the leader still tells about its removal (see RETIRE_CONFIRM_HEARTBEATS). */
interface Retiring {
  removedAt: number;
  ticks: number;
  confirmedTicks: number;
}

/** Messages whose sender must have persisted its state first (Figure 2, "before responding"). */
const AFTER_PERSIST: ReadonlySet<Message['type']> = new Set([
  'RequestVote',
  'RequestVoteResponse',
  'AppendEntriesResponse',
  'InstallSnapshotResponse',
]);

/** A snapshot being received in chunks, from one leader in one term. */
interface IncomingSnapshot {
  from: NodeId;
  term: number;
  meta: Snapshot['meta'];
  chunks: Uint8Array[];
  received: number;
}

/**
 * The Raft consensus core: a pure, deterministic state machine over messages and ticks,
 * in the style of etcd-io/raft. Input: step(), tick(), propose(), readIndex(),
 * transferLeadership(), campaign(). Output: ready(), then advance() once the runtime has
 * persisted, sent and applied what the Ready asked for.
 */
export class RaftCore {
  readonly id: NodeId;
  readonly config: RaftConfig;
  private readonly prng: Prng;
  /** The configurations in the log (§4.1: the latest one is in effect, committed or not). */
  private readonly configs: ConfigHistory;
  /** Leader: members removed from the configuration that still get heartbeats for a while. */
  private readonly retiring = new Map<NodeId, Retiring>();
  /** Ids that may send us messages: every member of every configuration still held. */
  private knownIds = new Set<NodeId>();
  readonly log: RaftLog;

  // Written only here; everyone else reads them through the getters (etcd's Status).
  #term = 0;
  #vote: NodeId | null = null;
  #state: RaftState = 'follower';
  #leader: NodeId | null = null;
  /**
   * The leader of this term this follower forgot (its link went down, or a learner's lease
   * ended): still the only leader of the term, so what it sent before (a TimeoutNow in flight
   * on its own connection) is honest, not forged (found by the simulator, seed 299 with spares).
   */
  private forgottenLeader: { term: number; id: NodeId } | null = null;

  /** The current term (Figure 2: currentTerm). */
  get term(): number {
    return this.#term;
  }

  /** Whom this node voted for in the current term (Figure 2: votedFor), or null. */
  get vote(): NodeId | null {
    return this.#vote;
  }

  /** Follower, pre-candidate, candidate or leader. */
  get state(): RaftState {
    return this.#state;
  }

  /** The leader this node follows in the current term, or null when it knows none. */
  get leader(): NodeId | null {
    return this.#leader;
  }

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private votes = new Map<NodeId, boolean>();
  private progress = new Map<NodeId, Progress>();
  private leadTransferee: NodeId | null = null;
  /** ReadIndex (thesis §6.4): pending and forwarded reads, and their answers for the next Ready. */
  private readonly readOnly: ReadOnly;
  /** Peers with new entries or commit to receive at the next flush (batches proposals). */
  private readonly dirtyPeers = new Set<NodeId>();
  private commitBroadcastPending = false;

  /** What covers the compacted prefix of the log: the last local or installed snapshot. */
  private snapshotMeta: SnapshotMeta | null;
  /**
   * Leader only: the state machine image being sent to lagging followers. Not kept between
   * transfers (it can be tens of MB): asked of the runtime through Ready.snapshotImageWanted
   * when a follower needs one, and dropped when no transfer uses it (etcd and rqlite do the
   * same: the state machine's own store is the local snapshot).
   */
  private image: Snapshot | null = null;
  private imageWanted = false;
  private pendingSnapshot: Snapshot | null = null;
  private incomingSnapshot: IncomingSnapshot | null = null;

  private messages: Message[] = [];
  private messagesAfterPersist: Message[] = [];
  private events: string[] = [];
  private persistedHardState: HardState;
  private readyOutstanding = false;
  /** The Ready handed out and not yet advanced: advance() must get exactly this one back. */
  private outstandingReady: Ready | null = null;

  /**
   * A core for node `config.id`, from what it recovered from disk (`restore`; none for a new
   * node). Unset fields of `config` take DEFAULT_RAFT_CONFIG; an invalid config throws RaftInvariantError.
   */
  constructor(config: Partial<RaftConfig> & Pick<RaftConfig, 'id' | 'voters'>, prng: Prng, restore?: RaftRestore) {
    this.config = { ...DEFAULT_RAFT_CONFIG, ...config };
    const problem = validateRaftConfig(this.config);
    assert(problem === null, () => `invalid raft config: ${problem}`);
    this.id = this.config.id;
    this.prng = prng;
    this.readOnly = new ReadOnly({
      id: this.id,
      term: () => this.term,
      commitIndex: () => this.log.commitIndex,
      committedInCurrentTerm: () => this.committedInCurrentTerm(),
      soleVoter: () => this.otherVoters().length === 0,
      transferring: () => this.leadTransferee !== null,
      quorumOf: (valueOf) => jointCommittedIndex(voterSets(this.configs.latest().config), valueOf),
      send: (m) => this.send(m),
    });
    const r = restore ?? emptyRestore();
    this.#term = r.hardState.term;
    this.#vote = r.hardState.vote;
    this.snapshotMeta = r.snapshot ? r.snapshot.meta : null;
    this.log = new RaftLog(r.offset, r.offsetTerm, r.entries, r.hardState.commit, r.appliedIndex);
    const seed = this.config.initialConfiguration ?? seedConfiguration(this.config.voters);
    const base = this.snapshotMeta?.config ?? seed;
    this.configs = new ConfigHistory(this.snapshotMeta?.index ?? 0, this.snapshotMeta?.term ?? 0, base);
    this.recordConfigEntries(r.entries);
    this.persistedHardState = this.hardState();
    this.resetElectionTimer();
  }

  // ---------------------------------------------------------------- observers

  /** The state that must be durable (term, vote, commit), as of now. */
  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.commitIndex };
  }

  /** The volatile state observers care about (role, leader, term). */
  softState(): SoftState {
    return { state: this.state, leader: this.leader, term: this.term };
  }

  /** Index the last snapshot covers (0 when none). */
  snapshotIndex(): number {
    return this.snapshotMeta?.index ?? 0;
  }

  /** The core's state as a snapshot: reading it can never change the core. */
  basicStatus(): BasicStatus {
    return {
      id: this.id,
      term: this.#term,
      vote: this.#vote,
      state: this.#state,
      leader: this.#leader,
      commitIndex: this.log.commitIndex,
      appliedIndex: this.log.appliedIndex,
      lastIndex: this.log.lastIndex(),
      snapshotIndex: this.snapshotIndex(),
    };
  }

  /** Ticks since the election timer was reset, and the randomized timeout it fires at (for status pages). */
  electionTimerView(): { elapsed: number; timeout: number } {
    return { elapsed: this.electionElapsed, timeout: this.randomizedElectionTimeout };
  }

  /** Replication progress per peer (leader only; empty otherwise). */
  progressView(): Map<NodeId, PeerProgressView> {
    const view = new Map<NodeId, PeerProgressView>();
    for (const [peer, pr] of this.progress) {
      view.set(peer, {
        matchIndex: pr.matchIndex,
        nextIndex: pr.nextIndex,
        state: pr.state,
        inflight: pr.inflight.length,
        ticksSinceContact: pr.ticksSinceContact,
      });
    }
    return view;
  }

  /** The node a leadership transfer is handing over to, or null when none is in progress. */
  transferTarget(): NodeId | null {
    return this.leadTransferee;
  }

  /** The configuration in effect (thesis §4.1) and whether this node was removed from it. */
  membership(): MembershipView {
    const { index, config } = this.configs.latest();
    const committed = index <= this.log.commitIndex;
    return { config, configIndex: index, committed, removed: committed && !isMember(config, this.id) };
  }

  /**
   * Every member of every configuration this node still holds (the log's and the snapshot's):
   * the senders it accepts. The latest configuration may be an uncommitted one a new leader
   * will truncate, whose members alone would not include that leader or its voters.
   */
  knownMembers(): Member[] {
    return this.configs.knownMembers();
  }

  /** True while this node votes in the configuration in effect (learners and removed nodes do not). */
  isVoter(): boolean {
    return isVoter(this.configs.latest().config, this.id);
  }

  // ---------------------------------------------------------------- inputs

  /** Advances logical time by one tick. */
  tick(): void {
    if (this.state === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** Appends a client command on the leader; it commits once a majority has it durably. */
  propose(data: string, type: EntryType = 'normal'): ProposeResult {
    assert(type !== 'config', 'configuration entries go through proposeConfChange');
    if (this.state !== 'leader') return { ok: false, error: 'not_leader', leader: this.leader };
    if (this.leadTransferee !== null) return { ok: false, error: 'transferring', leader: this.leader };
    if (this.log.lastIndex() - this.log.commitIndex >= this.config.maxUncommittedEntries) {
      return { ok: false, error: 'too_many_requests', leader: this.leader };
    }
    const entry: Entry = { index: this.log.lastIndex() + 1, term: this.term, type, data };
    this.log.append([entry]);
    this.markAllPeersDirty();
    return { ok: true, index: entry.index, term: entry.term };
  }

  /**
   * Proposes a membership change (thesis chapter 4). One voter in or out is appended directly
   * (§4.1); a change of more voters appends the joint configuration (§4.3), which the leader
   * leaves by itself once it commits. The configuration takes effect when appended (§4.1), on
   * the leader now and on each follower as it appends it, so only one change may be
   * uncommitted at a time, and none before this leader has committed an entry of its own term.
   */
  proposeConfChange(changes: readonly ConfChange[]): ConfChangeResult {
    if (this.state !== 'leader') return { ok: false, error: 'not_leader', leader: this.leader };
    if (this.leadTransferee !== null) return { ok: false, error: 'transferring', leader: this.leader };
    const refused = this.confChangeBlocker();
    if (refused) return { ok: false, leader: this.leader, ...refused };
    const current = this.configs.latest().config;
    const plan = planConfChange(current, changes);
    if (!plan.ok) return { ok: false, error: 'invalid', leader: this.leader, field: plan.field, message: plan.message };
    const lagging = this.laggingPromotion(changes);
    if (lagging) return { ok: false, error: 'lagging', leader: this.leader, ...lagging };
    const index = this.appendConfig(plan.config);
    return { ok: true, index, term: this.term, joint: plan.joint };
  }

  /**
   * Requests a linearizable read point (§6.4 of the thesis). A ReadState with the index
   * (or null on failure) appears in a later Ready.
   */
  readIndex(requestId: string): void {
    if (this.state === 'leader') {
      this.readOnly.leaderRead(requestId, this.id);
    } else if (this.leader !== null && this.state === 'follower') {
      this.readOnly.forward(requestId, this.leader);
    } else {
      this.readOnly.refuse(requestId);
    }
  }

  /** Starts handing leadership to `to`: catch it up, then send TimeoutNow (§3.10 of the thesis). */
  transferLeadership(to: NodeId): boolean {
    const config = this.configs.latest().config;
    if (this.state !== 'leader' || to === this.id || !this.progress.has(to)) return false;
    // Only a voter of the configuration in effect can win (and keep) the election.
    if (!config.voters.some((m) => m.id === to)) return false;
    this.leadTransferee = to;
    // A transfer gets one full election timeout (thesis §3.10; etcd resets the same counter):
    // without this it is aborted at the next boundary, which may be one tick away.
    this.electionElapsed = 0;
    this.event(`transferring leadership to ${to} term=${this.term}`);
    const pr = defined(this.progress.get(to), () => `no progress for transfer target ${to}`);
    if (pr.matchIndex === this.log.lastIndex()) this.sendTimeoutNow(to);
    // Even an empty append: if the entries in flight to the target were lost, its
    // rejection starts the catch-up now instead of at the next heartbeat response.
    else this.sendAppend(to, true);
    return true;
  }

  /** The most caught-up peer, the natural transfer target. */
  bestTransferTarget(): NodeId | null {
    let best: NodeId | null = null;
    let bestMatch = -1;
    for (const { id } of this.configs.latest().config.voters) {
      const pr = this.progress.get(id);
      if (pr && pr.matchIndex > bestMatch) [best, bestMatch] = [id, pr.matchIndex];
    }
    return best;
  }

  /**
   * Starts an election now. `force` skips pre-vote and asks voters to ignore their leader
   * lease (controller TIMEOUT, TimeoutNow); otherwise the normal pre-vote path.
   */
  campaign(force: boolean): void {
    if (this.state === 'leader' || !this.mayCampaign()) return;
    if (!force && this.config.preVote) this.startPreVote();
    else this.startElection(force);
  }

  /** Becomes a follower now, keeping the term (controller CONVERT_FOLLOWER, admin step-down). */
  becomeFollowerKeepTerm(reason: string): void {
    const leader = this.termLeader();
    this.becomeFollower(this.term, null, reason);
    // Forgetting the leader must not make its TimeoutNow look forged: it still leads this term.
    if (leader !== null && leader !== this.id) this.forgottenLeader = { term: this.term, id: leader };
  }

  /** Tells the core that the link to `peer` broke: messages in flight were probably lost. */
  reportUnreachable(peer: NodeId): void {
    const pr = this.progress.get(peer);
    if (pr && pr.state === 'replicate') pr.becomeProbe();
  }

  /**
   * The runtime saw its connection to `peer` close. When `peer` is this follower's leader, the
   * leader has probably crashed (a dead process closes its sockets at once), so rather than
   * wait out a whole election timeout from the last heartbeat, the election timer is brought
   * forward to fire within a randomized [1, electionTicks) ticks, and the leader is forgotten,
   * which ends the lease so this node grants pre-votes. Safety is untouched (votes follow the
   * usual rules), and a live leader behind a broken link is not deposed: a heartbeat restores
   * it, and the peers that still hear from it refuse the pre-vote.
   */
  reportLeaderLinkDown(peer: NodeId): void {
    if (this.state !== 'follower' || this.leader !== peer) return;
    const remaining = 1 + this.prng.int(Math.max(1, this.config.electionTicks - 1));
    this.electionElapsed = Math.max(this.electionElapsed, this.randomizedElectionTimeout - remaining);
    this.forgottenLeader = { term: this.term, id: peer };
    this.#leader = null;
    this.event(`link to leader ${peer} down: election timer brought forward (fires within ${remaining} ticks) term=${this.term}`);
  }

  /**
   * Records that the state machine is durably snapshotted at `index` (<= applied) and compacts
   * the log, keeping a trailing window. Returns the snapshot's metadata and the new log offset
   * for the storage to drop. The image stays with the runtime (see snapshotImageWanted).
   * `keepAfter`: the runtime holds an InstallSnapshot image at that index, and the entries after
   * it stay (the runtime bounds how far back), so the image stays usable for a follower.
   */
  compact(index: number, keepAfter = index): { offset: number; offsetTerm: number; meta: SnapshotMeta } {
    assert(index <= this.log.appliedIndex, () => `snapshot at ${index} beyond applied ${this.log.appliedIndex}`);
    assert(index >= this.snapshotIndex(), 'snapshots must move forward');
    const term = this.log.termAt(index);
    assert(term !== undefined, () => `snapshot index ${index} not in the log`);
    const meta = this.snapshotMetaAt(index, term);
    this.snapshotMeta = meta;
    const compactTo = Math.max(this.log.offset, Math.min(index - this.config.compactionTrailingEntries, keepAfter));
    this.log.compact(Math.min(compactTo, this.log.stableIndex));
    this.configs.compactTo(index);
    return { offset: this.log.offset, offsetTerm: this.log.offsetTerm, meta };
  }

  /**
   * The runtime's answer to Ready.snapshotImageWanted: the state machine's image at `index`
   * (an applied index, so committed). Starts the transfers to every follower that needs one.
   * The image is built asynchronously, so it may come after a step-down (dropped) or be older
   * than the log's offset by then (dropped: a follower's next probe asks again).
   * Returns false when the image cannot be used: its term or its configuration is no longer
   * known (compacted away), so the runtime must not offer that image again.
   */
  provideSnapshotImage(index: number, data: Uint8Array): boolean {
    this.imageWanted = false;
    if (this.state !== 'leader') return true;
    assert(index <= this.log.commitIndex, () => `snapshot image at ${index} beyond commit ${this.log.commitIndex}`);
    const term = this.log.termAt(index);
    if (term === undefined || this.configs.at(index) === undefined) return false;
    this.image = { meta: this.snapshotMetaAt(index, term), data };
    for (const [peer, pr] of this.progress) {
      if (pr.state !== 'snapshot' && this.log.termAt(pr.nextIndex - 1) === undefined) this.startSnapshotTransfer(peer, pr);
    }
    return true;
  }

  /**
   * Handles one message from a peer. First validates it (message-validation.ts): a message
   * that is malformed, out of bounds or impossible for a correct peer in our state is dropped
   * before anything changes, and returned as a Rejection for the runtime to count and log.
   * That is what keeps every assertion below reachable only by a bug of our own, never by a
   * message (SPEC §7). Returns null when the message was stepped (stale ones included).
   * `authenticatedSender`: the runtime's link authenticated `m.from` (validation then admits
   * requests from a member added after every configuration this node holds).
   */
  step(m: Message, authenticatedSender = false): Rejection | null {
    const rejected = validateMessage(m, this.validationView(authenticatedSender));
    if (rejected) return rejected;
    this.stepValid(m);
    return null;
  }

  private stepValid(m: Message): void {
    if (m.term > this.term && !this.stepHigherTerm(m)) return;
    if (m.term < this.term) {
      this.stepLowerTerm(m);
      return;
    }
    this.dispatch(m);
  }

  /**
   * The leader of the current term as far as this node knows, including one a follower forgot
   * (see forgottenLeader): who may send it leader-only messages such as TimeoutNow.
   */
  termLeader(): NodeId | null {
    if (this.leader !== null) return this.leader;
    return this.state === 'follower' && this.forgottenLeader?.term === this.term ? this.forgottenLeader.id : null;
  }

  private validationView(authenticatedSender: boolean): ValidationView {
    return {
      id: this.id,
      known: this.knownIds,
      authenticatedSender,
      term: this.term,
      state: this.state,
      leader: this.termLeader(),
      lastIndex: this.log.lastIndex(),
      lastReadRoundSent: this.readOnly.lastRoundSent,
      forwardedReadTarget: (requestId) => this.readOnly.forwardedTarget(requestId),
    };
  }

  // ---------------------------------------------------------------- Ready / advance

  /** True when ready() would return something worth processing. */
  hasReady(): boolean {
    return (
      !this.readyOutstanding &&
      (this.messages.length > 0 ||
        this.messagesAfterPersist.length > 0 ||
        this.readOnly.hasStates() ||
        this.events.length > 0 ||
        this.dirtyPeers.size > 0 ||
        this.commitBroadcastPending ||
        this.readOnly.roundPending ||
        this.pendingSnapshot !== null ||
        this.imageWanted ||
        this.log.writtenIndex < this.log.lastIndex() ||
        this.log.commitIndex > this.log.applyingIndex ||
        !sameHardState(this.hardState(), this.persistedHardState))
    );
  }

  /** Everything the runtime must do next; call advance() with it when done. */
  ready(): Ready {
    assert(!this.readyOutstanding, 'ready() called again before advance()');
    this.flushSends();
    const hardState = this.hardState();
    const committedEntries = this.pendingSnapshot ? [] : this.log.nextEntriesToApply(this.config.maxApplyBatch);
    const last = committedEntries[committedEntries.length - 1];
    if (last) this.log.applyingTo(last.index);
    const rd: Ready = {
      softState: this.softState(),
      hardState: sameHardState(hardState, this.persistedHardState) ? null : hardState,
      snapshot: this.pendingSnapshot,
      snapshotImageWanted: this.imageWanted,
      entries: this.log.unstableEntries(),
      messages: this.messages,
      messagesAfterPersist: this.messagesAfterPersist,
      committedEntries,
      readStates: this.readOnly.takeStates(),
      events: this.events,
    };
    this.pendingSnapshot = null;
    this.imageWanted = false;
    this.messages = [];
    this.messagesAfterPersist = [];
    this.events = [];
    this.readyOutstanding = true;
    this.outstandingReady = rd;
    return rd;
  }

  /**
   * The runtime has persisted, sent and applied `rd`. `synced` false: its entries were written
   * without waiting for the disk (a leader's, with nothing else durable in the Ready); the
   * leader counts them for commit only once syncedTo reports them durable.
   */
  advance(rd: Ready, synced = true): void {
    assert(this.readyOutstanding, 'advance() without ready()');
    assert(rd === this.outstandingReady, 'advance() with a Ready other than the one handed out');
    this.readyOutstanding = false;
    this.outstandingReady = null;
    if (rd.hardState) {
      const prev = this.persistedHardState;
      assert(rd.hardState.term >= prev.term && rd.hardState.commit >= prev.commit, () => `persisted hard state going backwards: ${JSON.stringify(prev)} -> ${JSON.stringify(rd.hardState)}`);
      this.persistedHardState = rd.hardState;
    }
    if (synced) this.log.stableTo(rd.entries);
    else this.log.writtenTo(rd.entries);
    const last = rd.committedEntries[rd.committedEntries.length - 1];
    if (last) this.log.appliedTo(last.index);
    // §5.4 + durability: the leader counts itself only for entries on its own disk.
    if (this.state === 'leader') this.maybeCommit();
  }

  /**
   * The runtime's storage made everything written up to (index, term) durable (see advance).
   * Called between Readies, never with one outstanding; a stale report (the entry was replaced
   * since) is ignored.
   */
  syncedTo(index: number, term: number): void {
    assert(!this.readyOutstanding, 'syncedTo() with a Ready outstanding');
    this.log.syncedTo(index, term);
    if (this.state === 'leader') this.maybeCommit();
  }

  // ---------------------------------------------------------------- time

  /** Followers and candidates: an election timeout without a leader starts a (pre-)election (§5.2; randomized timeouts, §5.2 and thesis §3.4). */
  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      // A learner or removed node never campaigns, but a whole timeout without its leader ends
      // the lease: it answers pre-votes again (a promoted voter that has not heard of its
      // promotion yet is then no obstacle to an election that needs it).
      if (!this.mayCampaign() && this.#leader !== null) {
        this.forgottenLeader = { term: this.term, id: this.#leader };
        this.#leader = null;
      }
      this.campaign(false);
    }
  }

  /** Leader: heartbeats at a fixed interval keep followers from timing out (§5.2), and check-quorum runs each election timeout (thesis §6.2). */
  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    this.tickPeerContact();
    this.tickRetiring();
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum && !this.checkQuorumActive()) {
        this.becomeFollower(this.term, null, 'stepped down: no contact with a majority for an election timeout');
        return;
      }
      if (this.leadTransferee !== null) {
        this.event(`leadership transfer to ${this.leadTransferee} timed out`);
        this.leadTransferee = null;
      }
      if (this.leavingAsLeader()) {
        this.becomeFollower(this.term, null, 'left the configuration (no voter caught up in time)');
        return;
      }
    }
    this.tickSnapshotRetransmits();
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
  }

  private tickPeerContact(): void {
    for (const pr of this.progress.values()) {
      pr.tickContact();
    }
  }

  /** Check-quorum (§6.2 of the thesis): a leader cut off from a majority steps down. */
  private checkQuorumActive(): boolean {
    const active = (id: NodeId): boolean => id === this.id || this.progress.get(id)?.recentActive === true;
    // Joint consensus (§4.3): a majority of each voter set must be in contact.
    const ok = voterSets(this.configs.latest().config).every((voters) => voters.filter(active).length >= majority(voters.length));
    for (const pr of this.progress.values()) pr.startQuorumRound();
    return ok;
  }

  private resetElectionTimer(): void {
    this.electionElapsed = 0;
    this.randomizedElectionTimeout = this.config.electionTicks + this.prng.int(this.config.electionTicks);
  }

  /** True while this node heard from a leader within the minimum election timeout. */
  private inLease(): boolean {
    return this.config.checkQuorum && this.leader !== null && this.electionElapsed < this.config.electionTicks;
  }

  // ---------------------------------------------------------------- role changes

  /** Figure 2, "Rules for Servers": a term newer than ours makes us a follower in that term. */
  private becomeFollower(term: number, leader: NodeId | null, reason: string): void {
    const wasLeader = this.state === 'leader';
    assert(term >= this.term, 'terms never go backwards');
    if (term > this.term) {
      this.#term = term;
      this.#vote = null;
    }
    this.#state = 'follower';
    this.#leader = leader;
    this.votes.clear();
    this.progress.clear();
    this.retiring.clear();
    this.dirtyPeers.clear();
    this.leadTransferee = null;
    this.commitBroadcastPending = false;
    this.image = null;
    this.imageWanted = false;
    this.resetElectionTimer();
    this.readOnly.onStepDown(wasLeader);
    this.event(`became follower term=${this.term}${leader ? ` leader=${leader}` : ''}: ${reason}`);
  }

  /** Pre-vote (thesis §9.6): ask whether we could win before disturbing anyone with a new term. */
  private startPreVote(): void {
    this.#state = 'pre-candidate';
    this.#leader = null;
    this.votes = new Map([[this.id, true]]);
    this.resetElectionTimer();
    this.event(`pre-vote started for term=${this.term + 1}`);
    if (this.otherVoters().length === 0) return this.startElection(false);
    for (const peer of this.otherVoters()) {
      this.send({
        type: 'PreVote',
        from: this.id,
        to: peer,
        term: this.term + 1,
        lastLogIndex: this.log.lastIndex(),
        lastLogTerm: this.log.lastTerm(),
      });
    }
  }

  /** §5.2: increment the term, vote for ourselves, and ask every voter (`force`: a transfer, thesis §3.10, skips leader stickiness). */
  private startElection(force: boolean): void {
    this.#term++;
    this.#vote = this.id;
    this.#state = 'candidate';
    this.#leader = null;
    this.votes = new Map([[this.id, true]]);
    this.resetElectionTimer();
    this.event(`campaigning term=${this.term}${force ? ' (forced)' : ''}`);
    if (this.otherVoters().length === 0) return this.becomeLeader();
    for (const peer of this.otherVoters()) {
      this.send({
        type: 'RequestVote',
        from: this.id,
        to: peer,
        term: this.term,
        lastLogIndex: this.log.lastIndex(),
        lastLogTerm: this.log.lastTerm(),
        force,
      });
    }
  }

  /** §5.2 and §5.3: a leader resets every follower's progress to its own last index + 1 and appends a no-op of its term (thesis §6.4, §8). */
  private becomeLeader(): void {
    assert(this.state === 'candidate', 'only a candidate becomes leader');
    this.#state = 'leader';
    this.#leader = this.id;
    this.heartbeatElapsed = 0;
    this.electionElapsed = 0;
    this.progress.clear();
    for (const peer of this.replicationTargets()) this.addProgress(peer);
    this.readOnly.onBecomeLeader();
    this.event(`became leader term=${this.term}`);
    // §8: a new leader commits an entry of its own term before it can know its commit index.
    this.log.append([{ index: this.log.lastIndex() + 1, term: this.term, type: 'noop', data: '' }]);
    this.markAllPeersDirty();
  }

  /** Progress for a new replication target, probing from our last index (§5.3). */
  private addProgress(peer: NodeId): void {
    const pr = new Progress(this.log.lastIndex() + 1, this.config.maxInflightMessages);
    pr.markActive();
    this.progress.set(peer, pr);
  }

  // ---------------------------------------------------------------- term checks

  /** Returns false when the message must be ignored entirely. */
  private stepHigherTerm(m: Message): boolean {
    // A reply from a node outside the configuration in effect (a removed member still being
    // told of its removal, which campaigned meanwhile) cannot move our term: ignoring a message
    // is always safe. Vote requests are judged as usual (§4.2.3: pre-vote and the lease keep a
    // removed node out; refusing votes by our own, possibly stale, configuration can deadlock
    // an election whose voters disagree on it), and a leader may lead a configuration we have
    // not appended yet.
    const leaderTraffic = m.type === 'AppendEntries' || m.type === 'Heartbeat' || m.type === 'InstallSnapshot';
    const voteRequest = m.type === 'PreVote' || m.type === 'RequestVote';
    if (!leaderTraffic && !voteRequest && !isMember(this.configs.latest().config, m.from)) return false;
    // Leader stickiness (§4.2.3 of the thesis): while we hear from a live leader we ignore
    // vote requests, so a rejoining partitioned node cannot depose it. Forced ones pass.
    if (m.type === 'PreVote') return !this.inLease();
    if (m.type === 'PreVoteResponse' && m.granted) return true;
    // A forced campaign skips the lease only for a member: TimeoutNow and the controller's
    // TIMEOUT target members, so a forced request from a removed node is treated as unforced.
    const forced = m.type === 'RequestVote' && m.force && isMember(this.configs.latest().config, m.from);
    if (m.type === 'RequestVote' && !forced && this.inLease()) return false;
    const leader = leaderTraffic ? m.from : null;
    this.becomeFollower(m.term, leader, `saw term ${m.term} from ${m.from} (${m.type})`);
    return true;
  }

  /** §5.1: a message from an older term is stale; answer only what lets its sender catch up on the term. */
  private stepLowerTerm(m: Message): void {
    if (m.type === 'AppendEntries' || m.type === 'Heartbeat' || m.type === 'InstallSnapshot') {
      // A stale leader learns our term from the reply and steps down (needed with pre-vote).
      this.send(this.rejectAppend(m.from, 0, this.log.lastIndex() + 1, null));
    } else if (m.type === 'PreVote') {
      this.send({ type: 'PreVoteResponse', from: this.id, to: m.from, term: this.term, granted: false });
    }
  }

  private dispatch(m: Message): void {
    switch (m.type) {
      case 'PreVote':
        return this.handlePreVote(m);
      case 'RequestVote':
        return this.handleRequestVote(m);
      case 'PreVoteResponse':
      case 'RequestVoteResponse':
        return this.handleVoteResponse(m);
      case 'AppendEntries':
        return this.handleAppendEntries(m);
      case 'Heartbeat':
        return this.handleHeartbeat(m);
      case 'InstallSnapshot':
        return this.handleInstallSnapshot(m);
      case 'AppendEntriesResponse':
        return this.handleAppendResponse(m);
      case 'HeartbeatResponse':
        return this.handleHeartbeatResponse(m);
      case 'InstallSnapshotResponse':
        return this.handleSnapshotResponse(m);
      case 'TimeoutNow':
        return this.handleTimeoutNow(m);
      case 'ReadIndex':
        return this.readOnly.handleRequest(m, this.state === 'leader');
      case 'ReadIndexResponse':
        return this.readOnly.handleResponse(m);
    }
  }

  // ---------------------------------------------------------------- voting

  /** Pre-vote (thesis §9.6): grant without changing our term or vote, by the same log check as a vote (§5.4.1). */
  private handlePreVote(m: PreVoteRequest): void {
    // A pre-vote is granted for a later term and an up-to-date log; our term does not change.
    const granted = m.term > this.term && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm);
    this.send({ type: 'PreVoteResponse', from: this.id, to: m.from, term: granted ? m.term : this.term, granted });
  }

  /** §5.2: one vote per term, first come first served; §5.4.1: only to a candidate whose log is at least as up to date as ours. */
  private handleRequestVote(m: VoteRequest): void {
    const canVote = this.vote === m.from || (this.vote === null && this.leader === null);
    const granted = canVote && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm);
    if (granted) {
      this.#vote = m.from;
      this.resetElectionTimer();
    }
    this.send({ type: 'RequestVoteResponse', from: this.id, to: m.from, term: this.term, granted });
  }

  /** §5.2: a candidate with votes from a majority (of both voter sets while joint, §4.3) wins. */
  private handleVoteResponse(m: PreVoteResponse | VoteResponse): void {
    const expected = m.type === 'PreVoteResponse' ? 'pre-candidate' : 'candidate';
    if (this.state !== expected) return;
    if (m.type === 'PreVoteResponse' && m.term !== this.term + 1 && m.granted) return;
    this.votes.set(m.from, m.granted);
    const outcome = jointTally(voterSets(this.configs.latest().config), this.votes);
    if (outcome === 'lost') this.becomeFollower(this.term, null, `lost the ${expected === 'candidate' ? 'election' : 'pre-vote'}`);
    if (outcome !== 'won') return;
    if (m.type === 'PreVoteResponse') this.startElection(false);
    else this.becomeLeader();
  }

  /** Leadership transfer (thesis §3.10): the target campaigns at once, without waiting for its election timeout. */
  private handleTimeoutNow(m: Message): void {
    if (this.state === 'leader' || !this.mayCampaign()) return;
    this.event(`received TimeoutNow from ${m.from}`);
    this.startElection(true);
  }

  // ---------------------------------------------------------------- follower: appends

  /** Same-term leader traffic: acknowledge the leader and reset the election timer. */
  private followLeader(from: NodeId): void {
    assert(this.state !== 'leader', () => `election safety: two leaders in term ${this.term} (${this.id}, ${from})`);
    if (this.state !== 'follower' || this.leader !== from) this.becomeFollower(this.term, from, `heard from leader ${from}`);
    this.electionElapsed = 0;
  }

  /** Figure 2, AppendEntries receiver: consistency check on (prevIndex, prevTerm) (§5.3), truncate a conflicting suffix, append, advance commit. */
  private handleAppendEntries(m: AppendEntriesRequest): void {
    this.followLeader(m.from);
    const log = this.log;
    if (m.prevLogIndex < log.commitIndex) {
      // Everything up to our commit index already matches the leader (Log Matching).
      this.send(this.acceptAppend(m.from, log.commitIndex));
      return;
    }
    if (!log.matchesTerm(m.prevLogIndex, m.prevLogTerm)) {
      this.send(this.conflictReply(m));
      return;
    }
    log.mergeFromLeader(m.entries);
    this.syncConfiguration(m.entries);
    const lastNew = m.prevLogIndex + m.entries.length;
    log.commitTo(Math.min(m.commit, lastNew));
    this.send(this.acceptAppend(m.from, lastNew));
  }

  /** Builds the fast-backtracking hint of §5.3 (end): the first index of the conflicting term. */
  private conflictReply(m: AppendEntriesRequest): AppendEntriesResponse {
    const log = this.log;
    if (m.prevLogIndex > log.lastIndex()) return this.rejectAppend(m.from, m.prevLogIndex, log.lastIndex() + 1, null);
    // Here commitIndex <= prevLogIndex <= lastIndex (handleAppendEntries answers a lower one),
    // and the offset never passes the commit index, so the log knows this term.
    const conflictTerm = defined(log.termAt(m.prevLogIndex), () => `no term at prevLogIndex ${m.prevLogIndex} (log ${log.offset}..${log.lastIndex()})`);
    let first = m.prevLogIndex;
    while (first - 1 > log.commitIndex && log.termAt(first - 1) === conflictTerm) first--;
    return this.rejectAppend(m.from, m.prevLogIndex, first, conflictTerm);
  }

  /** §5.3: success, with the index now known to match the leader's log. */
  private acceptAppend(to: NodeId, matchIndex: number): AppendEntriesResponse {
    const base = { type: 'AppendEntriesResponse' as const, from: this.id, to, term: this.term };
    return { ...base, success: true, matchIndex, rejectedIndex: 0, conflictIndex: 0, conflictTerm: null };
  }

  /** §5.3: failure, with the conflict hint (the optimization at the end of §5.3). */
  private rejectAppend(to: NodeId, rejectedIndex: number, conflictIndex: number, conflictTerm: number | null): AppendEntriesResponse {
    const base = { type: 'AppendEntriesResponse' as const, from: this.id, to, term: this.term };
    return { ...base, success: false, matchIndex: 0, rejectedIndex, conflictIndex, conflictTerm };
  }

  /** §5.2: an empty AppendEntries from the leader keeps our election timer reset and carries its commit index. */
  private handleHeartbeat(m: HeartbeatRequest): void {
    this.followLeader(m.from);
    // The leader sends min(match, commit), so this never exceeds what we hold.
    if (m.commit > this.log.commitIndex) this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: 'HeartbeatResponse', from: this.id, to: m.from, term: this.term, readRound: m.readRound });
  }

  // ---------------------------------------------------------------- follower: snapshots

  /** §7 (Figure 13): a follower too far behind receives the leader's snapshot in chunks, then discards the log it covers. */
  private handleInstallSnapshot(m: InstallSnapshotRequest): void {
    this.followLeader(m.from);
    if (m.meta.index <= this.log.commitIndex) {
      // We already have everything it covers: report done so the leader resumes appends.
      this.send(this.snapshotReply(m, m.offset + m.chunk.length, true));
      return;
    }
    const incoming = this.acceptChunk(m);
    if (incoming === null) {
      const expected = this.incomingSnapshot !== null && sameTransfer(this.incomingSnapshot, m) ? this.incomingSnapshot.received : 0;
      this.send(this.snapshotReply(m, expected, false));
      return;
    }
    if (!m.done) {
      this.send(this.snapshotReply(m, incoming.received, false));
      return;
    }
    this.incomingSnapshot = null;
    this.installSnapshot({ meta: m.meta, data: concatChunks(incoming.chunks, incoming.received) });
    this.send(this.snapshotReply(m, incoming.received, true));
  }

  /**
   * Adds a chunk if it is the next one expected; returns null when it is not (out of order,
   * or a duplicate). The first chunk starts a new transfer unless it is a resend within the
   * one under way: with several chunks in flight, a late copy of chunk 0 must not throw away
   * what came after it. One leader in one term sends one image per index (the same bytes),
   * so chunks of the same transfer always fit together.
   */
  private acceptChunk(m: InstallSnapshotRequest): IncomingSnapshot | null {
    if (m.offset === 0 && (this.incomingSnapshot === null || !sameTransfer(this.incomingSnapshot, m))) {
      this.incomingSnapshot = { from: m.from, term: m.term, meta: m.meta, chunks: [], received: 0 };
    }
    const incoming = this.incomingSnapshot;
    if (!incoming || !sameTransfer(incoming, m) || incoming.received !== m.offset) return null;
    incoming.chunks.push(m.chunk);
    incoming.received += m.chunk.length;
    return incoming;
  }

  /** §7: keep log entries after the snapshot if they match it, else discard the whole log; the configuration comes with it (thesis §4.1, §5). */
  private installSnapshot(snapshot: Snapshot): void {
    const { index, term } = snapshot.meta;
    if (this.log.matchesTerm(index, term)) {
      // Our log already contains the snapshot's last entry: keep the log, just commit.
      this.log.commitTo(index);
      return;
    }
    this.event(`installing snapshot index=${index} term=${term}`);
    this.log.restoreSnapshot(index, term);
    this.snapshotMeta = snapshot.meta;
    // Validation checked meta.config (decoding it again keeps only the known fields).
    const config = decodeConfiguration(snapshot.meta.config);
    assert(typeof config !== 'string', () => `installed snapshot ${index} carries a bad configuration: ${String(config)}`);
    this.configs.reset(index, term, config);
    this.snapshotMeta = { ...snapshot.meta, config };
    this.configurationChanged();
    this.pendingSnapshot = snapshot;
  }

  private snapshotReply(m: InstallSnapshotRequest, nextOffset: number, done: boolean): InstallSnapshotResponse {
    return {
      type: 'InstallSnapshotResponse',
      from: this.id,
      to: m.from,
      term: this.term,
      snapshotIndex: m.meta.index,
      nextOffset,
      done,
      lastLogIndex: this.log.lastIndex(),
    };
  }

  // ---------------------------------------------------------------- membership

  /**
   * Voters campaign; learners and removed nodes never do. Except (thesis §4.2.2): a node that
   * votes in the configuration before the latest one, while the latest one (which removes or
   * demotes it) is uncommitted, may still be needed to elect a leader, since its log may be
   * the only up-to-date one. It campaigns without counting its own vote.
   */
  private mayCampaign(): boolean {
    if (this.isVoter()) return true;
    const { index } = this.configs.latest();
    if (index <= this.log.commitIndex) return false;
    const previous = this.configs.at(index - 1);
    return previous !== undefined && isVoter(previous.config, this.id);
  }

  /** Voters of the configuration in effect other than this node: whom a campaign asks. */
  private otherVoters(): readonly NodeId[] {
    const config = this.configs.latest().config;
    if (this.otherVotersOf?.config !== config) this.otherVotersOf = { config, ids: allVoterIds(config).filter((id) => id !== this.id) };
    return this.otherVotersOf.ids;
  }

  /** otherVoters() of the configuration it was computed for: asked on every read (soleVoter), rebuilt only when that changes. */
  private otherVotersOf: { config: Configuration; ids: readonly NodeId[] } | null = null;

  /** Every member but this node: whom the leader replicates to (learners included). */
  private replicationTargets(): NodeId[] {
    return allMembers(this.configs.latest().config)
      .map((m) => m.id)
      .filter((id) => id !== this.id);
  }

  /** One change at a time, and none before this leader committed an entry of its term. */
  private confChangeBlocker(): { error: ConfChangeError; message: string } | null {
    const { index, config } = this.configs.latest();
    if (index > this.log.commitIndex || isJoint(config)) return { error: 'pending', message: `the configuration change at index ${index} is not finished` };
    // The fix for the single-server-change bug (raft-dev, 2015): a configuration appended by a
    // leader of an older term may still be replaced; this leader's no-op commits first.
    if (!this.committedInCurrentTerm()) return { error: 'own_term', message: 'this leader has not committed an entry of its own term yet' };
    return null;
  }

  /** A learner to promote that is more than MAX_PROMOTE_LAG entries behind would stall commits. */
  private laggingPromotion(changes: readonly ConfChange[]): { field: string; message: string; lag: number } | null {
    for (const [i, change] of changes.entries()) {
      if (change.op !== 'promote') continue;
      const pr = this.progress.get(change.id);
      const lag = this.log.lastIndex() - (pr?.matchIndex ?? 0);
      // A learner never heard from this term is not caught up, however short the log is:
      // promoting a node that is not running would leave the new majority one short.
      if (pr === undefined || pr.ticksSinceContact === null || pr.matchIndex === 0) {
        return { field: `changes[${i}].id`, message: `${change.id} has not acknowledged any entry yet (${lag} behind)`, lag: Math.max(lag, 1) };
      }
      if (lag > MAX_PROMOTE_LAG) return { field: `changes[${i}].id`, message: `${change.id} is ${lag} entries behind (at most ${MAX_PROMOTE_LAG})`, lag };
    }
    return null;
  }

  /** Appends a configuration entry; it is in effect at once (§4.1). */
  private appendConfig(config: Configuration): number {
    const entry: Entry = { index: this.log.lastIndex() + 1, term: this.term, type: 'config', data: encodeConfiguration(config) };
    this.log.append([entry]);
    this.syncConfiguration([entry]);
    this.markAllPeersDirty();
    return entry.index;
  }

  /** Records the config entries among `entries` that are in the log and newer than the latest. */
  private recordConfigEntries(entries: readonly Entry[]): void {
    for (const entry of entries) {
      if (entry.type !== 'config' || entry.index <= this.configs.latest().index || !this.log.matchesTerm(entry.index, entry.term)) continue;
      const config = decodeConfiguration(entry.data);
      assert(typeof config !== 'string', () => `config entry ${entry.index} does not decode: ${String(config)}`);
      this.configs.push(entry.index, entry.term, config);
    }
    this.knownIds = this.configs.knownIds();
  }

  /**
   * After the log changed: configurations whose entries were truncated are dropped (the node
   * reverts to the previous one, §4.1), and those of new entries take effect.
   */
  private syncConfiguration(newEntries: readonly Entry[]): void {
    const before = this.configs.latest();
    this.configs.dropTruncated(this.log.lastIndex(), (index) => this.log.termAt(index));
    this.recordConfigEntries(newEntries);
    if (this.configs.latest() !== before) this.configurationChanged();
  }

  private configurationChanged(): void {
    const { index, config } = this.configs.latest();
    this.knownIds = this.configs.knownIds();
    this.event(`configuration index=${index} ${describeConfiguration(config)}`);
    if (this.state === 'leader') this.reconcileProgress(index);
  }

  /** Leader: replicate to new members; keep telling removed ones for a while (tickRetiring). */
  private reconcileProgress(configIndex: number): void {
    const targets = new Set(this.replicationTargets());
    for (const peer of targets) {
      this.retiring.delete(peer);
      if (!this.progress.has(peer)) this.addProgress(peer);
    }
    for (const peer of this.progress.keys()) {
      if (!targets.has(peer) && !this.retiring.has(peer)) this.retiring.set(peer, { removedAt: configIndex, ticks: 0, confirmedTicks: 0 });
    }
  }

  /** Stops replicating to removed members once they have heard that their removal committed. */
  private tickRetiring(): void {
    for (const [peer, retiring] of this.retiring) {
      retiring.ticks++;
      const pr = this.progress.get(peer);
      if (pr && pr.matchIndex >= retiring.removedAt && this.log.commitIndex >= retiring.removedAt) retiring.confirmedTicks++;
      const told = retiring.confirmedTicks >= RETIRE_CONFIRM_HEARTBEATS * this.config.heartbeatTicks;
      if (!told && retiring.ticks < RETIRE_MAX_ELECTIONS * this.config.electionTicks) continue;
      this.retiring.delete(peer);
      this.progress.delete(peer);
      this.dirtyPeers.delete(peer);
      this.event(`stopped replicating to removed member ${peer}`);
    }
  }

  /**
   * After the leader's commit index moved: a committed joint configuration is left at once
   * (§4.3), and a leader no longer among the voters hands over and steps down (§4.2.2).
   */
  private afterLeaderCommit(): void {
    const { index, config } = this.configs.latest();
    if (index > this.log.commitIndex || this.state !== 'leader') return;
    if (isJoint(config)) {
      this.event(`joint configuration index=${index} committed: leaving it`);
      this.appendConfig(leaveJoint(config));
      return;
    }
    if (this.leavingAsLeader() && this.leadTransferee === null) this.handOverLeadership();
  }

  /** A leader whose removal (or demotion) is committed, and not joint any more. */
  private leavingAsLeader(): boolean {
    const { index, config } = this.configs.latest();
    return this.state === 'leader' && !isJoint(config) && index <= this.log.commitIndex && !isVoter(config, this.id);
  }

  /** §3.10 + §4.2.2: hand leadership to the most caught-up voter, then step down. */
  private handOverLeadership(): void {
    const target = this.bestTransferTarget();
    this.event(`removed from the configuration: handing leadership to ${target ?? 'nobody'}`);
    if (target === null || !this.transferLeadership(target)) this.becomeFollower(this.term, null, 'left the configuration');
  }

  /** Snapshot metadata at `index`: the configuration in effect there travels with the image. */
  private snapshotMetaAt(index: number, term: number): SnapshotMeta {
    const point = this.configs.at(index);
    assert(point !== undefined, () => `no configuration known at snapshot index ${index}`);
    return { index, term, voters: allVoterIds(point.config), config: point.config };
  }

  // ---------------------------------------------------------------- leader: replication

  private markAllPeersDirty(): void {
    for (const peer of this.progress.keys()) this.dirtyPeers.add(peer);
  }

  /** Sends what accumulated since the last Ready: one batch per peer, one read round. */
  private flushSends(): void {
    if (this.state !== 'leader') return;
    for (const peer of this.dirtyPeers) this.sendAppend(peer, this.commitBroadcastPending);
    if (this.commitBroadcastPending) {
      for (const peer of this.progress.keys()) if (!this.dirtyPeers.has(peer)) this.sendAppend(peer, true);
    }
    this.dirtyPeers.clear();
    this.commitBroadcastPending = false;
    if (this.readOnly.roundPending) this.sendReadRound();
  }

  /** Sends the next batch of entries to a peer if flow control allows. */
  private sendAppend(peer: NodeId, allowEmpty: boolean): void {
    const pr = this.progress.get(peer);
    if (!pr || pr.isPaused()) return;
    const prevLogIndex = pr.nextIndex - 1;
    const prevLogTerm = this.log.termAt(prevLogIndex);
    if (prevLogTerm === undefined) {
      this.startSnapshotTransfer(peer, pr);
      return;
    }
    const entries =
      pr.nextIndex <= this.log.lastIndex()
        ? this.log.slice(pr.nextIndex, this.log.lastIndex(), this.config.maxMessageBytes, this.config.maxEntriesPerMessage)
        : [];
    if (entries.length === 0 && !allowEmpty && pr.state === 'replicate') return;
    const commit = this.log.commitIndex;
    this.send({ type: 'AppendEntries', from: this.id, to: peer, term: this.term, prevLogIndex, prevLogTerm, entries, commit });
    pr.sentEntries(prevLogIndex + entries.length, entries.length);
    // Keep filling the pipeline while the window allows (large backlogs, catch-up).
    if (pr.state === 'replicate' && entries.length > 0 && pr.nextIndex <= this.log.lastIndex()) this.sendAppend(peer, false);
  }

  /** Figure 2, leader rules: on success advance match/next and try to commit; on failure back next up (§5.3) and retry. */
  private handleAppendResponse(m: AppendEntriesResponse): void {
    const pr = this.leaderProgress(m.from);
    if (!pr) return;
    if (!m.success) {
      if (pr.maybeDecrease(m.rejectedIndex, this.nextFromHint(m))) this.sendAppend(m.from, true);
      return;
    }
    const updated = pr.maybeUpdate(m.matchIndex);
    // An ack of the outstanding probe ends probing even when the match did not move (a
    // caught-up follower probed after reportUnreachable); etcd-io/raft does the same.
    if ((updated || m.matchIndex === pr.matchIndex) && pr.state === 'probe') pr.becomeReplicate();
    if (updated) {
      this.maybeCommit();
      if (this.leadTransferee === m.from && pr.matchIndex === this.log.lastIndex()) this.sendTimeoutNow(m.from);
    }
    if (pr.matchIndex < this.log.lastIndex()) this.sendAppend(m.from, false);
  }

  /** Leader side of the §5.3 fast backtracking: skip the whole conflicting term at once. */
  private nextFromHint(m: AppendEntriesResponse): number {
    if (m.conflictTerm === null) return m.conflictIndex;
    let index = Math.min(m.rejectedIndex, this.log.lastIndex());
    const termAt = (i: number): number => defined(this.log.termAt(i), () => `no term at ${i} (log ${this.log.offset}..${this.log.lastIndex()})`);
    while (index > this.log.offset && termAt(index) > m.conflictTerm) index--;
    return this.log.termAt(index) === m.conflictTerm ? index + 1 : m.conflictIndex;
  }

  /** Progress for a peer, marking it alive; undefined unless we lead. */
  private leaderProgress(peer: NodeId): Progress | undefined {
    if (this.state !== 'leader') return undefined;
    const pr = this.progress.get(peer);
    if (pr) {
      pr.markContact();
    }
    return pr;
  }

  /** Figure 2 (leader rules, last) with §5.3/§5.4.2: commit the majority match index, but only by counting current-term entries. */
  private maybeCommit(): void {
    // §4.3: while joint, a majority of both the incoming and the outgoing voters. A leader
    // that is not a voter any more (it is removing itself, §4.2.2) does not count itself.
    const quorumIndex = jointCommittedIndex(voterSets(this.configs.latest().config), (id) =>
      id === this.id ? this.log.stableIndex : (this.progress.get(id)?.matchIndex ?? 0),
    );
    if (quorumIndex <= this.log.commitIndex || this.log.termAt(quorumIndex) !== this.term) return;
    this.log.commitTo(quorumIndex);
    this.commitBroadcastPending = true;
    this.readOnly.onCommit();
    this.afterLeaderCommit();
  }

  /** §5.2: leaders send periodic heartbeats to keep their authority; the ReadIndex round rides on them (thesis §6.4). */
  private broadcastHeartbeat(): void {
    const readRound = this.readOnly.startRound();
    for (const peer of this.progress.keys()) this.sendHeartbeat(peer, readRound);
  }

  private sendHeartbeat(peer: NodeId, readRound: number): void {
    const pr = this.progress.get(peer);
    if (!pr) return;
    const commit = Math.min(pr.matchIndex, this.log.commitIndex);
    this.send({ type: 'Heartbeat', from: this.id, to: peer, term: this.term, commit, readRound });
  }

  /**
   * A read round needs the acks of a majority only (thesis §6.4). When every read of the round
   * is this leader's own and it is a voter of a single (not joint) configuration, the round
   * goes to just enough voters to make a majority with it, those that acknowledged the latest
   * rounds first: its followers are then idle and answer alike, and on a machine with few cores
   * a message that wakes an idle follower is among the costliest things the leader's thread
   * does, so each heartbeat not sent is time for reads. A round that carries reads forwarded by
   * followers goes to every peer: those followers are busy serving clients, their acks come
   * late, and the round does better waiting for the fastest majority of all of them. Should a
   * chosen voter not answer, the next regular heartbeat, which goes to every peer and carries
   * the latest round, confirms the round; that voter's acks have then fallen behind, so it is
   * not chosen again while others answer.
   */
  private sendReadRound(): void {
    const voters = voterSets(this.configs.latest().config);
    const incoming = voters[0] ?? [];
    if (voters.length > 1 || !incoming.includes(this.id) || this.readOnly.roundHasForwardedReads()) return this.broadcastHeartbeat();
    const byLatestAck = incoming.filter((id) => id !== this.id).sort((a, b) => this.readOnly.peerAck(b) - this.readOnly.peerAck(a));
    const readRound = this.readOnly.startRound();
    for (const peer of byLatestAck.slice(0, Math.floor(incoming.length / 2))) this.sendHeartbeat(peer, readRound);
  }

  /** A heartbeat answer proves the follower still accepts us in this term (ReadIndex, thesis §6.4; check-quorum, §6.2). */
  private handleHeartbeatResponse(m: HeartbeatResponse): void {
    const pr = this.leaderProgress(m.from);
    if (!pr) return;
    pr.onHeartbeatResponse();
    // As etcd-io/raft: a lagging follower gets an append even when there is nothing new to
    // send (replicate state, the entries already went out), so an append lost on the way is
    // noticed through the follower's rejection and resent instead of waiting for the next
    // proposal; and a caught-up follower left in probe (reportUnreachable) gets an empty
    // probe whose ack moves it back to replicate. In snapshot state sendAppend is paused.
    if (pr.matchIndex < this.log.lastIndex() || pr.state === 'probe') this.sendAppend(m.from, true);
    this.readOnly.onHeartbeatAck(m.from, m.readRound);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: 'TimeoutNow', from: this.id, to, term: this.term });
    // A leader removing itself hands over and goes (§4.2.2); the target wins at once.
    if (this.leavingAsLeader()) this.becomeFollower(this.term, null, `left the configuration, handing leadership to ${to}`);
  }

  // ---------------------------------------------------------------- leader: snapshot transfer

  /**
   * §7: the follower needs entries the log no longer has. Without an image that covers the log's
   * offset, ask the runtime for one; the peer stays in probe and is started when it arrives.
   */
  private startSnapshotTransfer(peer: NodeId, pr: Progress): void {
    assert(this.snapshotMeta !== null, 'log compacted without a snapshot');
    const image = this.usableImage();
    if (image === null) {
      this.imageWanted = true;
      return;
    }
    pr.becomeSnapshot(image.meta.index);
    this.event(`sending snapshot index=${image.meta.index} to ${peer}`);
    this.sendSnapshotWindow(peer, pr, image);
  }

  /** The image, if a follower that installs it can continue from our log. */
  private usableImage(): Snapshot | null {
    if (this.image !== null && this.image.meta.index < this.log.offset) this.image = null;
    return this.image;
  }

  /** Frees the image once no transfer uses it. */
  private releaseImageIfIdle(): void {
    for (const pr of this.progress.values()) if (pr.state === 'snapshot') return;
    this.image = null;
  }

  /**
   * §7: the chunks from the next unsent byte while fewer than snapshotWindowChunks are
   * unacknowledged (the follower acknowledges the bytes it holds in order). An empty image
   * still goes out once, as a single `done` chunk.
   */
  private sendSnapshotWindow(peer: NodeId, pr: Progress, snapshot: Snapshot): void {
    const length = snapshot.data.length;
    const windowBytes = this.config.snapshotWindowChunks * this.config.snapshotChunkBytes;
    let offset = pr.snapshotSentOffset;
    while (offset - pr.snapshotOffset < windowBytes && (offset < length || offset === pr.snapshotOffset)) {
      const end = Math.min(offset + this.config.snapshotChunkBytes, length);
      this.send({ type: 'InstallSnapshot', from: this.id, to: peer, term: this.term, meta: snapshot.meta, offset, chunk: snapshot.data.subarray(offset, end), done: end >= length });
      pr.chunkSent(end);
      if (end >= length) return;
      offset = end;
    }
  }

  /** §7: the last chunk acknowledged moves the follower's match to the snapshot index; others move the window. */
  private handleSnapshotResponse(m: InstallSnapshotResponse): void {
    const pr = this.leaderProgress(m.from);
    if (!pr || pr.state !== 'snapshot' || m.snapshotIndex !== pr.snapshotIndex) return;
    if (m.done) {
      pr.maybeUpdate(m.snapshotIndex);
      pr.becomeProbe();
      this.releaseImageIfIdle();
      this.sendAppend(m.from, true);
      return;
    }
    if (this.image === null || this.image.meta.index !== pr.snapshotIndex) {
      pr.becomeProbe();
      this.sendAppend(m.from, true);
      return;
    }
    if (pr.chunkAcked(Math.min(m.nextOffset, this.image.data.length))) this.sendSnapshotWindow(m.from, pr, this.image);
  }

  /** A lost chunk or reply would stall the transfer: resend after an election timeout without progress. */
  private tickSnapshotRetransmits(): void {
    for (const [peer, pr] of this.progress) {
      if (pr.state !== 'snapshot' || !pr.snapshotAwaitingAck) continue;
      if (pr.tickSnapshotWait() < this.config.electionTicks) continue;
      if (this.image === null || this.image.meta.index !== pr.snapshotIndex) {
        pr.becomeProbe();
        this.releaseImageIfIdle();
        this.sendAppend(peer, true);
      } else {
        pr.snapshotTimedOut();
        this.sendSnapshotWindow(peer, pr, this.image);
      }
    }
  }

  // ---------------------------------------------------------------- ReadIndex (read-only.ts)

  private committedInCurrentTerm(): boolean {
    return this.log.termAt(this.log.commitIndex) === this.term;
  }

  // ---------------------------------------------------------------- output

  private send(m: Message): void {
    if (!AFTER_PERSIST.has(m.type)) this.messages.push(m);
    else if (supersedes(m, this.messagesAfterPersist[this.messagesAfterPersist.length - 1])) this.messagesAfterPersist[this.messagesAfterPersist.length - 1] = m;
    else this.messagesAfterPersist.push(m);
  }

  private event(text: string): void {
    this.events.push(text);
  }
}

/**
 * A follower that handled several appends in one Ready acknowledges only the highest match:
 * acks are cumulative (the leader frees every in-flight batch up to it), so the earlier ones
 * carry nothing more. Under load this halves a follower's replies. Rejections always go out.
 */
function supersedes(next: Message, previous: Message | undefined): boolean {
  return (
    previous !== undefined &&
    next.type === 'AppendEntriesResponse' &&
    previous.type === 'AppendEntriesResponse' &&
    next.success &&
    previous.success &&
    next.to === previous.to &&
    next.term === previous.term &&
    next.matchIndex >= previous.matchIndex
  );
}

/** `voters=1,2,3 learners=4 outgoing=1,2,5` for events and transcripts. */
function describeConfiguration(config: Configuration): string {
  const ids = (list: { id: NodeId }[]): string => list.map((m) => m.id).join(',') || '-';
  return `voters=${ids(config.voters)} learners=${ids(config.learners)}${config.outgoing ? ` outgoing=${ids(config.outgoing)}` : ''}`;
}

function emptyRestore(): RaftRestore {
  return { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, offset: 0, offsetTerm: 0, entries: [], appliedIndex: 0 };
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** A chunk belongs to the transfer under way: same leader, term and snapshot. */
function sameTransfer(incoming: IncomingSnapshot, m: InstallSnapshotRequest): boolean {
  return incoming.from === m.from && incoming.term === m.term && incoming.meta.index === m.meta.index && incoming.meta.term === m.meta.term;
}

function concatChunks(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
