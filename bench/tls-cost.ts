/**
 * What mutual TLS costs a user (SPEC §7): two 5-node clusters up at once, A with the shared
 * secret (HMAC handshake and a MAC per peer frame, plain HTTP for clients) and B with
 * `cluster --tls` (mutual TLS between peers, HTTPS for clients), the same closed-loop PUT load
 * on each one's leader in alternating rounds (ABBA), so drift in the shared machine hits both
 * alike. Prints one JSON line per round and a summary line with the medians and B/A.
 *
 *   npx tsx bench/tls-cost.ts [rounds=6] [clients=64]
 *
 * The load generator trusts the clusters' CA through NODE_EXTRA_CA_CERTS, which Node reads
 * only at start: so the script makes the CA first, then runs itself again with it set.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeClusterCerts } from '../src/cli/certs.js';
import { closedLoop } from './load.js';
import { RaftquotesSystem } from './systems.js';

const [roundsArg, clientsArg] = process.argv.slice(2);
const ROUNDS = Number(roundsArg ?? 6);
const CLIENTS = Number(clientsArg ?? 64);
const ROUND_MS = 4_000;

if (!process.env.RQ_TLS_COST_CERTS) {
  const dir = mkdtempSync(join(tmpdir(), 'rq-tls-cost-'));
  writeClusterCerts(join(dir, 'tls'), ['Node1', 'Node2', 'Node3', 'Node4', 'Node5'], ['127.0.0.1', 'localhost']);
  const self = fileURLToPath(import.meta.url);
  const env = { ...process.env, RQ_TLS_COST_CERTS: join(dir, 'tls'), NODE_EXTRA_CA_CERTS: join(dir, 'tls', 'ca.crt') };
  const run = spawnSync(process.execPath, ['--import', 'tsx', self, ...process.argv.slice(2)], { stdio: 'inherit', env });
  rmSync(dir, { recursive: true, force: true });
  process.exit(run.status ?? 1);
}

const secret = new RaftquotesSystem(5, [], {}, { http: 28380, raft: 27300, controller: 25854 });
const tls = new RaftquotesSystem(5, [], {}, { http: 28480, raft: 27400, controller: 25954 }, undefined, ['--tls']);
// cluster --tls reuses certificates already under <data-dir>/tls: the ones the load generator trusts.
cpSync(process.env.RQ_TLS_COST_CERTS, join(tls.dataDir, 'tls'), { recursive: true });
const results: Record<'secret' | 'tls', Array<{ ops: number; p99: number }>> = { secret: [], tls: [] };
try {
  await Promise.all([secret.start(), tls.start()]);
  for (let round = 0; round < ROUNDS; round++) {
    const order: Array<['secret' | 'tls', RaftquotesSystem]> = round % 2 ? [['tls', tls], ['secret', secret]] : [['secret', secret], ['tls', tls]];
    for (const [name, system] of order) {
      const leader = await system.leader();
      const s = await closedLoop({ clients: CLIENTS, durationMs: ROUND_MS, warmupMs: 500, targetOf: () => system.target(leader), requestOf: (c, seq) => system.put(`t${c}-${seq % 512}`, 'v'.repeat(100)) });
      results[name].push({ ops: s.opsPerSec, p99: s.p99Ms });
      console.log(JSON.stringify({ bench: 'tls-cost', round, system: name, clients: CLIENTS, opsPerSec: Math.round(s.opsPerSec), p50Ms: s.p50Ms, p99Ms: s.p99Ms, errors: s.errors }));
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const summary = (name: 'secret' | 'tls'): { ops: number; p99: number } => ({ ops: median(results[name].map((r) => r.ops)), p99: median(results[name].map((r) => r.p99)) });
  const a = summary('secret');
  const b = summary('tls');
  console.log(JSON.stringify({ bench: 'tls-cost', summary: true, clients: CLIENTS, rounds: ROUNDS, secretOpsPerSec: Math.round(a.ops), tlsOpsPerSec: Math.round(b.ops), tlsOverSecret: Number((b.ops / a.ops).toFixed(3)), secretP99Ms: a.p99, tlsP99Ms: b.p99 }));
} finally {
  await Promise.all([secret.stop(), tls.stop()]);
}
