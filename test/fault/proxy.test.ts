import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FaultProxy } from './proxy.js';
import { Probe, startEchoServer, type EchoServer } from './socket-helpers.js';
import { becomesTrue } from '../support/wait.js';

/** How long "did not arrive" waits; "did arrive" waits use ARRIVES_MS. */
const SILENCE_MS = 300;
const ARRIVES_MS = 3_000;

let echo: EchoServer;
let proxy: FaultProxy;
const probes: Probe[] = [];
const probe = (): Probe => {
  const p = new Probe(proxy.port);
  probes.push(p);
  return p;
};

beforeEach(async () => {
  echo = await startEchoServer('echo');
  proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: echo.port }, name: 'A→B' });
});

afterEach(async () => {
  probes.splice(0).forEach((p) => p.destroy());
  await proxy.close();
  await echo.close();
});

describe('FaultProxy', () => {
  it('forwards both ways and counts bytes', async () => {
    const p = probe();
    p.send('hello');
    expect(await p.receives('echo:hello', ARRIVES_MS)).toBe(true);
    expect(proxy.stats()).toMatchObject({ name: 'A→B', accepted: 1, active: 1, bytesToTarget: 5, bytesFromTarget: 10, cut: null });
    expect(proxy.address).toBe(`127.0.0.1:${proxy.port}`);
  });

  it('cut resets open connections and black-holes new ones until heal', async () => {
    const before = probe();
    before.send('one');
    expect(await before.receives('echo:one', ARRIVES_MS)).toBe(true);
    proxy.cut();
    expect(await before.closes(ARRIVES_MS)).toBe(true);

    const during = probe();
    during.send('two');
    expect(await during.receives('echo:two', SILENCE_MS)).toBe(false);
    expect(during.closed).toBe(false); // held open, like a partition: no reset, no answer
    expect(proxy.stats()).toMatchObject({ held: 1, cut: 'blackhole' });

    proxy.heal();
    expect(await during.closes(ARRIVES_MS)).toBe(true); // reset so the dialer reconnects
    const after = probe();
    after.send('three');
    expect(await after.receives('echo:three', ARRIVES_MS)).toBe(true);
  });

  it("cut('reset') refuses new connections at once", async () => {
    proxy.cut('reset');
    const p = probe();
    p.send('x');
    expect(await p.closes(ARRIVES_MS)).toBe(true);
    expect(p.received).toBe('');
    proxy.heal();
    const q = probe();
    q.send('y');
    expect(await q.receives('echo:y', ARRIVES_MS)).toBe(true);
  });

});

describe('FaultProxy: delay', () => {
  it('delays chunks and keeps their order when the delay shrinks', async () => {
    const p = probe();
    p.send('warm');
    expect(await p.receives('echo:warm', ARRIVES_MS)).toBe(true);
    proxy.setDelay(400);
    p.send('a');
    expect(await p.receives('echo:a', SILENCE_MS / 2)).toBe(false);
    proxy.setDelay(0);
    p.send('b'); // must not overtake "a"
    expect(await becomesTrue(() => p.received.endsWith('b'), ARRIVES_MS)).toBe(true);
    expect(p.received).toMatch(/^echo:warmecho:a(echo:)?b$/); // one or two chunks, "a" first
  });

});

describe('FaultProxy: edges', () => {
  it('carries a large transfer intact through a delay (backpressure)', async () => {
    const sink = await sinkServer();
    const big = await FaultProxy.start({ target: { host: '127.0.0.1', port: sink.port } });
    try {
      big.setDelay(20);
      const payload = Buffer.alloc(3 * 1024 * 1024, 7);
      const socket = net.connect({ host: '127.0.0.1', port: big.port });
      socket.on('error', () => undefined);
      socket.end(payload);
      expect(await becomesTrue(() => sink.received() === payload.length, 10_000)).toBe(true);
      expect(big.stats().bytesToTarget).toBe(payload.length);
    } finally {
      await big.close();
      await sink.close();
    }
  });

  it('resets the dialer when the target is down', async () => {
    await echo.close();
    const p = probe();
    expect(await p.closes(ARRIVES_MS)).toBe(true);
    echo = await startEchoServer('echo'); // for afterEach
  });

  it('rejects a nonsensical delay', () => {
    expect(() => proxy.setDelay(-1)).toThrow(/A→B: delay must be within/);
  });

  it('stops listening on close', async () => {
    await proxy.close();
    const p = new Probe(proxy.port);
    expect(await p.closes(ARRIVES_MS)).toBe(true);
    proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: echo.port } }); // for afterEach
  });
});

/** A server that counts the bytes it receives. */
async function sinkServer(): Promise<{ port: number; received: () => number; close: () => Promise<void> }> {
  let count = 0;
  const server = net.createServer((socket) => {
    socket.on('data', (chunk) => (count += chunk.length));
    socket.on('error', () => undefined);
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    received: () => count,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
