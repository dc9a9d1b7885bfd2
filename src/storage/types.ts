import type { Entry, HardState, Snapshot, SnapshotMeta } from '@raftquotes/raft';

/**
 * A snapshot as stored. `data` is null when the state machine is itself durable and at or
 * past `meta.index` (the SQLite node: its applied tables are the snapshot, as in rqlite), so
 * no image is kept; nor is one received by InstallSnapshot that was restored into such a state
 * machine in the same transaction (PersistBatch.storeImage). A non-durable state machine's
 * image, or one installed without that transaction, is kept until the next local snapshot.
 */
export interface StoredSnapshot {
  meta: SnapshotMeta;
  data: Uint8Array | null;
}

/** Everything a node recovers at start. The core keeps the log after `offset` in memory. */
export interface RecoveredLog {
  hardState: HardState;
  /** Latest snapshot, or null if the node never took or received one. */
  snapshot: StoredSnapshot | null;
  /** Index of the last compacted entry (0 when nothing was compacted). */
  offset: number;
  /** Term of the entry at `offset` (0 when offset is 0). */
  offsetTerm: number;
  /** Entries offset+1 .. lastIndex, contiguous. */
  entries: Entry[];
}

/** The durable part of one Ready, written as one transaction with one fsync (group commit). */
export interface PersistBatch {
  hardState: HardState | null;
  /** Installed from a leader: replaces the whole log (entries <= meta.index are discarded). */
  snapshot: Snapshot | null;
  /** Appended entries; stored entries at index >= entries[0].index are replaced first. */
  entries: Entry[];
  /**
   * False when a durable state machine is restored from `snapshot` in the same transaction
   * (RaftStorage.atomically): its tables are then the snapshot, so the image is not stored.
   */
  storeImage?: boolean;
}

/**
 * The durable Raft log, hard state and snapshots. Implemented on SQLite for real nodes and
 * in memory for the simulator; one shared test suite runs against both.
 */
export interface RaftStorage {
  /** Reads everything back; throws StorageError on corruption, never silently resets. */
  recover(): RecoveredLog;
  /** Writes one batch atomically and durably. */
  persist(batch: PersistBatch): void;
  /** Saves a locally taken snapshot (does not touch the log). */
  saveSnapshot(snapshot: StoredSnapshot): void;
  /** Drops entries <= index, remembering `term` as the term at `index`. */
  compact(index: number, term: number): void;
  /**
   * Runs `body` as one transaction with the state machine that shares this storage's
   * database (SQLite node), or is absent when they do not share one.
   */
  atomically?<T>(body: () => T): T;
  close(): void;
}

/**
 * A storage that can write a batch without waiting for the disk and make it durable later,
 * off the node's thread (a leader's appends, issue 19; etcd's AsyncStorageWrites). Writes stay
 * in order: a sync makes durable everything written before it started, and so does any
 * synced write (persist, saveSnapshot, compact). A crash of the machine before that may lose
 * a suffix of the unsynced writes, never a write in the middle.
 */
export interface UnsyncedWrites {
  /** Writes one batch atomically, not yet durable. */
  persistUnsynced(batch: PersistBatch): void;
  /** Makes everything written so far durable, off the caller's thread; `done` gets the failure, if any. */
  syncAsync(done: (err: Error | null) => void): void;
  /** The same, blocking. */
  syncNow(): void;
}

export function hasUnsyncedWrites(storage: RaftStorage): storage is RaftStorage & UnsyncedWrites {
  const s = storage as Partial<UnsyncedWrites>;
  return typeof s.persistUnsynced === 'function' && typeof s.syncAsync === 'function' && typeof s.syncNow === 'function';
}
