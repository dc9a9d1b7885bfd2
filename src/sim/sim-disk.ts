import { itemAt } from '../checker/checked.js';
import type { Entry, SeededPrng } from '@raftquotes/raft';
import { CorruptionError } from '../state/checksum.js';
import { MemoryStateMachine } from '../state/memory-state-machine.js';
import { decodeStateImage } from '../state/snapshot-codec.js';
import type { ApplyResult, CommittedClientEntry, KvJsonRecord, KvRecord, Quote, SnapshotImage, StateMachine } from '../state/types.js';
import { StorageError } from '../storage/errors.js';
import { MemoryRaftStorage } from '../storage/memory-storage.js';
import type { PersistBatch, RaftStorage, RecoveredLog, StoredSnapshot, UnsyncedWrites } from '../storage/types.js';
import type { Clock } from '../node/clock.js';

/** Storage faults of one simulated disk, drawn from the seed. */
export interface DiskFaults {
  /** Chance that one synced write (persist, snapshot, compaction) reports a failed fsync. */
  fsyncFailRate: number;
  /** Chance, on a crash, that the last surviving unsynced transaction is torn. */
  tornRate: number;
}

/** What a crash did to the disk, for the trace and the run's counters. */
export interface CrashDamage {
  kept: number;
  lost: number;
  torn: boolean;
}

/**
 * A transaction not yet covered by an fsync: a state machine's (SQLite's synchronous=NORMAL
 * applies) or a leader's log write made without waiting for the disk (UnsyncedWrites).
 */
type Tx = { kind: 'apply'; entries: Entry[] } | { kind: 'restore'; index: number; term: number; data: Uint8Array } | { kind: 'log'; batch: PersistBatch };

/** Thrown by a simulated failed fsync: what was written may or may not be on disk. */
export class SimFsyncError extends StorageError {
  readonly code = 'fsync_failed';
}

/**
 * One node's disk, which outlives the node's process. It holds, as SQLite does:
 * - the Raft log, hard state and snapshots (written with synchronous=FULL: durable once a
 *   call returns; a failed fsync leaves the write there or not, at random);
 * - the durable state machine, whose applies are synchronous=NORMAL: they become durable
 *   only with the next FULL commit (it syncs the WAL frames before it), and a crash keeps a
 *   random prefix of the rest, possibly with the last one torn (its WAL checksum fails and
 *   recovery drops it).
 * Every log entry carries a checksum; `corruptNextRecovery` flips one stored entry, and the
 * storage must refuse to start with a CorruptionError, as the SQLite one does.
 */
export class SimDisk {
  readonly storage = new MemoryRaftStorage();
  /**
   * The durable state machine is `durableBase` followed by `synced`: replaying a synced
   * transaction costs as much as applying it, so it is done only when a node boots from this
   * disk, and most disks never see a crash.
   */
  private readonly durableBase = new MemoryStateMachine();
  /** Transactions a FULL commit (or a crash that kept them) made durable, oldest first. */
  private synced: Tx[] = [];
  private unsynced: Tx[] = [];
  /** How many transactions were ever resolved (made durable or lost) before unsynced[0]. */
  private resolved = 0;
  private readonly checksums = new Map<number, number>();
  /** Set by a failed fsync until the node restarts: the node must have stopped. */
  fsyncFailed = false;
  corruptNextRecovery = false;
  /** Counters for the run's summary. */
  readonly counts = { fsyncFailures: 0, unsyncedLost: 0, torn: 0, corruptionsDetected: 0 };

  constructor(
    private readonly prng: SeededPrng,
    /** Mutable: the simulator turns faults off when it heals. */
    readonly faults: DiskFaults,
  ) {}

  /**
   * The Raft storage a booting node gets (a fresh handle on the same disk). With the node's
   * clock it also writes a leader's appends unsynced and syncs them after a simulated delay.
   */
  openStorage(clock?: Clock): RaftStorage {
    return clock ? new AsyncSimRaftStorage(this, clock) : new SimRaftStorage(this);
  }

  /** The durable state machine a booting node gets: what survived, replayed into a live copy. */
  openStateMachine(): SimStateMachine {
    for (const tx of this.synced) applyTx(this.durableBase, tx);
    this.synced = [];
    return new SimStateMachine(this, copyOf(this.durableBase));
  }

  /** The process died: unsynced state machine transactions are lost but for a random prefix. */
  crash(): CrashDamage {
    const kept = this.prng.int(this.unsynced.length + 1);
    const torn = kept > 0 && this.prng.chance(this.faults.tornRate);
    const survivors = this.unsynced.slice(0, torn ? kept - 1 : kept);
    for (const tx of survivors) this.makeDurable(tx);
    const lost = this.unsynced.length - survivors.length;
    this.counts.unsyncedLost += lost;
    if (torn) this.counts.torn++;
    this.resolved += this.unsynced.length;
    this.unsynced = [];
    return { kept: survivors.length, lost, torn };
  }

  record(tx: Tx): void {
    this.unsynced.push(tx);
  }

  /** A FULL commit: it fails now and then (fsyncgate), else makes everything before it durable. */
  sync<T>(write: () => T): T {
    if (this.fsyncFails()) {
      if (this.prng.chance(0.5)) write();
      throw new SimFsyncError('fsync failed (simulated EIO): the write may or may not be on disk');
    }
    this.foldUnsynced();
    return write();
  }

  /** Everything written so far is durable (a FULL commit syncs the WAL frames before it). */
  foldUnsynced(): void {
    this.syncThrough(this.writtenMark());
  }

  /** A position after everything written so far (for syncThrough). */
  writtenMark(): number {
    return this.resolved + this.unsynced.length;
  }

  /** An fsync that started at `mark` completed: what was written before it is durable. */
  syncThrough(mark: number): void {
    const count = Math.min(mark - this.resolved, this.unsynced.length);
    if (count <= 0) return;
    for (const tx of this.unsynced.slice(0, count)) this.makeDurable(tx);
    this.unsynced = this.unsynced.slice(count);
    this.resolved += count;
  }

  /** A restore replaces the whole state: what came before it need not be replayed. A log write goes into the durable log. */
  private makeDurable(tx: Tx): void {
    if (tx.kind === 'log') {
      this.storage.persist(tx.batch);
      this.checksumEntries(tx.batch.entries);
    } else if (tx.kind === 'restore') this.synced = [tx];
    else this.synced.push(tx);
  }

  /** How long a simulated fsync takes off the node's thread, ms (drawn from the seed). */
  fsyncMs(): number {
    return this.prng.int(4);
  }

  /** Whether this fsync fails (fsyncgate); a failed one leaves the writes there or not, as a crash does. */
  fsyncFails(): boolean {
    if (!this.prng.chance(this.faults.fsyncFailRate)) return false;
    this.fsyncFailed = true;
    this.counts.fsyncFailures++;
    return true;
  }

  checksumEntries(entries: readonly Entry[]): void {
    for (const e of entries) this.checksums.set(e.index, entryChecksum(e));
  }

  /** Reads the log back, verifying every entry's checksum (one is flipped if corruption was injected). */
  verify(log: RecoveredLog): RecoveredLog {
    if (this.corruptNextRecovery && log.entries.length > 0) {
      const i = this.prng.int(log.entries.length);
      const entry = itemAt(log.entries, i, 'recovered log');
      log.entries[i] = { ...entry, data: `${entry.data}\u0001` };
    }
    for (const entry of log.entries) {
      if (this.checksums.get(entry.index) !== entryChecksum(entry)) {
        this.counts.corruptionsDetected++;
        throw new CorruptionError(`log entry ${entry.index} of the simulated disk`);
      }
    }
    return log;
  }
}

/**
 * The stored row's checksum. FNV-1a over the fields rather than the production CRC-32
 * (rowChecksum): the simulated corruption (one character appended to the data) is caught just
 * as surely, and the production checksum's buffer allocations were a hot spot, paid for every
 * entry every node persists.
 */
function entryChecksum(e: Entry): number {
  let h = fnv1a(FNV_OFFSET, `${e.index}:${e.term}:${e.type}:`);
  h = fnv1a(h, e.data);
  return h >>> 0;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function fnv1a(seed: number, text: string): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  return h;
}

/** Replays a state machine transaction (a log write is not one: it went to the durable log). */
function applyTx(sm: MemoryStateMachine, tx: Tx): void {
  if (tx.kind === 'apply') sm.apply(tx.entries);
  else if (tx.kind === 'restore') sm.restore(tx.index, tx.term, tx.data);
}

function copyOf(sm: MemoryStateMachine): MemoryStateMachine {
  const copy = new MemoryStateMachine();
  if (sm.appliedIndex() === 0) return copy;
  const data = sm.snapshot();
  copy.restore(sm.appliedIndex(), decodeStateImage(data).appliedTerm, data);
  return copy;
}

/** RaftStorage on a SimDisk: every write is one FULL commit that may fail. */
class SimRaftStorage implements RaftStorage {
  private inTransaction = false;

  constructor(protected readonly disk: SimDisk) {}

  recover(): RecoveredLog {
    return this.disk.verify(this.disk.storage.recover());
  }

  persist(batch: PersistBatch): void {
    const write = (): void => {
      this.disk.storage.persist(batch);
      this.disk.checksumEntries(batch.entries);
    };
    if (this.inTransaction) write();
    else this.disk.sync(write);
  }

  saveSnapshot(snapshot: StoredSnapshot): void {
    this.disk.sync(() => this.disk.storage.saveSnapshot(snapshot));
  }

  compact(index: number, term: number): void {
    this.disk.sync(() => this.disk.storage.compact(index, term));
  }

  /** One transaction with the durable state machine: the log and its restore commit together. */
  atomically<T>(body: () => T): T {
    return this.disk.sync(() => {
      this.inTransaction = true;
      let result: T;
      try {
        result = body();
      } finally {
        this.inTransaction = false;
      }
      // The restore the body recorded is part of this commit.
      this.disk.foldUnsynced();
      return result;
    });
  }

  close(): void {
    this.disk.storage.close();
  }
}

/**
 * SimRaftStorage with UnsyncedWrites: an unsynced write is a transaction a crash may lose (a
 * random prefix of them survives, as of the state machine's); a sync completes on the node's
 * clock a few ms later, and dies with the process (its clock stops).
 */
class AsyncSimRaftStorage extends SimRaftStorage implements UnsyncedWrites {
  constructor(
    disk: SimDisk,
    private readonly clock: Clock,
  ) {
    super(disk);
  }

  persistUnsynced(batch: PersistBatch): void {
    this.disk.record({ kind: 'log', batch: { ...batch, entries: batch.entries.slice() } });
  }

  syncAsync(done: (err: Error | null) => void): void {
    const mark = this.disk.writtenMark();
    this.clock.setTimeout(() => {
      if (this.disk.fsyncFails()) {
        done(new SimFsyncError('fsync failed (simulated EIO): the writes may or may not be on disk'));
        return;
      }
      this.disk.syncThrough(mark);
      done(null);
    }, this.disk.fsyncMs());
  }

  syncNow(): void {
    this.disk.sync(() => undefined);
  }
}

/**
 * The durable state machine of a simulated node (the SQLite one's stand-in): the same apply
 * logic as production (MemoryStateMachine), with every apply and restore recorded on the
 * disk as a transaction that a crash may lose until the next FULL commit syncs it.
 */
export class SimStateMachine implements StateMachine {
  readonly durable = true;

  constructor(
    private readonly disk: SimDisk,
    private readonly live: MemoryStateMachine,
  ) {}

  appliedIndex(): number {
    return this.live.appliedIndex();
  }

  apply(entries: Entry[]): ApplyResult[] {
    const results = this.live.apply(entries);
    this.disk.record({ kind: 'apply', entries: entries.slice() });
    return results;
  }

  get(key: string): KvRecord | null {
    return this.live.get(key);
  }

  getJson(key: string): KvJsonRecord | null {
    return this.live.getJson(key);
  }

  quotesAfter(afterIndex: number, limit: number): Quote[] {
    return this.live.quotesAfter(afterIndex, limit);
  }

  clientEntriesFrom(fromIndex: number, limit: number): CommittedClientEntry[] {
    return this.live.clientEntriesFrom(fromIndex, limit);
  }

  snapshot(): Uint8Array {
    return this.live.snapshot();
  }

  buildImage(): Promise<SnapshotImage> {
    return this.live.buildImage();
  }

  restore(index: number, term: number, data: Uint8Array): void {
    this.live.restore(index, term, data);
    this.disk.record({ kind: 'restore', index, term, data });
  }
}
