/**
 * Some of the paired rows alone (benchmarks.ts paired, with its warm-up): both clusters up, the
 * chosen rows alternated between them. For checking one row without the 25-minute full run.
 *
 *   ROWS=0,1 npx tsx bench/paired-rows.ts   (ROWS: indexes into PAIRED_ROWS, default 0,1;
 *   WARM=s per row of warm-up, default 4; ROW_WARM=s of each row's own warm-up right before its
 *   rounds, default 10; ROUNDS=n per row, default 4)
 */
import { paired, planFor, PAIRED_ROWS, type PairedRow } from './benchmarks.js';
import { EtcdSystem, RaftquotesSystem } from './systems.js';

const rows = (process.env.ROWS ?? '0,1').split(',').map((i) => {
  const row = PAIRED_ROWS[Number(i)];
  if (!row) throw new Error(`ROWS: no paired row ${i} (0 to ${PAIRED_ROWS.length - 1})`);
  return row;
}) satisfies PairedRow[];
const plan = { ...planFor(false), warmupSecondsPerRow: Number(process.env.WARM ?? 4), rowWarmupSeconds: Number(process.env.ROW_WARM ?? 10), pairedRounds: Number(process.env.ROUNDS ?? 4) };
const rq = new RaftquotesSystem(5, [], {}, { http: 27500, raft: 27520, controller: 27540 });
const etcd = new EtcdSystem();
try {
  await rq.start();
  await etcd.start();
  await paired([rq, etcd], plan, (r) => {
    if (r.bench === 'paired' || r.bench === 'paired-round') console.log(JSON.stringify(r));
  }, rows);
} finally {
  await rq.stop();
  await etcd.stop();
}
