import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPLY_BURST_BYTES, REPLY_BYTES_PER_SECOND } from '../../src/controller/reply-budget.js';
import { http, REPO_ROOT, sleep, waitFor } from '../support/cluster.js';

/**
 * Issue 15 finding 6, as the attack, on a real node process (ports 25300-25309): a 22-byte
 * RETRIEVE got a 59,979-byte reply (2,700x) sent to whatever source the datagram claimed.
 * Now the replies a source gets are bounded by its byte budget, and a source outside
 * --controller-allow gets nothing at all.
 */
const MAIN_JS = join(REPO_ROOT, 'dist/cli/main.js');
const BASE = 25300;
const HTTP = `http://127.0.0.1:${BASE + 1}`;
const CONTROLLER_PORT = BASE + 2;
const RETRIEVE = Buffer.from('{"request":"RETRIEVE"}');

async function openSocket(host: string): Promise<{ socket: Socket; received: () => { datagrams: number; bytes: number } }> {
  const socket = createSocket('udp4');
  let datagrams = 0;
  let bytes = 0;
  socket.on('message', (data) => {
    datagrams++;
    bytes += data.byteLength;
  });
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  try {
    socket.setRecvBufferSize(8 * 1024 * 1024); // capped by the kernel; a smaller buffer only undercounts
  } catch {
    // not permitted: keep the default
  }
  return { socket, received: () => ({ datagrams, bytes }) };
}

const send = (socket: Socket, data: Buffer): Promise<void> =>
  new Promise((resolve, reject) => socket.send(data, CONTROLLER_PORT, '127.0.0.1', (err) => (err ? reject(err) : resolve())));

describe('UDP controller amplification (finding 6)', () => {
  let dir: string;
  let node: ChildProcess;
  let output = '';

  beforeAll(async () => {
    expect(RETRIEVE.byteLength).toBe(22);
    dir = mkdtempSync(join(tmpdir(), 'rq-amplify-'));
    const args = [MAIN_JS, 'node', '--id', 'Node1', '--peers', `Node1=127.0.0.1:${BASE}`, '--data-dir', join(dir, 'Node1'), '--init'];
    args.push('--http', `127.0.0.1:${BASE + 1}`, '--controller', `127.0.0.1:${CONTROLLER_PORT}`, '--controller-allow', '127.0.0.1/32', '--rate-limit', '0');
    node = spawn(process.execPath, args, { env: { ...process.env, RAFTQUOTES_SECRET: 'amplification-test-secret-0123456789' }, stdio: ['ignore', 'pipe', 'pipe'] });
    node.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    node.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    await waitFor('a single-node leader', async () => (await http('GET', `${HTTP}/api/status`, undefined, {}, 500)).body?.state === 'leader', 20_000, 100);
    // A big log: 200 entries of ~1 KB, so RETRIEVE answers full 60,000-byte pages.
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(Array.from({ length: 10 }, async (_, i) => {
        const res = await http('PUT', `${HTTP}/api/kv/big-${batch}-${i}`, { value: 'v'.repeat(1_000) });
        expect(res.status).toBeLessThan(300);
      }));
    }
  }, 60_000);

  afterAll(() => {
    if (node?.exitCode === null) node.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('bounds the reply bytes 1,000 RETRIEVEs from an allowed source get to the per-source budget', async () => {
    const { socket, received } = await openSocket('127.0.0.1');
    try {
      // The course protocol works: one RETRIEVE, one full page.
      await send(socket, RETRIEVE);
      await waitFor('a first page', () => received().datagrams === 1, 5_000, 10);
      const firstPage = received().bytes;
      expect(firstPage).toBeGreaterThan(50_000);

      const start = Date.now();
      await Promise.all(Array.from({ length: 1_000 }, () => send(socket, RETRIEVE)));
      await sleep(1_500);
      const elapsedSeconds = (Date.now() - start) / 1000;
      const sentBytes = 1_000 * RETRIEVE.byteLength;
      const floodBytes = received().bytes - firstPage;
      const budget = REPLY_BURST_BYTES + REPLY_BYTES_PER_SECOND * elapsedSeconds;
      console.log(`amplification: sent ${sentBytes} B in 1,000 datagrams, received ${floodBytes} B in ${received().datagrams - 1} replies over ${elapsedSeconds.toFixed(2)} s (${(floodBytes / sentBytes).toFixed(1)}x; budget ${Math.round(budget)} B; unbounded would be ~${1_000 * firstPage} B)`);
      expect(floodBytes).toBeLessThanOrEqual(budget);
      expect(received().datagrams - 1).toBeLessThan(30);

      // The node counted what it did not answer, and logged it rate-limited.
      const metrics = (await http('GET', `${HTTP}/metrics`)).body as string;
      const overBudget = Number(/controller_datagrams_unanswered_total\{[^}]*reason="over_budget"[^}]*\} (\d+)/.exec(metrics)?.[1]);
      // Not 1,000 - 8: the kernel drops what overflows the node's socket buffer before it is read.
      expect(overBudget).toBeGreaterThan(0);
      expect(output.split('\n').filter((l) => l.includes('controller reply budget')).length).toBeLessThanOrEqual(5);
      expect(node.exitCode).toBeNull();
    } finally {
      socket.close();
    }
  }, 30_000);

  it('answers nothing at all to a source outside --controller-allow (127.0.0.2 vs 127.0.0.1/32)', async () => {
    const { socket, received } = await openSocket('127.0.0.2');
    try {
      for (const data of [RETRIEVE, Buffer.from('{"request":"LEADER_INFO"}'), Buffer.from('{"request":"STATUS"}'), Buffer.from('not json'), Buffer.from('{"request":"FLY"}')]) {
        for (let i = 0; i < 20; i++) await send(socket, data);
      }
      await sleep(1_000);
      expect(received()).toEqual({ datagrams: 0, bytes: 0 });
      const metrics = (await http('GET', `${HTTP}/metrics`)).body as string;
      expect(Number(/controller_datagrams_unanswered_total\{[^}]*reason="refused"[^}]*\} (\d+)/.exec(metrics)?.[1])).toBe(100);
      expect(output).toContain('not in --controller-allow');
    } finally {
      socket.close();
    }
  }, 30_000);
});
