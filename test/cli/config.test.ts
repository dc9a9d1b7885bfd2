import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, parseNodeConfig } from '../../src/cli/config.js';
import { REPO_ROOT } from '../support/cluster.js';

const PEERS = 'Node1=127.0.0.1:17801,Node2=127.0.0.1:17802,Node3=127.0.0.1:17803';
const BASE = { id: 'Node1', peers: PEERS, dataDir: '/tmp/x', insecure: 'true' };

describe('parseNodeConfig: one place validates flags and environment', () => {
  it('builds defaults from the SPEC and lets a flag win over its environment variable', () => {
    const config = parseNodeConfig({ ...BASE, http: '127.0.0.1:9001' }, { RAFTQUOTES_HTTP: '127.0.0.1:9002', RAFTQUOTES_TICK_MS: '5' });
    expect(config.http).toEqual({ host: '127.0.0.1', port: 9001 });
    expect(config.tickMs).toBe(5);
    expect(config.raft).toEqual({ host: '127.0.0.1', port: 17801 });
    expect(config.controllerAllow).toContain('127.0.0.0/8');
    expect(config.snapshotEvery).toBe(10_000);
  });

  it('reads everything from RAFTQUOTES_* variables alone (the Docker layout)', () => {
    const config = parseNodeConfig({}, { RAFTQUOTES_ID: 'Node2', RAFTQUOTES_PEERS: PEERS, RAFTQUOTES_DATA_DIR: '/data', RAFTQUOTES_SECRET: 'a-secret-of-enough-bytes' });
    expect(config.id).toBe('Node2');
    expect(config.dataDir).toBe('/data');
  });

  it.each([
    [{ id: undefined }, /--id \(RAFTQUOTES_ID\) is required/],
    [{ id: '3node' }, /--id .*expected a name like Node3/],
    [{ peers: 'Node1=localhost' }, /--peers .*expected host:port/],
    [{ peers: 'Node2=127.0.0.1:1' }, /must include this node \(Node1\)/],
    [{ peers: `${PEERS},Node1=127.0.0.1:9` }, /Node1 is listed twice/],
    [{ http: '127.0.0.1:70000' }, /--http .*expected host:port/],
    [{ tickMs: '0' }, /--tick-ms .*integer in \[1, 1000\]/],
    [{ electionMs: '60' }, /--election-ms .*integer in \[100,/],
    [{ controllerAllow: '10.0.0.0/33' }, /--controller-allow .*prefix length must be 0\.\.32/],
    [{ controllerAllow: '999.1.1.1/8' }, /--controller-allow .*not a CIDR/],
    [{ logFormat: 'xml' }, /--log-format .*expected json or pretty/],
    [{ unsafeLocalReads: 'maybe' }, /--unsafe-local-reads .*expected true or false/],
  ])('refuses %o with a message naming the flag', (override, message) => {
    const flags = { ...BASE, ...override } as Record<string, string>;
    for (const key of Object.keys(flags)) if (flags[key] === undefined) delete flags[key];
    expect(() => parseNodeConfig(flags, {})).toThrow(ConfigError);
    expect(() => parseNodeConfig(flags, {})).toThrow(message);
  });
});

describe('parseNodeConfig: peer authentication and secrets (SPEC §7)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rq-secrets-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const secured = { id: 'Node1', peers: PEERS, dataDir: '/tmp/x' };

  it('refuses to start with neither a secret, nor TLS, nor --insecure', () => {
    expect(() => parseNodeConfig(secured, {})).toThrow(/peers must be authenticated/);
  });

  it('takes the secret from RAFTQUOTES_SECRET, never from a --secret flag value', () => {
    expect(parseNodeConfig(secured, { RAFTQUOTES_SECRET: 'a-secret-of-enough-bytes' }).secret).toBe('a-secret-of-enough-bytes');
    expect(() => parseNodeConfig(secured, { RAFTQUOTES_SECRET: 'short' })).toThrow(/at least 16 bytes/);
  });

  it('reads --secret-file, and refuses a file that others can read', () => {
    const file = join(dir, 'secret');
    writeFileSync(file, 'from-a-file-0123456789\n', { mode: 0o600 });
    const config = parseNodeConfig({ ...secured, secret: file }, {});
    expect(config.secret).toBe('from-a-file-0123456789');
    expect(config.secretFile).toBe(file);
    chmodSync(file, 0o644);
    expect(() => parseNodeConfig({ ...secured, secret: file }, {})).toThrow(/--secret-file .*chmod 600/);
  });

  it('needs all three TLS files together', () => {
    const cert = join(dir, 'n.crt');
    writeFileSync(cert, 'x');
    expect(() => parseNodeConfig({ ...secured, tlsCert: cert }, {})).toThrow(/--tls-key .*--tls-ca .*must be set together/);
    expect(parseNodeConfig({ ...secured, tlsCert: cert, tlsKey: cert, tlsCa: cert }, {}).tls).toEqual({ cert, key: cert, ca: cert });
  });

  it('defaults: loopback-only controller, 2 GiB quota, advertised URL among the public URLs', () => {
    const config = parseNodeConfig({ ...secured, insecure: true, publicUrl: 'https://board.example/' }, {});
    expect(config.insecure).toBe(true);
    expect(config.controllerAllow).toEqual(['127.0.0.0/8', '::1/128']);
    expect(config.quotaBytes).toBe(2 * 1024 ** 3);
    expect(config.publicUrls).toEqual(['http://127.0.0.1:8080', 'https://board.example']);
  });

  it('--public-url: at most 4 URLs of at most 512 characters (peers learn them in the handshake)', () => {
    const four = 'http://a:1,http://b:2,http://c:3,http://d:4';
    expect(parseNodeConfig({ ...secured, insecure: true, publicUrl: four }, {}).publicUrls).toHaveLength(5);
    expect(() => parseNodeConfig({ ...secured, insecure: true, publicUrl: `${four},http://e:5` }, {})).toThrow(/--public-url .*: at most 4 URLs, got 5/);
    expect(() => parseNodeConfig({ ...secured, insecure: true, publicUrl: `http://h/${'x'.repeat(600)}` }, {})).toThrow(/--public-url .*: a URL is at most 512 characters/);
    expect(() => parseNodeConfig({ ...secured, insecure: true, publicUrl: 'ftp://h' }, {})).toThrow(/--public-url .*: expected an http\(s\) URL/);
  });
});

describe('raftquotes node: a user mistake is one line on stderr and a non-zero exit', () => {
  const dirs: string[] = [];
  let blocker: Server | undefined;
  afterAll(() => {
    blocker?.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  function runNode(args: string[]): { status: number | null; stderr: string } {
    const result = spawnSync(process.execPath, [join(REPO_ROOT, 'dist/cli/main.js'), 'node', ...args], { encoding: 'utf8', timeout: 20_000 });
    return { status: result.status, stderr: result.stderr.trim() };
  }

  it('prints one line for a bad flag value', () => {
    const { status, stderr } = runNode(['--id', 'Node1', '--peers', PEERS, '--data-dir', '/tmp/none', '--tick-ms', 'fast']);
    expect(status).toBe(2);
    expect(stderr.split('\n')).toEqual([expect.stringMatching(/^raftquotes: --tick-ms .*expected an integer.*"fast"/)]);
  });

  it('exits after --help and after an unknown flag, though the node modules start loading alongside the flags', () => {
    const help = spawnSync(process.execPath, [join(REPO_ROOT, 'dist/cli/main.js'), 'node', '--help'], { encoding: 'utf8', timeout: 20_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--data-dir <value>/);
    const unknown = runNode(['--id', 'Node1', '--no-such-flag']);
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr.split('\n')).toEqual([expect.stringMatching(/unknown option '--no-such-flag'/)]);
  });

  it('prints one line for a port already in use', async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker?.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    const dataDir = mkdtempSync(join(tmpdir(), 'rq-config-'));
    dirs.push(dataDir);
    const { status, stderr } = runNode(['--id', 'Node1', '--peers', PEERS, '--data-dir', dataDir, '--http', `127.0.0.1:${port}`, '--controller', '127.0.0.1:0', '--log-level', 'silent', '--insecure', '--init']);
    expect(status).not.toBe(0);
    expect(stderr.split('\n')).toEqual([expect.stringMatching(new RegExp(`^raftquotes: .*127\\.0\\.0\\.1:${port}.*in use`))]);
  });
});
