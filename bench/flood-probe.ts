/**
 * Probe: while 4 closed-loop writers PUT through a follower, a separate process either burns a
 * core (the CPU an attacker on this machine takes, nothing sent) or floods: the follower's
 * /api/live with 4 KiB messages over reconnecting WebSockets (FLOODERS of them), the leader's
 * controller port with datagrams, or the follower's Raft and HTTP ports with junk over
 * reconnecting connections. A flood should cost the writers no more than the burn does.
 *
 *   npx tsx bench/flood-probe.ts   (ONLY=ws,udp,raft,http,get,post,put: some of the floods;
 *   RATE_LIMIT=n: the nodes' --rate-limit, default 0 as in the benchmarks)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { Agent, get, request } from 'node:http';
import { connect } from 'node:net';
import WebSocket from 'ws';
import { RaftquotesSystem } from './systems.js';
import { closedLoop } from './load.js';

if (process.argv[2] === 'child') {
  const mode = process.argv[3] as string;
  const deadline = Date.now() + 7_000;
  if (mode === 'burn') {
    while (Date.now() < deadline) { /* one core, nothing sent */ }
    process.exit(0);
  }
  if (mode.startsWith('udp:')) {
    const udp = createSocket('udp4');
    const port = Number(mode.slice(4));
    const requests = (process.env.UDP_REQUESTS ?? 'RETRIEVE,LEADER_INFO,STORE,NOPE').split(',').map((request) => Buffer.from(JSON.stringify({ sender_name: 'flood', request, term: null, key: 'k', value: 'v' })));
    let sent = 0;
    const pump = (): void => {
      for (let i = 0; i < 200; i++) udp.send(requests[sent++ % requests.length] as Buffer, port, '127.0.0.1');
      if (Date.now() < deadline) setImmediate(pump);
      else { console.log(`datagrams ${sent}`); process.exit(0); }
    };
    pump();
    await new Promise(() => undefined);
  }
  if (mode.startsWith('tcp:')) {
    // Garbage over reconnecting connections: the Raft port's handshake, or the HTTP parser.
    const port = Number(mode.slice(4));
    let connections = 0;
    const junk = async (): Promise<void> => {
      while (Date.now() < deadline) {
        await new Promise<void>((r) => {
          const socket = connect(port, '127.0.0.1');
          connections++;
          socket.on('error', () => r());
          socket.on('close', () => r());
          socket.on('data', () => undefined);
          socket.on('connect', () => socket.end(randomBytes(64 * 1024)));
          setTimeout(() => { socket.destroy(); r(); }, 200);
        });
      }
    };
    await Promise.all(Array.from({ length: 8 }, junk));
    console.log(`connections ${connections}`);
    process.exit(0);
  }
  if (mode.startsWith('post:')) {
    // 1 MiB JSON bodies (the largest accepted) as fast as 16 keep-alive clients can send them.
    const url = new URL(mode.slice(5));
    const body = JSON.stringify({ text: 'x'.repeat(1024 * 1024 - 64), author: 'flood' });
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const statuses = new Map<number, number>();
    const client = async (): Promise<void> => {
      while (Date.now() < deadline) {
        await new Promise<void>((r) => {
          const req = request(url, { method: url.searchParams.get('method') ?? 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
            statuses.set(res.statusCode ?? 0, (statuses.get(res.statusCode ?? 0) ?? 0) + 1);
            res.resume();
            res.on('end', () => r());
          });
          req.on('error', () => r());
          req.end(body);
        });
      }
    };
    await Promise.all(Array.from({ length: 16 }, client));
    console.log(`answers ${JSON.stringify(Object.fromEntries(statuses))}`);
    process.exit(0);
  }
  if (mode.startsWith('get:')) {
    // Valid requests as fast as 16 keep-alive clients can send them.
    const url = mode.slice(4);
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    let answered = 0;
    const client = async (): Promise<void> => {
      while (Date.now() < deadline) {
        await new Promise<void>((r) => {
          get(url, { agent }, (res) => { res.resume(); res.on('end', () => { answered++; r(); }); }).on('error', () => r());
        });
      }
    };
    await Promise.all(Array.from({ length: 16 }, client));
    console.log(`answered ${answered}`);
    process.exit(0);
  }
  const payload = Buffer.alloc(4000, 65);
  let opened = 0;
  const flooder = async (): Promise<void> => {
    while (Date.now() < deadline) {
      const ws = new WebSocket(mode);
      ws.on('error', () => undefined);
      const open = await new Promise<boolean>((r) => { ws.once('open', () => r(true)); ws.once('close', () => r(false)); });
      if (!open) continue;
      opened++;
      await new Promise<void>((r) => {
        const pump = (): void => {
          while (Date.now() < deadline && ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 1 << 20) ws.send(payload);
          if (Date.now() < deadline && ws.readyState === WebSocket.OPEN) setImmediate(pump);
          else { ws.terminate(); r(); }
        };
        pump();
      });
    }
  };
  await Promise.all(Array.from({ length: Number(process.env.FLOODERS ?? 8) }, flooder));
  console.log(`connections ${opened}`);
  process.exit(0);
}

const PORTS = { http: 29500, raft: 29520, controller: 29540 };
const rq = new RaftquotesSystem(5, [...(process.env.CONTROLLER_ALLOW ? ['--controller-allow', process.env.CONTROLLER_ALLOW] : []), ...(process.env.RATE_LIMIT ? ['--rate-limit', process.env.RATE_LIMIT] : [])], {}, PORTS);
/** `raftquotes cluster` gives node i (from 0) each base + i + 1. */
const portOf = (kind: keyof typeof PORTS, node: number): number => PORTS[kind] + node + 1;
await rq.start();
const leader = await rq.leader();
const victim = (leader + 1) % rq.size;
const wsUrl = `${rq.url(victim).replace('http:', 'ws:')}/api/live?after=999999999`;
const writes = (label: string): Promise<void> =>
  closedLoop({ clients: 4, durationMs: 6000, warmupMs: 300, targetOf: () => rq.target(victim), requestOf: (c, seq) => rq.put(`k${c}-${seq % 64}`, 'v'.repeat(100)) })
    .then((s) => console.log(label, JSON.stringify({ ops: s.opsPerSec, p50: s.p50Ms, p99: s.p99Ms, errors: s.errors })));
const withChild = async (label: string, mode: string): Promise<void> => {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, 'child', mode], { stdio: ['ignore', 'inherit', 'inherit'] });
  await writes(label);
  await new Promise((r) => child.once('exit', r));
};
const term0 = ((await rq.status(leader)) as { term: number }).term;
await writes('quiet');
await withChild('burn', 'burn');
const only = process.env.ONLY?.split(',');
const modes: Array<[string, string]> = [
  ['ws flood', wsUrl],
  ['udp flood (leader)', `udp:${portOf('controller', leader)}`],
  ['raft-port junk', `tcp:${portOf('raft', victim)}`],
  ['http junk', `tcp:${new URL(rq.url(victim)).port}`],
  ['get /api/cluster', `get:${rq.url(victim)}/api/cluster?logTail=200`],
  ['get /api/status', `get:${rq.url(victim)}/api/status?logTail=200`],
  ['get /api/quotes', `get:${rq.url(victim)}/api/quotes?limit=1000`],
  ['get /static/sim.bundle.js', `get:${rq.url(victim)}/static/sim.bundle.js`],
  ['get /dashboard', `get:${rq.url(victim)}/dashboard`],
  ['post 1 MiB quotes', `post:${rq.url(victim)}/api/quotes`],
  ['put 1 MiB values', `post:${rq.url(victim)}/api/kv/flood?method=PUT`],
];
for (const [label, mode] of modes) if (!only || only.some((o) => label.startsWith(o))) await withChild(label, mode);
console.log('term before', term0, 'after', ((await rq.status(leader)) as { term: number }).term);
await rq.stop();
