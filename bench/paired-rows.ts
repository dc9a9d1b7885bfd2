import { paired, planFor, PAIRED_ROWS } from './benchmarks.js';
import { EtcdSystem, RaftquotesSystem } from './systems.js';
const which = (process.env.ROWS ?? '0,1').split(',').map(Number);
const plan = { ...planFor(false), warmupSecondsPerRow: Number(process.env.WARM ?? 4), pairedRounds: Number(process.env.ROUNDS ?? 4) };
const rq = new RaftquotesSystem(5, [], {}, { http: 27500, raft: 27520, controller: 27540 });
const etcd = new EtcdSystem();
await rq.start(); await etcd.start();
try {
  await paired([rq, etcd], plan, (r) => { if (r.bench === "paired" || r.bench === "paired-round") console.log(JSON.stringify(r)); }, which.map((i) => PAIRED_ROWS[i]!));
} finally { await rq.stop(); await etcd.stop(); }
