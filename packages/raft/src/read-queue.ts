import type { NodeId } from './types.js';

/** A ReadIndex request waiting for a heartbeat round to confirm leadership. */
export interface PendingRead {
  requestId: string;
  /** Node that asked: this node, or a follower that forwarded the request. */
  from: NodeId;
  /** The read index; null until the leader has committed an entry of its own term. */
  index: number | null;
  /** Heartbeats carrying a round >= this one, acknowledged by a majority, confirm it. */
  round: number;
}

/**
 * Pending linearizable reads on the leader (§6.4 of the thesis). Every read gets a new
 * round number; heartbeats carry the latest round, so one heartbeat broadcast confirms all
 * reads registered before it (ReadIndex batching).
 */
export class ReadQueue {
  private round = 0;
  private pending: PendingRead[] = [];
  private readonly acks = new Map<NodeId, number>();

  add(read: Omit<PendingRead, 'round'>): void {
    this.pending.push({ ...read, round: ++this.round });
  }

  size(): number {
    return this.pending.length;
  }

  hasPending(): boolean {
    return this.pending.length > 0;
  }

  currentRound(): number {
    return this.round;
  }

  ack(peer: NodeId, round: number): void {
    if (round > (this.acks.get(peer) ?? 0)) this.acks.set(peer, round);
  }

  peerAck(peer: NodeId): number {
    return this.acks.get(peer) ?? 0;
  }

  /** Called on a new leadership: old acknowledgements prove nothing about the new term. */
  resetPeerAcks(): void {
    this.acks.clear();
  }

  /** Gives reads that waited for the first commit of the term their index. */
  fillUnknownIndexes(commitIndex: number): boolean {
    let filled = false;
    for (const read of this.pending) {
      if (read.index === null) {
        read.index = commitIndex;
        filled = true;
      }
    }
    return filled;
  }

  /** Removes and returns reads, in order, whose round a majority has confirmed. */
  takeConfirmed(confirmedRound: number): Array<PendingRead & { index: number }> {
    const released: Array<PendingRead & { index: number }> = [];
    for (let read = this.pending[0]; read !== undefined; read = this.pending[0]) {
      const { index } = read;
      if (read.round > confirmedRound || index === null) break;
      released.push({ ...read, index });
      this.pending.shift();
    }
    return released;
  }

  drain(): PendingRead[] {
    const all = this.pending;
    this.pending = [];
    return all;
  }
}
