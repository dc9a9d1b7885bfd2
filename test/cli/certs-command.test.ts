import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureClusterCerts } from '../../src/cli/certs.js';
import { REPO_ROOT } from '../support/cluster.js';

/** `raftquotes certs` as a user runs it (SPEC §1, §7). */
const MAIN_JS = join(REPO_ROOT, 'dist/cli/main.js');
const scratch = mkdtempSync(join(tmpdir(), 'rq-certs-cmd-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const certs = (...args: string[]): { status: number | null; stdout: string; stderr: string } =>
  spawnSync(process.execPath, [MAIN_JS, 'certs', ...args], { encoding: 'utf8', timeout: 60_000 });

describe('raftquotes certs', () => {
  it('writes a CA and Node1..Node5 by default, naming 127.0.0.1 and localhost; keys 0600, dir 0700', () => {
    const out = join(scratch, 'default');
    const r = certs('--out', out);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const files = ['ca.crt', 'ca.key', ...[1, 2, 3, 4, 5].flatMap((i) => [`Node${i}.crt`, `Node${i}.key`])];
    expect(readdirSync(out).sort()).toEqual(files.sort());
    for (const file of files) expect(statSync(join(out, file)).mode & 0o777, file).toBe(file.endsWith('.key') ? 0o600 : 0o644);
    expect(statSync(out).mode & 0o777).toBe(0o700);
    const ca = new X509Certificate(readFileSync(join(out, 'ca.crt')));
    const node = new X509Certificate(readFileSync(join(out, 'Node4.crt')));
    expect(node.checkIssued(ca) && node.verify(ca.publicKey)).toBe(true);
    expect(node.subjectAltName).toBe('DNS:Node4, IP Address:127.0.0.1, DNS:localhost');
  });

  it('takes --nodes and --hosts', () => {
    const out = join(scratch, 'custom');
    expect(certs('--out', out, '--nodes', 'alpha,beta', '--hosts', '10.1.2.3,db.example.org,::1').status).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['alpha.crt', 'alpha.key', 'beta.crt', 'beta.key', 'ca.crt', 'ca.key']);
    expect(new X509Certificate(readFileSync(join(out, 'beta.crt'))).subjectAltName).toBe('DNS:beta, IP Address:10.1.2.3, DNS:db.example.org, IP Address:0:0:0:0:0:0:0:1');
  });

  it.each([
    [['--nodes', 'Node1,bad id'], /--nodes: "bad id" is not a node id/],
    [['--nodes', 'Node1,Node1'], /--nodes: a node id is listed twice/],
    [['--nodes', ','], /--nodes: no node ids given/],
    [['--hosts', 'ok.example,not a host'], /--hosts: "not a host" is not an IP address or a host name/],
  ])('refuses %j with one clear line and writes nothing', (args, message) => {
    const out = join(scratch, `bad-${Math.random().toString(36).slice(2)}`);
    const r = certs('--out', out, ...args);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a missing --out and an unwritable one with one line', () => {
    const missing = certs();
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/--out/);
    const file = join(scratch, 'default', 'ca.crt');
    const r = certs('--out', join(file, 'sub'));
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/^raftquotes: --out: cannot write to .* \(ENOTDIR\)$/);
  });
});

describe('ensureClusterCerts (cluster --tls)', () => {
  it('makes everything once, then only what is missing, signed by the same CA', () => {
    const dir = join(scratch, 'cluster-tls');
    expect(ensureClusterCerts(dir, ['Node1', 'Node2'], ['127.0.0.1', 'localhost'])).toHaveLength(6);
    const caBefore = readFileSync(join(dir, 'ca.crt'), 'utf8');
    expect(ensureClusterCerts(dir, ['Node1', 'Node2'], ['127.0.0.1', 'localhost'])).toEqual([]);
    expect(ensureClusterCerts(dir, ['Node1', 'Node2', 'Node3'], ['127.0.0.1', 'localhost'])).toEqual([join(dir, 'Node3.crt'), join(dir, 'Node3.key')]);
    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).toBe(caBefore);
    const ca = new X509Certificate(caBefore);
    expect(new X509Certificate(readFileSync(join(dir, 'Node3.crt'))).checkIssued(ca)).toBe(true);
    expect(statSync(join(dir, 'Node3.key')).mode & 0o777).toBe(0o600);
  });
});
