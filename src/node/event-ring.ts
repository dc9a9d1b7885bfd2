/**
 * The last EVENT_RING_CAPACITY Raft events of this node (SPEC §11 "Events"), for the
 * dashboard's timeline: a fixed array used as a ring, so recording is one object and one
 * store, with no growth and no scan. Sequence numbers are consecutive, so a page after a
 * given seq is found by arithmetic.
 */
import { defined } from '@raftquotes/raft';

/** Events kept (SPEC §11): older ones are overwritten. */
export const EVENT_RING_CAPACITY = 10_000;
/** Events per GET /api/events page: default and maximum. */
export const DEFAULT_EVENTS_PAGE = 500;
export const MAX_EVENTS_PAGE = 2_000;

/** One event: its sequence number (from 1, increasing), its time (ms since the epoch), its type and fields. */
export interface RaftEvent {
  seq: number;
  at: number;
  type: string;
  [field: string]: unknown;
}

/** A page of events, oldest first. */
export interface EventPage {
  events: RaftEvent[];
  /** The oldest seq still kept (0 when empty): a reader asking for older ones missed some. */
  firstSeq: number;
  /** The newest seq recorded (0 when none). */
  lastSeq: number;
}

/** A bounded ring of events. */
export class EventRing {
  private readonly slots: Array<RaftEvent | undefined>;
  private lastSeq = 0;
  /** Whether record() keeps anything (the A/B benchmark turns it off). */
  enabled = true;

  constructor(
    readonly capacity = EVENT_RING_CAPACITY,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isSafeInteger(capacity) || capacity <= 0) throw new RangeError(`event ring capacity must be a positive integer, got ${capacity}`);
    this.slots = new Array<RaftEvent | undefined>(capacity);
  }

  /** Records an event; `fields` must not use the names seq, at or type. */
  record(type: string, fields: Record<string, unknown>): void {
    if (!this.enabled) return;
    const seq = ++this.lastSeq;
    this.slots[seq % this.capacity] = { seq, at: this.now(), type, ...fields };
  }

  /**
   * Records an event built by the caller with `seq` and `at` left as 0 (they are set here):
   * the hot path (every message) allocates one object of a fixed shape and copies nothing.
   */
  push(event: RaftEvent): void {
    if (!this.enabled) return;
    event.seq = ++this.lastSeq;
    event.at = this.now();
    this.slots[event.seq % this.capacity] = event;
  }

  /** The oldest kept seq (0 when empty). */
  firstSeq(): number {
    return this.lastSeq === 0 ? 0 : Math.max(1, this.lastSeq - this.capacity + 1);
  }

  /** Up to `limit` events with seq > `after`, oldest first. */
  after(after: number, limit: number): EventPage {
    const first = this.firstSeq();
    const page: RaftEvent[] = [];
    if (first > 0) {
      const from = Math.max(after + 1, first);
      const to = Math.min(this.lastSeq, from + Math.max(0, limit) - 1);
      // Every seq in [firstSeq, lastSeq] still has its slot: the ring overwrites only older ones.
      for (let seq = from; seq <= to; seq++) page.push(defined(this.slots[seq % this.capacity], () => `event ${seq} missing from the ring`));
    }
    return { events: page, firstSeq: first, lastSeq: this.lastSeq };
  }
}
