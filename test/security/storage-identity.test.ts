import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { http, REPO_ROOT, TestCluster, waitFor } from '../support/cluster.js';

// Issue 15, finding 10 (SPEC §5): a node whose database file was deleted started empty, so it
// could vote twice in one term. The attack: delete a node's database (keeping the rest of its
// data dir) and restart it from its usual argv. It must be refused with one clear line, and a
// new node must be made only by an explicit init step.
// Ports 22000-22999 (this area's range), loopback only.

const MAIN_JS = join(REPO_ROOT, 'dist/cli/main.js');
const SECRET = 'storage-identity-test-secret-0123456789';
const DB_FILES = ['raftquotes.db', 'raftquotes.db-wal', 'raftquotes.db-shm'];
/** A refused start exits at once; this only bounds a node that wrongly starts. */
const REFUSAL_TIMEOUT_MS = 20_000;

const dirs: string[] = [];
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function deleteDatabase(dataDir: string): void {
  for (const file of DB_FILES) rmSync(join(dataDir, file), { force: true });
}

/** Runs a node to completion (it is expected to refuse); returns its exit and stderr lines. */
function runRefused(argv: string[]): { status: number | null; lines: string[] } {
  const [cmd, ...args] = argv as [string, ...string[]];
  const result = spawnSync(cmd, args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: REFUSAL_TIMEOUT_MS, env: { ...process.env, RAFTQUOTES_SECRET: SECRET } });
  return { status: result.status, lines: result.stderr.trim().split('\n') };
}

describe('a node whose database was deleted is refused, never started empty', () => {
  it('raftquotes node --init: stop, delete the database, restart from the same argv (--init included)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rq-sec-storage-'));
    dirs.push(dataDir);
    const argv = [
      process.execPath, MAIN_JS, 'node', '--id', 'Node1', '--peers', 'Node1=127.0.0.1:22302', '--data-dir', dataDir,
      '--http', '127.0.0.1:22301', '--raft', '127.0.0.1:22302', '--controller', '127.0.0.1:22303', '--log-level', 'warn', '--init',
    ];
    const [cmd, ...args] = argv as [string, ...string[]];
    const child = spawn(cmd, args, { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RAFTQUOTES_SECRET: SECRET } });
    children.add(child);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // A one-node cluster elects itself; a committed write gives it a term, a vote and a log.
    await waitFor('a committed write', async () => (await http('PUT', 'http://127.0.0.1:22301/api/kv/motto', { value: 'keep going' }, {}, 1_000)).status < 300, 20_000, 100);
    child.kill('SIGTERM');
    await exited;
    expect(readdirSync(dataDir)).toContain('node-identity.json');

    deleteDatabase(dataDir);
    const { status, lines } = runRefused(argv);
    expect(status, "a refused start exits non-zero (null: it did not exit at all)").toBeGreaterThan(0);
    expect(lines).toEqual([expect.stringMatching(/^raftquotes: data dir .* belongs to Node1 of cluster "raftquotes".*raftquotes\.db is missing; refusing to start empty/)]);
    expect(existsSync(join(dataDir, 'raftquotes.db')), '--init must never re-create a database next to a marker').toBe(false);
  });

  it('raftquotes node without --init refuses an empty data dir and says to pass --init', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rq-sec-storage-'));
    dirs.push(dataDir);
    const { status, lines } = runRefused([
      process.execPath, MAIN_JS, 'node', '--id', 'Node1', '--peers', 'Node1=127.0.0.1:22312', '--data-dir', dataDir,
      '--http', '127.0.0.1:22311', '--raft', '127.0.0.1:22312', '--controller', '127.0.0.1:22313',
    ]);
    expect(status, "a refused start exits non-zero (null: it did not exit at all)").toBeGreaterThan(0);
    expect(lines).toEqual([expect.stringMatching(/^raftquotes: data dir .* is not initialized .*pass --init \(RAFTQUOTES_INIT=true\)/)]);
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('raftquotes cluster: a node restarted from its cluster.json argv after losing its database is refused', async () => {
    const cluster = await TestCluster.start({ nodes: 3, httpBase: 22000, raftBase: 22100, controllerBase: 22200 });
    try {
      await cluster.waitForLeader();
      const node = cluster.node('Node2');
      expect(node.argv).not.toContain('--init');
      cluster.kill9('Node2');
      await waitFor('Node2 to exit', () => {
        try {
          process.kill(node.pid, 0);
          return false;
        } catch {
          return true;
        }
      }, 5_000);
      deleteDatabase(node.dataDir);
      const { status, lines } = runRefused(node.argv);
      expect(status, "a refused start exits non-zero (null: it did not exit at all)").toBeGreaterThan(0);
      expect(lines).toEqual([expect.stringMatching(/^raftquotes: data dir .*Node2 belongs to Node2 of cluster "rq-.*raftquotes\.db is missing; refusing to start empty/)]);
      expect(existsSync(join(node.dataDir, 'raftquotes.db'))).toBe(false);
    } finally {
      await cluster.stop();
    }
  });
});
