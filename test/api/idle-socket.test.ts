import { rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeNode } from './fake-node.js';
import { makeWebDir, startApi, waitUntil, type Started } from './helpers.js';

const started: Started[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()));
  for (const dir of dirs.splice(0)) rmSync(join(dir, '..'), { recursive: true, force: true });
});

/** An API server whose web directory holds big.js of `bytes` bytes, with the given idle timeout. */
async function serveBigFile(bytes: number, socketIdleTimeoutMs: number): Promise<Started> {
  const webDir = makeWebDir();
  dirs.push(webDir);
  writeFileSync(join(webDir, 'big.js'), Buffer.alloc(bytes, 0x20));
  const server = await startApi(new FakeNode('Node1').lead(), { webDir, tuning: { socketIdleTimeoutMs } });
  started.push(server);
  return server;
}

describe('idle sockets', () => {
  it('closes a connection whose client stopped reading a response larger than the kernel buffers', async () => {
    // 32 MiB: the kernel takes a few MB from a reader that never reads; the rest stays in the process.
    const server = await serveBigFile(32 * 1024 * 1024, 500);
    const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`GET /static/big.js HTTP/1.1\r\nHost: ${new URL(server.url).host}\r\n\r\n`);
    socket.pause();
    await waitUntil('the server to see the connection', () => server.api.connectionsFrom('127.0.0.1') === 1);
    await waitUntil('the idle connection to be closed', () => server.api.connectionsFrom('127.0.0.1') === 0, 15_000);
    socket.destroy();
  });

  it('keeps a connection whose client reads, however long the response takes', async () => {
    const server = await serveBigFile(8 * 1024 * 1024, 2_000);
    // Reads 256 kB every 100 ms: the response takes longer than the timeout, but is never idle for it.
    const res = await fetch(`${server.url}/static/big.js`);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let bytes = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.length;
      if (bytes % (256 * 1024) < value.length) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(bytes).toBe(8 * 1024 * 1024);
  });
});

describe('HTTP pipelining', () => {
  /** Opens a connection and writes `count` pipelined GETs of `path` at once. */
  async function pipeline(server: Started, path: string, count: number): Promise<Socket> {
    const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${new URL(server.url).host}\r\n\r\n`.repeat(count));
    return socket;
  }

  it('closes a connection that pipelines requests and reads none of the answers, after a bounded number', async () => {
    const node = new FakeNode('Node1').lead();
    for (let i = 0; i < 300; i++) node.applyCommand({ op: 'put', key: `k${i}`, value: 'v'.repeat(100) });
    const server = await startApi(node);
    started.push(server);
    const socket = await pipeline(server, '/api/status?logTail=200', 2_000);
    socket.pause();
    await waitUntil('the connection to be closed', () => server.logs.some((line) => line.msg.includes('closing a connection that pipelined')) && server.api.connectionsFrom('127.0.0.1') === 0);
    const answered = (await server.registry.metrics()).match(/raftquotes_http_requests_total\{route="\/api\/status",method="GET",code="200"\} (\d+)/)?.[1];
    // Answered: those being answered, and those whose answers the kernel took, never all 2,000.
    expect(Number(answered)).toBeLessThan(1_000);
    socket.destroy();
  });

  it('answers every request of a client that pipelines and reads, in order, 16 at a time', async () => {
    const server = await startApi(new FakeNode('Node1').lead());
    started.push(server);
    const socket = await pipeline(server, '/api/status', 200);
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    await waitUntil('200 answers', () => text.split('HTTP/1.1 200 OK').length - 1 === 200);
    expect(server.logs.some((line) => line.msg.includes('closing a connection that pipelined'))).toBe(false);
    socket.destroy();
  });
});
