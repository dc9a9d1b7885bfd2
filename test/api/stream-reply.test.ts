import { createServer, get, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { writeReply } from '../../src/api/reply.js';
import { waitUntil } from './helpers.js';

const CHUNK = Buffer.alloc(64 * 1024, 7);

/** A stream of `chunks` chunks that records whether its producer was stopped (its read view closed). */
function source(chunks: number): { stream: AsyncIterable<Buffer>; state: { closed: boolean; produced: number } } {
  const state = { closed: false, produced: 0 };
  async function* stream(): AsyncGenerator<Buffer> {
    try {
      for (let i = 0; i < chunks; i++) {
        state.produced++;
        yield CHUNK;
      }
    } finally {
      state.closed = true;
    }
  }
  return { stream: stream(), state };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function serve(stream: AsyncIterable<Buffer>, streamStallMs: number, errors: Error[]): Promise<number> {
  const server = createServer((_req, res) => writeReply(res, { status: 200, stream, streamStallMs, onStreamError: (err) => errors.push(err) }, null));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('streamed replies (GET /api/backup)', () => {
  it('cut a client that reads nothing for the stall time, and stop the producer (its read view)', async () => {
    // 64 MiB: far more than the kernel's socket buffers take from a reader that never reads.
    const { stream, state } = source(1024);
    const errors: Error[] = [];
    const port = await serve(stream, 300, errors);
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write('GET /api/backup HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    socket.pause();
    await waitUntil('the stalled stream to be cut', () => state.closed, 15_000);
    expect(state.produced).toBeLessThan(1024);
    expect(errors.map((e) => e.message)).toEqual(['the client read nothing for 300 ms']);
    socket.destroy();
  });

  it('stream everything to a client that reads', async () => {
    const { stream, state } = source(256);
    const errors: Error[] = [];
    const port = await serve(stream, 300, errors);
    const bytes = await new Promise<number>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path: '/api/backup' }, (res) => {
        let n = 0;
        res.on('data', (chunk: Buffer) => (n += chunk.length));
        res.on('end', () => resolve(n));
        res.on('error', reject);
      }).on('error', reject);
    });
    expect(bytes).toBe(256 * CHUNK.length);
    expect(state.closed).toBe(true);
    expect(errors).toEqual([]);
  });
});
