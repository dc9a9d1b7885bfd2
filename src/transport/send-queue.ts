import { assert } from '@raftquotes/raft';
import { outboundFrameBytes, type OutboundFrame } from './frame-codec.js';

/** Limits of one peer's send queue. */
export interface SendQueueLimits {
  maxMessages: number;
  maxBytes: number;
}

/** How often the consumed prefix of the backing array is compacted away. */
const COMPACT_AFTER = 1024;

/**
 * A bounded FIFO of encoded frames for one peer. Bounded in both count and bytes so a slow
 * or dead peer costs at most a known amount of memory; `push` refuses instead of growing.
 */
export class SendQueue {
  private frames: OutboundFrame[] = [];
  /** Index of the oldest frame still queued (avoids O(n) shift on every dequeue). */
  private head = 0;
  private queuedBytes = 0;

  constructor(private readonly limits: SendQueueLimits) {
    if (!(limits.maxMessages > 0 && limits.maxBytes > 0)) throw new RangeError('send queue limits must be positive');
  }

  get length(): number {
    return this.frames.length - this.head;
  }

  get bytes(): number {
    return this.queuedBytes;
  }

  /** True when one more message could not be queued whatever its size. */
  isFull(): boolean {
    return this.length >= this.limits.maxMessages || this.queuedBytes >= this.limits.maxBytes;
  }

  /** Queues a frame; false (nothing queued) when it would exceed either limit. */
  push(frame: OutboundFrame): boolean {
    const size = outboundFrameBytes(frame);
    if (this.length >= this.limits.maxMessages || this.queuedBytes + size > this.limits.maxBytes) return false;
    this.frames.push(frame);
    this.queuedBytes += size;
    this.checkBounds();
    return true;
  }

  /**
   * Dequeues the oldest frames up to maxBytes in total, at least one (a frame larger than
   * maxBytes comes out alone). Empty when the queue is.
   */
  takeBatch(maxBytes: number): { frames: OutboundFrame[]; bytes: number } {
    const frames: OutboundFrame[] = [];
    let bytes = 0;
    for (let frame = this.frames[this.head]; frame !== undefined; frame = this.frames[this.head]) {
      const size = outboundFrameBytes(frame);
      if (frames.length > 0 && bytes + size > maxBytes) break;
      frames.push(frame);
      bytes += size;
      this.head++;
    }
    this.queuedBytes -= bytes;
    this.compact();
    this.checkBounds();
    return { frames, bytes };
  }

  /** Drops everything queued; returns how many messages that was. */
  clear(): number {
    const dropped = this.length;
    this.frames = [];
    this.head = 0;
    this.queuedBytes = 0;
    return dropped;
  }

  /** The queue never holds more than its limits, nor a negative byte count (TigerStyle: assert where state moves). */
  private checkBounds(): void {
    assert(this.length <= this.limits.maxMessages && this.queuedBytes <= this.limits.maxBytes, () => `send queue over its limits: ${this.length} frames, ${this.queuedBytes} bytes`);
    assert(this.queuedBytes >= 0 && (this.length > 0 || this.queuedBytes === 0), () => `send queue byte count ${this.queuedBytes} with ${this.length} frames`);
  }

  private compact(): void {
    if (this.head === this.frames.length) {
      this.frames = [];
      this.head = 0;
    } else if (this.head >= COMPACT_AFTER && this.head * 2 >= this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.head = 0;
    }
  }
}
