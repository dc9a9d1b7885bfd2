/**
 * CPU profile of one node under load: Node1 is restarted with --cpu-prof, made leader (or, with
 * FOLLOWER=1, kept a follower), loaded for 10 s, then stopped with SIGTERM so the profile is
 * written; the leader's persist and append-batch histograms from /metrics are printed.
 *
 *   npx tsx bench/profile.ts <profile dir> [clients=64] [write|read|stale]   (PROFILE_PORT_BASE=N, FOLLOWER=1)
 */
import { readdirSync } from 'node:fs';
import { closedLoop, jsonCall } from './load.js';
import { sleep, waitFor } from '../test/support/wait.js';
import { RaftquotesSystem } from './systems.js';

const dir = process.argv[2] ?? '/tmp/prof';
const clients = Number(process.argv[3] ?? 64);
const kind = process.argv[4] ?? 'write';
/** PROFILE_PORT_BASE moves the cluster's ports (tests and other runs own the defaults). */
const portBase = Number(process.env.PROFILE_PORT_BASE ?? 0);
const rq = new RaftquotesSystem(5, [], {}, portBase ? { http: portBase, raft: portBase + 20, controller: portBase + 40 } : undefined);
await rq.start();
let leader = await rq.leader();
const target = 0;
rq.kill9(target);
const child = await rq.spawnNode(target, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
await waitFor('up', async () => (await jsonCall(`${rq.url(target)}/healthz`)).status === 200, 20000);
await sleep(1000);
leader = await rq.leader();
if (process.env.FOLLOWER) { if (leader === target) console.log(await jsonCall(`${rq.url(leader)}/api/admin/transfer-leadership`, 'POST', {})); } else if (leader !== target) console.log(await jsonCall(`${rq.url(leader)}/api/admin/transfer-leadership`, 'POST', { to: rq.nodes[target]!.id }));
await sleep(1000);
leader = await rq.leader();
console.log('leader', leader);
if (kind !== 'write') await closedLoop({ clients: 64, durationMs: 2000, warmupMs: 0, targetOf: () => rq.target(leader), requestOf: (c) => rq.put(`w${c}`, 'v'.repeat(100)) });
const s = await closedLoop({ clients, durationMs: Number(process.env.PROFILE_SECONDS ?? 10) * 1000, warmupMs: 1000, targetOf: () => rq.target(leader), requestOf: (c, seq) => kind === 'write' ? rq.put(`w${c}-${seq % 512}`, 'v'.repeat(100)) : rq.get(`w${c}`, kind === 'stale') });
console.log(JSON.stringify(s));
const m = await fetch(`${rq.url(leader)}/metrics`).then((r) => r.text());
console.log(m.split('\n').filter((l) => /persist|fsync|append_batch/.test(l) && !l.startsWith('#')).join('\n'));
child.kill('SIGTERM');
await sleep(4000);
await rq.stop();
console.log(readdirSync(dir));
