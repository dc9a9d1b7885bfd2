/**
 * Where the time of one write goes (issue 19): one closed-loop client, one request at a time,
 * on a 5-node cluster. Measures, in the same run, the HTTP round trip alone (GET /healthz), a
 * write on the leader, a write through a follower (forwarded over the peer link), and each
 * node's group-commit fsync (raft_persist_seconds), then prints the timeline they imply.
 *
 *   npx tsx bench/timeline.ts [requests=400] [portBase=28380]
 */
import { closedLoop, jsonCall, type LoadStats } from './load.js';
import { RaftquotesSystem } from './systems.js';

const requests = Number(process.argv[2] ?? 400);
const base = Number(process.argv[3] ?? 28380);
const SECONDS = Math.max(2, Math.round(requests / 250));

async function persistMeanMs(system: RaftquotesSystem, node: number): Promise<{ meanMs: number; count: number }> {
  const text = await fetch(`${system.url(node)}/metrics`).then((r) => r.text());
  const sum = Number(/raft_persist_seconds_sum\{[^}]*\} ([\d.e+-]+)/.exec(text)?.[1] ?? NaN);
  const count = Number(/raft_persist_seconds_count\{[^}]*\} ([\d.e+-]+)/.exec(text)?.[1] ?? NaN);
  return { meanMs: (sum / count) * 1000, count };
}

const rq = new RaftquotesSystem(5, [], {}, { http: base, raft: base + 20, controller: base + 40 });
await rq.start();
try {
  const leader = await rq.leader();
  const follower = (leader + 1) % rq.size;
  await jsonCall(`${rq.url(leader)}/api/kv/warm`, 'PUT', { value: 1 }, 5_000);
  const one = (target: number, kind: 'health' | 'put'): Promise<LoadStats> =>
    closedLoop({
      clients: 1,
      durationMs: SECONDS * 1000,
      warmupMs: 300,
      targetOf: () => rq.target(target),
      requestOf: (_c, seq) => (kind === 'health' ? { method: 'GET', path: '/healthz', headers: {}, body: null } : rq.put(`t${seq % 64}`, 'v'.repeat(100))),
    });
  const health = await one(leader, 'health');
  const before = await Promise.all(rq.nodes.map((_, i) => persistMeanMs(rq, i)));
  const onLeader = await one(leader, 'put');
  const leaderFsync = await persistMeanMs(rq, leader);
  const followerFsync = await persistMeanMs(rq, follower);
  const viaFollower = await one(follower, 'put');
  const p50 = (s: LoadStats): string => s.p50Ms.toFixed(2);
  console.log(JSON.stringify({ bench: 'timeline', healthP50Ms: health.p50Ms, leaderWriteP50Ms: onLeader.p50Ms, leaderWriteP99Ms: onLeader.p99Ms, followerWriteP50Ms: viaFollower.p50Ms, followerWriteP99Ms: viaFollower.p99Ms, leaderFsyncMeanMs: leaderFsync.meanMs, followerFsyncMeanMs: followerFsync.meanMs, persistsBefore: before.map((b) => b.count) }));
  console.log(`HTTP round trip alone (GET /healthz, p50): ${p50(health)} ms`);
  console.log(`write on the leader (p50 / p99): ${p50(onLeader)} / ${onLeader.p99Ms.toFixed(2)} ms, ${onLeader.opsPerSec} ops/s`);
  console.log(`write through a follower (p50 / p99): ${p50(viaFollower)} / ${viaFollower.p99Ms.toFixed(2)} ms, ${viaFollower.opsPerSec} ops/s`);
  console.log(`fsync of one group commit (mean over the run): leader ${leaderFsync.meanMs.toFixed(2)} ms, follower ${followerFsync.meanMs.toFixed(2)} ms`);
  const raft = onLeader.p50Ms - health.p50Ms;
  console.log(`→ on the leader, Raft costs ${raft.toFixed(2)} ms beyond HTTP: fsyncs in parallel (max ${Math.max(leaderFsync.meanMs, followerFsync.meanMs).toFixed(2)} ms) + AppendEntries and ack hops + apply: ${(raft - Math.max(leaderFsync.meanMs, followerFsync.meanMs)).toFixed(2)} ms of hops, apply and event-loop turns`);
  console.log(`→ forwarding adds ${(viaFollower.p50Ms - onLeader.p50Ms).toFixed(2)} ms (Propose hop + answer, and the commit index reaching the follower before it applies)`);
} finally {
  await rq.stop();
}
