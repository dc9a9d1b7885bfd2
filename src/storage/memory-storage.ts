import { assert, type Entry, type HardState, type Snapshot } from '@raftquotes/raft';
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
    if (batch.hardState) this.checkHardStateMovesForward(batch.hardState);
    if (batch.snapshot) this.installSnapshot(batch.snapshot);
    const first = batch.entries[0];
    if (first) {
      const last = this.offset + this.entries.length;
      assert(first.index > this.offset && first.index <= last + 1, () => `appending at ${first.index} to a log of ${this.offset + 1}..${last}`);
      batch.entries.forEach((e, i) => assert(e.index === first.index + i, () => `persisted entries not contiguous at ${e.index}`));
      this.entries.length = Math.max(0, Math.min(this.entries.length, first.index - this.offset - 1));
      this.entries.push(...batch.entries);
    }
    if (batch.hardState) this.hardState = { ...batch.hardState };
  }

  /** The term and commit only grow, and a vote stands for its term (a restart must not vote twice). */
  private checkHardStateMovesForward(next: HardState): void {
    const prev = this.hardState;
    assert(next.term >= prev.term, () => `hard state term ${next.term} after ${prev.term}`);
    assert(next.term > prev.term || prev.vote === null || next.vote === prev.vote, () => `vote ${next.vote} after ${prev.vote} in term ${next.term}`);
    assert(next.commit >= prev.commit, () => `hard state commit ${next.commit} after ${prev.commit}`);
  }

  saveSnapshot(snapshot: StoredSnapshot): void {
    this.checkOpen();
    this.snapshot = snapshot;
  }

  compact(index: number, term: number): void {
    this.checkOpen();
    if (index <= this.offset) return;
    assert(index <= this.offset + this.entries.length, () => `compacting to ${index} past the last entry ${this.offset + this.entries.length}`);
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
