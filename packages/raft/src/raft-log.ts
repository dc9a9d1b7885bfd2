import { assert, defined } from './assert.js';
import type { Entry } from './types.js';

/**
 * The in-memory Raft log after the last compaction point, with the bookkeeping the Ready
 * loop needs: which entries were handed to storage (`writtenIndex`), which of those are
 * durable (`stableIndex`), committed and applied.
 * Entries at or below `offset` were compacted into a snapshot.
 */
export class RaftLog {
  private entries: Entry[];
  // Written only by this class; read through the getters below (etcd's log.go owns them too).
  #offset: number;
  #offsetTerm: number;
  #stableIndex: number;
  #writtenIndex: number;
  #commitIndex: number;
  #appliedIndex: number;
  #applyingIndex: number;

  constructor(offset: number, offsetTerm: number, entries: Entry[], commitIndex: number, appliedIndex: number) {
    this.#offset = offset;
    this.#offsetTerm = offsetTerm;
    this.entries = entries.slice();
    entries.forEach((entry, i) => assert(entry.index === offset + 1 + i, 'recovered log must be contiguous'));
    this.#stableIndex = this.lastIndex();
    this.#writtenIndex = this.#stableIndex;
    this.#appliedIndex = Math.max(appliedIndex, offset);
    this.#applyingIndex = this.#appliedIndex;
    this.#commitIndex = Math.min(Math.max(commitIndex, this.#appliedIndex), this.lastIndex());
    assert(this.#appliedIndex <= this.lastIndex(), 'applied index beyond the recovered log');
  }

  /** Index of the last compacted entry; entries[0] has index offset + 1. */
  get offset(): number {
    return this.#offset;
  }

  /** Term of the entry at `offset`. */
  get offsetTerm(): number {
    return this.#offsetTerm;
  }

  /** Highest index known to be durable on this node's disk. */
  get stableIndex(): number {
    return this.#stableIndex;
  }

  /**
   * Highest index handed to storage (a Ready advanced), durable or not yet: a leader may write
   * its entries without waiting for the disk and learn of their durability later (syncedTo).
   */
  get writtenIndex(): number {
    return this.#writtenIndex;
  }

  /** Highest index known to be committed (Figure 2: commitIndex). */
  get commitIndex(): number {
    return this.#commitIndex;
  }

  /** Highest index the runtime has applied and acknowledged with advance() (Figure 2: lastApplied). */
  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /** Highest index handed to the runtime for applying (applied once advance() is called). */
  get applyingIndex(): number {
    return this.#applyingIndex;
  }

  /**
   * Entries up to `index` are handed to the runtime to apply: only forward, only committed
   * entries, and never past what was applied plus what is being handed out now.
   */
  applyingTo(index: number): void {
    assert(index > this.#applyingIndex, () => `applying ${index} again (already handed out up to ${this.#applyingIndex})`);
    assert(index <= this.#commitIndex, () => `applying ${index} beyond commit ${this.#commitIndex}`);
    this.#applyingIndex = index;
  }

  /** The runtime applied up to `index` (etcd's appliedTo): forward, and only what was handed out. */
  appliedTo(index: number): void {
    assert(index <= this.#applyingIndex, () => `applied ${index} beyond what was handed out (${this.#applyingIndex})`);
    assert(index <= this.#commitIndex, () => `applied ${index} beyond commit ${this.#commitIndex}`);
    this.#appliedIndex = Math.max(this.#appliedIndex, index);
  }

  /** Index of the first entry held in memory (offset + 1). */
  firstIndex(): number {
    return this.offset + 1;
  }

  /** Index of the last entry, durable or not. */
  lastIndex(): number {
    return this.offset + this.entries.length;
  }

  /** Term of the last entry. */
  lastTerm(): number {
    // termAt is defined from offset to lastIndex, and lastIndex >= offset always.
    return defined(this.termAt(this.lastIndex()), 'the last index has a term');
  }

  /** Term of the entry at `index`, or undefined if compacted away or beyond the end. */
  termAt(index: number): number | undefined {
    if (index === this.offset) return this.offsetTerm;
    return this.entryAt(index)?.term;
  }

  /** The entry at `index`, or undefined if compacted away or beyond the end. */
  entryAt(index: number): Entry | undefined {
    if (index <= this.offset || index > this.lastIndex()) return undefined;
    return this.entries[index - this.offset - 1];
  }

  /** True when a log ending at (lastIndex, lastTerm) is at least as up to date as ours (§5.4.1). */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** True when the log has an entry at `index` of term `term` (the Log Matching check, §5.3). */
  matchesTerm(index: number, term: number): boolean {
    return this.termAt(index) === term;
  }

  /** Entries in [from, to], limited to about maxBytes (at least one entry is returned). */
  slice(from: number, to: number, maxBytes: number, maxCount: number): Entry[] {
    assert(from > this.offset, () => `slice from ${from} is compacted (offset ${this.offset})`);
    const result: Entry[] = [];
    let bytes = 0;
    for (let index = from; index <= Math.min(to, this.lastIndex()) && result.length < maxCount; index++) {
      const entry = defined(this.entryAt(index), () => `entry ${index} within ${this.offset + 1}..${this.lastIndex()}`);
      bytes += entry.data.length + 24;
      if (result.length > 0 && bytes > maxBytes) break;
      result.push(entry);
    }
    return result;
  }

  /** Appends new entries at the end (the leader's own proposals). */
  append(newEntries: Entry[]): void {
    for (const entry of newEntries) {
      assert(entry.index === this.lastIndex() + 1, 'appended entries must be contiguous');
      this.entries.push(entry);
    }
  }

  /**
   * Follower side of AppendEntries after the prevLog check passed: skips entries we already
   * have, truncates at the first conflict and appends the rest (Figure 2, receiver rule 3-4).
   * Returns the index of the last entry of the message.
   */
  mergeFromLeader(entries: Entry[]): void {
    for (const [i, entry] of entries.entries()) {
      if (entry.index <= this.offset) continue;
      const ourTerm = this.termAt(entry.index);
      if (ourTerm === entry.term) continue;
      if (ourTerm !== undefined) this.truncateFrom(entry.index);
      this.append(entries.slice(i));
      return;
    }
  }

  /** Drops entries >= index; never a committed one (that would break State Machine Safety). */
  private truncateFrom(index: number): void {
    assert(index > this.commitIndex, () => `truncating committed entry ${index} (commit ${this.commitIndex})`);
    this.entries.length = index - this.offset - 1;
    this.#stableIndex = Math.min(this.stableIndex, index - 1);
    this.#writtenIndex = Math.min(this.writtenIndex, index - 1);
  }

  /** Entries not yet handed to storage, for the next Ready. */
  unstableEntries(): Entry[] {
    return this.entries.slice(this.writtenIndex - this.offset);
  }

  /**
   * Marks entries durable up to the last one of a Ready whose term still matches: entries
   * replaced between ready() and advance() stay unstable (etcd's stableTo).
   */
  stableTo(persisted: Entry[]): void {
    const last = this.lastMatching(persisted);
    if (last === null) return;
    this.#writtenIndex = Math.max(this.writtenIndex, last);
    this.#stableIndex = Math.max(this.stableIndex, last);
  }

  /** Marks entries written, not yet durable, with the same term check as stableTo. */
  writtenTo(written: Entry[]): void {
    const last = this.lastMatching(written);
    if (last !== null) this.#writtenIndex = Math.max(this.writtenIndex, last);
  }

  /**
   * Storage reports everything written up to (index, term) durable. Ignored if that entry was
   * replaced since (a deposed leader's), as etcd's stableTo ignores a stale term.
   */
  syncedTo(index: number, term: number): void {
    if (index > this.writtenIndex || !this.matchesTerm(index, term)) return;
    this.#stableIndex = Math.max(this.stableIndex, index);
  }

  /** The index of the last of `entries` still in the log with its term, or null. */
  private lastMatching(entries: Entry[]): number | null {
    for (let i = entries.length - 1; i >= 0; i--) {
      const entry = entries[i];
      if (entry !== undefined && this.matchesTerm(entry.index, entry.term)) return entry.index;
    }
    return null;
  }

  /** Moves the commit index forward to `index` (never back); true when it moved. */
  commitTo(index: number): boolean {
    if (index <= this.commitIndex) return false;
    assert(index <= this.lastIndex(), () => `commit ${index} beyond last index ${this.lastIndex()}`);
    this.#commitIndex = index;
    return true;
  }

  /** Committed entries that are durable here and not yet handed out for applying. */
  nextEntriesToApply(maxCount: number): Entry[] {
    const upTo = Math.min(this.commitIndex, this.applyingIndex + maxCount);
    if (upTo <= this.applyingIndex) return [];
    return this.entries.slice(this.applyingIndex - this.offset, upTo - this.offset);
  }

  /** Drops entries <= index from memory; they live on in a snapshot. */
  compact(index: number): void {
    if (index <= this.offset) return;
    assert(index <= this.appliedIndex, 'compacting beyond the applied index');
    const term = defined(this.termAt(index), () => `compacting to ${index}, beyond the last index ${this.lastIndex()}`);
    this.entries = this.entries.slice(index - this.offset);
    this.#offset = index;
    this.#offsetTerm = term;
  }

  /** Replaces the whole log with a snapshot's position (InstallSnapshot on a follower). */
  restoreSnapshot(index: number, term: number): void {
    this.entries = [];
    this.#offset = index;
    this.#offsetTerm = term;
    this.#commitIndex = index;
    this.#stableIndex = index;
    this.#writtenIndex = index;
    this.#appliedIndex = index;
    this.#applyingIndex = index;
  }
}
