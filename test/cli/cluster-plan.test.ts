import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { certHostsFor, NODE_V8_FLAGS, planCluster } from '../../src/cli/cluster.js';
import { parseNodeConfig, type NodeSettingName } from '../../src/cli/config.js';

const OPTIONS = { nodes: 3, dataDir: '/tmp/plan', host: '127.0.0.1', httpBase: 8080, raftBase: 7000, controllerBase: 5554, nodeArgs: ['--snapshot-every', '100'] };

describe('planCluster: the argv that starts (and restarts) each node', () => {
  it('runs every node with the V8 memory flags, then the CLI, then the node flags', () => {
    const plan = planCluster(OPTIONS, 'rq-test', '/tmp/plan/secret');
    expect(plan.map((n) => n.id)).toEqual(['Node1', 'Node2', 'Node3']);
    for (const node of plan) {
      expect(node.argv[0]).toBe(process.execPath);
      expect(node.argv.slice(1, 1 + NODE_V8_FLAGS.length)).toEqual(NODE_V8_FLAGS);
      expect(node.argv[1 + NODE_V8_FLAGS.length]).toMatch(/main\.js$/);
      expect(node.argv.slice(-2)).toEqual(['--snapshot-every', '100']);
    }
    expect(plan[1]!.argv).toContain('127.0.0.1:7002');
  });

  it('uses flags this node binary accepts (a bad V8 flag would stop every node at start)', () => {
    const r = spawnSync(process.execPath, [...NODE_V8_FLAGS, '-e', 'process.exit(0)'], { encoding: 'utf8', timeout: 10_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('passes the secret as a file path only, and never --init (a restart from argv must not make a new node)', () => {
    for (const node of planCluster(OPTIONS, 'rq-test', '/tmp/plan/secret')) {
      expect(node.argv.slice(node.argv.indexOf('--secret-file'), node.argv.indexOf('--secret-file') + 2)).toEqual(['--secret-file', '/tmp/plan/secret']);
      expect(node.argv).not.toContain('--init');
      expect(node.argv.some((a) => /token|--secret(?!-file)/i.test(a))).toBe(false);
      expect(node.http).toMatch(/^http:\/\//);
    }
  });

  it('with tls: every node gets its certificate for peers (mutual TLS) and HTTPS, https:// URLs, and still the secret file', () => {
    const plan = planCluster({ ...OPTIONS, tls: true }, 'rq-test', '/tmp/plan/secret');
    for (const node of plan) {
      const flag = (name: string): string | undefined => node.argv[node.argv.indexOf(name) + 1];
      expect(flag('--tls-cert')).toBe(`/tmp/plan/tls/${node.id}.crt`);
      expect(flag('--tls-key')).toBe(`/tmp/plan/tls/${node.id}.key`);
      expect(flag('--tls-ca')).toBe('/tmp/plan/tls/ca.crt');
      expect(flag('--http-tls-cert')).toBe(`/tmp/plan/tls/${node.id}.crt`);
      expect(flag('--http-tls-key')).toBe(`/tmp/plan/tls/${node.id}.key`);
      expect(flag('--secret-file')).toBe('/tmp/plan/secret');
      expect(node.http).toBe(`https://127.0.0.1:${8080 + Number(node.id.slice(4))}`);
      expect(node.argv.slice(-2)).toEqual(['--snapshot-every', '100']);
    }
  });

  it('with tls: the argv parses to a node that advertises https and authenticates peers with TLS', () => {
    const node = planCluster({ ...OPTIONS, tls: true }, 'rq-test', '/tmp/plan/secret')[1]!;
    const args = node.argv.slice(node.argv.indexOf('node') + 1);
    const flags: Record<string, string> = {};
    const names: Record<string, NodeSettingName> = { '--tls-cert': 'tlsCert', '--tls-key': 'tlsKey', '--tls-ca': 'tlsCa', '--http-tls-cert': 'httpTlsCert', '--http-tls-key': 'httpTlsKey', '--id': 'id', '--peers': 'peers', '--data-dir': 'dataDir', '--http': 'http', '--raft': 'raft' };
    for (let i = 0; i < args.length; i += 2) if (names[args[i]!]) flags[names[args[i]!]!] = args[i + 1]!;
    // Point the certificate flags at readable files: parseNodeConfig checks that they can be read.
    for (const key of ['tlsCert', 'tlsKey', 'tlsCa', 'httpTlsCert', 'httpTlsKey']) flags[key] = import.meta.filename;
    const config = parseNodeConfig(flags, {});
    expect(config.advertiseHttp).toBe('https://127.0.0.1:8082');
    expect(config.tls).not.toBeNull();
    expect(config.httpTls).not.toBeNull();
  });

  it('names --host and localhost in node certificates (127.0.0.1 for a wildcard host)', () => {
    expect(certHostsFor('127.0.0.1')).toEqual(['127.0.0.1', 'localhost']);
    expect(certHostsFor('10.0.0.5')).toEqual(['10.0.0.5', 'localhost']);
    expect(certHostsFor('0.0.0.0')).toEqual(['127.0.0.1', 'localhost']);
  });
});
