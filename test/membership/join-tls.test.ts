import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureClusterCerts, nodeTlsPaths } from '../../src/cli/certs.js';
import { httpGet, httpSend } from '../../src/cli/http-get.js';
import { REPO_ROOT, waitFor } from '../support/cluster.js';
import { stopProcessGroup } from '../support/stop-group.js';

/**
 * `raftquotes node --join https://...` against a `cluster --tls` cluster (SPEC §7, §9): the
 * joining node verifies the cluster's HTTPS certificate with its own --tls-ca and presents its
 * certificate, is added as a learner, catches up, is promoted, and serves writes that the
 * others read back. Ports 11000-11299 (this file's range), 127.0.0.1 only. Run under the
 * cluster lock.
 */

const MAIN_JS = join(REPO_ROOT, 'dist/cli/main.js');
const HTTP_BASE = 11000;
const RAFT_BASE = 11100;
const CONTROLLER_BASE = 11200;
const STEP_MS = 60_000;

let dataDir: string;
let clusterProcess: ChildProcess;
let joiner: ChildProcess | undefined;
let output = '';

const tlsDir = (): string => join(dataDir, 'tls');
const ca = (): Buffer => readFileSync(join(tlsDir(), 'ca.crt'));
const https = (i: number): string => `https://127.0.0.1:${HTTP_BASE + i}`;
const getJson = async (url: string): Promise<any> => {
  const res = await httpGet(url, { ca: ca(), timeoutMs: 2_000 });
  return { status: res.status, body: JSON.parse(res.body) as unknown };
};

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'raftquotes-join-tls-'));
  clusterProcess = spawn(process.execPath, [MAIN_JS, 'cluster', '--tls', '--nodes', '3', '--data-dir', dataDir, '--http-base', String(HTTP_BASE), '--raft-base', String(RAFT_BASE), '--controller-base', String(CONTROLLER_BASE)], { cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  clusterProcess.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  clusterProcess.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  await waitFor('cluster.json', () => existsSync(join(dataDir, 'cluster.json')), STEP_MS);
  await waitFor('a leader over HTTPS', async () => (await getJson(`${https(1)}/api/status`).catch(() => null))?.body?.leader, STEP_MS);
}, STEP_MS * 2);

afterAll(async () => {
  if (joiner?.pid && joiner.exitCode === null) joiner.kill('SIGKILL');
  await stopProcessGroup(clusterProcess);
  rmSync(dataDir, { recursive: true, force: true });
}, 30_000);

describe('node --join over HTTPS (cluster --tls)', () => {
  it('joins with its own CA, catches up, is promoted, and serves a write the others read back', async () => {
    // Writes before the join, so the new node has a log to catch up on.
    for (let i = 0; i < 20; i++) {
      const res = await httpSend(`${https(1)}/api/kv/before${i}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: i }), ca: ca(), timeoutMs: 5_000 });
      expect(res.status, res.body).toBe(200);
    }
    // Node4's certificate, signed by the cluster's CA (the runbook: `cluster --tls --nodes 4` or `certs`).
    ensureClusterCerts(tlsDir(), ['Node4'], ['127.0.0.1', 'localhost']);
    const tls = nodeTlsPaths(tlsDir(), 'Node4');
    const clusterId = (JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as { clusterId: string }).clusterId;
    joiner = spawn(process.execPath, [
      MAIN_JS, 'node', '--id', 'Node4', '--join', https(2), '--data-dir', join(dataDir, 'Node4'),
      '--raft', `127.0.0.1:${RAFT_BASE + 4}`, '--http', `127.0.0.1:${HTTP_BASE + 4}`, '--controller', `127.0.0.1:${CONTROLLER_BASE + 4}`,
      '--secret-file', join(dataDir, 'secret'), '--cluster-id', clusterId,
      '--tls-cert', tls.cert, '--tls-key', tls.key, '--tls-ca', tls.ca, '--http-tls-cert', tls.cert, '--http-tls-key', tls.key,
    ], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RAFTQUOTES_TLS_CA: '' } });
    joiner.stdout?.on('data', (c: Buffer) => (output += `Node4 | ${c.toString()}`));
    joiner.stderr?.on('data', (c: Buffer) => (output += `Node4 | ${c.toString()}`));

    await waitFor('Node4 a voter', async () => {
      if (joiner?.exitCode !== null) throw new Error(`Node4 exited with ${joiner?.exitCode}:\n${output.slice(-3_000)}`);
      const members = await getJson(`${https(1)}/api/members`).catch(() => null);
      return members?.body?.voters?.some((m: { id: string; http: string }) => m.id === 'Node4' && m.http === https(4));
    }, STEP_MS);
    const status = (await getJson(`${https(4)}/api/status`)).body;
    expect(['follower', 'leader']).toContain(status.state);
    expect((await getJson(`${https(4)}/api/kv/before19`)).body.value).toBe(19);

    const put = await httpSend(`${https(4)}/api/kv/through-node4`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: 'joined over https' }), ca: ca(), timeoutMs: 10_000 });
    expect(put.status, put.body).toBe(200);
    for (const i of [1, 2, 3]) {
      await waitFor(`Node${i} reads the write made through Node4`, async () => (await getJson(`${https(i)}/api/kv/through-node4`).catch(() => null))?.body?.value === 'joined over https', 10_000);
    }
    expect(output).toContain('promoted to voter');
  }, STEP_MS * 2);
});
