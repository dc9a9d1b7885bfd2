import { assert } from './assert.js';

/**
 * How the leader replicates to one follower (etcd-io/raft's Progress):
 * - probe: one AppendEntries at a time until the follower's matching point is found;
 * - replicate: optimistic pipelining, bounded by the in-flight window;
 * - snapshot: an InstallSnapshot is under way; appends pause until it completes.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** Leader-side replication state for one peer. */
export class Progress {
  // Written only by the methods below; the core reads them through the getters.
  #matchIndex = 0;
  #nextIndex: number;
  #state: ProgressState = 'probe';
  #probeSent = false;
  readonly #inflight: number[] = [];
  #recentActive = false;
  #ticksSinceContact: number | null = null;
  #snapshotIndex = 0;
  #snapshotOffset = 0;
  #snapshotSentOffset = 0;
  #snapshotReported = 0;
  #snapshotRewoundAt = -1;
  #snapshotAwaitingAck = false;
  #snapshotTicksWaiting = 0;

  /** Highest index known replicated on the peer (Figure 2: matchIndex). */
  get matchIndex(): number {
    return this.#matchIndex;
  }

  /** Next index to send (Figure 2: nextIndex); always above matchIndex. */
  get nextIndex(): number {
    return this.#nextIndex;
  }

  get state(): ProgressState {
    return this.#state;
  }

  /** In probe state: a message is outstanding, wait for a reply or a heartbeat response. */
  get probeSent(): boolean {
    return this.#probeSent;
  }

  /** Last index of each in-flight AppendEntries, oldest first (replicate state). */
  get inflight(): readonly number[] {
    return this.#inflight;
  }

  /** Heard from since the last check-quorum round (§6.2). */
  get recentActive(): boolean {
    return this.#recentActive;
  }

  /** Ticks since we last heard from this peer (status, and promotion checks); null before the first contact. */
  get ticksSinceContact(): number | null {
    return this.#ticksSinceContact;
  }

  /** InstallSnapshot transfer state (§7). */
  get snapshotIndex(): number {
    return this.#snapshotIndex;
  }

  /**
   * Bytes of the image the follower holds in order, as its highest reply said. Invariant:
   * snapshotOffset <= snapshotSentOffset; the chunks in between are in flight.
   */
  get snapshotOffset(): number {
    return this.#snapshotOffset;
  }

  /** The next byte of the image to send. */
  get snapshotSentOffset(): number {
    return this.#snapshotSentOffset;
  }

  /** Some chunk went out and the transfer has not ended (the retransmit timer runs). */
  get snapshotAwaitingAck(): boolean {
    return this.#snapshotAwaitingAck;
  }

  /** A snapshot chunk ending at `end` went out. */
  chunkSent(end: number): void {
    this.#snapshotSentOffset = end;
    this.#snapshotAwaitingAck = true;
    this.checkInvariants();
  }

  /**
   * The follower says it holds `received` bytes in order. A reply that moves forward frees
   * room in the window (and resets the retransmit timer). One that repeats the acknowledged
   * offset while chunks are in flight means the follower refused a chunk out of order (one
   * was lost or overtaken): the window goes back to it, once per offset, since every other
   * chunk in flight is refused with the same offset. Anything lower is a late reply and is
   * only remembered (see snapshotTimedOut): acting on stale replies made them multiply.
   * Returns true when chunks may be sent.
   */
  chunkAcked(received: number): boolean {
    this.#snapshotReported = received;
    if (received > this.#snapshotOffset) {
      this.#snapshotOffset = received;
      this.#snapshotSentOffset = Math.max(this.#snapshotSentOffset, received);
      this.#snapshotTicksWaiting = 0;
      return true;
    }
    if (received === this.#snapshotOffset && this.#snapshotSentOffset > received && this.#snapshotRewoundAt !== received) {
      this.#snapshotRewoundAt = received;
      this.#snapshotSentOffset = received;
      return true;
    }
    return false;
  }

  /**
   * No progress for a retransmit timeout: resend from what the follower last said it holds.
   * That may be below the acknowledged offset (it restarted and lost its partial image); on a
   * network that delivers, its last reply is its current state, so this converges.
   */
  snapshotTimedOut(): void {
    this.#snapshotOffset = this.#snapshotReported;
    this.#snapshotSentOffset = this.#snapshotReported;
    this.#snapshotRewoundAt = -1;
    this.#snapshotTicksWaiting = 0;
  }

  /** A new leadership counts the peer active until the first check-quorum round says otherwise. */
  markActive(): void {
    this.#recentActive = true;
  }

  /** The peer answered: active for check-quorum, and its silence counter restarts. */
  markContact(): void {
    this.#recentActive = true;
    this.#ticksSinceContact = 0;
  }

  /** A check-quorum round begins (§6.2): the peer must be heard from again. */
  startQuorumRound(): void {
    this.#recentActive = false;
  }

  tickContact(): void {
    if (this.#ticksSinceContact !== null) this.#ticksSinceContact++;
  }

  /** One more tick without progress of the transfer; returns how many so far. */
  tickSnapshotWait(): number {
    return ++this.#snapshotTicksWaiting;
  }

  constructor(nextIndex: number, private readonly maxInflight: number) {
    this.#nextIndex = nextIndex;
  }

  /** True when no more appends may be sent right now. */
  isPaused(): boolean {
    switch (this.#state) {
      case 'probe':
        return this.#probeSent;
      case 'replicate':
        return this.#inflight.length >= this.maxInflight;
      case 'snapshot':
        return true;
    }
  }

  becomeProbe(): void {
    // After a snapshot, resume from just past it; otherwise from just past the match.
    const resumeFrom = this.#state === 'snapshot' ? Math.max(this.#matchIndex, this.#snapshotIndex) : this.#matchIndex;
    this.resetState('probe');
    this.#nextIndex = resumeFrom + 1;
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.#nextIndex = this.#matchIndex + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.#snapshotIndex = snapshotIndex;
  }

  /** Records an append covering up to `lastIndex` as sent. */
  sentEntries(lastIndex: number, entryCount: number): void {
    if (this.#state === 'replicate') {
      if (entryCount > 0) {
        assert(!this.isPaused(), () => `sending past a full in-flight window (${this.#inflight.length} of ${this.maxInflight})`);
        this.#nextIndex = lastIndex + 1;
        this.#inflight.push(lastIndex);
      }
    } else if (this.#state === 'probe') {
      this.#probeSent = true;
    }
    this.checkInvariants();
  }

  /** Applies a successful ack; returns false if it was stale (nothing new learned). */
  maybeUpdate(matchIndex: number): boolean {
    let updated = false;
    if (matchIndex > this.#matchIndex) {
      this.#matchIndex = matchIndex;
      this.#probeSent = false;
      updated = true;
    }
    this.#nextIndex = Math.max(this.#nextIndex, matchIndex + 1);
    this.freeInflightUpTo(matchIndex);
    this.checkInvariants();
    return updated;
  }

  /**
   * Handles a rejection of the append whose prevLogIndex was `rejectedIndex`, moving nextIndex
   * back to `hintNext`. Returns false if the rejection is stale.
   */
  maybeDecrease(rejectedIndex: number, hintNext: number): boolean {
    if (this.#state === 'replicate') {
      // In replicate state a rejection below the match is a stale, reordered reply.
      if (rejectedIndex <= this.#matchIndex) return false;
      this.becomeProbe();
      this.#nextIndex = clampNext(hintNext, this.#matchIndex);
      return true;
    }
    // In probe state only the reply to the outstanding probe (prevLogIndex = next-1) counts.
    if (this.#nextIndex - 1 !== rejectedIndex) return false;
    this.#nextIndex = clampNext(Math.min(hintNext, rejectedIndex), this.#matchIndex);
    this.#probeSent = false;
    return true;
  }

  /** A heartbeat response proves the link works: let one more message through. */
  onHeartbeatResponse(): void {
    this.#probeSent = false;
    // Appends lost on a reconnecting link would otherwise hold the window shut forever.
    if (this.#state === 'replicate' && this.#inflight.length >= this.maxInflight) this.#inflight.shift();
  }

  /** match < next, and the in-flight window never holds more than it may (etcd's Inflights). */
  private checkInvariants(): void {
    assert(this.#matchIndex < this.#nextIndex, () => `progress match ${this.#matchIndex} not below next ${this.#nextIndex}`);
    assert(this.#inflight.length <= this.maxInflight, () => `in-flight window overflow: ${this.#inflight.length} > ${this.maxInflight}`);
    assert(this.#snapshotOffset <= this.#snapshotSentOffset, () => `snapshot acknowledged to ${this.#snapshotOffset}, beyond what was sent (${this.#snapshotSentOffset})`);
  }

  private freeInflightUpTo(index: number): void {
    for (let oldest = this.#inflight[0]; oldest !== undefined && oldest <= index; oldest = this.#inflight[0]) this.#inflight.shift();
  }

  private resetState(state: ProgressState): void {
    this.#state = state;
    this.#probeSent = false;
    this.#inflight.length = 0;
    this.#snapshotIndex = 0;
    this.#snapshotOffset = 0;
    this.#snapshotSentOffset = 0;
    this.#snapshotReported = 0;
    this.#snapshotRewoundAt = -1;
    this.#snapshotAwaitingAck = false;
    this.#snapshotTicksWaiting = 0;
  }
}

function clampNext(hintNext: number, matchIndex: number): number {
  const next = Math.max(hintNext, matchIndex + 1, 1);
  assert(next > matchIndex, 'nextIndex must stay above matchIndex');
  return next;
}
