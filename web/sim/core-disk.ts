/**
 * The browser simulator's disk (/sim): durable state of one simulated node driven straight
 * from the core's Ready (the server-side simulator in src/sim simulates the real node runtime
 * and its storage instead). In-memory and synchronous: a crash keeps what was persisted.
 */
import type { Entry, RaftRestore, Ready, Snapshot } from '@raftquotes/raft';
import { MemoryRaftStorage } from '../../src/storage/memory-storage.js';

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
 * What survives a crash: the Raft storage (the same MemoryRaftStorage the shared storage
 * suite checks against SQLite, so the simulator exercises that code path) and the applied
 * state machine, as of the last completed (durable) write. The simulator hands a Ready to
 * `persist` only when its simulated fsync completes; a crash before then loses it entirely.
 */
export class SimDisk {
  readonly storage = new MemoryRaftStorage();
  stateMachine = new SimStateMachine();

  /** Persists a Ready's snapshot, entries and hard state atomically (one "fsync"). */
  persist(rd: Ready): void {
    if (!rd.hardState && !rd.snapshot && rd.entries.length === 0) return;
    this.storage.persist({ hardState: rd.hardState, snapshot: rd.snapshot, entries: rd.entries });
    if (rd.snapshot) this.stateMachine.restore(rd.snapshot.data);
  }

  /** Applying and recording the applied index happen together, as in SQLite (SPEC §5). */
  apply(entries: Entry[]): void {
    for (const entry of entries) this.stateMachine.apply(entry);
  }

  /** A locally taken snapshot, then the log compaction it allows (as the node runtime does). */
  saveSnapshot(snapshot: Snapshot, offset: number, offsetTerm: number): void {
    this.storage.saveSnapshot(snapshot);
    this.storage.compact(offset, offsetTerm);
  }

  /** Reads back what survived, validated like a real node's recovery. */
  recover(): RaftRestore {
    return { ...this.storage.recover(), appliedIndex: this.stateMachine.applied };
  }
}
