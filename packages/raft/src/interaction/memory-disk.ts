import { assert } from '../assert.js';
import type { RaftRestore } from '../raft.js';
import type { Entry, HardState, Ready, Snapshot } from '../types.js';

/**
 * The test state machine: the data of every applied normal entry, with its index. A
 * snapshot at index k holds the values with index <= k.
 */
export class ListStateMachine {
  applied = 0;
  values: Array<[number, string]> = [];

  apply(entry: Entry): void {
    assert(entry.index === this.applied + 1, () => `state machine: applying ${entry.index} after ${this.applied}`);
    this.applied = entry.index;
    if (entry.type === 'normal') this.values.push([entry.index, entry.data]);
  }

  /** The state as of `index` (<= applied), as snapshot bytes. */
  serializeAt(index: number): Uint8Array {
    assert(index <= this.applied, () => `state machine: snapshot at ${index} beyond applied ${this.applied}`);
    const values = this.values.filter(([i]) => i <= index).map(([i, data]) => `${i}:${data}`);
    return new TextEncoder().encode(JSON.stringify(values));
  }

  restore(snapshot: Snapshot): void {
    // Only serializeAt above writes these bytes: a JSON array of strings.
    const values = JSON.parse(new TextDecoder().decode(snapshot.data)) as string[];
    this.applied = snapshot.meta.index;
    this.values = values.map((value) => {
      const colon = value.indexOf(':');
      return [Number(value.slice(0, colon)), value.slice(colon + 1)];
    });
  }
}

/**
 * What survives a crash: hard state, snapshot, log and the applied state machine as of the
 * last completed write (the Ready contract of types.ts). Applying is durable at once, as
 * with SQLite where the applied index is written in the same transaction.
 */
export class MemoryDisk {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  snapshot: Snapshot | null = null;
  offset = 0;
  offsetTerm = 0;
  entries: Entry[] = [];
  readonly stateMachine = new ListStateMachine();

  lastIndex(): number {
    return this.offset + this.entries.length;
  }

  /** Persists a Ready's snapshot, then entries (replacing any at >= the first), then hard state. */
  persist(rd: Ready): void {
    if (rd.snapshot) {
      this.snapshot = rd.snapshot;
      this.offset = rd.snapshot.meta.index;
      this.offsetTerm = rd.snapshot.meta.term;
      this.entries = [];
    }
    const first = rd.entries[0];
    if (first) {
      assert(first.index > this.offset, 'persisting entries behind the snapshot');
      assert(first.index <= this.lastIndex() + 1, 'persisting entries with a gap');
      this.entries.length = first.index - this.offset - 1;
      this.entries.push(...rd.entries);
    }
    if (rd.hardState) this.hardState = { ...rd.hardState };
  }

  /** Records a snapshot taken by this node and drops the entries it compacted. */
  saveSnapshot(snapshot: Snapshot, offset: number, offsetTerm: number): void {
    this.snapshot = snapshot;
    this.entries = this.entries.slice(Math.max(0, offset - this.offset));
    this.offset = offset;
    this.offsetTerm = offsetTerm;
  }

  /** Replaces the whole disk (test setup: divergent logs written by earlier terms). */
  overwrite(hardState: HardState, entries: Entry[]): void {
    this.hardState = { ...hardState };
    this.snapshot = null;
    this.offset = 0;
    this.offsetTerm = 0;
    this.entries = entries.slice();
    this.stateMachine.applied = 0;
    this.stateMachine.values = [];
  }

  recover(): RaftRestore {
    return {
      hardState: { ...this.hardState },
      snapshot: this.snapshot,
      offset: this.offset,
      offsetTerm: this.offsetTerm,
      entries: this.entries.slice(),
      appliedIndex: this.stateMachine.applied,
    };
  }
}
