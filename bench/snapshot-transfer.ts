/**
 * In-process microbenchmark of the InstallSnapshot transfer (issue 19): two TcpTransports on
 * loopback with a shared secret (per-frame MACs), a 28 MB image sent in chunks as bulk frames,
 * the receiver answering each chunk as the core does. `window` chunks are in flight at once
 * (1 is the core's stop-and-wait). Prints MB/s per chunk size and window, and the CPU used.
 *
 *   npx tsx bench/snapshot-transfer.ts [--mb 28] [--rounds 3]
 */
import net from 'node:net';
import type { Message } from '@raftquotes/raft';
import { TcpTransport } from '../src/transport/tcp-transport.js';

const HOST = '127.0.0.1';
const quiet = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };

function argOf(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function transport(self: string, other: string, ports: Record<string, number>): TcpTransport {
  return new TcpTransport({
    selfId: self,
    clusterId: 'bench',
    listen: { host: HOST, port: ports[self] as number },
    peers: { [other]: { host: HOST, port: ports[other] as number } },
    secret: 'bench-secret-0123456789',
    advertise: { http: `http://${self}` },
    logger: quiet,
  });
}

/** Sends the image in chunks of `chunkBytes`, at most `window` unacknowledged; resolves with ms. */
function transfer(a: TcpTransport, b: TcpTransport, image: Buffer, chunkBytes: number, window: number): Promise<number> {
  const meta = { index: 100_000, term: 1, voters: ['A', 'B'] };
  const chunks = Math.ceil(image.length / chunkBytes);
  let next = 0;
  let acked = 0;
  const started = performance.now();
  return new Promise((resolve) => {
    const send = (): void => {
      while (next < chunks && next - acked < window) {
        const offset = next * chunkBytes;
        const chunk = image.subarray(offset, Math.min(offset + chunkBytes, image.length));
        a.send('B', { type: 'InstallSnapshot', from: 'A', to: 'B', term: 1, meta, offset, chunk, done: next === chunks - 1 } as Message);
        next++;
      }
    };
    b.onMessage((m) => {
      const chunk = m as Extract<Message, { type: 'InstallSnapshot' }>;
      b.send('A', { type: 'InstallSnapshotResponse', from: 'B', to: 'A', term: 1, snapshotIndex: meta.index, nextOffset: chunk.offset + chunk.chunk.length, done: chunk.done, lastLogIndex: meta.index } as Message);
    });
    a.onMessage(() => {
      acked++;
      if (acked === chunks) resolve(performance.now() - started);
      else send();
    });
    send();
  });
}

async function main(): Promise<void> {
  const image = Buffer.alloc(argOf('--mb', 28) * 1024 * 1024);
  for (let i = 0; i < image.length; i++) image[i] = (i * 2_654_435_761) >>> 24;
  const rounds = argOf('--rounds', 3);
  const ports = { A: await freePort(), B: await freePort() };
  const a = transport('A', 'B', ports);
  const b = transport('B', 'A', ports);
  await Promise.all([a.start(), b.start()]);
  try {
    await new Promise((resolve) => setTimeout(resolve, 300)); // both links up
    for (const [chunkBytes, window] of [[512 * 1024, 1], [2 * 1024 * 1024, 1], [2 * 1024 * 1024, 4], [512 * 1024, 8]] as const) {
      for (let round = 0; round < rounds; round++) {
        const cpu = process.cpuUsage();
        const ms = await transfer(a, b, image, chunkBytes, window);
        const used = process.cpuUsage(cpu);
        process.stdout.write(`${JSON.stringify({ bench: 'snapshot-transfer', mb: image.length / 2 ** 20, chunkKiB: chunkBytes / 1024, window, ms: Math.round(ms), mbPerS: Math.round(image.length / 2 ** 20 / (ms / 1000)), cpuMs: Math.round((used.user + used.system) / 1000) })}\n`);
      }
    }
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
