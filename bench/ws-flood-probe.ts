/**
 * Probe: while 4 closed-loop writers PUT through a follower, a separate process either floods
 * that follower's /api/live with 4 KiB messages over reconnecting WebSockets (FLOODERS of them)
 * or just burns a core (the same CPU taken from the machine, nothing sent). Prints both.
 *
 *   npx tsx bench/ws-flood-probe.ts [child ws-url|burn]
 */
import { spawn } from 'node:child_process';
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

const rq = new RaftquotesSystem(5, [], {}, { http: 29500, raft: 29520, controller: 29540 });
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
await withChild('flood', wsUrl);
console.log('term before', term0, 'after', ((await rq.status(leader)) as { term: number }).term);
await rq.stop();
