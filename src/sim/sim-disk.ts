import type { RaftRestore } from '../raft/raft.js';
import type { Entry, HardState, Ready, Snapshot } from '../raft/types.js';

/** A register state machine for the simulator: key -> (value, index of the write). */
export class SimStateMachine {
  applied = 0;
  kv = new Map<string, { value: string; index: number }>();

  /** Applies one entry; normal entries carry "key=value". */
  apply(entry: Entry): void {
    if (entry.index !== this.applied + 1) throw new Error(`sim state machine: applying ${entry.index} after ${this.applied}`);
    this.applied = entry.index;
    if (entry.type !== 'normal') return;
    const eq = entry.data.indexOf('=');
    this.kv.set(entry.data.slice(0, eq), { value: entry.data.slice(eq + 1), index: entry.index });
  }

  serialize(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ applied: this.applied, kv: [...this.kv] }));
  }

  restore(data: Uint8Array): void {
    const parsed = JSON.parse(new TextDecoder().decode(data)) as { applied: number; kv: [string, { value: string; index: number }][] };
    this.applied = parsed.applied;
    this.kv = new Map(parsed.kv);
  }

  clone(): SimStateMachine {
    const copy = new SimStateMachine();
    copy.applied = this.applied;
    copy.kv = new Map(this.kv);
    return copy;
  }
}

/**
 * What survives a crash: the hard state, log, snapshot and applied state machine as of the
 * last completed (durable) write. A Ready whose write had not completed is simply lost.
 */
export class SimDisk {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  snapshot: Snapshot | null = null;
  offset = 0;
  offsetTerm = 0;
  entries: Entry[] = [];
  stateMachine = new SimStateMachine();

  /** Persists a Ready's snapshot, entries and hard state atomically (one "fsync"). */
  persist(rd: Ready): void {
    if (rd.snapshot) {
      this.snapshot = rd.snapshot;
      this.offset = rd.snapshot.meta.index;
      this.offsetTerm = rd.snapshot.meta.term;
      this.entries = [];
      this.stateMachine.restore(rd.snapshot.data);
    }
    const first = rd.entries[0];
    if (first) {
      this.entries.length = Math.max(0, Math.min(this.entries.length, first.index - this.offset - 1));
      this.entries.push(...rd.entries);
    }
    if (rd.hardState) this.hardState = rd.hardState;
  }

  /** Applying and recording the applied index happen together, as in SQLite (SPEC §5). */
  apply(entries: Entry[]): void {
    for (const entry of entries) this.stateMachine.apply(entry);
  }

  saveSnapshot(snapshot: Snapshot, offset: number, offsetTerm: number): void {
    this.snapshot = snapshot;
    this.entries = this.entries.slice(Math.max(0, offset - this.offset));
    this.offset = offset;
    this.offsetTerm = offsetTerm;
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
