/**
 * The /api/live fan-out to many subscribers: frames built once and written as the same bytes to
 * every client, runs of quotes spread over several turns of the event loop (more clients than
 * WS_FANOUT_CHUNK), per-client order, slow clients closed without touching the others, and the
 * staggered status events. Real server, real ws clients; no timing assertions.
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, * as wsModule from 'ws';
import type { Quote } from '../../src/state/types.js';
import { CLOSE_SLOW_CONSUMER, WS_FANOUT_CHUNK } from '../../src/api/live.js';
import { jsonFrame, textFrame } from '../../src/api/live-frame.js';
import { FakeNode } from './fake-node.js';
import { call, startApi, waitUntil, type Started } from './helpers.js';

interface Subscriber {
  ws: WebSocket;
  /** Every message's payload as received, in order. */
  raw: Buffer[];
  quotes: Quote[];
  statuses: number;
  opened: Promise<void>;
  closed: Promise<{ code: number }>;
}

function subscribe(base: string, after: number): Subscriber {
  const ws = new WebSocket(`${base.replace('http:', 'ws:')}/api/live?after=${after}`, { perMessageDeflate: false });
  const sub: Subscriber = {
    ws,
    raw: [],
    quotes: [],
    statuses: 0,
    opened: new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    }),
    closed: new Promise((resolve) => ws.once('close', (code) => resolve({ code }))),
  };
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    expect(isBinary).toBe(false);
    const message = JSON.parse(data.toString()) as { type: string; quote?: Quote };
    if (message.type === 'quote') {
      sub.raw.push(data);
      sub.quotes.push(message.quote as Quote);
    } else if (message.type === 'status') {
      sub.statuses++;
    }
  });
  return sub;
}

/** Parses frames with ws's own client-side Receiver (unmasked server frames). */
function parseFrames(bytes: Buffer): Array<{ text: string; binary: boolean }> {
  type ReceiverClass = new (options: { isServer: boolean; maxPayload: number }) => NodeJS.WritableStream & { on(event: 'message', listener: (data: Buffer, binary: boolean) => void): void };
  const Receiver = (wsModule as unknown as { Receiver: ReceiverClass }).Receiver;
  const receiver = new Receiver({ isServer: false, maxPayload: 0 });
  const messages: Array<{ text: string; binary: boolean }> = [];
  receiver.on('message', (data, binary) => messages.push({ text: data.toString(), binary }));
  receiver.write(bytes);
  return messages;
}

const started: Started[] = [];
async function start(node: FakeNode, tuning = {}): Promise<Started> {
  const server = await startApi(node, { tuning: { wsStatusIntervalMs: 20, maxWsClientsPerLoopback: 2_000, ...tuning } });
  started.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()));
});

describe('textFrame (RFC 6455 §5.2, server to client)', () => {
  it('frames every payload length class so that a WebSocket client reads it back', () => {
    for (const length of [0, 1, 125, 126, 127, 65_535, 65_536, 70_000]) {
      const text = 'é'.repeat(Math.floor(length / 2)) + 'x'.repeat(length % 2);
      const payload = Buffer.from(text);
      expect(payload.length).toBe(length);
      const frame = textFrame(payload);
      expect(frame[0]).toBe(0x81);
      // Never masked: the mask bit is clear, which is what makes the bytes the same for every client.
      expect((frame[1] as number) & 0x80).toBe(0);
      expect(parseFrames(frame)).toEqual([{ text, binary: false }]);
    }
  });

  it('concatenated frames are read as separate messages, in order', () => {
    const values = [{ type: 'quote', n: 1 }, { type: 'quote', n: 2, text: 'y'.repeat(300) }, { type: 'status' }];
    const bytes = Buffer.concat(values.map(jsonFrame));
    expect(parseFrames(bytes).map((m) => JSON.parse(m.text) as unknown)).toEqual(values);
  });
});

describe('GET /api/live fan-out to many subscribers', () => {
  it('delivers every quote to more clients than one fan-out turn serves, byte-identical and in order, while quotes keep coming', async () => {
    const node = new FakeNode('Node1').lead();
    for (let i = 0; i < 50; i++) node.applyQuoteBatch([`before ${i}`]);
    const server = await start(node, { wsStatusIntervalMs: 10_000 });
    const count = WS_FANOUT_CHUNK + 100;
    const subscribers: Subscriber[] = [];
    // Some join at the start, the rest while quotes are being applied (their backlogs overlap live runs).
    for (let i = 0; i < count / 2; i++) subscribers.push(subscribe(server.url, i % 3 === 0 ? 0 : 20));
    await Promise.all(subscribers.map((s) => s.opened));
    let batch = 0;
    const applyMore = (): void => {
      node.applyQuoteBatch([`live ${batch}a`, `live ${batch}b`, `live ${batch}c`].slice(0, 1 + (batch % 3)));
      batch++;
    };
    for (let i = count / 2; i < count; i++) {
      subscribers.push(subscribe(server.url, i % 2 === 0 ? 0 : 40));
      if (i % 25 === 0) applyMore();
    }
    await Promise.all(subscribers.map((s) => s.opened));
    for (let i = 0; i < 20; i++) {
      applyMore();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const all = node.stateMachine.quotesAfter(0, 1_000_000);
    const lastIndex = (all.at(-1) as Quote).index;
    await waitUntil('every subscriber has the last quote', () => subscribers.every((s) => s.quotes.at(-1)?.index === lastIndex), 60_000);
    const expectedRaw = new Map(all.map((q) => [q.index, JSON.stringify({ type: 'quote', quote: q })]));
    for (const sub of subscribers) {
      const after = Number(new URL(sub.ws.url).searchParams.get('after'));
      expect(sub.quotes.map((q) => q.index)).toEqual(all.filter((q) => q.index > after).map((q) => q.index));
      // The same bytes for every client: exactly the serialization of the quote.
      for (const [i, quote] of sub.quotes.entries()) expect((sub.raw[i] as Buffer).toString()).toBe(expectedRaw.get(quote.index));
    }
    expect(server.api.liveClients).toBe(count);
    for (const sub of subscribers) sub.ws.close();
    await waitUntil('clients gone', () => server.api.liveClients === 0);
  });

  it('closes a subscriber that stops reading (1013) while the others keep receiving every quote in order', async () => {
    const node = new FakeNode('Node1').lead();
    const server = await start(node, { maxWsBufferedBytes: 256 * 1024, wsStallMs: 600_000, wsStatusIntervalMs: 10_000 });
    const subscribers = Array.from({ length: 8 }, () => subscribe(server.url, 0));
    await Promise.all(subscribers.map((s) => s.opened));
    const slow = subscribers[5] as Subscriber;
    const socket = (slow.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    const text = 'x'.repeat(1_000);
    let i = 0;
    await waitUntil('the slow subscriber to be closed', () => {
      node.applyQuoteBatch(Array.from({ length: 100 }, () => `${text} ${i++}`));
      return server.logs.some((line) => line.msg.includes('closing a slow live client'));
    }, 30_000);
    socket.resume();
    expect((await slow.closed).code).toBe(CLOSE_SLOW_CONSUMER);
    const all = node.stateMachine.quotesAfter(0, 1_000_000).map((q) => q.index);
    const others = subscribers.filter((s) => s !== slow);
    await waitUntil('the others caught up', () => others.every((s) => s.quotes.length === all.length), 30_000);
    for (const sub of others) {
      expect(sub.quotes.map((q) => q.index)).toEqual(all);
      expect(sub.ws.readyState).toBe(WebSocket.OPEN);
    }
    expect(server.logs.filter((line) => line.msg.includes('closing a slow live client'))).toHaveLength(1);
    for (const sub of others) sub.ws.close();
  });

  it('times each run from its apply to its write to the last subscriber (raftquotes_ws_fanout_seconds)', async () => {
    const node = new FakeNode('Node1').lead();
    const server = await start(node, { wsStatusIntervalMs: 10_000 });
    const subscribers = Array.from({ length: 3 }, () => subscribe(server.url, 0));
    await Promise.all(subscribers.map((s) => s.opened));
    const runs = async (): Promise<number> => Number(/^raftquotes_ws_fanout_seconds_count (\d+)$/m.exec((await call(server.url, 'GET', '/metrics')).body as string)?.[1] ?? NaN);
    expect(await runs()).toBe(0);
    for (let run = 1; run <= 2; run++) {
      node.applyQuoteBatch([`run ${run} a`, `run ${run} b`]);
      await waitUntil(`every subscriber has run ${run}`, () => subscribers.every((s) => s.quotes.length === 2 * run));
      // Quotes applied together are one run: one observation, not one per quote or per client.
      expect(await runs()).toBe(run);
    }
    for (const sub of subscribers) sub.ws.close();
  });

  it('gives every subscriber status events, in turn, however many there are', async () => {
    const node = new FakeNode('Node1').lead();
    const server = await start(node, { wsStatusIntervalMs: 20 });
    const subscribers = Array.from({ length: 200 }, () => subscribe(server.url, 0));
    await Promise.all(subscribers.map((s) => s.opened));
    // Beyond the one each gets after its backlog, the timer reaches every client again.
    await waitUntil('three status events each', () => subscribers.every((s) => s.statuses >= 3), 30_000);
    for (const sub of subscribers) sub.ws.close();
  });
});
