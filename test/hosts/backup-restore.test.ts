import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKUP_FORMAT, BACKUP_TRAILER_BYTES, parseBackup } from '../../src/state/backup-file.js';
import { decodeStateImage } from '../../src/state/snapshot-codec.js';
import { agent, call, cli, cliAsync, NodeProcs, type CliResult } from './node-procs.js';

/**
 * Backup and restore (SPEC §10, issue 18) on real processes, 127.0.0.1 only, ports
 * 30100-30199: 100,000 keys written under load by many concurrent clients spread over all
 * three nodes, a streamed backup taken through a follower during the load, every node of a
 * new 3-node cluster restored from it, and every key compared at the backup's index; then the
 * new cluster takes new writes.
 */

/** Keys to write (issue 18), by this many concurrent closed-loop clients. */
const TARGET_KEYS = 100_000;
const CONCURRENCY = 192;
/** A bound, not a goal: the load stops here if the machine is too slow for all the keys. */
const LOAD_BUDGET_MS = 150_000;
const SECRET = 'backup-restore-secret-0123456789';
const NEW_SECRET = 'restored-cluster-secret-987654321';
const IDS = ['Node1', 'Node2', 'Node3'];

describe('backup and restore (SPEC §10)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rq-backup-'));
  const source = new NodeProcs(join(dir, 'source'), 30100, SECRET, IDS);
  const restored = new NodeProcs(join(dir, 'restored'), 30150, NEW_SECRET, IDS);
  const backupFile = join(dir, 'state.backup');
  /** key → [value, index] of every acknowledged write. */
  const written = new Map<string, [number, number]>();
  const report: Record<string, unknown> = {};
  let ackedBeforeBackup: string[] = [];
  let backupIndex = 0;

  beforeAll(async () => {
    source.startAll(() => ['--init', '--rate-limit', '0']);
    await source.leader();
  }, 60_000);

  afterAll(async () => {
    await source.stopAll();
    await restored.stopAll();
    agent.destroy();
    rmSync(dir, { recursive: true, force: true });
    console.log(`backup-restore: ${JSON.stringify(report)}`);
  }, 30_000);

  it('backs up through a follower while keys are written under load', async () => {
    const leader = await source.leader();
    const follower = source.ids.find((id) => id !== leader) as string;
    const started = Date.now();
    let next = 0;
    let backup: Promise<CliResult> | null = null;
    // Clients spread over the three nodes, as behind a load balancer: followers forward to the leader.
    const writer = async (client: number): Promise<void> => {
      const via = source.http(IDS[client % IDS.length] as string);
      while (next < TARGET_KEYS && Date.now() - started < LOAD_BUDGET_MS) {
        const n = next++;
        const key = `key-${n}`;
        const answer = await call('PUT', `${via}/api/kv/${key}`, { value: n }).catch(() => null);
        if (answer?.status === 200) written.set(key, [n, answer.body.index as number]); // a failed write is not acknowledged
        if (backup === null && (written.size >= TARGET_KEYS / 2 || Date.now() - started >= LOAD_BUDGET_MS / 2)) {
          ackedBeforeBackup = [...written.keys()];
          backup = cliAsync(['backup', '--out', backupFile, '--via', source.http(follower)]);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, (_, client) => writer(client)));
    const loadMs = Date.now() - started;
    report.keysWritten = written.size;
    report.loadMs = loadMs;
    report.writesPerSecond = Math.round((written.size / loadMs) * 1000);
    expect(backup, `only ${written.size} keys written, the backup never started`).not.toBeNull();
    const result = await (backup as Promise<CliResult> | null as Promise<CliResult>);
    expect(result.stderr.trim().split('\n').pop(), result.stderr).toMatch(/^\r?backup of index \d+: [\d.]+ MiB received/);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^backup of index \d+ \(term \d+, from Node\d\) saved to /);
    expect(statSync(backupFile).mode & 0o777).toBe(0o600);
    expect(existsSync(`${backupFile}.tmp`)).toBe(false);
    const { header, image } = parseBackup(readFileSync(backupFile));
    backupIndex = header.index;
    report.backupBytes = statSync(backupFile).size;
    report.backupMs = result.ms;
    report.backupIndex = header.index;
    expect(header).toMatchObject({ format: BACKUP_FORMAT, sourceNode: follower, voters: source.ids });
    // Every write acknowledged before the backup began is in it.
    const kv = new Set(decodeStateImage(image).kv.map(([key]) => key));
    const missing = ackedBeforeBackup.filter((key) => !kv.has(key));
    expect(missing).toEqual([]);
    // Taken during the load: writes acknowledged after it began are past its index.
    report.writtenAfterBackupIndex = [...written.values()].filter(([, index]) => index > header.index).length;
    expect(report.writtenAfterBackupIndex).toBeGreaterThan(0);
  }, 180_000);

  it('refuses a truncated file, a file that is not a backup and a newer format, writing nothing', () => {
    const data = readFileSync(backupFile);
    const cases: Array<[string, Buffer, RegExp]> = [
      ['truncated', data.subarray(0, data.length - 1000), /truncated backup: \d+ bytes and no end marker/],
      ['cut-in-the-trailer', data.subarray(0, data.length - BACKUP_TRAILER_BYTES / 2), /truncated backup/],
      ['not-a-backup', Buffer.from('{"hello": "world"}\n'), /not a raftquotes backup/],
      ['newer', withFormat(data, BACKUP_FORMAT + 1), /backup format 3 is newer than this raftquotes reads \(2\)/],
    ];
    for (const [name, bytes, message] of cases) {
      const file = join(dir, `${name}.backup`);
      writeFileSync(file, bytes);
      const target = join(dir, `refused-${name}`);
      const r = cli(['restore', file, '--data-dir', target, '--id', 'Node1', '--peers', restored.peers()]);
      expect(r.status, name).not.toBe(0);
      expect(r.stderr.trim().split('\n'), name).toHaveLength(1);
      expect(r.stderr, name).toMatch(message);
      expect(r.stderr, name).toMatch(/nothing was written/);
      expect(existsSync(target), name).toBe(false);
    }
  });

  it('restores every node of a new 3-node cluster from the file; every key is there at the backup index, and new writes continue', async () => {
    const times: number[] = [];
    for (const id of restored.ids) {
      const r = cli(['restore', backupFile, '--data-dir', restored.dataDir(id), '--id', id, '--peers', restored.peers()]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^restored ${id} of cluster "restored-[0-9a-f]{16}" into `));
      times.push(r.ms);
    }
    report.restoreMs = times;
    // A second restore into a used data dir is refused.
    const again = cli(['restore', backupFile, '--data-dir', restored.dataDir('Node1'), '--id', 'Node1', '--peers', restored.peers()]);
    expect(again.status).not.toBe(0);
    expect(again.stderr).toMatch(/is not empty/);
    // No --init, no --cluster-id: the restore was the init step, and the marker holds the id.
    restored.startAll();
    const leader = await restored.leader();
    const copy = await call('GET', `${restored.http(leader)}/api/backup`, undefined, 60_000);
    expect(copy.status).toBe(200);
    const original = decodeStateImage(parseBackup(readFileSync(backupFile)).image);
    const now = decodeStateImage(parseBackup(copy.raw).image);
    expect(now.appliedIndex).toBeGreaterThanOrEqual(backupIndex);
    // Every key, compared with what the clients were told: present iff written at or before the backup's index.
    const expected = [...written.entries()].filter(([, [, index]]) => index <= backupIndex).map(([key, [value, index]]) => [key, JSON.stringify(value), index]);
    expected.sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : 1));
    expect(now.kv.length).toBe(expected.length);
    expect(now.kv).toEqual(expected);
    expect(now.kv).toEqual(original.kv);
    report.keysInBackup = expected.length;
    // Served through the API too (a sample), and new writes continue after the backup's index.
    for (const [key, [value]] of [...written.entries()].filter(([, [, index]]) => index <= backupIndex).slice(0, 50)) {
      const read = await call('GET', `${restored.http('Node2')}/api/kv/${key}`);
      expect(read.body).toMatchObject({ key, value });
    }
    const put = await call('PUT', `${restored.http(leader)}/api/kv/after-restore`, { value: 'new' });
    expect(put.status).toBe(200);
    expect(put.body.index).toBeGreaterThan(backupIndex);
    const follower = restored.ids.find((id) => id !== leader) as string;
    expect((await call('GET', `${restored.http(follower)}/api/kv/after-restore`)).body).toMatchObject({ value: 'new' });
    // The old cluster's nodes are another cluster: its id is not the new one's.
    expect(readFileSync(join(restored.dataDir('Node1'), 'node-identity.json'), 'utf8')).toMatch(/"clusterId": "restored-[0-9a-f]{16}"/);
  }, 180_000);
});

/** The same backup with its header's format number changed (the image untouched). */
function withFormat(data: Buffer, format: number): Buffer {
  const headerBytes = data.readUInt32BE(8);
  const header = JSON.parse(data.subarray(12, 12 + headerBytes).toString('utf8')) as Record<string, unknown>;
  const json = Buffer.from(JSON.stringify({ ...header, format }), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length, 0);
  return Buffer.concat([data.subarray(0, 8), length, json, data.subarray(12 + headerBytes)]);
}
