import type { NodeStatus } from '../node/types.js';
import { readClusterFile } from './cluster.js';

/** `raftquotes status`: one table of every node's Raft state, from cluster.json. */
export async function runStatus(clusterFile: string): Promise<number> {
  const cluster = readClusterFile(clusterFile);
  const statuses = await Promise.all(
    cluster.nodes.map(async (node) => {
      try {
        const res = await fetch(`${node.http}/api/status`, { signal: AbortSignal.timeout(1000) });
        return { id: node.id, status: (await res.json()) as NodeStatus };
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
