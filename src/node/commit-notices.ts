/**
 * Commit notices held back for the next append.
 *
 * When a write commits, the core tells every follower at once with an empty AppendEntries
 * carrying the new commit index (§5.3: the commit index travels on the next append or
 * heartbeat; etcd-io/raft broadcasts it the same way). Sent at once, that notice costs every
 * follower a wakeup, an apply and an answer, which the leader then steps: on 2 shared cores
 * that lands in the middle of the leader's own apply and HTTP answer, on the write's path. Held
 * back for COMMIT_NOTICE_DELAY_MS, it is usually superseded by the next write's append, which
 * carries a commit index at least as high: the follower then applies after acking that append,
 * off the path of both writes, and 8 of the 16 messages per write disappear.
 *
 * A follower that waits on a commit is told at once: one that forwarded a write over the peer
 * link (it answers its client when it applies the entry), and one asking for a read index (it
 * serves the read once it has applied up to it). Holding a message is a slower network, which
 * Raft tolerates: nothing here can affect safety, only when a follower learns a commit.
 */
import type { AppendEntriesRequest, Message, NodeId } from '@raftquotes/raft';
import type { Clock, TimerHandle } from './clock.js';

/**
 * How long a commit notice waits for an append to carry its commit instead. With one
 * closed-loop client the next write's append leaves the leader ~1.1 ms after the commit (the
 * answer, the client's turnaround, the next propose), but past 2 ms in the tail and whenever
 * the 2 cores are busy: at 2 ms the notices still went out on a large share of writes
 * (strace: 3.1 empty appends per write), each waking all 4 followers, whose answers then woke
 * the leader, during the next write. 10 ms stays well under the heartbeat (50 ms), which carries
 * the commit index too, so an idle follower still learns the last commit within 10 ms.
 */
export const COMMIT_NOTICE_DELAY_MS = 10;

/** What the notices need from their node. */
export interface CommitNoticeHost {
  clock: Clock;
  /** The core's state now: only a leader's notices are held, and only its current term's are sent late. */
  leading(): boolean;
  term(): number;
  send(to: NodeId, message: Message): void;
  flush(): void;
}

/** Forwarded writes of one follower that it still waits to learn committed: indexes low..high. */
interface Waiting {
  low: number;
  high: number;
}

/** The leader's held commit notices, one per follower (the latest), and who must not wait. */
export class CommitNotices {
  private readonly held = new Map<NodeId, AppendEntriesRequest>();
  private readonly waiting = new Map<NodeId, Waiting>();
  private timer: TimerHandle | null = null;

  constructor(private readonly host: CommitNoticeHost) {}

  /** Sends `messages` in order, holding back the commit notices that may wait. */
  sendAll(messages: readonly Message[]): void {
    for (const message of messages) {
      if (message.type === 'AppendEntries') {
        if (message.entries.length === 0 && this.mayHold(message)) {
          this.held.set(message.to, message);
          continue;
        }
        // This append carries the commit index too (it only grows within a term).
        this.held.delete(message.to);
        this.told(message.to, message.commit);
      } else if (message.type === 'ReadIndexResponse') {
        this.release(message.to);
      }
      this.host.send(message.to, message);
    }
    if (this.held.size > 0 && this.timer === null) this.timer = this.host.clock.setTimeout(() => this.releaseAll(), COMMIT_NOTICE_DELAY_MS);
    else if (this.held.size === 0 && this.timer !== null) this.cancelTimer();
  }

  /** Nothing is held any more (every notice was superseded): the timer would only wake the leader for nothing. */
  private cancelTimer(): void {
    if (this.timer !== null) this.host.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** The leader proposed `index` for a write `peer` forwarded: that peer is told of its commit at once. */
  forwarded(peer: NodeId, index: number): void {
    const waiting = this.waiting.get(peer);
    if (waiting) waiting.high = Math.max(waiting.high, index);
    else this.waiting.set(peer, { low: index, high: index });
  }

  /** Leadership changed, or the node stopped: nothing held is worth sending. */
  clear(): void {
    this.held.clear();
    this.waiting.clear();
    if (this.timer !== null) this.host.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** Held notices now (tests and status). */
  get size(): number {
    return this.held.size;
  }

  private mayHold(message: AppendEntriesRequest): boolean {
    if (!this.host.leading()) return false;
    const waiting = this.waiting.get(message.to);
    return waiting === undefined || message.commit < waiting.low;
  }

  private told(peer: NodeId, commit: number): void {
    const waiting = this.waiting.get(peer);
    if (!waiting || commit < waiting.low) return;
    if (commit >= waiting.high) this.waiting.delete(peer);
    else waiting.low = commit + 1;
  }

  private release(peer: NodeId): void {
    const message = this.held.get(peer);
    if (!message) return;
    this.held.delete(peer);
    this.host.send(peer, message);
  }

  private releaseAll(): void {
    this.timer = null;
    if (!this.host.leading()) return this.clear();
    const term = this.host.term();
    for (const [peer, message] of this.held) if (message.term === term) this.host.send(peer, message);
    this.held.clear();
    this.host.flush();
  }
}
