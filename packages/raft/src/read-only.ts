import { MAX_FORWARDED_READS, MAX_PENDING_READS } from './limits.js';
import { ReadQueue } from './read-queue.js';
import type { Message, NodeId, ReadIndexRequest, ReadIndexResponse, ReadState } from './types.js';

/** What the ReadIndex machinery reads of the core, and its one way out (messages). */
export interface ReadOnlyHost {
  readonly id: NodeId;
  term(): number;
  commitIndex(): number;
  /** The commit index includes an entry of this leader's term (its no-op, §8). */
  committedInCurrentTerm(): boolean;
  /** This node is the only voter: its own commit index needs no confirmation. */
  soleVoter(): boolean;
  /** A leadership transfer is under way: reads are refused until it ends (thesis §3.10). */
  transferring(): boolean;
  /** The highest value a quorum of the current configuration reports, given each voter's (joint-aware, §4.3). */
  quorumOf(valueOf: (voter: NodeId) => number): number;
  send(m: Message): void;
}

/**
 * Linearizable reads without a log entry (thesis §6.4, ReadIndex), apart from the core as
 * etcd keeps read_only.go: the leader's pending reads and their heartbeat rounds, a
 * follower's reads forwarded to the leader, and the answers (ReadStates) for the next Ready.
 * It changes no Raft state: it only reads the core through `host` and sends through it.
 */
export class ReadOnly {
  private readonly reads = new ReadQueue();
  /**
   * Follower: reads forwarded to the leader and not answered yet, by request id, with the node
   * asked. A ReadIndexResponse is accepted only from that node (a forged one would release a
   * read at any index). Bounded by MAX_FORWARDED_READS; insertion order is age.
   */
  private readonly forwarded = new Map<string, NodeId>();
  private states: ReadState[] = [];
  #roundPending = false;
  #lastRoundSent = 0;
  /** The round of the latest read a follower forwarded (this leadership). */
  #lastForwardedRound = 0;

  constructor(private readonly host: ReadOnlyHost) {}

  /** A heartbeat broadcast is wanted to carry a new read round. */
  get roundPending(): boolean {
    return this.#roundPending;
  }

  /** The read round the last heartbeat broadcast carried (this leadership). */
  get lastRoundSent(): number {
    return this.#lastRoundSent;
  }

  /** The highest read round `peer` acknowledged in this leadership (0: none yet). */
  peerAck(peer: NodeId): number {
    return this.reads.peerAck(peer);
  }

  /** The node a forwarded read went to, while its answer is awaited (message validation). */
  forwardedTarget(requestId: string): NodeId | undefined {
    return this.forwarded.get(requestId);
  }

  hasStates(): boolean {
    return this.states.length > 0;
  }

  /** The answers for the next Ready; they are handed out once. */
  takeStates(): ReadState[] {
    const states = this.states;
    this.states = [];
    return states;
  }

  /** A read this node cannot serve now (no leader known): answered with no index. */
  refuse(requestId: string): void {
    this.states.push({ requestId, index: null });
  }

  /** A new leadership: acks of an earlier term prove nothing about this one. */
  onBecomeLeader(): void {
    this.reads.resetPeerAcks();
    this.#lastRoundSent = 0;
    this.#lastForwardedRound = 0;
  }

  /** Leader, before startRound: the round about to go out carries a read a follower forwarded. */
  roundHasForwardedReads(): boolean {
    return this.#lastForwardedRound > this.#lastRoundSent;
  }

  /** Stepping down: no round is wanted; the leader's pending reads fail (their index is unproven). */
  onStepDown(wasLeader: boolean): void {
    this.#roundPending = false;
    if (wasLeader) for (const read of this.reads.drain()) this.answer(read.requestId, read.from, null);
  }

  /** Leader: a read from this node or a follower (§6.4: the read index is the commit index, valid once it includes our own term's no-op). */
  leaderRead(requestId: string, from: NodeId): void {
    if (this.host.transferring() || this.reads.size() >= MAX_PENDING_READS) {
      this.answer(requestId, from, null);
      return;
    }
    if (this.host.soleVoter() && this.host.committedInCurrentTerm()) {
      this.answer(requestId, from, this.host.commitIndex());
      return;
    }
    this.reads.add({ requestId, from, index: this.host.committedInCurrentTerm() ? this.host.commitIndex() : null });
    if (from !== this.host.id) this.#lastForwardedRound = this.reads.currentRound();
    if (!this.#roundPending) this.requestRound(this.confirmedRound());
  }

  /** Leader: the commit index moved; reads that waited for the first commit of the term learn their index. */
  onCommit(): void {
    if (this.reads.fillUnknownIndexes(this.host.commitIndex())) this.releaseConfirmed();
  }

  /** Leader: a heartbeat broadcast goes out now and carries the latest round; returns it. */
  startRound(): number {
    this.#roundPending = false;
    this.#lastRoundSent = this.reads.currentRound();
    return this.#lastRoundSent;
  }

  /** Leader: a follower acknowledged read round `round` (a heartbeat response of this term). */
  onHeartbeatAck(from: NodeId, round: number): void {
    this.reads.ack(from, round);
    this.releaseConfirmed();
  }

  /** A ReadIndex forwarded by a follower; only a leader can answer it with an index. */
  handleRequest(m: ReadIndexRequest, isLeader: boolean): void {
    if (isLeader) this.leaderRead(m.requestId, m.from);
    else this.host.send({ type: 'ReadIndexResponse', from: this.host.id, to: m.from, term: this.host.term(), requestId: m.requestId, index: null });
  }

  /** Follower: asks the leader for a read index; the oldest unanswered forward fails when too many wait. */
  forward(requestId: string, leader: NodeId): void {
    if (this.forwarded.size >= MAX_FORWARDED_READS) {
      const [oldest] = this.forwarded.keys();
      if (oldest !== undefined) {
        this.forwarded.delete(oldest);
        this.states.push({ requestId: oldest, index: null });
      }
    }
    this.forwarded.set(requestId, leader);
    this.host.send({ type: 'ReadIndex', from: this.host.id, to: leader, term: this.host.term(), requestId });
  }

  /** Follower: the leader's answer. Validation has checked that we forwarded this read to its sender. */
  handleResponse(m: ReadIndexResponse): void {
    this.forwarded.delete(m.requestId);
    this.states.push({ requestId: m.requestId, index: m.index });
  }

  /**
   * One read round in flight at a time: reads that arrive while a round is out share the next
   * one, sent as soon as a majority confirms the current round (or with the next regular
   * heartbeat, which always carries the latest round, should an ack be lost). Under load this
   * turns a heartbeat broadcast per Ready into one per round trip, at no cost in safety: a read
   * is still released only by acks of a round sent after it arrived.
   */
  private releaseConfirmed(): void {
    const confirmedRound = this.confirmedRound();
    for (const read of this.reads.takeConfirmed(confirmedRound)) this.answer(read.requestId, read.from, read.index);
    this.requestRound(confirmedRound);
  }

  /** Asks for the next read round if reads wait for one and none is unconfirmed. */
  private requestRound(confirmedRound: number): void {
    if (confirmedRound >= this.#lastRoundSent && this.reads.currentRound() > this.#lastRoundSent && this.reads.hasPending()) this.#roundPending = true;
  }

  /** The highest read round a majority (this leader included) has acknowledged. */
  private confirmedRound(): number {
    return this.host.quorumOf((id) => (id === this.host.id ? Number.MAX_SAFE_INTEGER : this.reads.peerAck(id)));
  }

  private answer(requestId: string, from: NodeId, index: number | null): void {
    if (from === this.host.id) this.states.push({ requestId, index });
    else this.host.send({ type: 'ReadIndexResponse', from: this.host.id, to: from, term: this.host.term(), requestId, index });
  }
}
