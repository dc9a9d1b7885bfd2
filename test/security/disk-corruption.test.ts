import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_FILE } from '../../src/storage/sqlite-storage.js';
import { http, isAlive, REPO_ROOT, sleep, TestCluster, waitFor } from '../support/cluster.js';

/**
 * Issue 15, finding 10, as it was found: "one flipped byte in a value passed quick_check, and
 * the node served the corrupted value". Here the byte is flipped in the database FILE of a
 * stopped follower (not through SQL), once inside a Raft log entry and once inside a state
 * row. SQLite's own quick_check still says ok; the node must detect the flip on read (the
 * per-row CRC-32), name the index or key, and stop instead of serving it.
 * Ports 10400-10699 (HTTP 10400+i, Raft 10500+i, controller 10600+i), 127.0.0.1 only.
 * Run under the cluster lock: flock /tmp/rq-cluster.lock npx vitest run <file>
 */
const PORTS = { httpBase: 10400, raftBase: 10500, controllerBase: 10600 };
/** A refused start exits at once; this only bounds a node that wrongly keeps running. */
const REFUSAL_TIMEOUT_MS = 20_000;

/** Moves the WAL into the database file, so every row is in the file we flip bytes in. */
function checkpoint(path: string): void {
  const db = new Database(path);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

function quickCheck(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    return String(db.pragma('quick_check', { simple: true }));
  } finally {
    db.close();
  }
}

/**
 * Flips one bit of `canary` in the file, at the first occurrence where `landedIn` (a plain
 * SQL read, no checksum) then sees the changed text: that is the row the test aims at. Other
 * occurrences (the same text in another table, or a free page) are put back untouched.
 * Returns the changed text.
 */
function flipByteIn(path: string, canary: string, landedIn: (db: Database.Database, changed: string) => boolean): string {
  const original = readFileSync(path);
  const needle = Buffer.from(canary, 'utf8');
  const changed = `${canary.slice(0, 4)}${String.fromCharCode(canary.charCodeAt(4) ^ 0x01)}${canary.slice(5)}`;
  for (let at = original.indexOf(needle); at >= 0; at = original.indexOf(needle, at + 1)) {
    const copy = Buffer.from(original);
    copy[at + 4] = (copy[at + 4] as number) ^ 0x01;
    writeFileSync(path, copy);
    const db = new Database(path, { readonly: true });
    try {
      if (landedIn(db, changed)) return changed;
    } finally {
      db.close();
    }
  }
  writeFileSync(path, original);
  throw new Error(`no occurrence of ${canary} in ${path} landed in the target rows`);
}

describe('a byte flipped in the database file is detected on read (finding 10)', () => {
  let cluster: TestCluster;
  let leader: string;
  let followers: [string, string];
  const url = (id: string, path: string): string => `${cluster.node(id).http}${path}`;
  const dbPath = (id: string): string => join(cluster.node(id).dataDir, DATABASE_FILE);

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 3, ...PORTS });
    leader = await cluster.waitForLeader();
    followers = cluster.nodes.map((n) => n.id).filter((id) => id !== leader) as [string, string];
  }, 60_000);
  afterAll(async () => cluster?.stop());

  /** Writes key=value through the leader and waits until every node in `on` applied it. */
  async function writeEverywhere(key: string, value: string, on: string[]): Promise<number> {
    const res = await http('PUT', url(leader, `/api/kv/${key}`), { value });
    expect(res.status).toBe(200);
    const index = Number(res.headers.get('x-raft-index'));
    await waitFor(`${on.join(', ')} applied ${index}`, async () => (await Promise.all(on.map((id) => cluster.status(id)))).every((s) => s.appliedIndex >= index), 15_000, 100);
    return index;
  }

  it('a flipped byte inside a log entry: quick_check says ok, the node refuses to start and names the entry', async () => {
    const index = await writeEverywhere('log-victim', 'canary-in-the-log-0001', [leader, ...followers]);
    const victim = followers[0];
    cluster.kill9(victim);
    await sleep(300);
    checkpoint(dbPath(victim));
    const changed = flipByteIn(dbPath(victim), 'canary-in-the-log-0001', (db, text) =>
      (db.prepare('SELECT COUNT(*) AS n FROM raft_log WHERE idx = ? AND instr(data, ?) > 0').get(index, text) as { n: number }).n === 1);
    expect(changed).not.toBe('canary-in-the-log-0001');
    expect(quickCheck(dbPath(victim)), 'SQLite itself does not see the flip').toBe('ok');

    // Restarted from its own argv (as `cluster` or a supervisor would): it must stop, not serve.
    const [cmd, ...args] = cluster.node(victim).argv as [string, ...string[]];
    const run = spawnSync(cmd, args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: REFUSAL_TIMEOUT_MS });
    const said = `${run.stdout}${run.stderr}`;
    expect(run.status, `a refused start exits non-zero (null: it kept running)\n${said.slice(-2000)}`).toBeGreaterThan(0);
    expect(said).toMatch(new RegExp(`checksum mismatch in log entry ${index}\\b`));
    expect(said).not.toContain(changed);
    // The other two still make a majority and serve the intact value.
    const read = await http('GET', url(leader, '/api/kv/log-victim'));
    expect(read.body.value).toBe('canary-in-the-log-0001');
  }, 60_000);

  it('a flipped byte inside a state row: quick_check says ok, the node never serves the changed value and stops naming the key', async () => {
    await writeEverywhere('row-victim', 'canary-in-the-row-0002', [leader, followers[1]]);
    const victim = followers[1];
    cluster.kill9(victim);
    await sleep(300);
    checkpoint(dbPath(victim));
    const changed = flipByteIn(dbPath(victim), 'canary-in-the-row-0002', (db, text) =>
      (db.prepare("SELECT COUNT(*) AS n FROM sm_kv WHERE key = 'row-victim' AND instr(value, ?) > 0").get(text) as { n: number }).n === 1);
    expect(quickCheck(dbPath(victim)), 'SQLite itself does not see the flip').toBe('ok');

    // It starts (a state row is checked when it is read), and the first read of the row stops it.
    await cluster.restart(victim);
    const read = await http('GET', url(victim, '/api/kv/row-victim?consistency=stale')).catch(() => null);
    expect(read?.status).not.toBe(200);
    expect(JSON.stringify(read?.body ?? '')).not.toContain(changed);
    await waitFor(`${victim} to stop`, async () => (await http('GET', url(victim, '/healthz'), undefined, {}, 500).catch(() => null)) === null, 10_000, 100);
    expect(cluster.output).toMatch(/checksum mismatch in kv key \\?"row-victim\\?"/);
    expect(isAlive(cluster.node(leader).pid)).toBe(true);
  }, 60_000);
});
