/**
 * Group commits under load, per node (issue 19): how many persists (one fsync each) a node
 * makes per second, how long one takes, how many entries it carries, and the node's CPU,
 * from each node's own /metrics (raft_persist_seconds, raft_append_batch_entries,
 * process_cpu_seconds_total) around a closed-loop write load.
 *
 *   npx tsx bench/persist-probe.ts [clients=64] [leader|spread] [seconds=8]
 */
import { closedLoop, VALUE_100 } from './load.js';
import { RaftquotesSystem } from './systems.js';

const [clientsArg = '64', placement = 'leader', secondsArg = '8'] = process.argv.slice(2);
const clients = Number(clientsArg);
const seconds = Number(secondsArg);
const METRICS = /^(raft_persist_seconds_(?:sum|count)|raft_append_batch_entries_(?:sum|count)|process_cpu_seconds_total)\{[^}]*\} ([\d.e+-]+)/;

async function scrape(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = METRICS.exec(line);
    if (m) out[m[1] as string] = Number(m[2]);
  }
  return out;
}

const sys = new RaftquotesSystem(5, [], {}, { http: 26000, raft: 26020, controller: 26040 });
try {
  await sys.start();
  const leader = await sys.leader();
  const targetOf = (i: number) => sys.target(placement === 'leader' ? leader : i % sys.size);
  await closedLoop({ clients, warmupMs: 1_000, durationMs: 2_000, targetOf, requestOf: (i, n) => sys.put(`warm${i}-${n}`, VALUE_100) });
  const before = await Promise.all(sys.nodes.map((_, i) => scrape(sys.url(i))));
  const started = performance.now();
  const stats = await closedLoop({ clients, warmupMs: 0, durationMs: seconds * 1_000, targetOf, requestOf: (i, n) => sys.put(`probe${i}-${n}`, VALUE_100) });
  const elapsed = (performance.now() - started) / 1_000;
  const after = await Promise.all(sys.nodes.map((_, i) => scrape(sys.url(i))));
  console.log(JSON.stringify({ bench: 'persist-probe', clients, placement, opsPerSec: stats.opsPerSec, p50Ms: stats.p50Ms, p99Ms: stats.p99Ms }));
  after.forEach((a, i) => {
    const delta = (key: string): number => (a[key] ?? 0) - (before[i]?.[key] ?? 0);
    const persists = delta('raft_persist_seconds_count');
    console.log(JSON.stringify({
      node: i + 1,
      role: i === leader ? 'leader' : 'follower',
      persistsPerSec: Math.round(persists / elapsed),
      meanPersistMs: Number(((1_000 * delta('raft_persist_seconds_sum')) / persists).toFixed(2)),
      threadInPersistPct: Math.round((100 * delta('raft_persist_seconds_sum')) / elapsed),
      entriesPerPersist: Number((delta('raft_append_batch_entries_sum') / delta('raft_append_batch_entries_count')).toFixed(1)),
      cpuPct: Math.round((100 * delta('process_cpu_seconds_total')) / elapsed),
    }));
  });
} finally {
  await sys.stop();
}
