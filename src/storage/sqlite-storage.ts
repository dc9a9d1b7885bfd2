import { closeSync, existsSync, fdatasync, fdatasyncSync, fstatSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { allVoterIds, decodeConfiguration, encodeConfiguration, type Entry, type EntryType, type Snapshot, type SnapshotMeta } from '@raftquotes/raft';
import { CorruptionError, rowChecksum, verifyChecksum } from '../state/checksum.js';
import { SqliteStateMachine } from '../state/sqlite-state-machine.js';
import type { ApplyResult } from '../state/types.js';
import { StorageError } from './errors.js';
import { checkMarker, IDENTITY_FILE, readIdentityMarker, writeIdentityMarker, type NodeIdentity } from './identity.js';
import { validateRecoveredLog } from './log-validation.js';
import type { PersistBatch, RaftStorage, RecoveredLog, StoredSnapshot, UnsyncedWrites } from './types.js';
import { errorCode, errorMessage, isRecord } from '../narrow.js';

/** File name of the node's single database inside --data-dir (SPEC §5). */
export const DATABASE_FILE = 'raftquotes.db';
/**
 * Bumped when the schema changes. Version 1 (no checksums) is migrated once at open, in one
 * transaction; an unknown version is refused.
 */
const SCHEMA_VERSION = 2;
/**
 * SQLite page cache per connection. better-sqlite3 builds SQLite with a 16 MB default, which
 * a node fills within ~100k writes: 14 MB of every node's RSS. The hot pages (B-tree
 * interiors, the log's tail) fit in 2 MB; other leaf reads come from the OS page cache at
 * ~3 µs each. A/B at 64 writers: -0.6 % median writes/s, +1.9 % summed over 6 rounds (noise).
 */
export const PAGE_CACHE_KIB = 2048;
/**
 * WAL frames between automatic checkpoints (SQLite's default is 1,000). Each write dirties about
 * one page at random in the key table, so a checkpoint over 1,000 frames copies back nearly
 * 1,000 distinct pages, each with its own write syscall (~4 write syscalls per write per node
 * at 64 writers). Over 10,000 frames a page written several times is copied back once. This
 * costs one node's WAL file up to ~40 MB on disk, and a restart after kill -9 reads that much.
 * Measured (SQLite alone, 23-entry batches of random keys): 20 µs of CPU per entry instead of
 * 24-26. On a cluster, 8 alternating rounds of 64 writers: +3.5 % (leader), +4.6 % and +7.6 %
 * (spread) median writes/s, and p99 lower in all three.
 */
export const WAL_AUTOCHECKPOINT_PAGES = 10_000;

/** Every Raft row carries `crc`, a rowChecksum of its other columns, verified when read (SPEC §5). */
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS identity (id INTEGER PRIMARY KEY CHECK (id = 1), cluster_id TEXT NOT NULL, node_id TEXT NOT NULL, schema_version INTEGER NOT NULL, created_at TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS raft_state (id INTEGER PRIMARY KEY CHECK (id = 1), term INTEGER NOT NULL, vote TEXT, commit_index INTEGER NOT NULL, log_offset INTEGER NOT NULL, log_offset_term INTEGER NOT NULL, crc INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS raft_log (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, type INTEGER NOT NULL, data TEXT NOT NULL, crc INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS raft_snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), idx INTEGER NOT NULL, term INTEGER NOT NULL, voters TEXT NOT NULL, data BLOB NOT NULL, crc INTEGER NOT NULL);
`;

/** Version 1 -> 2: add the checksum columns and compute them for the rows already there. */
const MIGRATE_V1 = `
  ALTER TABLE raft_state ADD COLUMN crc INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE raft_log ADD COLUMN crc INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE raft_snapshot ADD COLUMN crc INTEGER NOT NULL DEFAULT 0;
  UPDATE raft_state SET crc = rq_state_crc(term, vote, commit_index, log_offset, log_offset_term);
  UPDATE raft_log SET crc = rq_entry_crc(idx, term, type, data);
  UPDATE raft_snapshot SET crc = rq_snapshot_crc(idx, term, voters, data);
  UPDATE identity SET schema_version = 2;
`;

const ENTRY_TYPES: EntryType[] = ['normal', 'noop', 'config'];

interface StateRow { term: number; vote: string | null; commit_index: number; log_offset: number; log_offset_term: number }
interface StoredStateRow extends StateRow { crc: number }
interface LogRow { idx: number; term: number; type: number; data: string; crc: number }
interface SnapshotRow { idx: number; term: number; voters: string; data: Buffer; crc: number }

/** Checksum of a log entry row: index, term, type code and data. */
const entryChecksum = (idx: number, term: number, type: number, data: string): number => rowChecksum(idx, term, type, data);
/** Checksum of the hard state row (term, vote, commit) with the log offset kept beside it. */
const stateChecksum = (row: StateRow): number => rowChecksum(row.term, row.vote, row.commit_index, row.log_offset, row.log_offset_term);
/** Checksum of the snapshot row: its metadata and its image (empty when none is kept). */
const snapshotChecksum = (idx: number, term: number, voters: string, data: Uint8Array): number => rowChecksum(idx, term, voters, data);

export type { NodeIdentity } from './identity.js';

/**
 * The snapshot row's `voters` column holds the membership at the snapshot's index: a JSON
 * array of voter ids (format of databases written before membership changes; the node's
 * --peers seed then supplies the rest), or `{"voters": [...], "config": {...}}` with the full
 * configuration (raft/configuration.ts) and each member's addresses. The checksum covers it.
 */
function encodeSnapshotMembers(meta: SnapshotMeta): string {
  return meta.config === undefined ? JSON.stringify(meta.voters) : JSON.stringify({ voters: meta.voters, config: JSON.parse(encodeConfiguration(meta.config)) as unknown });
}

function decodeSnapshotMembers(text: string): Pick<SnapshotMeta, 'voters' | 'config'> | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'is not JSON';
  }
  if (Array.isArray(value)) {
    const voters = value.filter((id): id is string => typeof id === 'string');
    return voters.length === value.length ? { voters } : 'names a voter that is not a string';
  }
  if (!isRecord(value)) return 'holds no membership';
  const config = decodeConfiguration(value['config']);
  if (typeof config === 'string') return `holds a bad configuration: ${config}`;
  return { voters: allVoterIds(config), config };
}

/** How openNodeDatabase treats a data dir that holds no node yet. */
export interface OpenOptions {
  /**
   * True only for the explicit step that makes a new node (`node --init`, the first start of
   * `cluster`): an empty data dir is then initialized. It never re-creates a database next to
   * an existing identity marker.
   */
  init?: boolean;
}

/**
 * Opens the node's database: WAL, synchronous=FULL, identity checked against the marker
 * outside the database and against the database's own row, integrity checked, old schemas
 * migrated. An empty data dir is refused unless `options.init` (SPEC §5: a node whose
 * database went missing must never start empty). Returns the Raft storage and the state
 * machine sharing one connection.
 */
export function openNodeDatabase(dataDir: string, identity: NodeIdentity, options: OpenOptions = {}): { storage: SqliteRaftStorage; stateMachine: SqliteStateMachine } {
  const path = join(dataDir, DATABASE_FILE);
  const marker = readIdentityMarker(dataDir);
  if (marker) checkMarker(marker, identity, dataDir);
  const existed = existsSync(path);
  if (marker && !existed) {
    throw new StorageError(
      `data dir ${dataDir} belongs to ${marker.nodeId} of cluster "${marker.clusterId}" (initialized ${marker.createdAt}) but its database ${DATABASE_FILE} is missing; refusing to start empty (it could vote twice in one term) — restore the database from a backup, or remove this node from the cluster and add it back as a new member`,
    );
  }
  if (!marker && !existed && !options.init) {
    throw new StorageError(
      `data dir ${dataDir} is not initialized (no ${IDENTITY_FILE}, no ${DATABASE_FILE}); pass --init (RAFTQUOTES_INIT=true) to make a new node here — never for a node that has lost its data`,
    );
  }
  const db = openChecked(path, existed);
  try {
    registerChecksumFunctions(db);
    db.exec(SCHEMA);
    const created = checkIdentity(db, path, identity, { mayCreate: !marker && (options.init ?? false) });
    const storage = new SqliteRaftStorage(db, path);
    // The marker is written after the database holds the identity: a crash in between leaves a
    // database without a marker, which the next open adopts, never a marker without a database.
    if (!marker) writeIdentityMarker(dataDir, { ...identity, createdAt: created });
    return { storage, stateMachine: new LazyApplyStateMachine(db) };
  } catch (err) {
    db.close();
    throw asStorageError(err, path);
  }
}

/**
 * The explicit init step for a new node (SPEC §5): creates `dataDir` if needed, the database
 * with its identity and the identity marker. Harmless on a data dir already initialized for
 * this identity and intact; refuses one with a marker but no database, or another identity.
 */
export function initDataDir(dataDir: string, identity: NodeIdentity): void {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 }); // the node's alone (SPEC §7)
  } catch (err) {
    throw new StorageError(`cannot create data dir ${dataDir} (${errorCode(err) ?? errorMessage(err)})`, { cause: err });
  }
  openNodeDatabase(dataDir, identity, { init: true }).storage.close();
}

/**
 * The state machine on the node's connection, applying at synchronous=NORMAL. An apply batch
 * records its applied index in the same transaction and is re-derived from the durable log
 * after a power loss (a lost batch only moves the applied index back; the node re-applies it,
 * or restores the snapshot when the log was compacted past it), so it needs no fsync of its
 * own, and the next Raft write's fsync covers its WAL frames anyway. Raft's own writes (log,
 * hard state, snapshot, compaction) stay at FULL. One fsync per Ready on every node instead of
 * two. A process crash (kill -9) loses nothing either way: the WAL is in the page cache.
 */
class LazyApplyStateMachine extends SqliteStateMachine {
  private readonly lazySync: Database.Statement;
  private readonly fullSync: Database.Statement;

  constructor(db: Database.Database) {
    super(db);
    this.lazySync = db.prepare('PRAGMA synchronous = NORMAL');
    this.fullSync = db.prepare('PRAGMA synchronous = FULL');
  }

  override apply(entries: Entry[]): ApplyResult[] {
    this.lazySync.run();
    try {
      return super.apply(entries);
    } finally {
      this.fullSync.run();
    }
  }
}

function openChecked(path: string, existed: boolean): Database.Database {
  let db: Database.Database | null = null;
  try {
    // An existing database must still be there when SQLite opens it, never re-created empty.
    db = new Database(path, { fileMustExist: existed });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = OFF');
    db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
    db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    if (existed) {
      const check = db.pragma('quick_check', { simple: true }) as string;
      if (check !== 'ok') throw new StorageError(`database ${path} failed its integrity check (${check}); refusing to start`);
    }
    return db;
  } catch (err) {
    db?.close();
    throw asStorageError(err, path);
  }
}

interface UnsyncedPragmas {
  syncOff: Database.Statement;
  syncFull: Database.Statement;
  checkpointsOff: Database.Statement;
  checkpointsOn: Database.Statement;
}

function prepareUnsyncedPragmas(db: Database.Database): UnsyncedPragmas {
  return {
    syncOff: db.prepare('PRAGMA synchronous = OFF'),
    syncFull: db.prepare('PRAGMA synchronous = FULL'),
    checkpointsOff: db.prepare('PRAGMA wal_autocheckpoint = 0'),
    checkpointsOn: db.prepare(`PRAGMA wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`),
  };
}

function asStorageError(err: unknown, path: string): StorageError | CorruptionError {
  if (err instanceof StorageError || err instanceof CorruptionError) return err;
  const message = errorMessage(err);
  return new StorageError(`database ${path} is corrupt or unreadable (${message}); refusing to start — restore it from a backup, never delete it while it may hold acknowledged writes`);
}

/** SQL functions the v1 -> v2 migration computes the checksums with (the same JS code as the writes). */
function registerChecksumFunctions(db: Database.Database): void {
  const options = { deterministic: true };
  db.function('rq_entry_crc', options, (idx, term, type, data) => entryChecksum(idx as number, term as number, type as number, data as string));
  db.function('rq_state_crc', options, (term, vote, commit, offset, offsetTerm) =>
    stateChecksum({ term: term as number, vote: vote as string | null, commit_index: commit as number, log_offset: offset as number, log_offset_term: offsetTerm as number }),
  );
  db.function('rq_snapshot_crc', options, (idx, term, voters, data) => snapshotChecksum(idx as number, term as number, voters as string, data as Buffer));
}

/**
 * Refuses a database written by another cluster or another node id (SPEC §5), or one with no
 * identity unless this is the init step. Migrates schema version 1. Returns the database's
 * creation stamp.
 */
function checkIdentity(db: Database.Database, path: string, identity: NodeIdentity, { mayCreate }: { mayCreate: boolean }): string {
  const row = db.prepare('SELECT cluster_id, node_id, schema_version, created_at FROM identity WHERE id = 1').get() as
    | { cluster_id: string; node_id: string; schema_version: number; created_at: string }
    | undefined;
  if (!row) {
    if (!mayCreate) {
      throw new StorageError(`database ${path} holds no node identity (an interrupted init, or not a raftquotes database); refusing to start — pass --init only if this is a new node`);
    }
    const createdAt = new Date().toISOString();
    db.prepare('INSERT INTO identity (id, cluster_id, node_id, schema_version, created_at) VALUES (1, ?, ?, ?, ?)').run(identity.clusterId, identity.nodeId, SCHEMA_VERSION, createdAt);
    return createdAt;
  }
  if (row.node_id !== identity.nodeId) {
    throw new StorageError(`data dir ${path} belongs to node ${row.node_id}, not ${identity.nodeId}; refusing to start (use that node's own --data-dir)`);
  }
  if (row.cluster_id !== identity.clusterId) {
    throw new StorageError(`data dir ${path} belongs to cluster "${row.cluster_id}", not "${identity.clusterId}"; refusing to start`);
  }
  if (row.schema_version === 1) db.transaction(() => db.exec(MIGRATE_V1))();
  else if (row.schema_version !== SCHEMA_VERSION) {
    throw new StorageError(`data dir ${path} has schema version ${row.schema_version}; this build reads versions 1 and ${SCHEMA_VERSION}`);
  }
  return row.created_at;
}

/**
 * The Raft log, hard state and snapshot in SQLite. Each persist() is one transaction, so one
 * fsync covers a whole batch of entries plus the hard state (group commit).
 */
export class SqliteRaftStorage implements RaftStorage, UnsyncedWrites {
  private readonly stmt;
  private readonly persistTx: (batch: PersistBatch) => void;
  private readonly compactTx: (index: number, term: number) => void;
  private closed = false;
  /** The WAL file, opened to fdatasync it (see walFd), and the syncs of it under way. */
  private wal: number | null = null;
  private syncsInFlight = 0;
  private unsyncedPragmas: UnsyncedPragmas | null = null;
  /**
   * The state row as last written by this connection (null: read it). A persist with a hard
   * state rewrites the row around its log offset; reading and checking it back on every write
   * was a statement and a checksum per write. Dropped whenever a transaction fails, since a
   * rolled-back row is not the one cached.
   */
  private cachedState: StateRow | null = null;
  /**
   * The highest index this connection knows the log holds (null: unknown). An append past it
   * has no suffix to replace, so it skips the DELETE: the common case, on the leader always.
   * Were it ever wrong, the INSERT of an index still stored would fail loudly (no OR REPLACE).
   */
  private lastStoredIndex: number | null = null;

  constructor(
    private readonly db: Database.Database,
    private readonly path: string,
  ) {
    this.stmt = prepareStatements(db);
    if (!this.stmt.getState.get()) this.putState({ term: 0, vote: null, commit_index: 0, log_offset: 0, log_offset_term: 0 });
    this.persistTx = db.transaction((batch: PersistBatch) => this.writeBatch(batch));
    this.compactTx = db.transaction((index: number, term: number) => this.writeCompaction(index, term));
  }

  recover(): RecoveredLog {
    this.cachedState = null; // recovery reads and checks what is on disk
    this.lastStoredIndex = null;
    try {
      const state = this.readState();
      const entries = (this.stmt.allEntries.all(state.log_offset) as LogRow[]).map((row) => this.toEntry(row));
      const log: RecoveredLog = {
        hardState: { term: state.term, vote: state.vote, commit: state.commit_index },
        snapshot: this.readSnapshot(),
        offset: state.log_offset,
        offsetTerm: state.log_offset_term,
        entries,
      };
      return validateRecoveredLog(log, `database ${this.path}`);
    } catch (err) {
      throw asStorageError(err, this.path);
    }
  }

  persist(batch: PersistBatch): void {
    this.checkOpen();
    this.uncachedOnFailure(() => this.persistTx(batch));
  }

  saveSnapshot(snapshot: StoredSnapshot): void {
    this.checkOpen();
    this.writeSnapshot(snapshot);
  }

  compact(index: number, term: number): void {
    this.checkOpen();
    this.uncachedOnFailure(() => this.compactTx(index, term));
  }

  /** One transaction with the state machine on this connection (theirs nest as savepoints). */
  atomically<T>(body: () => T): T {
    this.checkOpen();
    return this.uncachedOnFailure(() => this.db.transaction(body)());
  }

  private uncachedOnFailure<T>(body: () => T): T {
    try {
      return body();
    } catch (err) {
      this.cachedState = null;
      this.lastStoredIndex = null;
      throw err;
    }
  }

  /** The connection's durability, cache and checkpoint settings, as SQLite reports them. */
  settings(): { journalMode: string; synchronous: number; pageCacheKib: number; walAutocheckpointPages: number } {
    const pragma = (name: string): unknown => this.db.pragma(name, { simple: true });
    return { journalMode: String(pragma('journal_mode')), synchronous: Number(pragma('synchronous')), pageCacheKib: -Number(pragma('cache_size')), walAutocheckpointPages: Number(pragma('wal_autocheckpoint')) };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
    if (this.syncsInFlight === 0) this.closeWal();
  }

  /**
   * Writes the batch at synchronous=OFF: SQLite appends its WAL frames without an fsync, and
   * syncAsync or syncNow fdatasyncs the WAL file. A later commit at FULL syncs them as well
   * (one WAL, synced as a whole). No automatic checkpoint runs at this commit: one at OFF
   * would copy frames into the database file without syncing either file, and the WAL's
   * restart after it could overwrite frames whose pages were never synced. The next commit at
   * NORMAL or FULL (the apply that follows) checkpoints when due, syncing the WAL first.
   */
  persistUnsynced(batch: PersistBatch): void {
    this.checkOpen();
    const pragmas = (this.unsyncedPragmas ??= prepareUnsyncedPragmas(this.db));
    pragmas.syncOff.run();
    pragmas.checkpointsOff.run();
    try {
      this.uncachedOnFailure(() => this.persistTx(batch));
    } finally {
      pragmas.checkpointsOn.run();
      pragmas.syncFull.run();
    }
  }

  /** fdatasync of the WAL on libuv's thread pool: everything written before the call is durable when `done` runs without an error. */
  syncAsync(done: (err: Error | null) => void): void {
    this.checkOpen();
    const fd = this.walFd();
    this.syncsInFlight++;
    fdatasync(fd, (err) => {
      this.syncsInFlight--;
      if (this.closed && this.syncsInFlight === 0) this.closeWal();
      done(err ? asStorageError(err, this.path) : null);
    });
  }

  syncNow(): void {
    this.checkOpen();
    const fd = this.walFd();
    try {
      fdatasyncSync(fd);
    } catch (err) {
      throw asStorageError(err, this.path);
    }
  }

  /**
   * SQLite keeps one WAL file while the database is open in WAL mode: it resets it in place,
   * and deletes it only when the last connection closes. Checked on each use all the same (one
   * fstat): a descriptor of a file no longer linked would sync nothing, silently.
   */
  private walFd(): number {
    if (this.wal === null) this.wal = openSync(`${this.path}-wal`, 'r');
    if (fstatSync(this.wal).nlink === 0) throw new StorageError(`${this.path}-wal was replaced while the database was open: cannot sync it`);
    return this.wal;
  }

  private closeWal(): void {
    if (this.wal !== null) closeSync(this.wal);
    this.wal = null;
  }

  private writeBatch(batch: PersistBatch): void {
    let state: StateRow | null = null;
    if (batch.snapshot) state = this.installSnapshot(batch.snapshot, batch.storeImage ?? true);
    const first = batch.entries[0];
    if (first) {
      if (this.lastStoredIndex === null || first.index <= this.lastStoredIndex) this.stmt.truncateFrom.run(first.index);
      for (const entry of batch.entries) {
        const type = ENTRY_TYPES.indexOf(entry.type);
        this.stmt.insertEntry.run(entry.index, entry.term, type, entry.data, entryChecksum(entry.index, entry.term, type, entry.data));
      }
      this.lastStoredIndex = batch.entries[batch.entries.length - 1]?.index ?? null;
    }
    if (batch.hardState) {
      const hs = batch.hardState;
      state = { ...(state ?? this.readState()), term: hs.term, vote: hs.vote, commit_index: hs.commit };
    }
    if (state) this.putState(state);
  }

  /** Stores the snapshot and drops the log; returns the state row to write (not yet written). */
  private installSnapshot(snapshot: Snapshot, storeImage: boolean): StateRow {
    this.writeSnapshot(storeImage ? snapshot : { meta: snapshot.meta, data: null });
    this.stmt.truncateFrom.run(0);
    this.lastStoredIndex = 0;
    const state = this.readState();
    const { index, term } = snapshot.meta;
    return { ...state, log_offset: index, log_offset_term: term, commit_index: Math.max(state.commit_index, index) };
  }

  private writeCompaction(index: number, term: number): void {
    const state = this.readState();
    if (index <= state.log_offset) return;
    this.stmt.truncateUpTo.run(index);
    this.putState({ ...state, log_offset: index, log_offset_term: term });
  }

  /** The hard state and log offset: as last written, or read and checksum verified. */
  private readState(): StateRow {
    if (this.cachedState) return { ...this.cachedState };
    const row = this.stmt.getState.get() as StoredStateRow | undefined;
    if (!row) throw new StorageError(`database ${this.path} has no Raft state row; refusing to start`);
    const state: StateRow = { term: row.term, vote: row.vote, commit_index: row.commit_index, log_offset: row.log_offset, log_offset_term: row.log_offset_term };
    if (row.crc !== stateChecksum(state)) throw new CorruptionError(`the hard state (term ${row.term}, vote ${row.vote ?? 'none'}, commit ${row.commit_index}) of database ${this.path}`);
    this.cachedState = { ...state };
    return state;
  }

  private putState(state: StateRow): void {
    this.cachedState = null;
    this.stmt.putState.run(state.term, state.vote, state.commit_index, state.log_offset, state.log_offset_term, stateChecksum(state));
    this.cachedState = { ...state };
  }

  /** No image is stored as a zero-length blob (a real image is never empty), so the schema stays. */
  private writeSnapshot(snapshot: StoredSnapshot): void {
    const { index, term } = snapshot.meta;
    const data = snapshot.data === null ? NO_IMAGE : Buffer.from(snapshot.data.buffer, snapshot.data.byteOffset, snapshot.data.byteLength);
    const votersText = encodeSnapshotMembers(snapshot.meta);
    this.stmt.putSnapshot.run(index, term, votersText, data, snapshotChecksum(index, term, votersText, data));
  }

  private readSnapshot(): StoredSnapshot | null {
    const row = this.stmt.getSnapshot.get() as SnapshotRow | undefined;
    if (!row) return null;
    verifyChecksum(`the snapshot metadata (index ${row.idx}) of database ${this.path}`, row.crc, row.idx, row.term, row.voters, row.data);
    const members = decodeSnapshotMembers(row.voters);
    if (typeof members === 'string') throw new StorageError(`database ${this.path}: the snapshot metadata (index ${row.idx}) ${members}; refusing to start`);
    return { meta: { index: row.idx, term: row.term, ...members }, data: row.data.length === 0 ? null : new Uint8Array(row.data) };
  }

  /** A stored row as an Entry, its checksum verified first: a mismatch names the index. */
  private toEntry(row: LogRow): Entry {
    if (row.crc !== entryChecksum(row.idx, row.term, row.type, row.data)) throw new CorruptionError(`log entry ${row.idx} of database ${this.path}`);
    const type = ENTRY_TYPES[row.type];
    if (!type) throw new StorageError(`database ${this.path}: entry ${row.idx} has unknown type ${row.type}; refusing to start`);
    return { index: row.idx, term: row.term, type, data: row.data };
  }

  private checkOpen(): void {
    if (this.closed) throw new StorageError(`database ${this.path} is closed`);
  }
}

const NO_IMAGE = Buffer.alloc(0);

function prepareStatements(db: Database.Database) {
  return {
    getState: db.prepare('SELECT term, vote, commit_index, log_offset, log_offset_term, crc FROM raft_state WHERE id = 1'),
    putState: db.prepare(
      'INSERT INTO raft_state (id, term, vote, commit_index, log_offset, log_offset_term, crc) VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET term = excluded.term, vote = excluded.vote, commit_index = excluded.commit_index, log_offset = excluded.log_offset, log_offset_term = excluded.log_offset_term, crc = excluded.crc',
    ),
    allEntries: db.prepare('SELECT idx, term, type, data, crc FROM raft_log WHERE idx > ? ORDER BY idx'),
    insertEntry: db.prepare('INSERT INTO raft_log (idx, term, type, data, crc) VALUES (?, ?, ?, ?, ?)'),
    truncateFrom: db.prepare('DELETE FROM raft_log WHERE idx >= ?'),
    truncateUpTo: db.prepare('DELETE FROM raft_log WHERE idx <= ?'),
    getSnapshot: db.prepare('SELECT idx, term, voters, data, crc FROM raft_snapshot WHERE id = 1'),
    putSnapshot: db.prepare(
      'INSERT INTO raft_snapshot (id, idx, term, voters, data, crc) VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET idx = excluded.idx, term = excluded.term, voters = excluded.voters, data = excluded.data, crc = excluded.crc',
    ),
  };
}
