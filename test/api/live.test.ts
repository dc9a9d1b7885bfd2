import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Quote } from '../../src/state/types.js';
import { CLOSE_POLICY_VIOLATION, CLOSE_SLOW_CONSUMER } from '../../src/api/live.js';
import { FakeNode } from './fake-node.js';
import { startApi, waitUntil, type Started } from './helpers.js';

interface LiveClient {
  ws: WebSocket;
  quotes: Quote[];
  statuses: Array<{ id: string }>;
  opened: Promise<void>;
  closed: Promise<{ code: number; reason: string }>;
}

function openLive(base: string, after: number | string): LiveClient {
  const ws = new WebSocket(`${base.replace('http:', 'ws:')}/api/live?after=${after}`);
  const client: LiveClient = {
    ws,
    quotes: [],
    statuses: [],
    opened: new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    }),
    closed: new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
  };
  ws.on('message', (data) => {
    const message = JSON.parse(data.toString()) as { type: string; quote?: Quote; status?: { id: string } };
    if (message.type === 'quote') client.quotes.push(message.quote as Quote);
    else if (message.type === 'status') client.statuses.push(message.status as { id: string });
  });
  return client;
}

/** The HTTP answer to a refused upgrade. */
function refusedUpgrade(base: string, path: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace('http:', 'ws:')}${path}`);
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    ws.on('open', () => reject(new Error('upgrade was accepted')));
    ws.on('error', () => undefined);
  });
}

/** Bytes the kernel holds for one loopback connection: its sender's send queue plus its receiver's receive queue. */
function kernelQueuedBytes(serverPort: number, clientPort: number): number {
  const hexPort = (port: number): string => port.toString(16).toUpperCase().padStart(4, '0');
  let total = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const [, local, remote, , queues] = line.trim().split(/\s+/);
    if (!local || !remote || !queues) continue;
    const [tx, rx] = queues.split(':').map((hex) => parseInt(hex, 16)) as [number, number];
    if (local.endsWith(`:${hexPort(serverPort)}`) && remote.endsWith(`:${hexPort(clientPort)}`)) total += tx;
    if (local.endsWith(`:${hexPort(clientPort)}`) && remote.endsWith(`:${hexPort(serverPort)}`)) total += rx;
  }
  return total;
}

const started: Started[] = [];
async function start(node: FakeNode, tuning = {}): Promise<Started> {
  const server = await startApi(node, { tuning: { wsStatusIntervalMs: 20, ...tuning } });
  started.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()));
});

function quoteCommand(i: number, idempotencyKey?: string): { op: 'quote'; text: string; author: string; postedAt: string; idempotencyKey?: string } {
  return { op: 'quote', text: `quote ${i}`, author: 'loop', postedAt: new Date(0).toISOString(), ...(idempotencyKey ? { idempotencyKey } : {}) };
}

describe('GET /api/live (WebSocket, SPEC §3)', () => {
  it('sends the backlog then live quotes with no gap and no duplicate while quotes keep being applied', async () => {
    const node = new FakeNode('Node1').lead();
    for (let i = 0; i < 2_500; i++) node.applyCommand(quoteCommand(i, i % 7 === 0 ? `key-${i}` : undefined));
    const server = await start(node);
    // A background loop applies quotes (single, batched with no-ops, and idempotent replays
    // whose results repeat an old quote) on every turn of the event loop.
    let running = true;
    let applied = 0;
    const loop = (async () => {
      while (running) {
        if (applied % 5 === 0) node.applyQuoteBatch([`batch ${applied}a`, `batch ${applied}b`, `batch ${applied}c`]);
        else if (applied % 5 === 1) node.applyCommand(quoteCommand(applied, `key-${(applied * 7) % 2_500}`));
        else node.applyCommand(quoteCommand(applied));
        applied++;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const clients = [openLive(server.url, 0), openLive(server.url, 1_234), openLive(server.url, 2_000)];
    await Promise.all(clients.map((c) => c.opened));
    await waitUntil('applies after every client connected', () => applied > 3_000);
    running = false;
    await loop;
    const last = node.stateMachine.appliedIndex();
    const allQuotes = node.stateMachine.quotesAfter(0, 1_000_000);
    const lastQuoteIndex = allQuotes.at(-1)?.index as number;
    expect(lastQuoteIndex).toBeGreaterThan(2_500);
    expect(last).toBeGreaterThanOrEqual(lastQuoteIndex);
    for (const [i, after] of [0, 1_234, 2_000].entries()) {
      const client = clients[i] as LiveClient;
      await waitUntil(`client after=${after} caught up`, () => client.quotes.at(-1)?.index === lastQuoteIndex);
      const expected = allQuotes.filter((q) => q.index > after);
      expect(client.quotes.map((q) => q.index)).toEqual(expected.map((q) => q.index));
      expect(client.quotes).toEqual(expected);
    }
    for (const client of clients) client.ws.close();
  });

  it('shares one apply listener and one status timer among clients, and drops them when the last leaves', async () => {
    const node = new FakeNode('Node1').lead();
    const server = await start(node);
    const a = openLive(server.url, 0);
    const b = openLive(server.url, 0);
    await Promise.all([a.opened, b.opened]);
    await waitUntil('both registered', () => server.api.liveClients === 2);
    expect(node.listenerCount).toBe(1);
    await waitUntil('status events', () => a.statuses.length >= 2 && b.statuses.length >= 2);
    expect(a.statuses[0]).toMatchObject({ id: 'Node1' });
    a.ws.close();
    b.ws.close();
    await waitUntil('clients gone', () => server.api.liveClients === 0);
    expect(node.listenerCount).toBe(0);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/raftquotes_ws_clients 0/);
  });

  it('refuses bad upgrades with the JSON error shape', async () => {
    const node = new FakeNode('Node1').lead();
    const server = await start(node);
    const badAfter = await refusedUpgrade(server.url, '/api/live?after=-3');
    expect(badAfter).toMatchObject({ status: 400, body: { error: 'bad_request', field: 'after' } });
    const wrongPath = await refusedUpgrade(server.url, '/api/elsewhere');
    expect(wrongPath).toMatchObject({ status: 404, body: { error: 'not_found' } });
  });

  it('refuses clients beyond the limit with HTTP 503, and admits again once one leaves', async () => {
    const node = new FakeNode('Node1').lead();
    const server = await start(node, { maxWsClients: 2 });
    const a = openLive(server.url, 0);
    const b = openLive(server.url, 0);
    await Promise.all([a.opened, b.opened]);
    const refused = await refusedUpgrade(server.url, '/api/live?after=0');
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ error: 'unavailable' });
    a.ws.close();
    await waitUntil('a slot freed', () => server.api.liveClients === 1);
    const c = openLive(server.url, 0);
    await c.opened;
    c.ws.close();
    b.ws.close();
  });

  it('closes a client that does not read (1013) instead of buffering without bound', async () => {
    const node = new FakeNode('Node1').lead();
    const server = await start(node, { maxWsBufferedBytes: 256 * 1024, wsStatusIntervalMs: 10_000 });
    const slow = openLive(server.url, 0);
    const fast = openLive(server.url, 0);
    await Promise.all([slow.opened, fast.opened]);
    const socket = (slow.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    const text = 'x'.repeat(1_000);
    let i = 0;
    await waitUntil('the slow client to be closed', () => {
      for (let n = 0; n < 200; n++) node.applyCommand({ ...quoteCommand(i++), text });
      return server.logs.some((line) => line.msg.includes('closing a slow live client'));
    }, 30_000);
    socket.resume();
    const closed = await slow.closed;
    expect(closed.code).toBe(CLOSE_SLOW_CONSUMER);
    // The reader that keeps up is unaffected and gets every quote.
    await waitUntil('the fast client caught up', () => fast.quotes.length === i);
    expect(fast.ws.readyState).toBe(WebSocket.OPEN);
    fast.ws.close();
  });

  it('closes the clients with the most queued first once all together pass the budget', async () => {
    const node = new FakeNode('Node1').lead();
    const server = await start(node, { maxWsBufferedBytes: 64 * 1024 * 1024, maxWsTotalBufferedBytes: 512 * 1024, wsStallMs: 600_000, wsStatusIntervalMs: 10_000 });
    const slow = [openLive(server.url, 0), openLive(server.url, 0)];
    const fast = openLive(server.url, 0);
    await Promise.all([...slow, fast].map((c) => c.opened));
    for (const client of slow) (client.ws as unknown as { _socket: Socket })._socket.pause();
    const text = 'x'.repeat(1_000);
    let i = 0;
    await waitUntil('a client closed over the budget', () => {
      for (let n = 0; n < 200; n++) node.applyCommand({ ...quoteCommand(i++), text });
      return server.logs.some((line) => line.msg.includes('over the budget'));
    }, 30_000);
    for (const client of slow) (client.ws as unknown as { _socket: Socket })._socket.resume();
    // A non-reader is the one closed (the reader keeps its queue near empty).
    const closedCodes = await Promise.race([Promise.any(slow.map((c) => c.closed)), fast.closed.then(() => ({ code: -1, reason: 'the fast client' }))]);
    expect(closedCodes.code).toBe(CLOSE_SLOW_CONSUMER);
    await waitUntil('the fast client caught up', () => fast.quotes.length === i);
    expect(fast.ws.readyState).toBe(WebSocket.OPEN);
    fast.ws.close();
    for (const client of slow) client.ws.terminate();
  });

  it('closes a client that drains nothing for the stall time, however little it has queued', async () => {
    const node = new FakeNode('Node1').lead();
    const server = await start(node, { maxWsBufferedBytes: 64 * 1024 * 1024, wsStallMs: 300, wsStatusIntervalMs: 10_000 });
    const stalled = openLive(server.url, 0);
    await stalled.opened;
    (stalled.ws as unknown as { _socket: Socket })._socket.pause();
    const text = 'x'.repeat(1_000);
    let i = 0;
    await waitUntil('the stalled client to be closed', () => {
      for (let n = 0; n < 50; n++) node.applyCommand({ ...quoteCommand(i++), text });
      return server.logs.some((line) => line.msg.includes('read nothing for'));
    }, 30_000);
    (stalled.ws as unknown as { _socket: Socket })._socket.resume();
    expect((await stalled.closed).code).toBe(CLOSE_SLOW_CONSUMER);
    expect(server.api.liveClients).toBe(0);
  });

  it('closes a client whose kernel buffers took everything but which answers no ping, forged pongs or not; a reader stays', async () => {
    const node = new FakeNode('Node1').lead();
    // The stall rule is out of the way: only the ping can close a client here.
    const server = await start(node, { maxWsBufferedBytes: 64 * 1024 * 1024, wsStallMs: 600_000, wsPongTimeoutMs: 500, wsStatusIntervalMs: 10_000 });
    const silent = openLive(server.url, 0);
    const reader = openLive(server.url, 0);
    await Promise.all([silent.opened, reader.opened]);
    const socket = (silent.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    // Unsolicited pongs cannot stand in for the real one: they do not echo the ping's payload.
    const forger = setInterval(() => silent.ws.pong(Buffer.alloc(8)), 200);
    // ~200 kB: well past the ping threshold, and little enough for the kernel to take it all.
    const text = 'x'.repeat(1_000);
    for (let i = 0; i < 200; i++) node.applyCommand({ ...quoteCommand(i), text });
    try {
      await waitUntil('the silent client to be closed', () => server.logs.some((line) => line.msg.includes('answered no ping')), 30_000);
    } finally {
      clearInterval(forger);
    }
    expect(server.logs.some((line) => line.msg.includes('read nothing for'))).toBe(false);
    socket.resume();
    expect((await silent.closed).code).toBe(CLOSE_SLOW_CONSUMER);
    // The reader answered its pings and got everything.
    await waitUntil('the reader caught up', () => reader.quotes.length === 200);
    for (let i = 200; i < 400; i++) node.applyCommand({ ...quoteCommand(i), text });
    await waitUntil('the reader got the rest', () => reader.quotes.length === 400);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(reader.ws.readyState).toBe(WebSocket.OPEN);
    expect(server.api.liveClients).toBe(1);
    reader.ws.close();
  });

  it('sends a backlog no further ahead of its last pong than the window, so a non-reader pins little kernel memory', async () => {
    const node = new FakeNode('Node1').lead();
    const text = 'y'.repeat(200);
    for (let i = 0; i < 20_000; i++) node.applyCommand({ ...quoteCommand(i), text });
    const window = 256 * 1024;
    const server = await start(node, { wsBacklogWindowBytes: window, wsStallMs: 600_000, wsPongTimeoutMs: 600_000, wsStatusIntervalMs: 10_000 });
    const client = openLive(server.url, 0);
    client.ws.once('open', () => (client.ws as unknown as { _socket: Socket })._socket.pause());
    await client.opened;
    const socket = (client.ws as unknown as { _socket: Socket })._socket;
    const serverPort = Number(new URL(server.url).port);
    // The backlog is ~5 MB; the kernel alone would take ~4 MB of it from a paused reader.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const inKernel = kernelQueuedBytes(serverPort, socket.localPort as number);
    expect(inKernel).toBeGreaterThan(window / 2);
    // The window, one more page of 1,000 quotes (~250 kB) at most, and the quotes read before the pause.
    expect(inKernel).toBeLessThan(window + 600 * 1024);
    socket.resume();
    await waitUntil('the reader got the whole backlog', () => client.quotes.length === 20_000, 20_000);
    expect(client.quotes.every((q, i) => q.index === (client.quotes[0]?.index ?? 0) + i)).toBe(true);
    client.ws.close();
  });

  it('closes (1008) a client that sends a message, or floods pings, and keeps the one with a keepalive', async () => {
    const node = new FakeNode('Node1').lead();
    const server = await start(node, { wsStatusIntervalMs: 10_000 });
    const talker = openLive(server.url, 0);
    const pinger = openLive(server.url, 0);
    const keepalive = openLive(server.url, 0);
    await Promise.all([talker.opened, pinger.opened, keepalive.opened]);
    talker.ws.send('hello');
    for (let i = 0; i < 40; i++) pinger.ws.ping();
    for (let i = 0; i < 5; i++) keepalive.ws.ping();
    expect((await talker.closed).code).toBe(CLOSE_POLICY_VIOLATION);
    expect((await pinger.closed).code).toBe(CLOSE_POLICY_VIOLATION);
    // The one that stayed still gets every quote.
    node.applyCommand(quoteCommand(1));
    await waitUntil('the keepalive client got the quote', () => keepalive.quotes.length === 1);
    expect(keepalive.ws.readyState).toBe(WebSocket.OPEN);
    expect(server.api.liveClients).toBe(1);
    expect(server.logs.filter((line) => line.msg.includes('closing a live client that')).length).toBe(2);
    keepalive.ws.close();
  });

  it('terminates live clients when the server closes', async () => {
    const node = new FakeNode('Node1').lead();
    const server = await startApi(node, { tuning: { wsStatusIntervalMs: 20 } });
    const client = openLive(server.url, 0);
    await client.opened;
    await server.close();
    await client.closed;
    expect(node.listenerCount).toBe(0);
  });
});
