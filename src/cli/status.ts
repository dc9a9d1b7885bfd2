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
  // The configuration as the leader (else any node that answered) sees it (SPEC §9).
  const members = (leader ?? statuses.find((s) => s.status?.members)?.status)?.members;
  const roleOf = (id: string): string => (members?.voters.includes(id) ? 'voter' : members?.learners.includes(id) ? 'learner' : members?.removed.includes(id) ? 'removed' : '-');
  const rows = statuses.map(({ id, status }) =>
    status
      ? [id, roleOf(id), status.state, status.term, status.leader ?? '-', status.commitIndex, status.appliedIndex, leader ? Math.max(0, leader.commitIndex - status.appliedIndex) : '-']
      : [id, roleOf(id), 'down', '-', '-', '-', '-', '-'],
  );
  printTable(['node', 'role', 'state', 'term', 'leader', 'commit', 'applied', 'lag'], rows.map((r) => r.map(String)));
  if (members) console.log(describeMembers(members));
  return statuses.some((s) => s.status) ? 0 : 1;
}

/** One line: voters, learners, the joint state and removed nodes (nodes that joined later are not in cluster.json). */
export function describeMembers(members: NonNullable<NodeStatus['members']>): string {
  const list = (ids: readonly string[]): string => (ids.length > 0 ? ids.join(',') : '-');
  return `configuration ${members.configIndex}: voters ${list(members.voters)}; learners ${list(members.learners)}; ${members.joint ? `joint (outgoing ${list(members.joint.outgoing)})` : 'not joint'}; removed ${list(members.removed)}`;
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}
