/**
 * SPEC §7 HTTPS for the API: a 3-node cluster (ports 24401-24603) serving the API and pages
 * over HTTPS with client certificates required, forwarding between nodes over HTTPS (trusting
 * the cluster CA), the live feed over wss, and SIGHUP reloading the certificate. Run under the
 * cluster lock.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { makeCa, makeNodeCert, type CertPair } from '../../src/cli/certs.js';
import { waitFor } from '../support/cluster.js';
import { HttpCluster, rawRequest, type Answer, type RawOptions } from './http-cluster.js';

const BASE = 24400;
const IDS = ['Node1', 'Node2', 'Node3'];
const HOSTS = ['127.0.0.1', 'localhost'];

/** The serial number of the certificate a node presents. */
function servedSerial(port: number, ca: string, client: CertPair): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, cert: client.cert, key: client.key, servername: 'localhost' }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

describe('HTTPS for the API (SPEC §7)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftquotes-https-'));
  const ca = makeCa();
  const client = makeNodeCert(ca, 'test-client', HOSTS);
  const path = (name: string): string => join(dir, name);
  writeFileSync(path('ca.crt'), ca.cert);
  for (const id of IDS) {
    const pair = makeNodeCert(ca, id, HOSTS);
    writeFileSync(path(`${id}.crt`), pair.cert);
    writeFileSync(path(`${id}.key`), pair.key, { mode: 0o600 });
  }
  const cluster = new HttpCluster({
    base: BASE,
    scheme: 'https',
    args: (id) => [
      '--http-tls-cert', path(`${id}.crt`), '--http-tls-key', path(`${id}.key`), '--http-client-ca', path('ca.crt'),
      '--tls-cert', path(`${id}.crt`), '--tls-key', path(`${id}.key`), '--tls-ca', path('ca.crt'),
    ],
  });
  const tls: RawOptions = { ca: ca.cert, cert: client.cert, key: client.key };
  const get = (url: string): Promise<Answer> => rawRequest('GET', url, { ...tls, timeoutMs: 2_000 });
  let leader = '';
  let follower = '';

  beforeAll(async () => {
    await cluster.start();
    leader = await cluster.leader(get);
    follower = cluster.nodes.find((n) => n.id !== leader)?.id as string;
  }, 120_000);

  afterAll(async () => {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the API and the pages over HTTPS, and advertises https URLs', async () => {
    const status = await get(`${cluster.node(follower).http}/api/status`);
    expect(status.status).toBe(200);
    expect(status.json.http).toBe(cluster.node(follower).http);
    const page = await get(`${cluster.node(follower).http}/`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('<!doctype html');
  });

  it('requires a client certificate of the CA, and refuses plaintext', async () => {
    const url = `${cluster.node(follower).http}/api/status`;
    await expect(rawRequest('GET', url, { ca: ca.cert, timeoutMs: 2_000 })).rejects.toThrow();
    const stranger = makeNodeCert(makeCa('another CA'), 'stranger', HOSTS);
    await expect(rawRequest('GET', url, { ca: ca.cert, cert: stranger.cert, key: stranger.key, timeoutMs: 2_000 })).rejects.toThrow();
    await expect(rawRequest('GET', url.replace('https:', 'http:'), { timeoutMs: 2_000 }).then((r) => r.status)).rejects.toThrow();
    // Each refusal is logged by the node (rate-limited), naming the address and OpenSSL's reason.
    const refusals = (): string[] => cluster.output.split('\n').filter((line) => /refused HTTPS connection from \S+: TLS handshake failed/.test(line));
    await waitFor('the three refusals logged', () => refusals().length >= 3, 10_000, 50);
    expect(cluster.alive()).toBe(true);
  });

  it('forwards a write from a follower to the leader over HTTPS, and sees every peer in /api/cluster', async () => {
    const res = await rawRequest('POST', `${cluster.node(follower).http}/api/quotes`, { ...tls, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ text: 'over TLS' }) });
    expect(res.status).toBe(201);
    // The leader named is the one that took the write (an election on a loaded machine may have moved it from `leader`).
    expect(cluster.nodes.map((n) => n.id)).toContain(res.headers['x-raft-leader']);
    const view = await waitFor('every peer reachable over HTTPS', async () => {
      const body = (await get(`${cluster.node(follower).http}/api/cluster`)).json as { nodes: Array<{ reachable: boolean; http: string }> };
      return body.nodes.every((n) => n.reachable) ? body : undefined;
    }, 10_000, 200);
    expect(view.nodes.map((n) => n.http.startsWith('https://'))).toEqual([true, true, true]);
  });

  it('streams the live feed over wss', async () => {
    const node = cluster.node(follower);
    const ws = new WebSocket(`wss://127.0.0.1:${node.port}/api/live?after=0`, { ca: ca.cert, cert: client.cert, key: client.key });
    try {
      const first = await new Promise<{ type: string; quote?: { text: string } }>((resolve, reject) => {
        ws.on('message', (data: Buffer) => {
          const message = JSON.parse(data.toString()) as { type: string; quote?: { text: string } };
          if (message.type === 'quote') resolve(message);
        });
        ws.once('error', reject);
      });
      expect(first.quote?.text).toBe('over TLS');
    } finally {
      ws.close();
    }
  });

  it('reloads its certificate on SIGHUP without a restart', async () => {
    const node = cluster.node(follower);
    const before = await servedSerial(node.port, ca.cert, client);
    const renewed = makeNodeCert(ca, node.id, HOSTS);
    writeFileSync(path(`${node.id}.crt`), renewed.cert);
    writeFileSync(path(`${node.id}.key`), renewed.key, { mode: 0o600 });
    process.kill(node.child.pid as number, 'SIGHUP');
    const after = await waitFor('the new certificate', async () => {
      const serial = await servedSerial(node.port, ca.cert, client);
      return serial !== before ? serial : undefined;
    }, 10_000, 200);
    expect(after).not.toBe(before);
    // The log line travels through the node's stdout pipe: it may arrive after the new certificate is served.
    await waitFor('the reload logged', () => /SIGHUP: reloaded HTTPS certificates/.test(cluster.output), 10_000, 50);
    expect(cluster.alive()).toBe(true);
    expect((await get(`${node.http}/api/status`)).status).toBe(200);
  });
});
