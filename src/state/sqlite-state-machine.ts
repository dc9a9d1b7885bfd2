import Database from 'better-sqlite3';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Entry } from '../raft/types.js';
import { applyEntry, retentionLimits, type RetentionLimits, type StateStore } from './apply-logic.js';
import { forEachImagePage, IMAGE_PAGE_ROWS, StateImageWriter, type ImagePage, type ImageSection } from './snapshot-codec.js';
import type { ApplyResult, Command, CommittedClientEntry, KvRecord, Quote, SnapshotImage, StateMachine } from './types.js';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS sm_applied (id INTEGER PRIMARY KEY CHECK (id = 1), idx INTEGER NOT NULL, term INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS sm_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, idx INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS sm_quotes (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, text TEXT NOT NULL, author TEXT NOT NULL, posted_at TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS sm_idempotency (key TEXT PRIMARY KEY, idx INTEGER NOT NULL, result TEXT NOT NULL) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS sm_idempotency_idx ON sm_idempotency (idx);
  CREATE TABLE IF NOT EXISTS sm_client_log (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, command TEXT NOT NULL);
`;

interface QuoteRow { idx: number; term: number; text: string; author: string; posted_at: string }
interface KvRow { key: string; value: string; idx: number }

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
  private readonly applyBatch: (entries: Entry[]) => ApplyResult[];
  private readonly restoreImage: (data: Uint8Array, index: number, term: number) => void;

  /** `retention` is for tests only: every replica must use the same limits. */
  constructor(
    private readonly db: Database.Database,
    retention: Partial<RetentionLimits> = {},
  ) {
    const limits = retentionLimits(retention);
    db.exec(SCHEMA);
    this.stmt = prepareStatements(db);
    const row = this.stmt.getApplied.get() as { idx: number } | undefined;
    this.applied = row?.idx ?? 0;
    this.applyBatch = db.transaction((entries: Entry[]) => entries.map((entry) => applyEntry(this, entry, this.applied, limits)));
    this.restoreImage = db.transaction((data: Uint8Array, index: number, term: number) => this.replaceAll(data, index, term));
  }

  appliedIndex(): number {
    return this.applied;
  }

  apply(entries: Entry[]): ApplyResult[] {
    const before = this.applied;
    try {
      return this.applyBatch(entries);
    } catch (err) {
      this.applied = before; // the transaction rolled back; so does our cached index
      throw err;
    }
  }

  get(key: string): KvRecord | null {
    return this.getKv(key);
  }

  quotesAfter(afterIndex: number, limit: number): Quote[] {
    return (this.stmt.quotesAfter.all(afterIndex, limit) as QuoteRow[]).map(toQuote);
  }

  clientEntriesFrom(fromIndex: number, limit: number): CommittedClientEntry[] {
    const rows = this.stmt.clientFrom.all(fromIndex, limit) as Array<{ idx: number; term: number; command: string }>;
    return rows.map((r) => ({ index: r.idx, term: r.term, command: JSON.parse(r.command) as Command }));
  }

  /** Keys in code point order (SQLite's BINARY collation on UTF-8), like the memory twin's. */
  snapshot(): Uint8Array {
    const writer = new StateImageWriter(this.applied, this.appliedTerm());
    for (const [section, rows] of imagePages(this.db)) writer.page(section, rows as never);
    return writer.finish();
  }

  /**
   * The same image as snapshot(), built a page per event-loop turn so the node keeps serving
   * (the leader builds one for a follower that needs InstallSnapshot). It reads through a
   * second, read-only connection in one read transaction: WAL gives it a consistent view of
   * the state as of its first read, while this connection goes on applying.
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
      for (const [section, rows] of imagePages(reader)) {
        writer.page(section, rows as never);
        await yieldToLoop();
      }
      reader.exec('COMMIT');
      return { index: applied.idx, term: applied.term, data: writer.finish() };
    } finally {
      reader.close();
    }
  }

  private appliedTerm(): number {
    return (this.stmt.getApplied.get() as { term: number } | undefined)?.term ?? 0;
  }

  restore(index: number, term: number, data: Uint8Array): void {
    this.restoreImage(data, index, term);
  }

  /**
   * One transaction: a bad image found half-way rolls back to the state before. The image is
   * inserted a page at a time as it is decoded (forEachImagePage), in its key order, so every
   * insert appends to its B-tree and the heap holds one page of rows, not the whole state.
   */
  private replaceAll(data: Uint8Array, index: number, term: number): void {
    this.db.exec('DELETE FROM sm_kv; DELETE FROM sm_quotes; DELETE FROM sm_idempotency; DELETE FROM sm_client_log;');
    forEachImagePage(data, (page) => this.insertPage(page));
    this.setApplied(index, term);
  }

  private insertPage(page: ImagePage): void {
    switch (page.section) {
      case 'kv':
        for (const [key, valueJson, at] of page.rows) this.putKv(key, valueJson, at);
        return;
      case 'quotes':
        for (const quote of page.rows) this.addQuote(quote);
        return;
      case 'idempotency':
        for (const [key, at, resultJson] of page.rows) this.stmt.putIdem.run(key, at, resultJson);
        return;
      case 'clientLog':
        for (const [at, t, commandJson] of page.rows) this.stmt.addClient.run(at, t, commandJson);
        return;
    }
  }

  // ---------------------------------------------------------------- StateStore

  getKv(key: string): KvRecord | null {
    const row = this.stmt.getKv.get(key) as KvRow | undefined;
    return row ? { key, value: JSON.parse(row.value) as unknown, index: row.idx } : null;
  }

  putKv(key: string, valueJson: string, index: number): void {
    this.stmt.putKv.run(key, valueJson, index);
  }

  deleteKv(key: string): void {
    this.stmt.deleteKv.run(key);
  }

  getIdempotent(key: string): ApplyResult | null {
    const row = this.stmt.getIdem.get(key) as { result: string } | undefined;
    return row ? (JSON.parse(row.result) as ApplyResult) : null;
  }

  putIdempotent(key: string, index: number, result: ApplyResult): void {
    this.stmt.putIdem.run(key, index, JSON.stringify(result));
  }

  pruneIdempotentBefore(index: number): void {
    this.stmt.pruneIdem.run(index);
  }

  addQuote(quote: Quote): void {
    this.stmt.addQuote.run(quote.index, quote.term, quote.text, quote.author, quote.postedAt);
  }

  addClientEntry(index: number, term: number, command: Command): void {
    this.stmt.addClient.run(index, term, JSON.stringify(command));
  }

  pruneClientEntriesBefore(index: number): void {
    this.stmt.pruneClient.run(index);
  }

  setApplied(index: number, term: number): void {
    this.stmt.setApplied.run(index, term);
    this.applied = index;
  }
}

function prepareStatements(db: Database.Database) {
  return {
    getApplied: db.prepare('SELECT idx, term FROM sm_applied WHERE id = 1'),
    setApplied: db.prepare('INSERT INTO sm_applied (id, idx, term) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET idx = excluded.idx, term = excluded.term'),
    getKv: db.prepare('SELECT key, value, idx FROM sm_kv WHERE key = ?'),
    putKv: db.prepare('INSERT INTO sm_kv (key, value, idx) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, idx = excluded.idx'),
    deleteKv: db.prepare('DELETE FROM sm_kv WHERE key = ?'),
    getIdem: db.prepare('SELECT result FROM sm_idempotency WHERE key = ?'),
    putIdem: db.prepare('INSERT OR REPLACE INTO sm_idempotency (key, idx, result) VALUES (?, ?, ?)'),
    pruneIdem: db.prepare('DELETE FROM sm_idempotency WHERE idx < ?'),
    addQuote: db.prepare('INSERT OR REPLACE INTO sm_quotes (idx, term, text, author, posted_at) VALUES (?, ?, ?, ?, ?)'),
    quotesAfter: db.prepare('SELECT * FROM sm_quotes WHERE idx > ? ORDER BY idx LIMIT ?'),
    addClient: db.prepare('INSERT OR REPLACE INTO sm_client_log (idx, term, command) VALUES (?, ?, ?)'),
    clientFrom: db.prepare('SELECT idx, term, command FROM sm_client_log WHERE idx >= ? ORDER BY idx LIMIT ?'),
    pruneClient: db.prepare('DELETE FROM sm_client_log WHERE idx < ?'),
  };
}

/** The image's tables in its section order, with the columns of a row as the image stores it. */
const IMAGE_TABLES: Array<{ section: ImageSection; columns: string; table: string; key: string }> = [
  { section: 'kv', columns: 'key, value, idx', table: 'sm_kv', key: 'key' },
  { section: 'quotes', columns: 'idx, term, text, author, posted_at', table: 'sm_quotes', key: 'idx' },
  { section: 'idempotency', columns: 'key, idx, result', table: 'sm_idempotency', key: 'key' },
  { section: 'clientLog', columns: 'idx, term, command', table: 'sm_client_log', key: 'idx' },
];

/**
 * Every table of the image, a page of IMAGE_PAGE_ROWS rows at a time in key order (keyset
 * paging: each page is an index seek past the previous page's last key; the key is each
 * table's first column).
 */
function* imagePages(db: Database.Database): Generator<[ImageSection, unknown[][]]> {
  for (const { section, columns, table, key } of IMAGE_TABLES) {
    const first = db.prepare(`SELECT ${columns} FROM ${table} ORDER BY ${key} LIMIT ${IMAGE_PAGE_ROWS}`).raw();
    const next = db.prepare(`SELECT ${columns} FROM ${table} WHERE ${key} > ? ORDER BY ${key} LIMIT ${IMAGE_PAGE_ROWS}`).raw();
    for (let rows = first.all() as unknown[][]; rows.length > 0; rows = next.all((rows[rows.length - 1] as unknown[])[0]) as unknown[][]) yield [section, rows];
  }
}

function toQuote(row: QuoteRow): Quote {
  return { index: row.idx, term: row.term, text: row.text, author: row.author, postedAt: row.posted_at };
}
