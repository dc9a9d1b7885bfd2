import type { Entry } from '@raftquotes/raft';

/** A quote as stored and served. `index`/`term` are the log position that committed it. */
export interface Quote {
  index: number;
  term: number;
  text: string;
  author: string;
  postedAt: string;
}

/** Commands carried in normal entries (Entry.data is their JSON encoding). */
export type Command =
  | { op: 'put'; key: string; value: unknown; idempotencyKey?: string }
  | { op: 'delete'; key: string; idempotencyKey?: string }
  | { op: 'cas'; key: string; from: unknown; to: unknown; idempotencyKey?: string }
  | { op: 'quote'; text: string; author: string; postedAt: string; idempotencyKey?: string };

/** Outcome of applying one entry; returned to the client that proposed it. */
export type ApplyResult =
  | { ok: true; index: number; quote?: Quote }
  | { ok: false; index: number; error: 'not_found' }
  | { ok: false; index: number; error: 'precondition_failed'; current: unknown }
  /**
   * A normal entry whose data is not a valid Command (never proposed by the API): not JSON,
   * a missing field, or a value nested deeper than MAX_JSON_DEPTH.
   */
  | { ok: false; index: number; error: 'invalid_command' }
  /** The Idempotency-Key was first used with a different request (SPEC §3, 422); nothing changed. */
  | { ok: false; index: number; error: 'idempotency_key_reused' }
  /**
   * Applying the command failed with a logic error (a bug, not storage): recorded the same way
   * on every replica, which changed nothing and moved on, so one entry never becomes a crash loop.
   */
  | { ok: false; index: number; error: 'apply_failed' };

/** A KV read result. */
export interface KvRecord {
  key: string;
  value: unknown;
  /** Log index of the write that produced this value. */
  index: number;
}

/** A KV read result with the value as the stored JSON text (a read answers with it as is). */
export interface KvJsonRecord {
  key: string;
  valueJson: string;
  index: number;
}

/** One committed client entry for the controller's RETRIEVE. */
export interface CommittedClientEntry {
  index: number;
  term: number;
  command: Command;
}

/**
 * The replicated state machine: deterministic, durable (applied index in the same transaction
 * as the effects), with snapshot/restore for compaction and InstallSnapshot.
 */
export interface StateMachine {
  /**
   * True when the applied state itself survives a crash (SQLite): it then is the local
   * snapshot, and compaction stores no image. False for the in-memory twin.
   */
  readonly durable: boolean;
  appliedIndex(): number;
  /** Applies committed entries in order in one transaction; noop entries only move the index. */
  apply(entries: Entry[]): ApplyResult[];
  get(key: string): KvRecord | null;
  /** As get, with the value as its stored JSON text: GET /api/kv sends it without parsing it. */
  getJson(key: string): KvJsonRecord | null;
  quotesAfter(afterIndex: number, limit: number): Quote[];
  /** Committed client commands with index >= fromIndex, oldest first (survives compaction). */
  clientEntriesFrom(fromIndex: number, limit: number): CommittedClientEntry[];
  snapshot(): Uint8Array;
  /**
   * The same image, built without holding the event loop for long (SQLite pages through a
   * second connection). Its index may be below appliedIndex() by the time it resolves.
   */
  buildImage(): Promise<SnapshotImage>;
  restore(index: number, term: number, data: Uint8Array): void;
  /**
   * The size of the applied state in bytes (keys, values, quotes and idempotency records, as
   * counted by state-size.ts), for the --quota-bytes check (SPEC §5). Optional: a state
   * machine without it has no quota (test doubles).
   */
  sizeBytes?(): number;
  /**
   * A cheap read of the durable state for GET /healthz: the reason it failed, or null when the
   * store answers. Optional: a state machine without storage has nothing to check.
   */
  checkStorage?(): string | null;
  /**
   * The image as a stream (GET /api/backup): opens a consistent read view now (so the index
   * is known before the first byte), then yields the encoded image a page of at most
   * `pageRows` rows at a time. Optional: without it the image is built whole (buildImage).
   */
  openImageStream?(pageRows: number): ImageStream;
}

/** A state image being streamed from one consistent read view. */
export interface ImageStream {
  index: number;
  term: number;
  /** The image's bytes, in order; ends the read view when done, failed or returned early. */
  chunks: AsyncGenerator<Buffer>;
  /** Ends the read view if `chunks` was never run to its end (idempotent). */
  close(): void;
}

/** A state image and the applied index and term it holds. */
export interface SnapshotImage {
  index: number;
  term: number;
  data: Uint8Array;
}
