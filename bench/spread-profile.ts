/**
 * CPU profiles of every node of a 5-node cluster under closed-loop PUTs spread over all nodes
 * (client i to node i mod 5): each node is restarted with --cpu-prof (not allowed in
 * NODE_OPTIONS) and is stopped
 * with SIGTERM so its profile is written; then each profile's self time is summarised by
 * function (top 25) so the leader's and a follower's costs per write can be compared.
 *
 *   npx tsx bench/spread-profile.ts <profile dir> [clients=64] [seconds=8] [main.js]
 *   (SPREAD_PROFILE_PORT_BASE=N, default 29900; PLACEMENT=leader: every client on the leader;
 *   KIND=read: linearizable GETs of keys written first, instead of PUTs; KIND=stale: the same GETs
 *   with ?consistency=stale)
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { closedLoop, fill, jsonCall } from './load.js';
import { sleep, waitFor } from '../test/support/wait.js';
import { RaftquotesSystem } from './systems.js';

const dir = process.argv[2] ?? '/tmp/spread-prof';
const clients = Number(process.argv[3] ?? 64);
const seconds = Number(process.argv[4] ?? 8);
const mainJs = process.argv[5];
const base = Number(process.env.SPREAD_PROFILE_PORT_BASE ?? 29900);
mkdirSync(dir, { recursive: true });
const ports = { http: base, raft: base + 20, controller: base + 40 };
const rq = mainJs ? new RaftquotesSystem(5, [], {}, ports, mainJs) : new RaftquotesSystem(5, [], {}, ports);
await rq.start();
for (let i = 0; i < rq.size; i++) {
  rq.kill9(i);
  await rq.spawnNode(i, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  await waitFor(`node ${i + 1} up`, async () => (await jsonCall(`${rq.url(i)}/healthz`)).status === 200, 20_000);
}
await sleep(1000);
const leader = await rq.leader();
const reads = process.env.KIND === 'read' || process.env.KIND === 'stale';
if (reads) await fill({ clients: 16, count: clients, targetOf: () => rq.target(leader), requestOf: (n) => rq.put(`w${n}-1`, 'v'.repeat(100)), deadlineMs: 30_000 });
const s = await closedLoop({
  clients,
  durationMs: seconds * 1000,
  warmupMs: 500,
  targetOf: (c) => rq.target(process.env.PLACEMENT === 'leader' ? leader : c % rq.size),
  requestOf: (c, seq) => (reads ? rq.get(`w${c}-1`, process.env.KIND === 'stale') : rq.put(`w${c}-${seq % 512}`, 'v'.repeat(100))),
});
console.log(JSON.stringify({ ...s, leader: rq.nodes[leader]!.id, leaderPid: rq.pid(leader) }));
for (let i = 0; i < rq.size; i++) process.kill(rq.pid(i) ?? 0, 'SIGTERM');
await sleep(5000);
await rq.stop();

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}
for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const n = byId.get(id)!;
    const dt = profile.timeDeltas[i] ?? 0;
    const url = n.callFrame.url.replace(/^.*\/(dist|node_modules)\//, '$1/');
    const key = `${n.callFrame.functionName || '(anon)'} ${url}:${n.callFrame.lineNumber}`;
    if (n.callFrame.functionName !== '(idle)' && n.callFrame.functionName !== '(program)') total += dt;
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  console.log(`\n## ${file}: ${(total / 1e6).toFixed(2)} s busy`);
  for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${key}`);
}
