import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { rawRequest } from '../support/raw-http.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, sleep, waitFor, type ClusterNode } from '../support/cluster.js';

/**
 * `raftquotes cluster --tls` on real processes (SPEC §7, issue 15 "Mutual TLS"): certificates
 * made under <data-dir>/tls, peers over mutual TLS, clients over HTTPS trusting the CA; the
 * board takes a quote, survives kill -9 of the leader, and status and ctl work against it.
 * Ports 25400-25429.
 *
 * Needs the TLS transport and the HTTPS API (other branches of issue 15): it passes once
 * those are merged. Before that the nodes serve plain HTTP and `cluster` never sees them
 * healthy over HTTPS.
 */
const MAIN_JS = join(REPO_ROOT, 'dist/cli/main.js');
const PORTS = { http: 25400, raft: 25410, controller: 25420 };

/** JSON over HTTPS trusting `ca` (fetch in Node 20 cannot take a CA). */
/** One HTTPS request trusting `ca` (none: the system's CAs only), answered as status and parsed body. */
async function https(method: string, url: string, ca: Buffer | undefined, body?: unknown): Promise<{ status: number; body: any }> {
  const payload = body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } };
  const answer = await rawRequest(method, url, { ...(ca ? { ca: ca.toString() } : {}), timeoutMs: 3_000, ...payload });
  return { status: answer.status, body: answer.json ?? answer.text };
}

describe('raftquotes cluster --tls', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rq-tls-cluster-'));
  let cluster: ChildProcess;
  let output = '';
  let nodes: ClusterNode[] = [];
  let ca: Buffer;
  const dead = new Set<string>();

  const status = async (node: ClusterNode): Promise<any> => (await https('GET', `${node.http}/api/status`, ca)).body;
  const leaderAmong = (among: ClusterNode[]): Promise<ClusterNode> =>
    waitFor('a leader over HTTPS', async () => {
      const statuses = await Promise.all(among.map((n) => status(n).catch(() => null)));
      const leaders = statuses.filter((s) => s?.state === 'leader');
      if (leaders.length !== 1) return undefined;
      const agreeing = statuses.filter((s) => s?.leader === leaders[0].id && s?.term === leaders[0].term).length;
      return agreeing > nodes.length / 2 ? among.find((n) => n.id === leaders[0].id) : undefined;
    }, 20_000, 100);

  beforeAll(async () => {
    const args = [MAIN_JS, 'cluster', '--tls', '--nodes', '5', '--data-dir', dataDir, '--http-base', String(PORTS.http), '--raft-base', String(PORTS.raft), '--controller-base', String(PORTS.controller)];
    cluster = spawn(process.execPath, args, { cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    cluster.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    cluster.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    await waitFor('cluster.json', () => {
      if (cluster.exitCode !== null) throw new Error(`cluster exited with ${cluster.exitCode}:\n${output.slice(-3_000)}`);
      return existsSync(join(dataDir, 'cluster.json'));
    }, 60_000, 100);
    nodes = (JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as { nodes: ClusterNode[] }).nodes;
    ca = readFileSync(join(dataDir, 'tls', 'ca.crt'));
  }, 90_000);

  afterAll(async () => {
    if (cluster?.pid && cluster.exitCode === null) {
      const exited = new Promise((r) => cluster.once('exit', r));
      try {
        process.kill(-cluster.pid, 'SIGKILL');
      } catch {
        // gone
      }
      await Promise.race([exited, sleep(3_000)]);
    }
    for (const node of nodes) {
      try {
        process.kill(node.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('made the CA and node certificates under <data-dir>/tls, keys 0600, and put their paths (only) in argv', () => {
    expect(statSync(join(dataDir, 'tls')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, 'tls', 'ca.key')).mode & 0o777).toBe(0o600);
    for (const node of nodes) {
      expect(node.http).toBe(`https://127.0.0.1:${PORTS.http + Number(node.id.slice(4))}`);
      expect(statSync(join(dataDir, 'tls', `${node.id}.key`)).mode & 0o777).toBe(0o600);
      const flag = (name: string): string | undefined => node.argv[node.argv.indexOf(name) + 1];
      expect(flag('--tls-cert')).toBe(join(dataDir, 'tls', `${node.id}.crt`));
      expect(flag('--tls-ca')).toBe(join(dataDir, 'tls', 'ca.crt'));
      expect(flag('--http-tls-key')).toBe(join(dataDir, 'tls', `${node.id}.key`));
      expect(flag('--secret-file')).toBe(join(dataDir, 'secret'));
    }
  });

  it('serves the board over HTTPS only: a client that does not trust the CA, or speaks plain HTTP, gets nothing', async () => {
    const node = nodes[0] as ClusterNode;
    await expect(https('GET', `${node.http}/healthz`, undefined)).rejects.toThrow(/certificate/i);
    await expect(fetch(`${node.http.replace('https:', 'http:')}/healthz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status)).rejects.toThrow();
    expect((await https('GET', `${node.http}/healthz`, ca)).status).toBe(200);
  });

  it('takes a quote over HTTPS, replicates it, and a new leader takes writes after kill -9 of the leader', async () => {
    const leader = await leaderAmong(nodes);
    const first = await https('POST', `${leader.http}/api/quotes`, ca, { text: 'Trust, but verify the certificate.', author: 'tls test' });
    expect(first.status).toBe(201);
    // A follower serves it too (it replicated over mutual TLS), and forwards a write over HTTPS.
    const follower = nodes.find((n) => n.id !== leader.id) as ClusterNode;
    await waitFor('the quote on a follower', async () => JSON.stringify((await https('GET', `${follower.http}/api/quotes`, ca)).body).includes('Trust, but verify'), 10_000, 100);
    expect((await https('POST', `${follower.http}/api/quotes`, ca, { text: 'Forwarded over HTTPS.', author: 'tls test' })).status).toBe(201);

    process.kill(leader.pid, 'SIGKILL');
    dead.add(leader.id);
    const survivors = nodes.filter((n) => !dead.has(n.id));
    const next = await leaderAmong(survivors);
    expect(next.id).not.toBe(leader.id);
    const after = await https('POST', `${next.http}/api/quotes`, ca, { text: 'The cluster outlived its leader.', author: 'tls test' });
    expect(after.status).toBe(201);
    const list = JSON.stringify((await https('GET', `${(survivors.find((n) => n.id !== next.id) as ClusterNode).http}/api/quotes`, ca)).body);
    for (const text of ['Trust, but verify', 'Forwarded over HTTPS', 'outlived its leader']) expect(list).toContain(text);
  }, 60_000);

  it('raftquotes status reads every node over HTTPS trusting <data-dir>/tls/ca.crt, and ctl works', () => {
    const r = spawnSync(process.execPath, [MAIN_JS, 'status', '--cluster-file', join(dataDir, 'cluster.json')], { encoding: 'utf8', timeout: 15_000 });
    expect(r.status).toBe(0);
    // A header, one row per node (node, role, state, ...), then the configuration line.
    const rows = r.stdout.trim().split('\n').filter((line) => /^Node\d/.test(line));
    expect(rows).toHaveLength(5);
    expect(rows.filter((row) => row.split(/\s+/)[2] === 'leader')).toHaveLength(1);
    expect(r.stdout).toMatch(/^configuration \d+: voters (Node\d,){4}Node\d;/m);
    for (const id of dead) expect(rows.find((row) => row.startsWith(id))).toMatch(/down/);
    const ctl = spawnSync(process.execPath, [MAIN_JS, 'ctl', 'LEADER_INFO', '--cluster-file', join(dataDir, 'cluster.json')], { encoding: 'utf8', timeout: 15_000 });
    expect(ctl.status).toBe(0);
    expect(ctl.stdout).toMatch(/"request":"LEADER_INFO"/);
  }, 30_000);
});
