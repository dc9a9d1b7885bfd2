import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { NodeStatus } from '../node/types.js';
import { readClusterFile, tlsDirOf } from './cluster.js';
import { httpGet } from './http-get.js';
import { nodeTlsPaths } from './certs.js';

/** The CA of a `cluster --tls` data dir (<data-dir>/tls/ca.crt), when there is one. */
function clusterCa(clusterFile: string): Buffer | undefined {
  const ca = nodeTlsPaths(tlsDirOf(dirname(clusterFile)), '').ca;
  return existsSync(ca) ? readFileSync(ca) : undefined;
}

/** `raftquotes status`: one table of every node's Raft state, from cluster.json (over HTTPS trusting the cluster's CA when it has one). */
export async function runStatus(clusterFile: string): Promise<number> {
  const cluster = readClusterFile(clusterFile);
  const ca = clusterCa(clusterFile);
  const statuses = await Promise.all(
    cluster.nodes.map(async (node) => {
      try {
        const res = await httpGet(`${node.http}/api/status`, { ca, timeoutMs: 1000 });
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        return { id: node.id, status: JSON.parse(res.body) as NodeStatus };
      } catch {
        return { id: node.id, status: null };
      }
    }),
  );
  const leader = statuses.find((s) => s.status?.state === 'leader')?.status;
  const rows = statuses.map(({ id, status }) =>
    status
      ? [id, status.state, status.term, status.leader ?? '-', status.commitIndex, status.appliedIndex, leader ? Math.max(0, leader.commitIndex - status.appliedIndex) : '-']
      : [id, 'down', '-', '-', '-', '-', '-'],
  );
  printTable(['node', 'state', 'term', 'leader', 'commit', 'applied', 'lag'], rows.map((r) => r.map(String)));
  return statuses.some((s) => s.status) ? 0 : 1;
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}
