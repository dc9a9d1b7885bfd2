/**
 * Where the time of one write goes (issue 19): one closed-loop client, one request at a time,
 * on a 5-node cluster. Measures, in the same run, the HTTP round trip alone (GET /healthz), a
 * write on the leader, a write through a follower (forwarded over the peer link), and each
 * node's group-commit fsync (raft_persist_seconds). The nodes run with
 * RAFTQUOTES_TRACE_WRITES=1 (src/node/write-trace.ts): every stage of every entry is marked on
 * the machine-wide monotonic clock, and the marks of the five nodes are joined by log index
 * into the median timeline of one write, from the leader's HTTP arrival (t = 0).
 *
 * The cluster first runs every paired write row's load unmeasured (benchmarks.ts warmUp,
 * TIMELINE_WARMUP seconds per row, default 3): a node fresh from start is still compiling.
 *
 *   npx tsx bench/timeline.ts [requests=400] [portBase=28380]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { closedLoop, jsonCall, type LoadStats } from './load.js';
import { sleep } from '../test/support/wait.js';
import { RaftquotesSystem } from './systems.js';
import { PAIRED_ROWS, warmUp } from './benchmarks.js';

const requests = Number(process.argv[2] ?? 400);
const base = Number(process.argv[3] ?? 28380);
const SECONDS = Math.max(2, Math.round(requests / 250));
/** TIMELINE_CLIENTS=n: the writes come from n closed-loop clients (the timeline of a write under load). */
const CLIENTS = Number(process.env.TIMELINE_CLIENTS ?? 1);

type Mark = [number, string, number, number];
/** node id -> index -> stage -> [µs, turns] */
type Marks = Map<string, Map<number, Map<string, [number, number]>>>;

async function persistMeanMs(system: RaftquotesSystem, node: number): Promise<{ meanMs: number; count: number }> {
  const text = await fetch(`${system.url(node)}/metrics`).then((r) => r.text());
  const sum = Number(/raft_persist_seconds_sum\{[^}]*\} ([\d.e+-]+)/.exec(text)?.[1] ?? NaN);
  const count = Number(/raft_persist_seconds_count\{[^}]*\} ([\d.e+-]+)/.exec(text)?.[1] ?? NaN);
  return { meanMs: (sum / count) * 1000, count };
}

function readMarks(logFile: string): Marks {
  const marks: Marks = new Map();
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    const bar = line.indexOf('| {');
    if (bar < 0 || !line.includes('"write trace"')) continue;
    const node = line.slice(0, bar).trim();
    const parsed = JSON.parse(line.slice(bar + 2)) as { trace: Mark[] };
    const byIndex = marks.get(node) ?? new Map<number, Map<string, [number, number]>>();
    marks.set(node, byIndex);
    for (const [index, stage, at, turns] of parsed.trace) {
      const stages = byIndex.get(index) ?? new Map<string, [number, number]>();
      byIndex.set(index, stages);
      if (!stages.has(stage)) stages.set(stage, [at, turns]);
    }
  }
  return marks;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : (sorted[Math.floor(sorted.length / 2)] as number);
}

/** The HTTP arrival-to-answer time (µs) at which the slowest `fraction` of `entry`'s writes after `fromIndex` begins. */
function slowestThreshold(entry: Map<number, Map<string, [number, number]>>, fromIndex: number, fraction: number): number {
  const spans = [...entry]
    .filter(([index]) => index > fromIndex)
    .map(([, stages]) => (stages.get('http_out')?.[0] ?? NaN) - (stages.get('http_in')?.[0] ?? NaN))
    .filter((span) => !Number.isNaN(span))
    .sort((a, b) => a - b);
  return spans[Math.floor(spans.length * (1 - fraction))] ?? -Infinity;
}

/**
 * The median timeline of the writes answered by `entry` (the node the client talked to):
 * each stage's offset from that node's HTTP arrival, on the leader, on the follower whose ack
 * completed the majority (the second ack to arrive, for 5 voters), and on the entry node when
 * it is a follower. Prints one row per stage, with the event-loop turns on the leader.
 */
function timeline(marks: Marks, leaderId: string, entryId: string, title: string, fromIndex: number, slowest = 1): void {
  const leader = marks.get(leaderId) ?? new Map();
  const entry = marks.get(entryId) ?? new Map();
  const threshold = slowest >= 1 ? -Infinity : slowestThreshold(entry, fromIndex, slowest);
  const rows = new Map<string, number[]>();
  const turns = new Map<string, number[]>();
  const push = (key: string, value: number, turn?: number): void => {
    const values = rows.get(key) ?? [];
    values.push(value);
    rows.set(key, values);
    if (turn === undefined) return;
    const turnValues = turns.get(key) ?? [];
    turnValues.push(turn);
    turns.set(key, turnValues);
  };
  let count = 0;
  for (const [index, entryStages] of entry) {
    if (index <= fromIndex) continue;
    const httpIn = entryStages.get('http_in');
    const leaderStages = leader.get(index);
    if (!httpIn || !leaderStages?.has('applied')) continue;
    if ((entryStages.get('http_out')?.[0] ?? Infinity) - httpIn[0] < threshold) continue;
    count++;
    const t0 = httpIn[0];
    const leaderTurn0 = leaderStages.get('propose')?.[1] ?? 0;
    const acks = [...leaderStages].filter(([stage]) => stage.startsWith('ack:')).sort((a, b) => a[1][0] - b[1][0]);
    const quorumPeer = acks[1]?.[0].slice(4);
    for (const [stage, [at, turn]] of leaderStages) if (!stage.startsWith('ack:') || stage === acks[0]?.[0] || stage === acks[1]?.[0]) push(`leader ${stage.startsWith('ack:') ? (stage === acks[0]?.[0] ? 'ack 1st' : 'ack 2nd (majority)') : stage}`, at - t0, turn - leaderTurn0);
    const quorum = quorumPeer ? marks.get(quorumPeer)?.get(index) : undefined;
    for (const [stage, [at]] of quorum ?? []) if (stage !== 'commit_recv' && stage !== 'apply_ready' && stage !== 'applied') push(`follower (2nd ack) ${stage}`, at - t0);
    if (entryId !== leaderId) for (const [stage, [at]] of entryStages) push(`entry follower ${stage}`, at - t0);
  }
  const ordered = [...rows].map(([key, values]) => ({ key, at: median(values), n: values.length, turns: median(turns.get(key) ?? []) })).sort((a, b) => a.at - b.at);
  console.log(`\n${title}: median over ${count} writes, µs from the HTTP request's arrival (turns: Ready-loop turns on the leader since propose)`);
  for (const row of ordered) console.log(`  ${String(Math.round(row.at)).padStart(6)} µs  ${row.key.padEnd(34)}${Number.isNaN(row.turns) ? '' : `  turns ${row.turns}`}`);
  console.log(JSON.stringify({ bench: 'timeline-stages', title, writes: count, stages: Object.fromEntries(ordered.map((r) => [r.key, Math.round(r.at)])) }));
}

const rq = new RaftquotesSystem(5, [], { RAFTQUOTES_TRACE_WRITES: '1' }, { http: base, raft: base + 20, controller: base + 40 });
await rq.start();
try {
  const leader = await rq.leader();
  const follower = (leader + 1) % rq.size;
  await jsonCall(`${rq.url(leader)}/api/kv/warm`, 'PUT', { value: 1 }, 5_000);
  await warmUp(rq, Number(process.env.TIMELINE_WARMUP ?? 3), 1, PAIRED_ROWS.filter((row) => row.kind === 'write'));
  // The warm-up's writes are traced too: the timelines start after them.
  const fromIndex = Number((await rq.status(leader)).lastIndex);
  const one = (target: number, kind: 'health' | 'put'): Promise<LoadStats> =>
    closedLoop({
      clients: kind === 'health' ? 1 : CLIENTS,
      durationMs: SECONDS * 1000,
      warmupMs: 300,
      targetOf: () => rq.target(target),
      requestOf: (c, seq) => (kind === 'health' ? { method: 'GET', path: '/healthz', headers: {}, body: null } : rq.put(`t${(c * 64 + seq) % 4096}`, 'v'.repeat(100))),
    });
  const health = await one(leader, 'health');
  const before = await Promise.all(rq.nodes.map((_, i) => persistMeanMs(rq, i)));
  const onLeader = await one(leader, 'put');
  const leaderFsync = await persistMeanMs(rq, leader);
  const followerFsync = await persistMeanMs(rq, follower);
  const viaFollower = await one(follower, 'put');
  await sleep(1_500); // the nodes log their marks once a second
  const p50 = (s: LoadStats): string => s.p50Ms.toFixed(2);
  console.log(JSON.stringify({ bench: 'timeline', healthP50Ms: health.p50Ms, leaderWriteP50Ms: onLeader.p50Ms, leaderWriteP99Ms: onLeader.p99Ms, followerWriteP50Ms: viaFollower.p50Ms, followerWriteP99Ms: viaFollower.p99Ms, leaderFsyncMeanMs: leaderFsync.meanMs, followerFsyncMeanMs: followerFsync.meanMs, persistsBefore: before.map((b) => b.count) }));
  console.log(`HTTP round trip alone (GET /healthz, p50): ${p50(health)} ms`);
  console.log(`write on the leader (p50 / p99): ${p50(onLeader)} / ${onLeader.p99Ms.toFixed(2)} ms, ${onLeader.opsPerSec} ops/s`);
  console.log(`write through a follower (p50 / p99): ${p50(viaFollower)} / ${viaFollower.p99Ms.toFixed(2)} ms, ${viaFollower.opsPerSec} ops/s`);
  console.log(`fsync of one group commit (mean over the run): leader ${leaderFsync.meanMs.toFixed(2)} ms, follower ${followerFsync.meanMs.toFixed(2)} ms`);
  const marks = readMarks(join(rq.dataDir, 'cluster.log'));
  const leaderId = rq.nodes[leader]?.id as string;
  timeline(marks, leaderId, leaderId, `write on the leader (${leaderId})`, fromIndex);
  timeline(marks, leaderId, rq.nodes[follower]?.id as string, `write through a follower (${rq.nodes[follower]?.id})`, fromIndex);
  timeline(marks, leaderId, leaderId, `the slowest 10 % of the writes on the leader`, fromIndex, 0.1);
} finally {
  await rq.stop();
}
