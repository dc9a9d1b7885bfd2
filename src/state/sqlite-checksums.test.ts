import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { Entry } from '@raftquotes/raft';
import { CorruptionError } from './checksum.js';
import { MemoryStateMachine } from './memory-state-machine.js';
import { SqliteStateMachine } from './sqlite-state-machine.js';

// SPEC §5 / issue 15 finding 10: one flipped byte in a value passed quick_check and was served.

const dir = mkdtempSync(join(tmpdir(), 'raftquotes-crc-'));
let seq = 0;
const dbs: Database.Database[] = [];
afterAll(() => {
  for (const db of dbs) if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

function openDb(file = join(dir, `sm-${++seq}.db`)): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  dbs.push(db);
  return db;
}

const normal = (index: number, command: object): Entry => ({ index, term: 1, type: 'normal', data: JSON.stringify(command) });

/** A state machine with a KV row, a quote, an idempotency record and client log entries. */
function filled(): { db: Database.Database; sm: SqliteStateMachine } {
  const db = openDb();
  const sm = new SqliteStateMachine(db);
  sm.apply([
    normal(1, { op: 'put', key: 'k', value: { balance: 100 }, idempotencyKey: 'id-1' }),
    normal(2, { op: 'quote', text: 'Well begun is half done.', author: 'Aristotle', postedAt: '2025-01-01T00:00:00.000Z' }),
  ]);
  return { db, sm };
}

/**
 * Flips one byte of a stored text column behind the state machine's back, through a second
 * connection, the way a bad disk would (the checksum column is left as it was).
 */
function flipByte(file: string, table: string, column: string, where: string): void {
  const other = new Database(file);
  try {
    const row = other.prepare(`SELECT CAST(${column} AS BLOB) AS b FROM ${table} WHERE ${where}`).get() as { b: Buffer };
    const bytes = Buffer.from(row.b);
    const at = bytes.indexOf('1'.charCodeAt(0)) >= 0 ? bytes.indexOf('1'.charCodeAt(0)) : 0;
    bytes[at] = (bytes[at] as number) ^ 0x08; // '1' -> '9': still valid JSON, silently wrong
    other.prepare(`UPDATE ${table} SET ${column} = CAST(? AS TEXT) WHERE ${where}`).run(bytes);
  } finally {
    other.close();
  }
}

describe('SQLite state rows carry checksums, verified on read', () => {
  it('serves and images the rows it wrote', async () => {
    const { sm } = filled();
    expect(sm.get('k')?.value).toEqual({ balance: 100 });
    expect(sm.quotesAfter(0, 10)).toHaveLength(1);
    expect(sm.clientEntriesFrom(0, 10)).toHaveLength(2);
    const copy = new MemoryStateMachine();
    copy.restore(2, 1, (await sm.buildImage()).data);
    expect(copy.get('k')?.value).toEqual({ balance: 100 });
  });

  it('throws CorruptionError naming the key when a value byte flipped, on get, on cas, and when building an image', async () => {
    const { db, sm } = filled();
    flipByte(db.name, 'sm_kv', 'value', "key = 'k'");
    expect(() => sm.get('k')).toThrow(CorruptionError);
    expect(() => sm.get('k')).toThrow(/kv key "k"/);
    // Applying a cas on the corrupt row is a storage failure: the batch throws (the node stops), nothing is recorded.
    expect(() => sm.apply([normal(3, { op: 'cas', key: 'k', from: { balance: 900 }, to: 0 })])).toThrow(CorruptionError);
    expect(sm.appliedIndex()).toBe(2);
    expect(() => sm.snapshot()).toThrow(/kv key "k"/);
    await expect(sm.buildImage()).rejects.toThrow(CorruptionError);
  });

  it('throws CorruptionError naming the index for a corrupt quote or client log entry, and the key for an idempotency record', () => {
    const a = filled();
    flipByte(a.db.name, 'sm_quotes', 'text', 'idx = 2');
    expect(() => a.sm.quotesAfter(0, 10)).toThrow(/quote 2/);
    const b = filled();
    flipByte(b.db.name, 'sm_client_log', 'command', 'idx = 1');
    expect(() => b.sm.clientEntriesFrom(0, 10)).toThrow(/client log entry 1/);
    const c = filled();
    flipByte(c.db.name, 'sm_idempotency', 'result', "key = 'id-1'");
    expect(() => c.sm.apply([normal(3, { op: 'put', key: 'k', value: { balance: 100 }, idempotencyKey: 'id-1' })])).toThrow(/idempotency key "id-1"/);
  });

  it('detects a changed index or term as well as a changed text', () => {
    const { db, sm } = filled();
    const other = new Database(db.name);
    other.prepare("UPDATE sm_kv SET idx = 7 WHERE key = 'k'").run();
    other.close();
    expect(() => sm.get('k')).toThrow(CorruptionError);
  });

  it('migrates a database from before checksums: rows get checksums, the size is counted, old idempotency records match any retry', () => {
    const file = join(dir, 'old.db');
    const old = openDb(file);
    // The schema and rows as the previous release wrote them.
    old.exec(`
      CREATE TABLE sm_applied (id INTEGER PRIMARY KEY CHECK (id = 1), idx INTEGER NOT NULL, term INTEGER NOT NULL);
      CREATE TABLE sm_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, idx INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE sm_quotes (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, text TEXT NOT NULL, author TEXT NOT NULL, posted_at TEXT NOT NULL);
      CREATE TABLE sm_idempotency (key TEXT PRIMARY KEY, idx INTEGER NOT NULL, result TEXT NOT NULL) WITHOUT ROWID;
      CREATE INDEX sm_idempotency_idx ON sm_idempotency (idx);
      CREATE TABLE sm_client_log (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, command TEXT NOT NULL);
      INSERT INTO sm_applied VALUES (1, 2, 1);
      INSERT INTO sm_kv VALUES ('k', '{"a":1}', 1);
      INSERT INTO sm_quotes VALUES (2, 1, 'text', 'author', 'p');
      INSERT INTO sm_idempotency VALUES ('id', 1, '{"ok":true,"index":1}');
      INSERT INTO sm_client_log VALUES (1, 1, '{"op":"put","key":"k","value":{"a":1},"idempotencyKey":"id"}');
    `);
    const sm = new SqliteStateMachine(old);
    expect(sm.appliedIndex()).toBe(2);
    expect(sm.get('k')).toEqual({ key: 'k', value: { a: 1 }, index: 1 });
    expect(sm.quotesAfter(0, 10)).toEqual([{ index: 2, term: 1, text: 'text', author: 'author', postedAt: 'p' }]);
    expect(sm.apply([normal(3, { op: 'put', key: 'k', value: 'different', idempotencyKey: 'id' })])).toEqual([{ ok: true, index: 1 }]);
    const twin = new MemoryStateMachine();
    twin.restore(3, 1, sm.snapshot());
    expect(sm.sizeBytes()).toBe(twin.sizeBytes());
    expect(sm.sizeBytes()).toBeGreaterThan(0);
    // Reopening finds the new schema and the persisted size.
    const again = new SqliteStateMachine(old);
    expect(again.sizeBytes()).toBe(sm.sizeBytes());
    flipByte(file, 'sm_kv', 'value', "key = 'k'");
    expect(() => again.get('k')).toThrow(CorruptionError);
  });
});
