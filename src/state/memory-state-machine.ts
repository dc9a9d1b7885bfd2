import { assert, defined, type Entry } from '@raftquotes/raft';
import { applyEntry, retentionLimits, type IdempotencyRecord, type RetentionLimits, type StateStore } from './apply-logic.js';
import { compareCodePoints } from './command-codec.js';
import { decodeStateImage, encodeStateImage, type StateImage } from './snapshot-codec.js';
import { idempotencyRowBytes, kvRowBytes, quoteRowBytes } from './state-size.js';
import type { ApplyResult, Command, CommittedClientEntry, KvJsonRecord, KvRecord, Quote, SnapshotImage, StateMachine } from './types.js';

/**
 * The state machine in memory, for the simulator and tests. Same apply logic and snapshot
 * format as the SQLite one, so a snapshot taken by either restores into the other. Values,
 * idempotency results and client commands are kept as JSON text, as SQLite keeps them, so
 * both read back exactly the same data (e.g. -0 becomes 0 in both).
 */
export class MemoryStateMachine implements StateMachine, StateStore {
  /** Lost on a crash: compaction must keep an image. */
  readonly durable = false;
  private applied = 0;
  private appliedTerm = 0;
  private kv = new Map<string, { valueJson: string; index: number }>();
  private quotes: Quote[] = [];
  private idempotency = new Map<string, { index: number; resultJson: string; requestHash: string }>();
  /** state-size.ts's count of kv, quotes and idempotency records (the quota's measure). */
  private size = 0;
  private clientLog: Array<{ index: number; term: number; commandJson: string }> = [];
  private readonly retention: Readonly<RetentionLimits>;

  /** `retention` is for tests only: every replica must use the same limits. */
  constructor(retention: Partial<RetentionLimits> = {}) {
    this.retention = retentionLimits(retention);
  }

  appliedIndex(): number {
    return this.applied;
  }

  /** All or nothing, like the SQLite transaction: an out-of-order batch changes nothing. */
  apply(entries: Entry[]): ApplyResult[] {
    entries.forEach((entry, i) => {
      assert(entry.index === this.applied + 1 + i, () => `apply out of order: entry ${entry.index} after applied ${this.applied + i}`);
    });
    return entries.map((entry) => applyEntry(this, entry, this.applied, this.retention));
  }

  get(key: string): KvRecord | null {
    return this.getKv(key);
  }

  quotesAfter(afterIndex: number, limit: number): Quote[] {
    const start = firstAtOrAfter(this.quotes, afterIndex + 1, (q) => q.index);
    return this.quotes.slice(start, start + limit);
  }

  clientEntriesFrom(fromIndex: number, limit: number): CommittedClientEntry[] {
    const start = firstAtOrAfter(this.clientLog, fromIndex, (e) => e.index);
    return this.clientLog.slice(start, start + limit).map((e) => ({ index: e.index, term: e.term, command: JSON.parse(e.commandJson) as Command }));
  }

  snapshot(): Uint8Array {
    const image: StateImage = {
      appliedIndex: this.applied,
      appliedTerm: this.appliedTerm,
      kv: [...this.kv].sort(byKey).map(([key, v]) => [key, v.valueJson, v.index]),
      quotes: this.quotes.slice(),
      idempotency: [...this.idempotency].sort(byKey).map(([key, v]) => [key, v.index, v.resultJson, v.requestHash]),
      clientLog: this.clientLog.map((e) => [e.index, e.term, e.commandJson]),
    };
    return encodeStateImage(image);
  }

  /** In memory there is nothing to page through: the image of now. */
  buildImage(): Promise<SnapshotImage> {
    return Promise.resolve({ index: this.applied, term: this.appliedTerm, data: this.snapshot() });
  }

  restore(index: number, term: number, data: Uint8Array): void {
    const image = decodeStateImage(data);
    this.kv = new Map(image.kv.map(([key, valueJson, at]) => [key, { valueJson, index: at }]));
    this.quotes = image.quotes.slice();
    this.idempotency = new Map(image.idempotency.map(([key, at, resultJson, requestHash]) => [key, { index: at, resultJson, requestHash }]));
    this.clientLog = image.clientLog.map(([at, t, commandJson]) => ({ index: at, term: t, commandJson }));
    this.applied = index;
    this.appliedTerm = term;
    this.size = 0;
    for (const [key, v] of this.kv) this.size += kvRowBytes(key, v.valueJson);
    for (const quote of this.quotes) this.size += quoteRowBytes(quote);
    for (const [key, v] of this.idempotency) this.size += idempotencyRowBytes(key, v.resultJson, v.requestHash);
  }

  sizeBytes(): number {
    return this.size;
  }

  // ---------------------------------------------------------------- StateStore

  getKv(key: string): KvRecord | null {
    const record = this.kv.get(key);
    return record ? { key, value: JSON.parse(record.valueJson) as unknown, index: record.index } : null;
  }

  getJson(key: string): KvJsonRecord | null {
    const record = this.kv.get(key);
    return record ? { key, valueJson: record.valueJson, index: record.index } : null;
  }

  putKv(key: string, valueJson: string, index: number): void {
    const old = this.kv.get(key);
    if (old) this.size -= kvRowBytes(key, old.valueJson);
    this.kv.set(key, { valueJson, index });
    this.size += kvRowBytes(key, valueJson);
  }

  deleteKv(key: string): void {
    const old = this.kv.get(key);
    if (!old) return;
    this.size -= kvRowBytes(key, old.valueJson);
    this.kv.delete(key);
  }

  getIdempotent(key: string): IdempotencyRecord | null {
    const record = this.idempotency.get(key);
    return record ? { result: JSON.parse(record.resultJson) as ApplyResult, requestHash: record.requestHash } : null;
  }

  putIdempotent(key: string, index: number, resultJson: string, requestHash: string): void {
    const old = this.idempotency.get(key);
    if (old) this.size -= idempotencyRowBytes(key, old.resultJson, old.requestHash);
    this.idempotency.set(key, { index, resultJson, requestHash });
    this.size += idempotencyRowBytes(key, resultJson, requestHash);
  }

  pruneIdempotentBefore(index: number): void {
    for (const [key, record] of this.idempotency) {
      if (record.index >= index) continue;
      this.size -= idempotencyRowBytes(key, record.resultJson, record.requestHash);
      this.idempotency.delete(key);
    }
  }

  addQuote(quote: Quote): void {
    this.quotes.push(quote);
    this.size += quoteRowBytes(quote);
  }

  addClientEntry(index: number, term: number, commandJson: string): void {
    this.clientLog.push({ index, term, commandJson });
  }

  pruneClientEntriesBefore(index: number): void {
    this.clientLog = this.clientLog.slice(firstAtOrAfter(this.clientLog, index, (e) => e.index));
  }

  setApplied(index: number, term: number): void {
    this.applied = index;
    this.appliedTerm = term;
  }
}

function byKey(a: [string, unknown], b: [string, unknown]): number {
  return compareCodePoints(a[0], b[0]);
}

/** Binary search: position of the first item whose index is >= `index` in an index-sorted array. */
function firstAtOrAfter<T>(items: readonly T[], index: number, indexOf: (item: T) => number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (indexOf(defined(items[mid], 'lo <= mid < hi <= items.length')) < index) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
