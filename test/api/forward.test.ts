import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Forwarder, PeerRequestError } from '../../src/api/forward.js';

const OK = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: keep-alive\r\n\r\n{"ok":true}';

interface RawServer {
  server: Server;
  url: string;
  requests: number;
}

/** A raw HTTP server: `onRequest(socket, nthOnThisSocket)` decides what to do with each request. */
async function rawServer(onRequest: (socket: Socket, nth: number, raw: RawServer) => void): Promise<RawServer> {
  const raw: RawServer = { server: createServer(), url: '', requests: 0 };
  raw.server.on('connection', (socket) => {
    let nth = 0;
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      for (let i = 0; i < chunk.toString().split('\r\n\r\n').length - 1; i++) {
        raw.requests++;
        onRequest(socket, ++nth, raw);
      }
    });
  });
  await new Promise<void>((resolve) => raw.server.listen(0, '127.0.0.1', resolve));
  raw.url = `http://127.0.0.1:${(raw.server.address() as { port: number }).port}`;
  return raw;
}

const request = { method: 'GET', path: '/api/status', headers: {}, timeoutMs: 500, maxResponseBytes: 1024 };
const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const fn of cleanup.splice(0)) fn();
});

function forwarder(): Forwarder {
  const f = new Forwarder();
  cleanup.push(() => f.close());
  return f;
}

describe('Forwarder: peer requests and what their failures mean', () => {
  it('retries once on a reused keep-alive socket that the peer reset, and succeeds', async () => {
    const raw = await rawServer((socket, nth) => (nth === 1 ? socket.write(OK) : socket.resetAndDestroy()));
    cleanup.push(() => raw.server.close());
    const f = forwarder();
    expect((await f.request(raw.url, request)).status).toBe(200);
    expect((await f.request(raw.url, request)).status).toBe(200);
    expect(raw.requests).toBe(3);
  });

  it('reports an unknown outcome ("failed"), not "connect", when the retry after a reset cannot connect', async () => {
    const raw = await rawServer((socket, nth, self) => {
      if (nth === 1) socket.write(OK);
      else {
        self.server.close();
        socket.resetAndDestroy();
      }
    });
    const f = forwarder();
    await f.request(raw.url, request);
    const err = await f.request(raw.url, request).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerRequestError);
    expect((err as PeerRequestError).kind).toBe('failed');
  });

  it('classifies a refused connection as "connect" and a silent peer as "timeout"', async () => {
    const refused = await rawServer(() => undefined);
    await new Promise((resolve) => refused.server.close(resolve));
    const f = forwarder();
    const connectErr = await f.request(refused.url, request).catch((e: unknown) => e);
    expect((connectErr as PeerRequestError).kind).toBe('connect');
    const silent = await rawServer(() => undefined);
    cleanup.push(() => silent.server.close());
    const timeoutErr = await f.request(silent.url, { ...request, timeoutMs: 100 }).catch((e: unknown) => e);
    expect((timeoutErr as PeerRequestError).kind).toBe('timeout');
    const badUrl = await f.request('ftp://x', request).catch((e: unknown) => e);
    expect((badUrl as PeerRequestError).kind).toBe('connect');
  });

  it('refuses an answer larger than the limit', async () => {
    const big = await rawServer((socket) => socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n${'x'.repeat(5000)}`));
    cleanup.push(() => big.server.close());
    const err = await forwarder().request(big.url, request).catch((e: unknown) => e);
    expect((err as PeerRequestError).kind).toBe('failed');
  });
});
