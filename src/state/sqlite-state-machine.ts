import Database from 'better-sqlite3';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Entry } from '@raftquotes/raft';
import { applyEntry, retentionLimits, type IdempotencyRecord, type RetentionLimits, type StateStore } from './apply-logic.js';
import { CorruptionError, rowChecksum, verifyChecksum, type ChecksumPart } from './checksum.js';
import { StateStorageError } from './errors.js';
import { encodeImagePage, encodeImageStart, forEachImagePage, IMAGE_PAGE_ROWS, StateImageWriter, type ImagePage, type ImageSection } from './snapshot-codec.js';
import { idempotencyRowBytes, kvRowBytes, quoteRowBytes, ROW_OVERHEAD_BYTES } from './state-size.js';
import type { ApplyResult, Command, CommittedClientEntry, ImageStream, KvJsonRecord, KvRecord, Quote, SnapshotImage, StateMachine } from './types.js';
import { errorMessage } from '../narrow.js';

/**
 * Every state row carries `crc`, a rowChecksum of its other columns (SPEC §5), verified on
 * every read: a flipped bit on disk stops the node (CorruptionError) instead of being served,
 * compared in a cas or sent to a follower in a snapshot image. sm_applied.size_bytes is the
 * state's size as state-size.ts counts it (the quota's measure), kept in the same row and
 * transaction as the applied index.
 */
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS sm_applied (id INTEGER PRIMARY KEY CHECK (id = 1), idx INTEGER NOT NULL, term INTEGER NOT NULL, size_bytes INTEGER NOT NULL DEFAULT 0);
  CREATE TABLE IF NOT EXISTS sm_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, idx INTEGER NOT NULL, crc INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS sm_quotes (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, text TEXT NOT NULL, author TEXT NOT NULL, posted_at TEXT NOT NULL, crc INTEGER NOT NULL DEFAULT 0);
  CREATE TABLE IF NOT EXISTS sm_idempotency (key TEXT PRIMARY KEY, idx INTEGER NOT NULL, result TEXT NOT NULL, request_hash TEXT NOT NULL DEFAULT '', crc INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS sm_idempotency_idx ON sm_idempotency (idx);
  CREATE TABLE IF NOT EXISTS sm_client_log (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, command TEXT NOT NULL, crc INTEGER NOT NULL DEFAULT 0);
`;

/**
 * A database written before rows had checksums (no sm_kv.crc): the new columns are added and
 * every row's checksum and the size are computed, in one transaction. Old idempotency records
 * get request hash '' (a retry under them gets the first result, as before).
 */
const MIGRATE_TO_CHECKSUMS = `
  ALTER TABLE sm_applied ADD COLUMN size_bytes INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE sm_kv ADD COLUMN crc INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE sm_quotes ADD COLUMN crc INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE sm_idempotency ADD COLUMN request_hash TEXT NOT NULL DEFAULT '';
  ALTER TABLE sm_idempotency ADD COLUMN crc INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE sm_client_log ADD COLUMN crc INTEGER NOT NULL DEFAULT 0;
  UPDATE sm_kv SET crc = rq_crc(key, value, idx);
  UPDATE sm_quotes SET crc = rq_crc(idx, term, text, author, posted_at);
  UPDATE sm_idempotency SET crc = rq_crc(key, idx, result, request_hash);
  UPDATE sm_client_log SET crc = rq_crc(idx, term, command);
`;

interface QuoteRow { idx: number; term: number; text: string; author: string; posted_at: string; crc: number }
interface KvRow { key: string; value: string; idx: number; crc: number }
interface IdempotencyDbRow { key: string; idx: number; result: string; request_hash: string; crc: number }
interface ClientRow { idx: number; term: number; command: string; crc: number }

/** A key as named in a CorruptionError: quoted, and cut short (keys may be 1 KiB). */
function shownKey(key: string): string {
  return JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key);
}

/**
 * The replicated state machine on SQLite, in the node's database. Each apply() batch is one
 * transaction that also records the applied index (SPEC §5), so a crash never leaves effects
 * without their index or the reverse.
 */
export class SqliteStateMachine implements StateMachine, StateStore {
  /** Its tables are the local snapshot (see StateMachine.durable). */
  readonly durable = true;
  private readonly stmt;
  private applied: number;
  /** The term of `applied` when it moved in the current batch and is not yet written. */
  private appliedTermPending: number | null = null;
  /** sm_applied.size_bytes as of the last write (see state-size.ts). */
  private size: number;
  private readonly applyBatch: (entries: Entry[]) => ApplyResult[];
  private readonly restoreImage: (data: Uint8Array, index: number, term: number) => void;
  /** Multi-row inserts of a restore, per image section. */
  private readonly bulk: Record<ImageSection, BulkInsert>;

  /** `retention` is for tests only: every replica must use the same limits. */
  constructor(
    private readonly db: Database.Database,
    retention: Partial<RetentionLimits> = {},
  ) {
    const limits = retentionLimits(retention);
    openSchema(db);
    this.stmt = prepareStatements(db);
    const row = this.stmt.getApplied.get() as { idx: number; size_bytes: number } | undefined;
    this.applied = row?.idx ?? 0;
    this.size = row?.size_bytes ?? 0;
    this.applyBatch = db.transaction((entries: Entry[]) => {
      const results = entries.map((entry) => applyEntry(this, entry, this.applied, limits));
      this.writeApplied();
      return results;
    });
    this.bulk = {
      kv: new BulkInsert(db, 'sm_kv (key, value, idx, crc)', 4),
      quotes: new BulkInsert(db, 'sm_quotes (idx, term, text, author, posted_at, crc)', 6),
      idempotency: new BulkInsert(db, 'sm_idempotency (key, idx, result, request_hash, crc)', 5),
      clientLog: new BulkInsert(db, 'sm_client_log (idx, term, command, crc)', 4),
    };
    this.restoreImage = db.transaction((data: Uint8Array, index: number, term: number) => this.replaceAll(data, index, term));
  }

  appliedIndex(): number {
    return this.applied;
  }

  sizeBytes(): number {
    return this.size;
  }

  apply(entries: Entry[]): ApplyResult[] {
    const before = this.applied;
    try {
      return this.applyBatch(entries);
    } catch (err) {
      this.reloadApplied(before); // the transaction rolled back; so do our cached index and size
      throw err;
    }
  }

  get(key: string): KvRecord | null {
    return storageRead(() => {
      const row = this.verifiedKvRow(key);
      return row ? { key, value: JSON.parse(row.value) as unknown, index: row.idx } : null;
    });
  }

  getJson(key: string): KvJsonRecord | null {
    return storageRead(() => {
      const row = this.verifiedKvRow(key);
      return row ? { key, valueJson: row.value, index: row.idx } : null;
    });
  }

  quotesAfter(afterIndex: number, limit: number): Quote[] {
    return (this.stmt.quotesAfter.all(afterIndex, limit) as QuoteRow[]).map(checkedQuote);
  }

  clientEntriesFrom(fromIndex: number, limit: number): CommittedClientEntry[] {
    const rows = this.stmt.clientFrom.all(fromIndex, limit) as ClientRow[];
    return rows.map((r) => {
      verifyChecksum(`client log entry ${r.idx}`, r.crc, r.idx, r.term, r.command);
      return { index: r.idx, term: r.term, command: JSON.parse(r.command) as Command };
    });
  }

  /** Keys in code point order (SQLite's BINARY collation on UTF-8), like the memory twin's. */
  snapshot(): Uint8Array {
    const writer = new StateImageWriter(this.applied, this.appliedTerm());
    for (const [section, rows] of imagePages(this.db)) writer.page(section, rows as never);
    return writer.finish();
  }

  /**
   * The same image as snapshot(), built in slices of at most IMAGE_SLICE_MS so the node keeps
   * serving (the leader builds one for a follower that needs InstallSnapshot). It reads through
   * a second, read-only connection in one read transaction: WAL gives it a consistent view of
   * the state as of its first read, while this connection goes on applying. Rows are read
   * IMAGE_READ_ROWS at a time and gathered into IMAGE_PAGE_ROWS pages (the same bytes as
   * snapshot()): a whole page per turn held a loaded leader's event loop long enough for its
   * followers' election timers to fire, and the new leader then built an image of its own.
   */
  async buildImage(): Promise<SnapshotImage> {
    if (this.db.memory) return { index: this.applied, term: this.appliedTerm(), data: this.snapshot() };
    const reader = new Database(this.db.name, { readonly: true, fileMustExist: true });
    // The node's page cache size, not better-sqlite3's 16 MB default: an image reads every page.
    reader.pragma(`cache_size = ${Number(this.db.pragma('cache_size', { simple: true }))}`);
    try {
      reader.exec('BEGIN');
      const applied = (reader.prepare('SELECT idx, term FROM sm_applied WHERE id = 1').get() as { idx: number; term: number } | undefined) ?? { idx: 0, term: 0 };
      const writer = new StateImageWriter(applied.idx, applied.term);
      const pages = new PageGatherer(writer);
      let sliceStarted = performance.now();
      for (const [section, rows] of imagePages(reader, IMAGE_READ_ROWS)) {
        pages.add(section, rows);
        if (performance.now() - sliceStarted < IMAGE_SLICE_MS) continue;
        await yieldToLoop();
        sliceStarted = performance.now();
      }
      pages.finish();
      reader.exec('COMMIT');
      return { index: applied.idx, term: applied.term, data: writer.finish() };
    } finally {
      reader.close();
    }
  }

  /**
   * GET /api/backup: the image streamed from a second, read-only connection in one read
   * transaction (WAL: a consistent view as of its first read, while this connection goes on
   * applying). Pages of `pageRows` rows, one per event-loop turn; the consumer's pace (socket
   * backpressure) sets the speed, so memory holds about one page. The WAL cannot be
   * checkpointed past the view while it is open, so it grows by the writes made meanwhile.
   */
  openImageStream(pageRows: number): ImageStream {
    if (this.db.memory) {
      // No second connection can see an in-memory database (tests): one chunk, built now.
      const whole = Buffer.from(this.snapshot());
      return { index: this.applied, term: this.appliedTerm(), chunks: (async function* () { yield whole; })(), close: () => undefined };
    }
    const reader = new Database(this.db.name, { readonly: true, fileMustExist: true });
    let open = true;
    const close = (): void => {
      if (!open) return;
      open = false;
      if (reader.inTransaction) reader.exec('ROLLBACK');
      reader.close();
    };
    try {
      reader.exec('BEGIN');
      const applied = (reader.prepare('SELECT idx, term FROM sm_applied WHERE id = 1').get() as { idx: number; term: number } | undefined) ?? { idx: 0, term: 0 };
      async function* chunks(): AsyncGenerator<Buffer> {
        try {
          yield encodeImageStart(applied.idx, applied.term);
          for (const [section, rows] of imagePages(reader, pageRows)) {
            yield encodeImagePage(section, rows as never);
            await yieldToLoop();
          }
        } finally {
          close();
        }
      }
      return { index: applied.idx, term: applied.term, chunks: chunks(), close };
    } catch (err) {
      close();
      throw err;
    }
  }

  /** GET /healthz: one indexed read of the applied row, through the node's own connection. */
  checkStorage(): string | null {
    try {
      this.stmt.getApplied.get();
      return null;
    } catch (err) {
      return errorMessage(err);
    }
  }

  private appliedTerm(): number {
    return (this.stmt.getApplied.get() as { term: number } | undefined)?.term ?? 0;
  }

  private reloadApplied(fallbackIndex: number): void {
    this.appliedTermPending = null;
    try {
      const row = this.stmt.getApplied.get() as { idx: number; size_bytes: number } | undefined;
      this.applied = row?.idx ?? 0;
      this.size = row?.size_bytes ?? 0;
    } catch {
      this.applied = fallbackIndex; // the database itself failed; the node is stopping anyway
    }
  }

  restore(index: number, term: number, data: Uint8Array): void {
    const before = this.applied;
    try {
      this.restoreImage(data, index, term);
    } catch (err) {
      this.reloadApplied(before);
      throw err;
    }
  }

  /**
   * One transaction: a bad image found half-way rolls back to the state before. The image is
   * inserted a page at a time as it is decoded (forEachImagePage), in its key order, so every
   * insert appends to its B-tree and the heap holds one page of rows, not the whole state.
   * Each row gets its checksum, and the size is recounted as the rows go in.
   */
  private replaceAll(data: Uint8Array, index: number, term: number): void {
    this.db.exec('DELETE FROM sm_kv; DELETE FROM sm_quotes; DELETE FROM sm_idempotency; DELETE FROM sm_client_log;');
    this.size = 0;
    forEachImagePage(data, (page) => this.insertPage(page));
    this.setApplied(index, term);
    this.writeApplied();
  }

  private insertPage(page: ImagePage): void {
    const bulk = this.bulk[page.section];
    switch (page.section) {
      case 'kv':
        for (const [key, valueJson, at] of page.rows) {
          bulk.add(key, valueJson, at, rowChecksum(key, valueJson, at));
          this.size += kvRowBytes(key, valueJson);
        }
        break;
      case 'quotes':
        for (const q of page.rows) {
          bulk.add(q.index, q.term, q.text, q.author, q.postedAt, quoteChecksum(q.index, q.term, q.text, q.author, q.postedAt));
          this.size += quoteRowBytes(q);
        }
        break;
      case 'idempotency':
        for (const [key, at, resultJson, hash] of page.rows) {
          bulk.add(key, at, resultJson, hash, rowChecksum(key, at, resultJson, hash));
          this.size += idempotencyRowBytes(key, resultJson, hash);
        }
        break;
      case 'clientLog':
        for (const [at, t, commandJson] of page.rows) bulk.add(at, t, commandJson, rowChecksum(at, t, commandJson));
        break;
    }
    bulk.flush();
  }

  // ---------------------------------------------------------------- StateStore

  /**
   * Reads (and verifies) a KV row. Any failure but a checksum mismatch is a StateStorageError:
   * a read that fails while applying must stop the node, never become the entry's result.
   */
  getKv(key: string): KvRecord | null {
    return this.get(key);
  }

  /** A KV row whose checksum matches (a mismatch throws); call within storageRead. */
  private verifiedKvRow(key: string): KvRow | null {
    const row = this.stmt.getKv.get(key) as KvRow | undefined;
    if (!row) return null;
    verifyChecksum(`kv key ${shownKey(key)}`, row.crc, row.key, row.value, row.idx);
    return row;
  }

  putKv(key: string, valueJson: string, index: number): void {
    const old = this.stmt.kvValueBytes.get(key) as { n: number } | undefined;
    if (old) this.size -= utf8KeyBytes(key) + old.n + ROW_OVERHEAD_BYTES;
    this.stmt.putKv.run(key, valueJson, index, rowChecksum(key, valueJson, index));
    this.size += kvRowBytes(key, valueJson);
  }

  deleteKv(key: string): void {
    const old = this.stmt.deleteKv.get(key) as { n: number } | undefined;
    if (old) this.size -= utf8KeyBytes(key) + old.n + ROW_OVERHEAD_BYTES;
  }

  getIdempotent(key: string): IdempotencyRecord | null {
    return storageRead(() => {
      const row = this.stmt.getIdem.get(key) as IdempotencyDbRow | undefined;
      if (!row) return null;
      verifyChecksum(`idempotency key ${shownKey(key)}`, row.crc, row.key, row.idx, row.result, row.request_hash);
      return { result: JSON.parse(row.result) as ApplyResult, requestHash: row.request_hash };
    });
  }

  /** Only called for a key without a record (apply-logic looks it up first), so nothing is replaced. */
  putIdempotent(key: string, index: number, resultJson: string, requestHash: string): void {
    this.stmt.putIdem.run(key, index, resultJson, requestHash, rowChecksum(key, index, resultJson, requestHash));
    this.size += idempotencyRowBytes(key, resultJson, requestHash);
  }

  pruneIdempotentBefore(index: number): void {
    const pruned = this.stmt.idemBytesBefore.get(index) as { n: number | null };
    this.stmt.pruneIdem.run(index);
    this.size -= pruned.n ?? 0;
  }

  addQuote(quote: Quote): void {
    this.stmt.addQuote.run(quote.index, quote.term, quote.text, quote.author, quote.postedAt, quoteChecksum(quote.index, quote.term, quote.text, quote.author, quote.postedAt));
    this.size += quoteRowBytes(quote);
  }

  addClientEntry(index: number, term: number, commandJson: string): void {
    this.stmt.addClient.run(index, term, commandJson, rowChecksum(index, term, commandJson));
  }

  pruneClientEntriesBefore(index: number): void {
    this.stmt.pruneClient.run(index);
  }

  /**
   * Noted here, written once at the end of the batch's transaction (writeApplied): the row is
   * read only outside a batch, and one write per batch instead of one per entry saves a
   * statement per entry of a group commit.
   */
  setApplied(index: number, term: number): void {
    this.applied = index;
    this.appliedTermPending = term;
  }

  /** Writes the applied index, its term and the state's size, in the transaction that moved them. */
  private writeApplied(): void {
    if (this.appliedTermPending === null) return;
    this.stmt.setApplied.run(this.applied, this.appliedTermPending, this.size);
    this.appliedTermPending = null;
  }
}

function quoteChecksum(index: number, term: number, text: string, author: string, postedAt: string): number {
  return rowChecksum(index, term, text, author, postedAt);
}

function utf8KeyBytes(key: string): number {
  return Buffer.byteLength(key, 'utf8');
}

/** Runs a read; any failure but a CorruptionError becomes a StateStorageError (see getKv). */
function storageRead<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof CorruptionError) throw err;
    throw new StateStorageError(`state machine read failed: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * Creates the tables, or migrates a database from before row checksums. `rq_crc` and
 * `rq_idem_bytes` are SQL functions on this connection (the migration and the pruning of
 * idempotency records count in SQL what state-size.ts counts in JS).
 */
function openSchema(db: Database.Database): void {
  db.function('rq_crc', { varargs: true, deterministic: true }, (...parts: unknown[]) => rowChecksum(...(parts as ChecksumPart[])));
  db.function('rq_idem_bytes', { deterministic: true }, (key: unknown, result: unknown, hash: unknown) => idempotencyRowBytes(String(key), String(result), String(hash)));
  const hasKv = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sm_kv'").get() !== undefined;
  const hasCrc = hasKv && db.prepare("SELECT 1 FROM pragma_table_info('sm_kv') WHERE name = 'crc'").get() !== undefined;
  if (hasKv && !hasCrc) {
    db.transaction(() => {
      db.exec(MIGRATE_TO_CHECKSUMS);
      db.prepare('UPDATE sm_applied SET size_bytes = ?').run(countStateBytes(db));
    })();
  }
  db.exec(SCHEMA);
}

/** The size of the whole state, row by row (only when migrating: it reads every row). */
function countStateBytes(db: Database.Database): number {
  let size = 0;
  for (const row of db.prepare('SELECT key, value FROM sm_kv').iterate() as Iterable<{ key: string; value: string }>) size += kvRowBytes(row.key, row.value);
  for (const row of db.prepare('SELECT text, author, posted_at FROM sm_quotes').iterate() as Iterable<{ text: string; author: string; posted_at: string }>) {
    size += quoteRowBytes({ text: row.text, author: row.author, postedAt: row.posted_at });
  }
  for (const row of db.prepare('SELECT key, result, request_hash FROM sm_idempotency').iterate() as Iterable<{ key: string; result: string; request_hash: string }>) {
    size += idempotencyRowBytes(row.key, row.result, row.request_hash);
  }
  return size;
}

function prepareStatements(db: Database.Database) {
  return {
    getApplied: db.prepare('SELECT idx, term, size_bytes FROM sm_applied WHERE id = 1'),
    setApplied: db.prepare(
      'INSERT INTO sm_applied (id, idx, term, size_bytes) VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET idx = excluded.idx, term = excluded.term, size_bytes = excluded.size_bytes',
    ),
    getKv: db.prepare('SELECT key, value, idx, crc FROM sm_kv WHERE key = ?'),
    kvValueBytes: db.prepare('SELECT length(CAST(value AS BLOB)) AS n FROM sm_kv WHERE key = ?'),
    putKv: db.prepare('INSERT INTO sm_kv (key, value, idx, crc) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, idx = excluded.idx, crc = excluded.crc'),
    deleteKv: db.prepare('DELETE FROM sm_kv WHERE key = ? RETURNING length(CAST(value AS BLOB)) AS n'),
    getIdem: db.prepare('SELECT key, idx, result, request_hash, crc FROM sm_idempotency WHERE key = ?'),
    putIdem: db.prepare('INSERT OR REPLACE INTO sm_idempotency (key, idx, result, request_hash, crc) VALUES (?, ?, ?, ?, ?)'),
    idemBytesBefore: db.prepare('SELECT SUM(rq_idem_bytes(key, result, request_hash)) AS n FROM sm_idempotency WHERE idx < ?'),
    pruneIdem: db.prepare('DELETE FROM sm_idempotency WHERE idx < ?'),
    addQuote: db.prepare('INSERT OR REPLACE INTO sm_quotes (idx, term, text, author, posted_at, crc) VALUES (?, ?, ?, ?, ?, ?)'),
    quotesAfter: db.prepare('SELECT idx, term, text, author, posted_at, crc FROM sm_quotes WHERE idx > ? ORDER BY idx LIMIT ?'),
    addClient: db.prepare('INSERT OR REPLACE INTO sm_client_log (idx, term, command, crc) VALUES (?, ?, ?, ?)'),
    clientFrom: db.prepare('SELECT idx, term, command, crc FROM sm_client_log WHERE idx >= ? ORDER BY idx LIMIT ?'),
    pruneClient: db.prepare('DELETE FROM sm_client_log WHERE idx < ?'),
  };
}

/**
 * Rows per INSERT statement while restoring an image: one call into SQLite per batch instead
 * of one per row (the per-call cost was most of an install's CPU after SQLite's own work).
 * At ≤ 6 columns a batch binds ≤ 384 parameters, far under SQLite's limit (32,766).
 */
const RESTORE_BATCH_ROWS = 64;

/**
 * Inserts rows of one table RESTORE_BATCH_ROWS at a time: values are gathered in one reused
 * array and bound to a multi-row INSERT; the rest of a page goes in row by row at flush().
 */
class BulkInsert {
  private readonly batch: Database.Statement;
  private readonly single: Database.Statement;
  private readonly values: unknown[];
  private filled = 0;

  constructor(db: Database.Database, target: string, private readonly columns: number) {
    const row = `(${new Array<string>(columns).fill('?').join(', ')})`;
    this.batch = db.prepare(`INSERT OR REPLACE INTO ${target} VALUES ${new Array<string>(RESTORE_BATCH_ROWS).fill(row).join(', ')}`);
    this.single = db.prepare(`INSERT OR REPLACE INTO ${target} VALUES ${row}`);
    this.values = new Array<unknown>(columns * RESTORE_BATCH_ROWS);
  }

  add(...row: unknown[]): void {
    for (let i = 0; i < this.columns; i++) this.values[this.filled++] = row[i];
    if (this.filled === this.values.length) {
      this.batch.run(this.values);
      this.filled = 0;
    }
  }

  flush(): void {
    for (let at = 0; at < this.filled; at += this.columns) this.single.run(this.values.slice(at, at + this.columns));
    this.filled = 0;
  }
}

/**
 * Longest stretch of image building between two turns of the event loop: well under the
 * heartbeat interval (50 ms), so a leader building an image for a follower keeps its own.
 */
const IMAGE_SLICE_MS = 5;
/** Rows read per query while building an image (a slice holds one or more of these reads). */
const IMAGE_READ_ROWS = 512;

/** Gathers rows read in small batches into the image's IMAGE_PAGE_ROWS pages, section by section. */
class PageGatherer {
  private section: ImageSection | null = null;
  private rows: unknown[][] = [];

  constructor(private readonly writer: StateImageWriter) {}

  add(section: ImageSection, rows: unknown[][]): void {
    if (section !== this.section) this.flush();
    this.section = section;
    for (const row of rows) {
      this.rows.push(row);
      if (this.rows.length === IMAGE_PAGE_ROWS) this.flush();
    }
  }

  finish(): void {
    this.flush();
  }

  private flush(): void {
    if (this.section !== null && this.rows.length > 0) this.writer.page(this.section, this.rows as never);
    this.rows = [];
  }
}

/**
 * The image's tables in its section order, with the columns of a row as the image stores it,
 * then the row's checksum (verified and dropped as the page is read: a corrupt row is never
 * sent to a follower).
 */
const IMAGE_TABLES: Array<{ section: ImageSection; columns: string; table: string; key: string; where: (row: unknown[]) => string }> = [
  { section: 'kv', columns: 'key, value, idx', table: 'sm_kv', key: 'key', where: (row) => `kv key ${shownKey(String(row[0]))}` },
  { section: 'quotes', columns: 'idx, term, text, author, posted_at', table: 'sm_quotes', key: 'idx', where: (row) => `quote ${String(row[0])}` },
  { section: 'idempotency', columns: 'key, idx, result, request_hash', table: 'sm_idempotency', key: 'key', where: (row) => `idempotency key ${shownKey(String(row[0]))}` },
  { section: 'clientLog', columns: 'idx, term, command', table: 'sm_client_log', key: 'idx', where: (row) => `client log entry ${String(row[0])}` },
];

/**
 * Every table of the image, a page of IMAGE_PAGE_ROWS rows at a time in key order (keyset
 * paging: each page is an index seek past the previous page's last key; the key is each
 * table's first column). Each row's checksum is verified and dropped.
 */
function* imagePages(db: Database.Database, pageRows = IMAGE_PAGE_ROWS): Generator<[ImageSection, unknown[][]]> {
  for (const { section, columns, table, key, where } of IMAGE_TABLES) {
    const first = db.prepare(`SELECT ${columns}, crc FROM ${table} ORDER BY ${key} LIMIT ${pageRows}`).raw();
    const next = db.prepare(`SELECT ${columns}, crc FROM ${table} WHERE ${key} > ? ORDER BY ${key} LIMIT ${pageRows}`).raw();
    for (let rows = first.all() as unknown[][]; rows.length > 0; rows = next.all((rows[rows.length - 1] as unknown[])[0]) as unknown[][]) {
      yield [section, rows.map((row) => verifiedColumns(row, where))];
    }
  }
}

/** The row without its last column (the checksum), which must match the others; `where` names it only when it does not. */
function verifiedColumns(row: unknown[], where: (row: unknown[]) => string): unknown[] {
  const columns = row.slice(0, -1);
  if (row[row.length - 1] !== rowChecksum(...(columns as ChecksumPart[]))) verifyChecksum(where(row), row[row.length - 1], ...(columns as ChecksumPart[]));
  return columns;
}

function checkedQuote(row: QuoteRow): Quote {
  verifyChecksum(`quote ${row.idx}`, row.crc, row.idx, row.term, row.text, row.author, row.posted_at);
  return { index: row.idx, term: row.term, text: row.text, author: row.author, postedAt: row.posted_at };
}
