/**
 * A leader's appends written without waiting for the disk (issue 19; etcd's
 * AsyncStorageWrites): the leader's thread sends the entries, writes them, and goes on
 * stepping acknowledgements and requests while the fsync runs on another thread. The core
 * counts the leader's own copy for commit only once the sync reports it durable
 * (RaftCore.syncedTo): a commit still needs a majority of durable copies, and with 5 voters
 * 3 followers can commit an entry before the leader's own fsync returns.
 *
 * Each write starts its sync at once, up to MAX_SYNCS_IN_FLIGHT; past that, the writes made
 * meanwhile share the next one (group commit). One at a time, a write that came just after a
 * sync started waited for that sync and then its own, and its client with it (SPEC §2: a
 * leader answers only once its own copy is on disk). A synced write of the node's own (a vote,
 * a compaction) covers every write before it too: `covered` says what it made durable.
 */
import type { UnsyncedWrites, PersistBatch } from '../storage/types.js';

/** A log position: the last entry of a write. */
export interface EntryId {
  index: number;
  term: number;
}

export interface LogSyncHost {
  /** Everything written up to `through` is durable; the sync took `ms`. */
  synced(through: EntryId, ms: number): void;
  /** The sync failed: what was written may or may not be on disk (the node must stop). */
  failed(err: Error): void;
}

/** fdatasyncs of the log under way at once (libuv's pool has 4 threads; other work needs some). */
export const MAX_SYNCS_IN_FLIGHT = 2;

export class LogSync {
  /** The last entry written since the last sync started (null: none). */
  private written: EntryId | null = null;
  /** Syncs under way, and what the latest of them covers. */
  private inFlight = 0;
  private latestStarted: EntryId | null = null;

  constructor(
    private readonly storage: UnsyncedWrites,
    private readonly host: LogSyncHost,
    private readonly now: () => number,
  ) {}

  /** Writes `batch`, whose last entry is `last`, and starts a sync unless one is running. */
  write(batch: PersistBatch, last: EntryId): void {
    this.storage.persistUnsynced(batch);
    this.written = last;
    this.start();
  }

  /** Whether anything written is not yet known to be durable. */
  get pending(): boolean {
    return this.written !== null || this.inFlight > 0;
  }

  /**
   * A synced write just made everything written before it durable: returns the last entry
   * written (null: nothing was pending). A sync in flight reports later; by then it is old news.
   */
  covered(): EntryId | null {
    const last = this.written ?? (this.inFlight > 0 ? this.latestStarted : null);
    this.written = null;
    return last;
  }

  /** Syncs now, blocking: for a message that promises everything written is durable. */
  syncNow(): EntryId | null {
    if (!this.pending) return null;
    this.storage.syncNow();
    return this.covered();
  }

  private start(): void {
    const target = this.written;
    if (this.inFlight >= MAX_SYNCS_IN_FLIGHT || target === null) return;
    this.written = null;
    this.inFlight++;
    this.latestStarted = target;
    const started = this.now();
    this.storage.syncAsync((err) => {
      this.inFlight--;
      if (err) {
        this.host.failed(err);
        return;
      }
      this.host.synced(target, this.now() - started);
      this.start();
    });
  }
}
