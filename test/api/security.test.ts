/**
 * Issue 15's HTTP findings at unit level, against real API servers around fake nodes: forward
 * proofs, strict UTF-8, slow and greedy clients, live-client caps, /metrics access.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ForwardAuth, NonceCache, bodyMatches } from '../../src/api/forward-proof.js';
import { hostAuthority, NodeNames } from '../../src/api/names.js';
import { matchRoute } from '../../src/api/router.js';
import type { ApiContext, ApiRequest } from '../../src/api/context.js';
import { ApiError } from '../../src/api/errors.js';
import { makeCa, makeNodeCert, type CertPair } from '../../src/cli/certs.js';
import { FakeNode } from './fake-node.js';
import { call, expectErrorShape, raw, startApi, waitUntil, type Started } from './helpers.js';

const SECRET = 'a-cluster-secret-of-enough-bytes';
const VOTERS = ['Node1', 'Node2', 'Node3'];

describe('forward proofs (SPEC §7)', () => {
  it('accepts a proof once, for exactly the request it was made for', () => {
    let now = 1_000_000;
    const sender = new ForwardAuth(SECRET, 'Node2', () => now);
    const receiver = new ForwardAuth(SECRET, 'Node1', () => now);
    const body = Buffer.from('{"text":"hi"}');
    const header = sender.sign('POST', '/api/quotes', body) as string;
    const proof = receiver.verify(header, 'POST', '/api/quotes', VOTERS);
    expect(proof).toMatchObject({ sender: 'Node2' });
    expect(typeof proof === 'object' && bodyMatches(proof, body)).toBe(true);
    expect(typeof proof === 'object' && bodyMatches(proof, Buffer.from('{"text":"other"}'))).toBe(false);
    expect(receiver.verify(header, 'POST', '/api/quotes', VOTERS)).toBe('replayed');
    const again = sender.sign('POST', '/api/quotes', body) as string;
    expect(receiver.verify(again, 'PUT', '/api/quotes', VOTERS)).toBe('bad_mac');
    expect(receiver.verify(again, 'POST', '/api/kv/x', VOTERS)).toBe('bad_mac');
    now += 31_000;
    expect(receiver.verify(again, 'POST', '/api/quotes', VOTERS)).toBe('stale');
  });

  it('refuses other secrets, unknown or own senders, garbage, and everything without a secret', () => {
    const receiver = new ForwardAuth(SECRET, 'Node1');
    const forger = new ForwardAuth('another-secret-of-enough-bytes!!', 'Node2');
    expect(receiver.verify(forger.sign('POST', '/p', null) as string, 'POST', '/p', VOTERS)).toBe('bad_mac');
    expect(receiver.verify(new ForwardAuth(SECRET, 'Node9').sign('POST', '/p', null) as string, 'POST', '/p', VOTERS)).toBe('unknown_sender');
    expect(receiver.verify(new ForwardAuth(SECRET, 'Node1').sign('POST', '/p', null) as string, 'POST', '/p', VOTERS)).toBe('unknown_sender');
    for (const garbage of ['1', '', 'v1 Node2', 'v1 Node2 x y z w', `v1 Node2 1 ${'a'.repeat(22)} ${'b'.repeat(43)} ${'c'.repeat(43)} extra`]) {
      expect(receiver.verify(garbage, 'POST', '/p', VOTERS), garbage).toBe('malformed');
    }
    const open = new ForwardAuth(null, 'Node1');
    expect(open.sign('POST', '/p', null)).toBeNull();
    expect(open.verify('1', 'POST', '/p', VOTERS)).toBe('no_secret');
    expect(open.enabled).toBe(false);
  });

  it('keeps a bounded nonce cache that still refuses every replay', () => {
    const cache = new NonceCache(3, 30_000);
    for (let i = 0; i < 5; i++) expect(cache.admit(`n${i}`, 1000 + i, 1000 + i)).toBe(true);
    expect(cache.size).toBe(3);
    // n0 and n1 were dropped: proofs at or below their time are refused now.
    expect(cache.admit('n0', 1000, 1010)).toBe(false);
    expect(cache.admit('n1', 1001, 1010)).toBe(false);
    expect(cache.admit('n4', 1004, 1010)).toBe(false);
    expect(cache.admit('n5', 1005, 1010)).toBe(true);
    // Entries older than the skew window expire.
    expect(cache.admit('late', 100_000, 100_000)).toBe(true);
    expect(cache.size).toBe(1);
  });
});

describe('forwarding with proof between two API servers', () => {
  const servers: Started[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  async function pair(secret: string | null): Promise<{ leader: Started; follower: Started; leaderNode: FakeNode }> {
    const leaderNode = new FakeNode('Node1', VOTERS).lead();
    const followerNode = new FakeNode('Node2', VOTERS).follow('Node1');
    const rateLimit = { perSecond: 0.001, burst: 2 };
    const leader = await startApi(leaderNode, { secret, rateLimit });
    const follower = await startApi(followerNode, { secret, rateLimit });
    servers.push(leader, follower);
    followerNode.peerUrls.Node1 = leader.url;
    leaderNode.peerUrls.Node2 = follower.url;
    return { leader, follower, leaderNode };
  }

  it('a client header X-Raft-Forwarded skips nothing: the rate limit still applies (finding 5)', async () => {
    const { leader } = await pair(SECRET);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await call(leader.url, 'POST', '/api/quotes', { text: `q${i}` }, { 'x-raft-forwarded': '1' })).status);
    expect(statuses).toEqual([201, 201, 429, 429, 429, 429]);
    expect(leader.logs.some((l) => l.msg.includes('forward proof refused (malformed)'))).toBe(true);
  });

  it("a follower's forward carries a proof the leader accepts (its clients are charged at the follower)", async () => {
    const { leader, follower, leaderNode } = await pair(SECRET);
    const statuses: number[] = [];
    // The follower charges 2 per address; beyond, its own 429. The leader never charges the forwards.
    for (let i = 0; i < 3; i++) statuses.push((await call(follower.url, 'POST', '/api/quotes', { text: `f${i}` })).status);
    expect(statuses).toEqual([201, 201, 429]);
    expect(leaderNode.proposed).toHaveLength(2);
    // The leader's own bucket for loopback is untouched by the forwards.
    expect((await call(leader.url, 'POST', '/api/quotes', { text: 'direct' })).status).toBe(201);
    expect(leader.logs.some((l) => l.msg.includes('forward proof refused'))).toBe(false);
  });

  it('an unproven header is forwarded once (with proof), never in a loop', async () => {
    const { follower, leaderNode } = await pair(SECRET);
    const res = await call(follower.url, 'PUT', '/api/kv/k', { value: 1 }, { 'x-raft-forwarded': '1' });
    expect(res.status).toBe(200);
    expect(leaderNode.proposed).toHaveLength(1);
  });

  it('without a secret nothing is trusted, and a marked request is not forwarded again', async () => {
    const { leader, follower } = await pair(null);
    expect((await call(follower.url, 'PUT', '/api/kv/k', { value: 1 })).status).toBe(200);
    const marked = await call(follower.url, 'PUT', '/api/kv/k', { value: 2 }, { 'x-raft-forwarded': '1' });
    expect(marked.status).toBe(503);
    expectErrorShape(marked.body, 'no_leader');
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await call(leader.url, 'POST', '/api/quotes', { text: `q${i}` }, { 'x-raft-forwarded': '1' })).status);
    expect(statuses).toEqual([201, 201, 429]);
  });
});

/** A POST over HTTPS trusting `ca`, optionally with a client certificate and extra headers. */
function httpsPost(url: string, body: unknown, ca: string, headers: Record<string, string> = {}, client?: CertPair): Promise<number> {
  const payload = JSON.stringify(body);
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: target.hostname, port: target.port, path: target.pathname, method: 'POST', ca, cert: client?.cert, key: client?.key, agent: false, headers: { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(payload)), ...headers } });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

describe('forwarding between HTTPS nodes without a secret: the certificate is the proof', () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftquotes-fwd-tls-'));
  const ca = makeCa();
  const servers: Started[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  async function httpsNode(node: FakeNode): Promise<{ server: Started; url: string }> {
    const pair = makeNodeCert(ca, node.id, ['127.0.0.1']);
    writeFileSync(join(dir, `${node.id}.crt`), pair.cert);
    writeFileSync(join(dir, `${node.id}.key`), pair.key);
    writeFileSync(join(dir, 'ca.crt'), ca.cert);
    const tls = { cert: join(dir, `${node.id}.crt`), key: join(dir, `${node.id}.key`), clientCa: null };
    const server = await startApi(node, { secret: null, tls, peerCa: join(dir, 'ca.crt'), rateLimit: { perSecond: 0.001, burst: 2 } });
    servers.push(server);
    const url = server.url.replace('http:', 'https:');
    node.peerUrls[node.id] = url;
    return { server, url };
  }

  it('accepts a follower\'s forward by its certificate, and refuses the header from a client without one', async () => {
    const leaderNode = new FakeNode('Node1', VOTERS).lead();
    const followerNode = new FakeNode('Node2', VOTERS).follow('Node1');
    const leader = await httpsNode(leaderNode);
    const follower = await httpsNode(followerNode);
    followerNode.peerUrls.Node1 = leader.url;
    leaderNode.peerUrls.Node2 = follower.url;
    const viaFollower: number[] = [];
    for (let i = 0; i < 2; i++) viaFollower.push(await httpsPost(`${follower.url}/api/quotes`, { text: `f${i}` }, ca.cert));
    expect(viaFollower).toEqual([201, 201]);
    // The forwards were not charged at the leader: its loopback bucket is still full.
    const forged: number[] = [];
    for (let i = 0; i < 3; i++) forged.push(await httpsPost(`${leader.url}/api/quotes`, { text: `c${i}` }, ca.cert, { 'X-Raft-Forwarded': 'tls Node2' }));
    expect(forged).toEqual([201, 201, 429]);
    expect(leader.server.logs.some((l) => l.msg.includes('forward proof refused (bad_certificate)'))).toBe(true);
    // A certificate of the CA that names another node does not prove Node2.
    const other = makeNodeCert(ca, 'Node3', ['127.0.0.1']);
    expect(await httpsPost(`${leader.url}/api/quotes`, { text: 'x' }, ca.cert, { 'X-Raft-Forwarded': 'tls Node2' }, other)).toBe(429);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('request bodies and caller checks', () => {
  const servers: Started[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('refuses invalid UTF-8 in a JSON body with 400 instead of storing U+FFFD', async () => {
    const node = new FakeNode('Node1').lead();
    const server = await startApi(node);
    servers.push(server);
    const bad = Buffer.concat([Buffer.from('{"value":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const res = await raw(server.url, 'PUT', '/api/kv/k', { 'Content-Type': 'application/json' }, bad);
    expect(res.status).toBe(400);
    expectErrorShape(res.json, 'bad_request');
    expect((res.json as { field: string }).field).toBe('body');
    const quote = await raw(server.url, 'POST', '/api/quotes', { 'Content-Type': 'application/json' }, Buffer.from([0x7b, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]));
    expect(quote.status).toBe(400);
    expect(node.proposed).toHaveLength(0);
    const good = await raw(server.url, 'PUT', '/api/kv/k', { 'Content-Type': 'application/json' }, Buffer.from('{"value":"é ✓"}'));
    expect(good.status).toBe(200);
  });

  it('keys the rate limit on the socket address only: forwarding headers a client sets change nothing', async () => {
    const node = new FakeNode('Node1').lead();
    const server = await startApi(node, { rateLimit: { perSecond: 0.001, burst: 2 } });
    servers.push(server);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const spoof = { 'x-forwarded-for': `10.9.8.${i}`, 'x-real-ip': `10.9.9.${i}`, forwarded: `for=10.9.7.${i}` };
      statuses.push((await call(server.url, 'POST', '/api/quotes', { text: `q${i}` }, spoof)).status);
    }
    expect(statuses).toEqual([201, 201, 429, 429]);
  });

  it('serves /metrics only to loopback or the admin token', async () => {
    const node = new FakeNode('Node1').lead();
    const server = await startApi(node, { adminToken: 'tok-tok-tok' });
    servers.push(server);
    expect((await call(server.url, 'GET', '/metrics')).status).toBe(200);
    // The route's own check, as a remote caller would reach it.
    const remote = (authorization?: string): ApiRequest =>
      ({ req: { socket: { remoteAddress: '10.0.0.7' }, headers: { authorization } }, method: 'GET', path: '/metrics', rawQuery: '', body: null, forwarded: false, proof: null, mayForward: true }) as unknown as ApiRequest;
    const route = matchRoute(remote());
    const handler = route?.methods.GET as (ctx: ApiContext, request: ApiRequest) => unknown;
    const ctx = { adminToken: 'tok-tok-tok', metricsRegistry: server.registry } as unknown as ApiContext;
    expect(() => handler(ctx, remote())).toThrow(ApiError);
    expect(() => handler(ctx, remote('Bearer wrong'))).toThrow(/loopback or with the admin token/);
    await expect(Promise.resolve(handler(ctx, remote('Bearer tok-tok-tok')))).resolves.toMatchObject({ status: 200 });
  });

  it('parses Host names and knows its own and its members', () => {
    expect(hostAuthority('LocalHost:80', 'http')).toBe('localhost:80');
    expect(hostAuthority('example.com', 'https')).toBe('example.com:443');
    expect(hostAuthority('[::1]:8081', 'http')).toBe('[::1]:8081');
    expect(hostAuthority('a b', 'http')).toBeNull();
    expect(hostAuthority('evil.example@127.0.0.1:80', 'http')).toBeNull();
    const node = new FakeNode('Node1', VOTERS);
    node.peerUrls.Node2 = 'http://10.0.0.2:8080';
    const names = new NodeNames({ node, scheme: 'http', publicUrls: ['http://board.example'], bound: () => ({ host: '127.0.0.1', port: 8081 }) });
    for (const host of ['board.example', 'board.example:80', '127.0.0.1:8081', 'localhost:8081', '10.0.0.2:8080', undefined]) expect(names.hostAllowed(host), String(host)).toBe(true);
    for (const host of ['evil.example', '127.0.0.1:8082', 'board.example:8080', '']) expect(names.hostAllowed(host), host).toBe(false);
    expect(names.ownOrigin('http://board.example')).toBe(true);
    expect(names.ownOrigin('http://10.0.0.2:8080')).toBe(false);
    expect(names.memberOrigin('http://10.0.0.2:8080')).toBe(true);
    expect(names.memberOrigin('https://10.0.0.2:8080')).toBe(false);
    expect(names.memberOrigin('null')).toBe(false);
  });

  it("accepts pages from a member's public URLs, learned from its handshake (the Docker layout's published ports)", () => {
    const node = new FakeNode('Node1', VOTERS);
    node.peerUrls.Node2 = 'http://Node2:8080';
    const learned: Record<string, string[]> = {};
    const names = new NodeNames({ node, scheme: 'http', publicUrls: ['http://Node1:8080', 'http://board1.example:8081'], peerPublicUrls: (id) => learned[id] ?? [], bound: () => ({ host: '0.0.0.0', port: 8080 }) });
    expect(names.memberOrigin('http://board2.example:8082')).toBe(false);
    learned.Node2 = ['http://board2.example:8082'];
    expect(names.memberOrigin('http://board2.example:8082')).toBe(true);
    expect(names.memberOrigin('http://board3.example:8083')).toBe(false);
    expect(names.ownOrigin('http://board2.example:8082')).toBe(false);
  });
});

function rawSocket(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => resolve(socket));
    socket.on('error', reject);
  });
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once('close', () => resolve());
  });
}

describe('slow and greedy clients (findings 8 and 9)', () => {
  const servers: Started[] = [];
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('answers a slow-header client 408 and drops its socket even if it never closes', async () => {
    const server = await startApi(new FakeNode('Node1').lead(), { tuning: { headersTimeoutMs: 300 } });
    servers.push(server);
    const socket = await rawSocket(server.url);
    sockets.push(socket);
    // allowHalfOpen is false, but the client never ends its side: only the server can free the fd.
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.write('GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    await closed(socket);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });

  it('caps connections per address', async () => {
    const server = await startApi(new FakeNode('Node1').lead(), { tuning: { maxConnectionsPerLoopback: 3 } });
    servers.push(server);
    const open = await Promise.all([0, 1, 2].map(() => rawSocket(server.url)));
    sockets.push(...open);
    const extra = await rawSocket(server.url);
    sockets.push(extra);
    await closed(extra);
    await waitUntil('the refusal logged', () => server.logs.find((l) => l.msg.includes('refused a connection from 127.0.0.1')));
    expect(server.api.connectionsFrom('127.0.0.1')).toBe(3);
    open[0]?.destroy();
    // A slot freed (once the server saw the close): a new connection is served.
    await waitUntil('a slot to free', () => server.api.connectionsFrom('127.0.0.1') === 2);
    const res = await raw(server.url, 'GET', '/healthz');
    expect(res.status).toBe(200);
  });

  it('caps live clients per address and refuses a foreign Origin or Host on the upgrade', async () => {
    const server = await startApi(new FakeNode('Node1').lead(), { tuning: { maxWsClientsPerLoopback: 2 } });
    servers.push(server);
    const wsUrl = `${server.url.replace('http:', 'ws:')}/api/live`;
    const opened = [new WebSocket(wsUrl), new WebSocket(wsUrl)];
    await Promise.all(opened.map((ws) => new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))));
    const status = (ws: WebSocket): Promise<number> =>
      new Promise((resolve) => {
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('open', () => resolve(101));
        ws.once('error', () => undefined);
      });
    expect(await status(new WebSocket(wsUrl))).toBe(429);
    opened[0]?.close();
    await waitUntil('a live slot to free', () => server.api.liveClients === 1);
    expect(await status(new WebSocket(wsUrl, { origin: 'http://evil.example' }))).toBe(403);
    expect(await status(new WebSocket(wsUrl, { headers: { Host: 'evil.example' } }))).toBe(403);
    const third = new WebSocket(wsUrl, { origin: server.url });
    expect(await status(third)).toBe(101);
    third.close();
    opened[1]?.close();
  });
});
