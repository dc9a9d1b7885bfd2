/**
 * A/B of an optimisation on a noisy machine: two 5-node clusters up at once (A from one build's
 * dist/cli/main.js, B from another's), the same closed-loop load alternated between them in
 * short rounds, so drift in the machine's load hits both alike.
 *
 *   [AB_WARM=25] npx tsx bench/ab.ts <A main.js> <B main.js> [rounds=4] [clients=64] [write|read]
 */
import { closedLoop, fill } from './load.js';
import { RaftquotesSystem } from './systems.js';
const [mainA, mainB, roundsArg, clientsArg, kind] = process.argv.slice(2);
const rounds = Number(roundsArg ?? 4);
const clients = Number(clientsArg ?? 64);
/**
 * AB_PORT_BASE moves both clusters' ports (tests and other runs own the defaults); AB_PLACEMENT=spread
 * sends client i to node i mod 5, AB_PLACEMENT=followers to the i-th node after the leader (the
 * paired rows' spread: a single client then always talks to a follower, in both clusters).
 */
const base = Number(process.env.AB_PORT_BASE ?? 0);
const spread = process.env.AB_PLACEMENT === 'spread';
const followers = process.env.AB_PLACEMENT === 'followers';
const a = new RaftquotesSystem(5, [], JSON.parse(process.env.AB_ENV_A ?? '{}'), base ? { http: base, raft: base + 20, controller: base + 40 } : { http: 28180, raft: 27100, controller: 25654 }, mainA);
const b = new RaftquotesSystem(5, [], JSON.parse(process.env.AB_ENV_B ?? '{}'), base ? { http: base + 100, raft: base + 120, controller: base + 140 } : { http: 28280, raft: 27200, controller: 25754 }, mainB);
try {
  await Promise.all([a.start(), b.start()]);
  // Reads need their keys: one write per client's key first.
  if (kind === 'read') {
    for (const sys of [a, b]) {
      const leader = await sys.leader();
      await fill({ clients: 16, count: clients, targetOf: () => sys.target(leader), requestOf: (n) => sys.put(`w${n}-1`, 'v'.repeat(100)), deadlineMs: 30_000 });
    }
  }
  const load = (sys: RaftquotesSystem, leader: number, durationMs: number): ReturnType<typeof closedLoop> =>
    closedLoop({ clients, durationMs, warmupMs: 500, targetOf: (c) => sys.target(spread ? c % sys.size : followers ? (leader + 1 + c) % sys.size : leader), requestOf: (c, seq) => (kind === 'read' ? sys.get(`w${c}-1`, false) : sys.put(`w${c}-${seq % 512}`, 'v'.repeat(100))) });
  // AB_WARM=s: each cluster first runs the load unmeasured (V8 compiles a node's hot paths only after ~25 s of it).
  for (const sys of [a, b]) if (Number(process.env.AB_WARM ?? 0) > 0) await load(sys, await sys.leader(), Number(process.env.AB_WARM) * 1000);
  const res: Record<string, number[][]> = { A: [], B: [] };
  for (let r = 0; r < rounds; r++) {
    for (const [name, sys] of (r % 2 ? [['B', b], ['A', a]] : [['A', a], ['B', b]]) as Array<[string, RaftquotesSystem]>) {
      const leader = await sys.leader();
      const s = await load(sys, leader, 4000);
      res[name]!.push([s.opsPerSec, s.p50Ms, s.p99Ms]);
      console.log(name, r, s.opsPerSec, s.p50Ms, s.p99Ms, s.errors);
    }
  }
  for (const name of ['A', 'B']) {
    const ops = res[name]!.map((x) => x[0]!).sort((x, y) => x - y);
    const p99 = res[name]!.map((x) => x[2]!).sort((x, y) => x - y);
    console.log(name, 'median ops/s', ops[Math.floor(ops.length / 2)], 'sum', ops.reduce((x, y) => x + y, 0), 'median p99', p99[Math.floor(p99.length / 2)]);
  }
} finally {
  await Promise.all([a.stop(), b.stop()]);
}
