import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { Entry } from '@raftquotes/raft';
import { CorruptionError } from '../state/checksum.js';
import { StorageError } from './errors.js';
import { IDENTITY_FILE, readIdentityMarker } from './identity.js';
import { DATABASE_FILE, initDataDir, openNodeDatabase } from './sqlite-storage.js';

// SPEC §5: the node's identity is kept outside the database, a new node is made only by an
// explicit init step, and every Raft row carries a checksum verified when it is read.

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'raftquotes-integrity-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const NODE1 = { clusterId: 'c1', nodeId: 'Node1' };

function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let index = from; index <= to; index++) out.push({ index, term, type: 'normal', data: JSON.stringify({ op: 'put', key: `k${index}`, value: index }) });
  return out;
}

/** A data dir holding node 1 with entries 1..5 in term 2, a vote and a commit. */
function populatedDir(): string {
  const dir = tempDir();
  const { storage } = openNodeDatabase(dir, NODE1, { init: true });
  storage.persist({ hardState: { term: 2, vote: 'Node1', commit: 4 }, snapshot: null, entries: entries(1, 5, 2) });
  storage.close();
  return dir;
}

/** Runs one SQL statement behind the storage's back, as a flipped byte on disk would. */
function tamper(dir: string, sql: string): void {
  const raw = new Database(join(dir, DATABASE_FILE));
  raw.prepare(sql).run();
  raw.close();
}

function deleteDatabase(dir: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(join(dir, `${DATABASE_FILE}${suffix}`), { force: true });
}

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('identity marker outside the database', () => {
  it('refuses an empty data dir without --init, says to pass it, and creates nothing', () => {
    const dir = tempDir();
    const error = errorOf(() => openNodeDatabase(dir, NODE1));
    expect(error).toBeInstanceOf(StorageError);
    expect(error.message).toMatch(/is not initialized.*pass --init \(RAFTQUOTES_INIT=true\)/);
    expect(error.message).not.toContain('\n');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('init writes the database and a marker naming the cluster, the node and when', () => {
    const dir = tempDir();
    initDataDir(join(dir, 'Node1'), NODE1);
    const marker = readIdentityMarker(join(dir, 'Node1'));
    expect(marker).toMatchObject(NODE1);
    expect(Number.isNaN(Date.parse(marker?.createdAt ?? ''))).toBe(false);
    expect(existsSync(join(dir, 'Node1', DATABASE_FILE))).toBe(true);
    expect(existsSync(join(dir, 'Node1', `${IDENTITY_FILE}.tmp`))).toBe(false);
  });

  it('refuses to start empty when the database is gone but the marker is there, even with --init', () => {
    const dir = populatedDir();
    deleteDatabase(dir);
    const error = errorOf(() => openNodeDatabase(dir, NODE1));
    expect(error).toBeInstanceOf(StorageError);
    expect(error.message).toMatch(/belongs to Node1 of cluster "c1".*database raftquotes\.db is missing; refusing to start empty/);
    expect(() => openNodeDatabase(dir, NODE1, { init: true })).toThrow(/is missing; refusing to start empty/);
    expect(() => initDataDir(dir, NODE1)).toThrow(/is missing/);
    expect(existsSync(join(dir, DATABASE_FILE))).toBe(false);
  });

  it('init on an intact, initialized data dir is harmless: nothing is reset', () => {
    const dir = populatedDir();
    const before = readFileSync(join(dir, IDENTITY_FILE), 'utf8');
    initDataDir(dir, NODE1);
    const { storage } = openNodeDatabase(dir, NODE1, { init: true });
    expect(storage.recover().hardState).toEqual({ term: 2, vote: 'Node1', commit: 4 });
    storage.close();
    expect(readFileSync(join(dir, IDENTITY_FILE), 'utf8')).toBe(before);
  });

  it('refuses a marker of another node or cluster, and a database that disagrees with its marker', () => {
    const dir = populatedDir();
    expect(() => openNodeDatabase(dir, { clusterId: 'c1', nodeId: 'Node2' }, { init: true })).toThrow(/belongs to node Node1, not Node2 \(node-identity\.json\)/);
    expect(() => openNodeDatabase(dir, { clusterId: 'c2', nodeId: 'Node1' })).toThrow(/belongs to cluster "c1", not "c2" \(node-identity\.json\)/);
    // Node2's marker next to Node1's database (e.g. files copied between dirs).
    writeFileSync(join(dir, IDENTITY_FILE), readFileSync(join(dir, IDENTITY_FILE), 'utf8').replace('Node1', 'Node2'));
    expect(() => openNodeDatabase(dir, { clusterId: 'c1', nodeId: 'Node2' })).toThrow(/raftquotes\.db belongs to node Node1, not Node2/);
  });

  it('refuses a damaged marker instead of treating it as absent', () => {
    const dir = populatedDir();
    writeFileSync(join(dir, IDENTITY_FILE), '{"format":1,"clusterId":"c1"');
    expect(() => openNodeDatabase(dir, NODE1, { init: true })).toThrow(/identity marker .* is damaged/);
  });

  it('adopts a database written before markers existed, and protects it from then on', () => {
    const dir = populatedDir();
    rmSync(join(dir, IDENTITY_FILE));
    const { storage } = openNodeDatabase(dir, NODE1);
    expect(storage.recover().entries).toHaveLength(5);
    storage.close();
    expect(readIdentityMarker(dir)).toMatchObject(NODE1);
    deleteDatabase(dir);
    expect(() => openNodeDatabase(dir, NODE1)).toThrow(/is missing; refusing to start empty/);
  });

  it('refuses a database without an identity unless this is the init step (an interrupted init)', () => {
    const dir = tempDir();
    new Database(join(dir, DATABASE_FILE)).close();
    expect(() => openNodeDatabase(dir, NODE1)).toThrow(/holds no node identity/);
    openNodeDatabase(dir, NODE1, { init: true }).storage.close();
    expect(readIdentityMarker(dir)).toMatchObject(NODE1);
  });
});

describe('checksums on Raft rows', () => {
  it('a log entry whose data was changed on disk stops recovery with a CorruptionError naming the index', () => {
    const dir = populatedDir();
    tamper(dir, `UPDATE raft_log SET data = replace(data, 'k3', 'k9') WHERE idx = 3`);
    const { storage } = openNodeDatabase(dir, NODE1);
    const error = errorOf(() => storage.recover());
    storage.close();
    expect(error).toBeInstanceOf(CorruptionError);
    expect(error.message).toMatch(/^checksum mismatch in log entry 3 of database .*raftquotes\.db/);
  });

  it('a log entry whose term was changed on disk is caught too (before the term order check)', () => {
    const dir = populatedDir();
    tamper(dir, 'UPDATE raft_log SET term = 3 WHERE idx = 5');
    const { storage } = openNodeDatabase(dir, NODE1);
    expect(() => storage.recover()).toThrow(/checksum mismatch in log entry 5 /);
    storage.close();
  });

  it('a changed hard state (vote, term or commit) is caught on read and on the next write', () => {
    for (const sql of ["UPDATE raft_state SET vote = 'Node3'", 'UPDATE raft_state SET term = 7', 'UPDATE raft_state SET commit_index = 1']) {
      const dir = populatedDir();
      tamper(dir, sql);
      const { storage } = openNodeDatabase(dir, NODE1);
      expect(() => storage.recover(), sql).toThrow(CorruptionError);
      expect(() => storage.persist({ hardState: { term: 9, vote: null, commit: 5 }, snapshot: null, entries: [] }), sql).toThrow(/checksum mismatch in the hard state/);
      storage.close();
    }
  });

  it('a changed term is caught when the vote is null and the snapshot has no image (empty parts)', () => {
    const dir = populatedDir();
    const { storage } = openNodeDatabase(dir, NODE1);
    storage.persist({ hardState: { term: 3, vote: null, commit: 4 }, snapshot: null, entries: [] });
    storage.saveSnapshot({ meta: { index: 3, term: 2, voters: ['Node1'] }, data: null });
    storage.close();
    tamper(dir, 'UPDATE raft_snapshot SET term = 1');
    const reopened = openNodeDatabase(dir, NODE1).storage;
    expect(() => reopened.recover()).toThrow(/checksum mismatch in the snapshot metadata \(index 3\)/);
    reopened.close();
    tamper(dir, 'UPDATE raft_snapshot SET term = 2');
    tamper(dir, 'UPDATE raft_state SET term = 9');
    const again = openNodeDatabase(dir, NODE1).storage;
    expect(() => again.recover()).toThrow(/checksum mismatch in the hard state \(term 9, vote none/);
    again.close();
  });

  it('changed snapshot metadata or image is caught', () => {
    for (const sql of ['UPDATE raft_snapshot SET idx = 4', `UPDATE raft_snapshot SET voters = '["Node1","Node9"]'`, 'UPDATE raft_snapshot SET data = x\'01020304\'']) {
      const dir = populatedDir();
      const { storage } = openNodeDatabase(dir, NODE1);
      storage.saveSnapshot({ meta: { index: 3, term: 2, voters: ['Node1', 'Node2'] }, data: new Uint8Array([1, 2, 3, 9]) });
      storage.close();
      tamper(dir, sql);
      const reopened = openNodeDatabase(dir, NODE1).storage;
      expect(() => reopened.recover(), sql).toThrow(/checksum mismatch in the snapshot metadata \(index \d\)/);
      reopened.close();
    }
  });

  it('migrates a version-1 database once at open: old rows get checksums and still read back', () => {
    const dir = tempDir();
    const raw = new Database(join(dir, DATABASE_FILE));
    raw.exec(`
      CREATE TABLE identity (id INTEGER PRIMARY KEY CHECK (id = 1), cluster_id TEXT NOT NULL, node_id TEXT NOT NULL, schema_version INTEGER NOT NULL, created_at TEXT NOT NULL);
      CREATE TABLE raft_state (id INTEGER PRIMARY KEY CHECK (id = 1), term INTEGER NOT NULL, vote TEXT, commit_index INTEGER NOT NULL, log_offset INTEGER NOT NULL, log_offset_term INTEGER NOT NULL);
      CREATE TABLE raft_log (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, type INTEGER NOT NULL, data TEXT NOT NULL);
      CREATE TABLE raft_snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), idx INTEGER NOT NULL, term INTEGER NOT NULL, voters TEXT NOT NULL, data BLOB NOT NULL);
      INSERT INTO identity VALUES (1, 'c1', 'Node1', 1, '2024-01-01T00:00:00.000Z');
      INSERT INTO raft_state VALUES (1, 4, 'Node2', 6, 2, 1);
      INSERT INTO raft_snapshot VALUES (1, 2, 1, '["Node1"]', x'');
      INSERT INTO raft_log VALUES (3, 1, 0, 'a'), (4, 3, 1, ''), (5, 4, 0, 'b'), (6, 4, 0, 'c');
    `);
    raw.close();
    const { storage } = openNodeDatabase(dir, NODE1);
    expect(storage.recover()).toEqual({
      hardState: { term: 4, vote: 'Node2', commit: 6 },
      snapshot: { meta: { index: 2, term: 1, voters: ['Node1'] }, data: null },
      offset: 2,
      offsetTerm: 1,
      entries: [
        { index: 3, term: 1, type: 'normal', data: 'a' },
        { index: 4, term: 3, type: 'noop', data: '' },
        { index: 5, term: 4, type: 'normal', data: 'b' },
        { index: 6, term: 4, type: 'normal', data: 'c' },
      ],
    });
    storage.close();
    expect(readIdentityMarker(dir)).toEqual({ ...NODE1, createdAt: '2024-01-01T00:00:00.000Z' });
    tamper(dir, "UPDATE raft_log SET data = 'x' WHERE idx = 6");
    const reopened = openNodeDatabase(dir, NODE1).storage;
    expect(() => reopened.recover()).toThrow(/checksum mismatch in log entry 6 /);
    reopened.close();
  });
});
