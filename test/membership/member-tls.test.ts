import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from '../../src/cli/http-get.js';
import { REPO_ROOT, waitFor } from '../support/cluster.js';
import { stopProcessGroup } from '../support/stop-group.js';

/**
 * `raftquotes member` against a `cluster --tls` (HTTPS for clients, SPEC §7 and §9): it trusts
 * the cluster's CA (found beside cluster.json, or --ca), and refuses a node it cannot verify.
 * Ports 29500-29799 (this file's range), 127.0.0.1 only. Run under the cluster lock.
 */

const MAIN_JS = join(REPO_ROOT, 'dist/cli/main.js');
const HTTP_BASE = 29500;
const STEP_MS = 60_000;

let dataDir: string;
let clusterProcess: ChildProcess;
let output = '';

function member(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; out: string } {
  const result = spawnSync(process.execPath, [MAIN_JS, 'member', ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } });
  return { code: result.status, out: `${result.stdout}${result.stderr}` };
}

const ca = (): Buffer => readFileSync(join(dataDir, 'tls', 'ca.crt'));
const https = (i: number): string => `https://127.0.0.1:${HTTP_BASE + i}`;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'raftquotes-member-tls-'));
  clusterProcess = spawn(process.execPath, [MAIN_JS, 'cluster', '--tls', '--nodes', '3', '--data-dir', dataDir, '--http-base', String(HTTP_BASE), '--raft-base', '29600', '--controller-base', '29700'], { cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  clusterProcess.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  clusterProcess.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  await waitFor('cluster.json', () => existsSync(join(dataDir, 'cluster.json')), STEP_MS);
  await waitFor('a leader over HTTPS', async () => {
    const res = await httpGet(`${https(1)}/api/status`, { ca: ca(), timeoutMs: 1_000 }).catch(() => null);
    return res?.status === 200 && (JSON.parse(res.body) as { leader: string | null }).leader !== null;
  }, STEP_MS);
}, STEP_MS * 2);

afterAll(async () => {
  await stopProcessGroup(clusterProcess);
  rmSync(dataDir, { recursive: true, force: true });
}, 30_000);

describe('raftquotes member over HTTPS (cluster --tls)', () => {
  it('lists the members, trusting the CA beside cluster.json', () => {
    const { code, out } = member(['list', '--cluster-file', join(dataDir, 'cluster.json')]);
    expect(out).toMatch(/Node1\s+voter/);
    expect(out).toMatch(/Node3\s+voter/);
    expect(out).toContain('https://');
    expect(code, out + output.slice(-2_000)).toBe(0);
  });

  it('with --via and --ca (or RAFTQUOTES_TLS_CA), changes membership: a refusal, then a removal', () => {
    const caFile = join(dataDir, 'tls', 'ca.crt');
    const refused = member(['remove', 'Node9', '--via', https(2), '--ca', caFile, '--cluster-file', '/nonexistent/cluster.json']);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toContain('changes[0].id');
    const removed = member(['remove', 'Node3', '--via', https(2), '--cluster-file', '/nonexistent/cluster.json'], { RAFTQUOTES_TLS_CA: caFile });
    expect(removed.out, output.slice(-2_000)).toContain('voters now Node1, Node2');
    expect(removed.code).toBe(0);
  });

  it('refuses a node whose certificate it cannot verify, in one line', () => {
    const { code, out } = member(['list', '--via', https(1), '--cluster-file', '/nonexistent/cluster.json']);
    expect(code).not.toBe(0);
    expect(out).toMatch(/cannot reach https:\/\/127\.0\.0\.1:29501.*(certificate|self.signed)/i);
    expect(out).not.toMatch(/\n\s+at /); // no stack trace
  });
});
