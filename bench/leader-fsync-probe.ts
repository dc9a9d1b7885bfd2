/**
 * How much the leader's own blocking fsync costs a loaded cluster (issue 19): two 5-node
 * clusters up at once, both led by Node1; in B, Node1's data dir is on tmpfs (/dev/shm), so its
 * fsync returns at once, as an fsync off the JavaScript thread would leave that thread free,
 * while its followers still fsync to disk. The same closed-loop writes on the leader alternate
 * between them. An upper bound on what moving the leader's fsync off its thread could gain.
 * B breaks SPEC §2 (a leader's log must be durable): a measurement only, never a mode.
 *
 *   npx tsx bench/leader-fsync-probe.ts [rounds=8] [clients=64] [warm s=20]
 */
import { createSocket } from 'node:dgram';
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { closedLoop } from './load.js';
import { RaftquotesSystem } from './systems.js';
import { sleep, waitFor } from '../test/support/wait.js';

const [roundsArg = '8', clientsArg = '64', warmArg = '20'] = process.argv.slice(2);
const rounds = Number(roundsArg);
const clients = Number(clientsArg);
const base = Number(process.env.PROBE_PORT_BASE ?? 21000);
const ports = (offset: number): { http: number; raft: number; controller: number } => ({ http: base + offset, raft: base + offset + 20, controller: base + offset + 40 });
const a = new RaftquotesSystem(5, [], {}, ports(0));
const b = new RaftquotesSystem(5, [], {}, ports(100));
const shm = `/dev/shm/rq-leader-probe-${process.pid}`;
mkdirSync(shm, { recursive: true });
symlinkSync(shm, join(b.dataDir, 'Node1'));

/** The controller's TIMEOUT (a forced campaign) to Node1 until it leads. */
async function leadFromNode1(sys: RaftquotesSystem, controllerPort: number): Promise<void> {
  const socket = createSocket('udp4');
  try {
    await waitFor('Node1 to lead', async () => {
      if ((await sys.leader()) === 0) return true;
      socket.send(JSON.stringify({ sender_name: 'Controller', request: 'TIMEOUT', term: null, key: null, value: null }), controllerPort, '127.0.0.1');
      await sleep(1_000);
      return (await sys.leader()) === 0;
    }, 30_000);
  } finally {
    socket.close();
  }
}

const load = (sys: RaftquotesSystem, durationMs: number): ReturnType<typeof closedLoop> =>
  closedLoop({ clients, durationMs, warmupMs: 500, targetOf: () => sys.target(0), requestOf: (c, seq) => sys.put(`w${c}-${seq % 512}`, 'v'.repeat(100)) });
try {
  await Promise.all([a.start(), b.start()]);
  await leadFromNode1(a, ports(0).controller + 1);
  await leadFromNode1(b, ports(100).controller + 1);
  for (const sys of [a, b]) await load(sys, Number(warmArg) * 1000);
  const res: Record<string, number[]> = { A: [], B: [] };
  for (let r = 0; r < rounds; r++) {
    for (const [name, sys] of (r % 2 ? [['B', b], ['A', a]] : [['A', a], ['B', b]]) as Array<[string, RaftquotesSystem]>) {
      if ((await sys.leader()) !== 0) throw new Error(`${name}: Node1 lost the lead`);
      const s = await load(sys, 4000);
      res[name]?.push(s.opsPerSec);
      console.log(name, r, s.opsPerSec, s.p50Ms, s.p99Ms, s.errors);
    }
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? NaN;
  console.log(JSON.stringify({ bench: 'leader-fsync-probe', clients, diskLeaderMedian: median(res.A ?? []), tmpfsLeaderMedian: median(res.B ?? []) }));
} finally {
  await Promise.all([a.stop(), b.stop()]);
  rmSync(shm, { recursive: true, force: true });
}
