import { encodeConfiguration, type Entry, type Snapshot } from '@raftquotes/raft';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StorageError } from './errors.js';
import { MemoryRaftStorage } from './memory-storage.js';
import { DATABASE_FILE, openNodeDatabase, PAGE_CACHE_KIB, WAL_AUTOCHECKPOINT_PAGES } from './sqlite-storage.js';
import type { RaftStorage } from './types.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'raftquotes-storage-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let index = from; index <= to; index++) out.push({ index, term, type: index === from ? 'noop' : 'normal', data: index === from ? '' : `e${index}` });
  return out;
}

function snapshotAt(index: number, term: number): Snapshot {
  return { meta: { index, term, voters: ['Node1', 'Node2', 'Node3'] }, data: new Uint8Array([1, 2, 3, index % 256]) };
}

/** A storage under test plus a way to "restart" it (reopen what is durable). */
interface Subject {
  storage: RaftStorage;
  reopen(): RaftStorage;
}

const implementations: Array<[string, () => Subject]> = [
  [
    'memory',
    () => {
      const storage = new MemoryRaftStorage();
      return { storage, reopen: () => storage };
    },
  ],
  [
    'sqlite',
    () => {
      const dir = tempDir();
      const identity = { clusterId: 'c1', nodeId: 'Node1' };
      const { storage } = openNodeDatabase(dir, identity, { init: true });
      return {
        storage,
        reopen: () => {
          storage.close();
          return openNodeDatabase(dir, identity).storage;
        },
      };
    },
  ],
];

describe.each(implementations)('RaftStorage (%s)', (_name, make) => {
  it('starts empty', () => {
    const { storage } = make();
    expect(storage.recover()).toEqual({ hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, offset: 0, offsetTerm: 0, entries: [] });
  });

  it('persists hard state and entries atomically and recovers them after a restart', () => {
    const s = make();
    s.storage.persist({ hardState: { term: 2, vote: 'Node1', commit: 3 }, snapshot: null, entries: entries(1, 5, 2) });
    const recovered = s.reopen().recover();
    expect(recovered.hardState).toEqual({ term: 2, vote: 'Node1', commit: 3 });
    expect(recovered.entries).toEqual(entries(1, 5, 2));
  });

  it('replaces a conflicting suffix when entries overlap', () => {
    const s = make();
    s.storage.persist({ hardState: { term: 2, vote: null, commit: 0 }, snapshot: null, entries: entries(1, 6, 2) });
    s.storage.persist({ hardState: { term: 3, vote: null, commit: 0 }, snapshot: null, entries: entries(4, 5, 3) });
    const recovered = s.reopen().recover();
    expect(recovered.entries.map((e) => `${e.index}/${e.term}`)).toEqual(['1/2', '2/2', '3/2', '4/3', '5/3']);
  });

  it('compacts up to an index and keeps the rest, remembering the term at the offset', () => {
    const s = make();
    s.storage.persist({ hardState: { term: 2, vote: null, commit: 8 }, snapshot: null, entries: entries(1, 10, 2) });
    s.storage.saveSnapshot(snapshotAt(7, 2));
    s.storage.compact(7, 2);
    s.storage.compact(5, 2); // going backwards is a no-op
    const recovered = s.reopen().recover();
    expect(recovered.offset).toBe(7);
    expect(recovered.offsetTerm).toBe(2);
    expect(recovered.entries.map((e) => e.index)).toEqual([8, 9, 10]);
    expect(recovered.snapshot?.meta.index).toBe(7);
    expect([...(recovered.snapshot?.data ?? [])]).toEqual([1, 2, 3, 7]);
  });

  it('keeps a snapshot without an image (a durable state machine is its own snapshot)', () => {
    const s = make();
    s.storage.persist({ hardState: { term: 2, vote: null, commit: 8 }, snapshot: snapshotAt(4, 2), entries: [] });
    s.storage.persist({ hardState: null, snapshot: null, entries: entries(5, 10, 2) });
    s.storage.saveSnapshot({ meta: { index: 8, term: 2, voters: ['Node1'] }, data: null });
    s.storage.compact(6, 2);
    const recovered = s.reopen().recover();
    expect(recovered.snapshot).toEqual({ meta: { index: 8, term: 2, voters: ['Node1'] }, data: null });
    expect([recovered.offset, recovered.entries.map((e) => e.index)]).toEqual([6, [7, 8, 9, 10]]);
  });

  it('keeps the configuration of a snapshot (voters, learners, joint, addresses) and config entries of the log', () => {
    const s = make();
    const member = (id: string): { id: string; raft: string; http: string } => ({ id, raft: `127.0.0.1:70${id.slice(4)}`, http: `http://127.0.0.1:80${id.slice(4)}` });
    const config = { voters: [member('Node1'), member('Node4')], learners: [member('Node6')], outgoing: [member('Node1'), member('Node2'), member('Node3')] };
    const meta = { index: 8, term: 2, voters: ['Node1', 'Node4', 'Node2', 'Node3'], config };
    const configEntry = { index: 9, term: 2, type: 'config' as const, data: encodeConfiguration({ ...config, outgoing: null }) };
    s.storage.persist({ hardState: { term: 2, vote: null, commit: 8 }, snapshot: { meta, data: new Uint8Array([1]) }, entries: [configEntry] });
    const recovered = s.reopen().recover();
    expect(recovered.snapshot?.meta).toEqual(meta);
    expect(recovered.entries).toEqual([configEntry]);
  });

  it('installing a snapshot from the leader discards the whole log', () => {
    const s = make();
    s.storage.persist({ hardState: { term: 2, vote: null, commit: 2 }, snapshot: null, entries: entries(1, 6, 2) });
    s.storage.persist({ hardState: { term: 4, vote: null, commit: 20 }, snapshot: snapshotAt(20, 4), entries: [] });
    s.storage.persist({ hardState: null, snapshot: null, entries: entries(21, 22, 4) });
    const recovered = s.reopen().recover();
    expect(recovered.offset).toBe(20);
    expect(recovered.offsetTerm).toBe(4);
    expect(recovered.entries.map((e) => e.index)).toEqual([21, 22]);
    expect(recovered.hardState.commit).toBe(20);
  });
});

describe('SQLite storage files', () => {
  /** A real state image of `keys` puts, applied by a scratch state machine. */
  function imageOf(keys: number): { data: Uint8Array; term: number } {
    const source = openNodeDatabase(tempDir(), { clusterId: 'c1', nodeId: 'Node9' }, { init: true });
    source.stateMachine.apply(Array.from({ length: keys }, (_, i) => ({ index: i + 1, term: 3, type: 'normal' as const, data: JSON.stringify({ op: 'put', key: `k${i}`, value: i }) })));
    const data = source.stateMachine.snapshot();
    source.storage.close();
    return { data, term: 3 };
  }

  it('installs a snapshot and restores the state machine in one transaction, without storing the image', () => {
    const dir = tempDir();
    const identity = { clusterId: 'c1', nodeId: 'Node1' };
    const { storage, stateMachine } = openNodeDatabase(dir, identity, { init: true });
    storage.persist({ hardState: { term: 1, vote: null, commit: 0 }, snapshot: null, entries: entries(1, 3, 1) });
    const { data, term } = imageOf(50);
    const snapshot: Snapshot = { meta: { index: 50, term, voters: ['Node1'] }, data };
    storage.atomically(() => {
      storage.persist({ hardState: { term: 3, vote: null, commit: 50 }, snapshot, entries: [], storeImage: false });
      stateMachine.restore(50, term, data);
    });
    storage.close();
    const reopened = openNodeDatabase(dir, identity);
    const recovered = reopened.storage.recover();
    // The tables are the snapshot: no image kept, log replaced, state at the snapshot's index.
    expect(recovered.snapshot).toEqual({ meta: { index: 50, term: 3, voters: ['Node1'] }, data: null });
    expect([recovered.offset, recovered.entries.length, recovered.hardState.commit]).toEqual([50, 0, 50]);
    expect(reopened.stateMachine.appliedIndex()).toBe(50);
    expect(reopened.stateMachine.get('k49')).toEqual({ key: 'k49', value: 49, index: 50 });
    reopened.storage.close();
  });

  /** Installs a truncated image at index 50 in one transaction: the restore throws and both roll back. */
  function expectTruncatedInstallRefused({ storage, stateMachine }: ReturnType<typeof openNodeDatabase>): void {
    const { data } = imageOf(50);
    const truncated = data.subarray(0, data.length - 10);
    expect(() =>
      storage.atomically(() => {
        storage.persist({ hardState: { term: 3, vote: null, commit: 50 }, snapshot: { meta: { index: 50, term: 3, voters: ['Node1'] }, data: truncated }, entries: [], storeImage: false });
        stateMachine.restore(50, 3, truncated);
      }),
    ).toThrow(/snapshot data/);
  }

  it('rolls back the log and the state machine together when the restore fails', () => {
    const dir = tempDir();
    const identity = { clusterId: 'c1', nodeId: 'Node1' };
    const { storage, stateMachine } = openNodeDatabase(dir, identity, { init: true });
    storage.persist({ hardState: { term: 1, vote: null, commit: 3 }, snapshot: null, entries: entries(1, 3, 1) });
    stateMachine.apply(entries(1, 3, 1).map((e) => (e.type === 'normal' ? { ...e, data: JSON.stringify({ op: 'put', key: `old${e.index}`, value: e.index }) } : e)));
    expectTruncatedInstallRefused({ storage, stateMachine });
    const recovered = storage.recover();
    expect([recovered.snapshot, recovered.offset, recovered.entries.map((e) => e.index), recovered.hardState.term]).toEqual([null, 0, [1, 2, 3], 1]);
    expect(stateMachine.appliedIndex()).toBe(3);
    expect(stateMachine.get('old3')?.value).toBe(3);
    storage.close();
  });

  it('after a rolled-back install, the next writes build on the state on disk, not on the install', () => {
    const dir = tempDir();
    const identity = { clusterId: 'c1', nodeId: 'Node1' };
    const { storage, stateMachine } = openNodeDatabase(dir, identity, { init: true });
    storage.persist({ hardState: { term: 1, vote: null, commit: 3 }, snapshot: null, entries: entries(1, 3, 1) });
    expectTruncatedInstallRefused({ storage, stateMachine });
    // Same connection, no recover() in between: appends, a conflicting suffix, more appends.
    storage.persist({ hardState: { term: 2, vote: 'Node1', commit: 3 }, snapshot: null, entries: entries(4, 6, 2) });
    storage.persist({ hardState: { term: 3, vote: null, commit: 4 }, snapshot: null, entries: entries(5, 5, 3) });
    storage.persist({ hardState: null, snapshot: null, entries: entries(6, 7, 3) });
    storage.close();
    const recovered = openNodeDatabase(dir, identity).storage.recover();
    expect(recovered.offset).toBe(0);
    expect(recovered.hardState).toEqual({ term: 3, vote: null, commit: 4 });
    expect(recovered.entries.map((e) => `${e.index}/${e.term}`)).toEqual(['1/1', '2/1', '3/1', '4/2', '5/3', '6/3', '7/3']);
  });

  it('runs in WAL mode at synchronous=FULL with a bounded page cache and checkpoints every WAL_AUTOCHECKPOINT_PAGES frames', () => {
    const dir = tempDir();
    const { storage } = openNodeDatabase(dir, { clusterId: 'c1', nodeId: 'Node1' }, { init: true });
    // 2 = FULL; the page cache is PAGE_CACHE_KIB, not better-sqlite3's 16 MB default; the checkpoint interval not SQLite's 1,000.
    expect(storage.settings()).toEqual({ journalMode: 'wal', synchronous: 2, pageCacheKib: PAGE_CACHE_KIB, walAutocheckpointPages: WAL_AUTOCHECKPOINT_PAGES });
    storage.close();
    // And on reopening an existing database.
    const reopened = openNodeDatabase(dir, { clusterId: 'c1', nodeId: 'Node1' }).storage;
    expect(reopened.settings().walAutocheckpointPages).toBe(WAL_AUTOCHECKPOINT_PAGES);
    reopened.close();
  });

  it('writes a leader\'s batch unsynced with no checkpoint at that commit, syncs the WAL on request, and reads it all back', async () => {
    const dir = tempDir();
    const identity = { clusterId: 'c1', nodeId: 'Node1' };
    const { storage } = openNodeDatabase(dir, identity, { init: true });
    storage.persist({ hardState: { term: 1, vote: 'Node1', commit: 0 }, snapshot: null, entries: entries(1, 1, 1) });
    // Past the checkpoint interval in unsynced commits (a page each): none of them checkpoints,
    // since a checkpoint at synchronous=OFF would sync neither file before the WAL restarts.
    const big = 'x'.repeat(3_000);
    const batches = Math.ceil((WAL_AUTOCHECKPOINT_PAGES * 1.2) / 100);
    for (let b = 0; b < batches; b++) {
      const batch = entries(2 + b * 100, 1 + (b + 1) * 100, 1).map((e) => ({ ...e, type: 'normal' as const, data: big }));
      storage.persistUnsynced({ hardState: { term: 1, vote: 'Node1', commit: b * 100 }, snapshot: null, entries: batch });
    }
    const dbBytes = (): number => statSync(join(dir, DATABASE_FILE)).size;
    const beforeCheckpoint = dbBytes();
    expect(beforeCheckpoint).toBeLessThan(1 << 20);
    expect(storage.settings()).toMatchObject({ synchronous: 2, walAutocheckpointPages: WAL_AUTOCHECKPOINT_PAGES }); // back after each write
    await new Promise<void>((resolve, reject) => storage.syncAsync((err) => (err ? reject(err) : resolve())));
    // The next synced commit checkpoints as usual (syncing the WAL first): the pages reach the database file.
    const last = 1 + batches * 100;
    storage.persist({ hardState: { term: 1, vote: 'Node1', commit: last }, snapshot: null, entries: entries(last + 1, last + 1, 1).map((e) => ({ ...e, type: 'normal' as const, data: 'tail' })) });
    expect(dbBytes()).toBeGreaterThan(beforeCheckpoint + 10 * (1 << 20));
    storage.persistUnsynced({ hardState: null, snapshot: null, entries: entries(last + 2, last + 2, 1).map((e) => ({ ...e, type: 'normal' as const, data: 'after' })) });
    storage.syncNow();
    storage.close();
    const recovered = openNodeDatabase(dir, identity).storage.recover();
    expect(recovered.entries.length).toBe(last + 2);
    expect(recovered.entries.at(-1)).toMatchObject({ index: last + 2, data: 'after' });
    expect(recovered.hardState.commit).toBe(last);
  });

  it('refuses a data dir written by another node id or another cluster', () => {
    const dir = tempDir();
    openNodeDatabase(dir, { clusterId: 'c1', nodeId: 'Node1' }, { init: true }).storage.close();
    expect(() => openNodeDatabase(dir, { clusterId: 'c1', nodeId: 'Node2' })).toThrow(/belongs to node Node1, not Node2/);
    expect(() => openNodeDatabase(dir, { clusterId: 'other', nodeId: 'Node1' })).toThrow(/belongs to cluster "c1", not "other"/);
  });

  it('stops with a clear StorageError on a corrupt file, and never resets it', () => {
    const dir = tempDir();
    const garbage = Buffer.alloc(8192, 0x5a);
    writeFileSync(join(dir, DATABASE_FILE), garbage);
    let error: unknown;
    try {
      openNodeDatabase(dir, { clusterId: 'c1', nodeId: 'Node1' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(StorageError);
    expect((error as Error).message).toMatch(/corrupt or unreadable.*refusing to start/);
    // Still the same bytes: nothing was "repaired" by starting over.
    expect(Buffer.compare(readFileSync(join(dir, DATABASE_FILE)), garbage)).toBe(0);
  });

  it('refuses a log with a gap instead of trusting it', () => {
    const dir = tempDir();
    const { storage } = openNodeDatabase(dir, { clusterId: 'c1', nodeId: 'Node1' }, { init: true });
    storage.persist({ hardState: { term: 1, vote: null, commit: 0 }, snapshot: null, entries: entries(1, 5, 1) });
    storage.close();
    const raw = new Database(join(dir, DATABASE_FILE));
    raw.prepare('DELETE FROM raft_log WHERE idx = 3').run();
    raw.close();
    const reopened = openNodeDatabase(dir, { clusterId: 'c1', nodeId: 'Node1' }).storage;
    expect(() => reopened.recover()).toThrow(/gap \(expected entry 3, found 4\)/);
    reopened.close();
  });
});
