import type { Entry, HardState, Snapshot } from '../raft/types.js';
import { entriesAfter, validateRecoveredLog } from './log-validation.js';
import type { PersistBatch, RaftStorage, RecoveredLog, StoredSnapshot } from './types.js';

/**
 * RaftStorage in memory: what the simulator's disk keeps, and the reference the SQLite
 * implementation is checked against by the shared storage suite. "Durable" here means
 * "survives until this object is dropped"; the simulator models crashes by dropping writes
 * that were not yet reported durable.
 */
export class MemoryRaftStorage implements RaftStorage {
  private hardState: HardState = { term: 0, vote: null, commit: 0 };
  private snapshot: StoredSnapshot | null = null;
  private offset = 0;
  private offsetTerm = 0;
  private entries: Entry[] = [];
  private closed = false;

  recover(): RecoveredLog {
    return validateRecoveredLog(
      {
        hardState: { ...this.hardState },
        snapshot: this.snapshot,
        offset: this.offset,
        offsetTerm: this.offsetTerm,
        entries: this.entries.slice(),
      },
      'memory storage',
    );
  }

  persist(batch: PersistBatch): void {
    this.checkOpen();
    if (batch.snapshot) this.installSnapshot(batch.snapshot);
    const first = batch.entries[0];
    if (first) {
      this.entries.length = Math.max(0, Math.min(this.entries.length, first.index - this.offset - 1));
      this.entries.push(...batch.entries);
    }
    if (batch.hardState) this.hardState = { ...batch.hardState };
  }

  saveSnapshot(snapshot: StoredSnapshot): void {
    this.checkOpen();
    this.snapshot = snapshot;
  }

  compact(index: number, term: number): void {
    this.checkOpen();
    if (index <= this.offset) return;
    this.entries = entriesAfter(this.entries, this.offset, index);
    this.offset = index;
    this.offsetTerm = term;
  }

  close(): void {
    this.closed = true;
  }

  private installSnapshot(snapshot: Snapshot): void {
    this.snapshot = snapshot;
    this.entries = [];
    this.offset = snapshot.meta.index;
    this.offsetTerm = snapshot.meta.term;
    this.hardState = { ...this.hardState, commit: Math.max(this.hardState.commit, snapshot.meta.index) };
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('memory storage is closed');
  }
}
