/* eslint-disable max-lines-per-function -- a describe block groups many short tests around one server */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Registry } from '../../src/metrics/prometheus.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServer } from '../../src/api/server.js';
import { FakeNode } from './fake-node.js';
import { call, expectErrorShape, raw, startApi, waitUntil, type Started } from './helpers.js';

const VOTERS = ['Node1', 'Node2', 'Node3', 'Node4', 'Node5'];

describe('status, cluster, health and metrics routes', () => {
  const node = new FakeNode('Node1', VOTERS).lead();
  const peer = new FakeNode('Node2', VOTERS).follow('Node1');
  let api: Started;
  let peerApi: Started;
  let silent: NetServer;

  beforeAll(async () => {
    api = await startApi(node, { tuning: { peerStatusTimeoutMs: 150 } });
    peerApi = await startApi(peer);
    node.peerUrls.Node2 = peerApi.url;
    // Node4 accepts connections and never answers; Node5 has no known address; Node3 refuses.
    silent = createNetServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    node.peerUrls.Node4 = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    node.peerUrls.Node3 = 'http://127.0.0.1:1';
    for (let i = 0; i < 5; i++) node.applyCommand({ op: 'put', key: `k${i}`, value: i });
  });
  afterAll(async () => {
    await api.close();
    await peerApi.close();
    silent.close();
  });

  it('GET /api/status answers node.status(), with an optional log tail', async () => {
    const answered = api.api.requestsAnswered;
    const res = await call(api.url, 'GET', '/api/status');
    // Every answer counts (the heap trimmer's sign of a node serving reads, which apply nothing).
    expect(api.api.requestsAnswered).toBe(answered + 1);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(node.status());
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('vary')).toBe('Origin');
    const tail = await call(api.url, 'GET', '/api/status?logTail=3');
    expect(tail.body.log.entries.map((e: { index: number }) => e.index)).toEqual([3, 4, 5]);
    const all = await call(api.url, 'GET', '/api/status?logTail=200');
    expect(all.body.log.entries).toHaveLength(5);
    expect((await call(api.url, 'GET', '/api/status?logTail=0')).body.log.entries).toEqual([]);
    for (const bad of ['201', '-1', 'x']) {
      const res = await call(api.url, 'GET', `/api/status?logTail=${bad}`);
      expect(res.status).toBe(400);
      expect(res.body.field).toBe('logTail');
    }
  });

  it('GET /api/cluster lists every voter in order, reachable or not', async () => {
    const res = await call(api.url, 'GET', '/api/cluster?logTail=2');
    expect(res.status).toBe(200);
    expect(res.body.leader).toBe('Node1');
    expect(res.body.nodes.map((n: { id: string }) => n.id)).toEqual(VOTERS);
    const [self, up, refused, silentNode, unknown] = res.body.nodes;
    expect(self).toMatchObject({ id: 'Node1', reachable: true, http: api.url, publicUrls: [api.url] });
    expect(self.status.log.entries).toHaveLength(2);
    expect(up).toMatchObject({ id: 'Node2', reachable: true, http: peerApi.url });
    expect(up.status).toMatchObject({ id: 'Node2', state: 'follower', leader: 'Node1' });
    expect(up.status.log).toBeDefined();
    // With no --public-url, a member's public URL is its advertised one.
    expect(refused).toEqual({ id: 'Node3', http: 'http://127.0.0.1:1', publicUrls: ['http://127.0.0.1:1'], reachable: false, status: null, role: 'voter' });
    expect(silentNode).toMatchObject({ id: 'Node4', reachable: false, status: null });
    expect(unknown).toEqual({ id: 'Node5', http: null, publicUrls: [], reachable: false, status: null, role: 'voter' });
  });

  it('GET /api/cluster calls share their requests to a peer, whatever logTail each asks, and each gets its own tail', async () => {
    const self = new FakeNode('Node1', VOTERS).lead();
    const other = new FakeNode('Node2', VOTERS).follow('Node1');
    for (let i = 0; i < 250; i++) other.applyCommand({ op: 'put', key: `k${i}`, value: i });
    const otherApi = await startApi(other);
    // In front of Node2: counts the status requests and holds them until released.
    const held: Array<() => void> = [];
    const asked: string[] = [];
    const proxy = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
      asked.push(req.url ?? '');
      held.push(() => void fetch(`${otherApi.url}${req.url}`).then(async (r) => res.writeHead(r.status, { 'Content-Type': 'application/json' }).end(await r.text())));
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const selfApi = await startApi(self, { tuning: { peerStatusTimeoutMs: 30_000 } });
    self.peerUrls.Node2 = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    let arrived = 0;
    const recentLog = self.recentLog.bind(self);
    self.recentLog = (from, limit) => (arrived++, recentLog(from, limit));
    try {
      const tails = Array.from({ length: 40 }, (_, i) => (i * 37) % 201);
      const calls = tails.map((tail) => call(selfApi.url, 'GET', `/api/cluster?logTail=${tail}`));
      // Every call has reached the route (it read its own log tail) before Node2 answers any.
      await waitUntil('all 40 calls to arrive', () => arrived === 40);
      held.splice(0).forEach((release) => release());
      const answers = await Promise.all(calls);
      expect(asked.sort()).toEqual(['/api/status?logTail=20', '/api/status?logTail=200']);
      answers.forEach((res, i) => {
        const entries = res.body.nodes[1].status.log.entries as Array<{ index: number }>;
        expect(entries.map((e) => e.index)).toEqual(other.recentLog(Math.max(1, 251 - (tails[i] as number)), tails[i] as number).entries.map((e) => e.index));
      });
    } finally {
      await selfApi.close();
      await otherApi.close();
      proxy.close();
    }
  });

  it('GET /healthz is 503 while the storage does not answer a read, and 200 again once it does', async () => {
    node.storageProblem = 'disk I/O error';
    const sick = await call(api.url, 'GET', '/healthz');
    node.storageProblem = null;
    expect(sick.status).toBe(503);
    expect(expectErrorShape(sick.body, 'unavailable').message).toBe('storage: disk I/O error');
    expect((await call(api.url, 'GET', '/healthz')).status).toBe(200);
  });

  it('GET /healthz is always 200; /readyz only with a leader, caught up and not shut down', async () => {
    expect(await call(api.url, 'GET', '/healthz')).toMatchObject({ status: 200, body: { ok: true } });
    expect((await call(api.url, 'GET', '/readyz')).status).toBe(200);
    node.commitAhead = 2;
    const behind = await call(api.url, 'GET', '/readyz');
    node.commitAhead = 0;
    expect(behind.status).toBe(503);
    expectErrorShape(behind.body, 'unavailable');
    node.follow(null);
    const leaderless = await call(api.url, 'GET', '/readyz');
    node.lead();
    expect(leaderless.status).toBe(503);
    node.shut = true;
    const shut = await call(api.url, 'GET', '/readyz');
    const healthy = await call(api.url, 'GET', '/healthz');
    node.shut = false;
    expect(shut.status).toBe(503);
    expect(healthy.status).toBe(200);
  });

  it('GET /metrics serves the registry, API metrics included', async () => {
    await call(api.url, 'GET', '/api/kv/k1');
    const res = await fetch(`${api.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(/raftquotes_http_requests_total\{route="\/api\/kv\/:key",method="GET",code="200"\} \d+/);
    expect(text).toContain('raftquotes_ws_clients');
    expect(text).toContain('raftquotes_http_request_duration_seconds');
  });

  it('registers its metrics once, even with two servers on one registry', async () => {
    const registry = new Registry();
    const logger = { info() {}, warn() {}, error() {} };
    const options = { node, logger, webDir: api.webDir, metricsRegistry: registry, rateLimit: null };
    const a = createApiServer(options);
    const b = createApiServer(options);
    expect((await registry.metrics()).match(/# TYPE raftquotes_http_requests_total/g)).toHaveLength(1);
    await a.close();
    await b.close();
  });

  it('labels unknown routes and odd methods with bounded values', async () => {
    await raw(api.url, 'GET', `/nope-${Date.now()}`);
    expect((await raw(api.url, 'PROPFIND', '/api/status')).status).toBe(400);
    // A method node:http does not know at all is a malformed request: JSON 400 too.
    expect((await raw(api.url, 'BREW', '/api/status')).json).toMatchObject({ error: 'bad_request' });
    const text = await (await fetch(`${api.url}/metrics`)).text();
    expect(text).toContain('route="unknown"');
    expect(text).toContain('method="other"');
    expect(text).not.toContain('/nope-');
  });
});

describe('web pages and static files', () => {
  const node = new FakeNode('Node1').lead();
  let api: Started;

  beforeAll(async () => {
    api = await startApi(node);
  });
  afterAll(() => api.close());

  it('serves the board and the dashboard as HTML with security headers', async () => {
    for (const [path, title] of [
      ['/', 'board'],
      ['/dashboard', 'dashboard'],
    ] as const) {
      const res = await raw(api.url, 'GET', path);
      expect(res.status).toBe(200);
      expect(res.text).toContain(title);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      const csp = res.headers['content-security-policy'] as string;
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).toMatch(/connect-src [^;]*ws:/);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    }
  });

  it('serves static files with their content types', async () => {
    const types: Record<string, string> = { 'app.js': 'text/javascript', 'app.js.map': 'application/json', 'style.css': 'text/css', 'favicon.svg': 'image/svg+xml' };
    for (const [name, type] of Object.entries(types)) {
      const res = await raw(api.url, 'GET', `/static/${name}`);
      expect(res.status, name).toBe(200);
      expect(res.headers['content-type']).toContain(type);
      expect(res.headers['cache-control']).toBe('no-cache');
    }
    const head = await raw(api.url, 'HEAD', '/static/app.js');
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
  });

  it('refuses traversal, other extensions, directories and missing files with a JSON 404', async () => {
    const attempts = [
      '/static/../secret.txt',
      '/static/../secret.js',
      '/static/..%2Fsecret.js',
      '/static/%2e%2e/secret.js',
      '/static/%2e%2e%2fsecret.js',
      '/static/..%5Csecret.js',
      '/static/..\\secret.js',
      '/static//etc/passwd.js',
      '/static/sub/../app.js',
      '/static/.hidden.js',
      '/static/app.js%00.png',
      '/static/notes.txt',
      '/static/index.html',
      '/static/missing.js',
      '/static/dir.js',
      '/static/',
      `/static/${'a'.repeat(300)}.js`,
      '/static/%252e%252e%252fsecret.js',
    ];
    for (const path of attempts) {
      const res = await raw(api.url, 'GET', path);
      expect(res.status, path).toBe(404);
      expectErrorShape(res.json, 'not_found');
      expect(res.text, path).not.toContain('TOP SECRET');
    }
  });

  it('serves the real web directory (the pages and the files they load)', async () => {
    const real = await startApi(node, { webDir: fileURLToPath(new URL('../../web', import.meta.url)) });
    try {
      for (const path of ['/', '/dashboard', '/static/app.js', '/static/dashboard.js', '/static/common.js', '/static/style.css', '/static/favicon.svg']) {
        expect((await raw(real.url, 'GET', path)).status, path).toBe(200);
      }
    } finally {
      await real.close();
    }
  });

  it('answers a JSON 404 (not a crash) when a page is missing from the web directory', async () => {
    const bare = await startApi(node, { webDir: '/nonexistent-raftquotes-web' });
    try {
      const res = await raw(bare.url, 'GET', '/');
      expect(res.status).toBe(404);
      expectErrorShape(res.json, 'not_found');
    } finally {
      await bare.close();
    }
  });
});

describe('routing, CORS and malformed requests', () => {
  const node = new FakeNode('Node1', ['Node1', 'Node2']).lead();
  let api: Started;

  beforeAll(async () => {
    api = await startApi(node);
  });
  afterAll(() => api.close());

  it('answers 404 not_found for unknown paths and 400 naming the method for a wrong one', async () => {
    const unknown = await call(api.url, 'GET', '/api/nope');
    expect(unknown.status).toBe(404);
    expectErrorShape(unknown.body, 'not_found');
    const wrong = await call(api.url, 'DELETE', '/api/quotes');
    expect(wrong.status).toBe(400);
    expect(wrong.body.field).toBe('method');
    expect(wrong.body.message).toContain('DELETE');
    expect(wrong.headers.get('allow')).toBe('GET, POST, HEAD, OPTIONS');
  });

  it('answers CORS preflights for members\' pages only, and exposes the Raft headers to them', async () => {
    const member = 'http://127.0.0.1:18099';
    node.peerUrls.Node2 = member;
    const preflight = await raw(api.url, 'OPTIONS', '/api/kv/x', { Origin: member, 'Access-Control-Request-Method': 'PUT' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(member);
    expect(preflight.headers.vary).toBe('Origin');
    expect(preflight.headers['access-control-allow-methods']).toContain('PUT');
    expect(preflight.headers['access-control-allow-headers']).toContain('Idempotency-Key');
    // The same member reached by another loopback name.
    const aliased = await raw(api.url, 'OPTIONS', '/api/kv/x', { Origin: 'http://localhost:18099', 'Access-Control-Request-Method': 'PUT' });
    expect(aliased.headers['access-control-allow-origin']).toBe('http://localhost:18099');
    const put = await call(api.url, 'PUT', '/api/kv/x', { value: 1 }, { origin: member });
    expect(put.headers.get('access-control-allow-origin')).toBe(member);
    expect(put.headers.get('access-control-expose-headers')).toContain('X-Raft-Leader');
    const other = await raw(api.url, 'OPTIONS', '/api/kv/x', { Origin: 'http://other.example', 'Access-Control-Request-Method': 'PUT' });
    expect(other.status).toBe(403);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const otherPut = await call(api.url, 'PUT', '/api/kv/x', { value: 2 }, { origin: 'http://other.example' });
    expect(otherPut.status).toBe(403);
    expect((await raw(api.url, 'OPTIONS', '/nowhere')).status).toBe(404);
    delete node.peerUrls.Node2;
  });

  it('answers GET /api/live without an upgrade with 400', async () => {
    const res = await call(api.url, 'GET', '/api/live');
    expect(res.status).toBe(400);
    expectErrorShape(res.body, 'bad_request');
  });

  it('answers a malformed HTTP request with a JSON 400 and keeps serving', async () => {
    const { connect } = await import('node:net');
    const port = api.api.address()?.port as number;
    const reply = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('GARBAGE\r\n\r\n'));
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect(reply).toContain('"error":"bad_request"');
    expect((await call(api.url, 'GET', '/healthz')).status).toBe(200);
  });
});
