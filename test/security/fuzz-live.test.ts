import { createSocket } from 'node:dgram';
import net from 'node:net';
import fc from 'fast-check';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, sleep, TestCluster, waitFor, isAlive } from '../support/cluster.js';

/**
 * Issue 15: random and hostile input from every side a client can reach (HTTP, raw TCP on the
 * HTTP port, WebSocket, UDP controller datagrams) thrown at a live 3-node cluster. Afterwards
 * no node has exited, the cluster elects a leader, and linearizable writes and reads work
 * through every node. fast-check runs are seeded, so a failure replays from its seed.
 */
const PORTS = { httpBase: 27000, raftBase: 27100, controllerBase: 27200 };
const SEED = 15_015;

/** A JSON value nested `depth` deep: the shape that crashed every node through a cas. */
function nested(depth: number): string {
  return '['.repeat(depth) + '1' + ']'.repeat(depth);
}

const hostileJson = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.integer({ min: 60, max: 20_000 }).map((d) => `{"value":${nested(d)}}`),
  fc.integer({ min: 60, max: 20_000 }).map((d) => `{"from":${nested(d)},"to":1}`),
  fc.integer({ min: 60, max: 5_000 }).map((d) => `{"text":"x","author":${nested(d)}}`),
  fc.constantFrom('{"value":', '{"text":"\ud800"}', '{"__proto__":{"x":1},"value":1}', '{"constructor":{"prototype":{}},"text":"a"}', '[]', 'null', '1e999', '"'),
  fc.string({ maxLength: 300 }),
);

const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'),
  path: fc.constantFrom('/api/kv/fz', '/api/kv/fz/cas', '/api/quotes', '/api/admin/step-down', '/api/admin/timeout', '/api/admin/shutdown', '/api/admin/transfer-leadership', '/api/live', '/api/status', '/api/cluster', '/metrics', '/api/kv/%00', '/api/kv/' + 'k'.repeat(2000), '/api/quotes?after=-1&limit=1e9', '/static/../../etc/passwd'),
  contentType: fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', undefined),
  origin: fc.constantFrom(undefined, 'http://evil.example', 'null'),
  host: fc.constantFrom(undefined, 'evil.example'),
  forwarded: fc.constantFrom(undefined, '1', 'Node2'),
  idempotencyKey: fc.constantFrom(undefined, 'k1', 'k2'),
  body: hostileJson,
});

/** Bytes on the HTTP port that are not (quite) HTTP. */
const rawTcp = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
  fc.constantFrom(
    'GET / HTTP/1.1\r\nHost: x\r\n' + 'X-A: b\r\n'.repeat(5_000) + '\r\n',
    'POST /api/quotes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999\r\nContent-Type: application/json\r\n\r\n{"text":',
    'POST /api/kv/a HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nffffffff\r\n',
    'GET /api/live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: !!\r\n\r\n',
  ).map((s) => Buffer.from(s, 'latin1')),
);

/** Controller datagrams: random bytes, wrong types, deep values, unknown requests. */
const datagram = fc.oneof(
  fc.uint8Array({ maxLength: 1500 }).map((b) => Buffer.from(b)),
  fc.record({
    sender_name: fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.constant(null)),
    request: fc.oneof(fc.constantFrom('STORE', 'RETRIEVE', 'LEADER_INFO', 'STATUS', 'TIMEOUT', 'SHUTDOWN', 'CONVERT_FOLLOWER', 'NOPE'), fc.integer(), fc.string({ maxLength: 10 })),
    term: fc.oneof(fc.integer(), fc.constant(Number.MAX_SAFE_INTEGER), fc.string({ maxLength: 5 }), fc.constant(null)),
    key: fc.oneof(fc.string({ maxLength: 30 }), fc.integer(), fc.constant(null)),
    value: fc.oneof(fc.jsonValue(), fc.constant({ from: -5 }), fc.constant({ from: 'x' })),
  }, { requiredKeys: [] }).map((m) => Buffer.from(JSON.stringify(m))),
  fc.integer({ min: 100, max: 10_000 }).map((d) => Buffer.from(`{"request":"STORE","key":"deep","value":${nested(d)}}`)),
);

describe('fuzz: hostile client input against a live cluster', () => {
  let cluster: TestCluster;
  const httpUrl = (id: string): string => cluster.node(id).http;
  const controllerPort = (id: string): number => Number(cluster.node(id).controller.split(':').at(-1));

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 3, ...PORTS, nodeArgs: ['--rate-limit', '100000'] });
    await cluster.waitForLeader();
  });
  afterAll(() => cluster?.stop());

  it('survives random HTTP requests, raw TCP, WebSocket and UDP input', async () => {
    const ids = cluster.nodes.map((n) => n.id);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ids), request, async (id, r) => {
        const url = new URL(r.path, httpUrl(id));
        const headers: Record<string, string> = {};
        if (r.contentType) headers['content-type'] = r.contentType;
        if (r.origin) headers.origin = r.origin;
        if (r.forwarded) headers['x-raft-forwarded'] = r.forwarded;
        if (r.idempotencyKey) headers['idempotency-key'] = r.idempotencyKey;
        const res = await rawHttp(url, r.method, r.host ?? url.host, headers, r.method === 'GET' || r.method === 'OPTIONS' ? '' : r.body);
        // Any answer is fine except a server error or a dropped connection: 5xx other than the SPEC's 503/504/507.
        expect(res === null || ![500, 501, 502].includes(res), `${r.method} ${r.path} -> ${res}`).toBe(true);
      }),
      { numRuns: 400, seed: SEED },
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ids), rawTcp, async (id, bytes) => {
        await sendRaw(new URL(httpUrl(id)), bytes);
      }),
      { numRuns: 60, seed: SEED },
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ids), fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 5 }), fc.constantFrom('0', '-1', 'x', '99999999999', ''), async (id, frames, after) => {
        await wsSession(`${httpUrl(id).replace('http', 'ws')}/api/live?after=${after}`, frames);
      }),
      { numRuns: 40, seed: SEED },
    );
    const udp = createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ids), datagram, async (id, data) => {
        await new Promise<void>((resolve) => udp.send(data, controllerPort(id), '127.0.0.1', () => resolve()));
      }),
      { numRuns: 500, seed: SEED },
    );
    udp.close();
    await sleep(500);

    for (const node of cluster.nodes) expect(isAlive(node.pid), `${node.id} (pid ${node.pid}) exited:\n${cluster.output.slice(-3000)}`).toBe(true);
    // Random admin requests may have shut nodes down or moved the leader: resume, then check service.
    for (const id of ids) await http('POST', `${httpUrl(id)}/api/admin/resume`, {});
    const leader = await cluster.waitForLeader(ids, 20_000);
    expect(leader).toMatch(/^Node/);
    for (const [i, id] of ids.entries()) {
      const put = await waitFor(`a write through ${id}`, async () => {
        const res = await http('PUT', `${httpUrl(id)}/api/kv/after-fuzz-${i}`, { value: i });
        return res.status === 200 ? res : undefined;
      }, 15_000, 200);
      expect(put.body.index).toBeGreaterThan(0);
      for (const reader of ids) {
        const got = await http('GET', `${httpUrl(reader)}/api/kv/after-fuzz-${i}`);
        expect(got.status, `${reader} reads after-fuzz-${i}`).toBe(200);
        expect(got.body.value).toBe(i);
      }
    }
  });
});

/** One HTTP/1.1 request over a fresh socket with any Host; returns the status, or null if the server closed without one. */
function rawHttp(url: URL, method: string, host: string, headers: Record<string, string>, body: string): Promise<number | null> {
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname);
    const bytes = Buffer.from(body, 'utf8');
    const lines = [`${method} ${url.pathname}${url.search} HTTP/1.1`, `Host: ${host}`, 'Connection: close', `Content-Length: ${bytes.length}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    let head = '';
    const done = (status: number | null): void => {
      socket.destroy();
      resolve(status);
    };
    socket.setTimeout(8_000, () => done(null));
    socket.on('error', () => done(null));
    socket.on('data', (chunk) => {
      head += chunk.toString('latin1');
      const match = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (match) done(Number(match[1]));
    });
    socket.on('close', () => done(null));
    socket.write(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), bytes]));
  });
}

/** Writes bytes to a fresh socket, reads whatever comes back for a moment, closes. */
function sendRaw(url: URL, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname, () => socket.write(bytes));
    const finish = (): void => {
      socket.destroy();
      resolve();
    };
    socket.on('error', finish);
    socket.on('data', () => undefined);
    setTimeout(finish, 150);
  });
}

/** Opens a live stream, sends random frames (binary and text), closes. */
function wsSession(url: string, frames: Uint8Array[]): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: { origin: 'http://evil.example' } });
    const finish = (): void => {
      ws.terminate();
      resolve();
    };
    ws.on('error', finish);
    ws.on('unexpected-response', finish);
    ws.on('open', () => {
      for (const [i, frame] of frames.entries()) ws.send(i % 2 === 0 ? Buffer.from(frame) : Buffer.from(frame).toString('latin1'));
      setTimeout(finish, 100);
    });
    setTimeout(finish, 3_000);
  });
}
