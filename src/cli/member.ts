/**
 * `raftquotes member list|add|promote|remove|replace [--via URL]` (SPEC §9): membership through
 * any node's API (a follower forwards changes to the leader). Changes are admin actions: run
 * it on a node's host (loopback) or set RAFTQUOTES_ADMIN_TOKEN.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { nodeTlsPaths } from './certs.js';
import { readClusterFile, tlsDirOf } from './cluster.js';
import { httpSend } from './http-get.js';
import { errorCode, errorMessage, isRecord } from '../narrow.js';
import { type MembersView, parseMembersView } from '../node/membership.js';

/** Largest answer read from the API (a configuration is a few KB). */
const MAX_ANSWER_BYTES = 1024 * 1024;
/** How long one request may take (a change answers once committed). */
const REQUEST_TIMEOUT_MS = 15_000;
/** Pause between promotion attempts while a learner catches up. */
const CATCH_UP_POLL_MS = 500;
/** Default bound on waiting for a learner to catch up. */
export const DEFAULT_CATCH_UP_TIMEOUT_MS = 300_000;

/** A failure of the command, printed as one line. */
export class MemberCommandError extends Error {
  override readonly name = 'MemberCommandError';
  readonly code = 'member_command_failed';
}

/** The CA to trust for https:// nodes (set by useCa; Node's defaults when unset). */
let trustedCa: Buffer | undefined;

/**
 * The CA for HTTPS nodes (a `cluster --tls` cluster, SPEC §7): --ca FILE, else RAFTQUOTES_TLS_CA,
 * else the `<data-dir>/tls/ca.crt` beside the cluster file, else the system's CAs.
 */
export function useCa(caFile: string | undefined, clusterFile: string): void {
  const explicit = caFile ?? process.env['RAFTQUOTES_TLS_CA'];
  if (explicit !== undefined && explicit !== '') {
    try {
      trustedCa = readFileSync(explicit);
    } catch (err) {
      throw new MemberCommandError(`--ca: cannot read ${explicit} (${errorCode(err) ?? errorMessage(err)})`);
    }
    return;
  }
  const beside = nodeTlsPaths(tlsDirOf(dirname(clusterFile)), '').ca;
  trustedCa = existsSync(beside) ? readFileSync(beside) : undefined;
}

/** The node to talk to: --via, else the first node of ./data/cluster.json, else Node1's default URL. */
export function defaultVia(clusterFile: string): string {
  if (existsSync(clusterFile)) {
    const first = readClusterFile(clusterFile).nodes[0];
    if (first) return first.http;
  }
  return 'http://127.0.0.1:8081';
}

async function call(via: string, method: 'GET' | 'POST', body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const token = process.env['RAFTQUOTES_ADMIN_TOKEN'];
  if (token) headers['authorization'] = `Bearer ${token}`;
  let res: { status: number; body: string };
  try {
    res = await httpSend(`${via.replace(/\/$/, '')}/api/members`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }), ca: trustedCa, timeoutMs: REQUEST_TIMEOUT_MS });
  } catch (err) {
    throw new MemberCommandError(`cannot reach ${via}: ${errorMessage(err)}`, { cause: err });
  }
  const text = res.body;
  if (text.length > MAX_ANSWER_BYTES) throw new MemberCommandError(`answer from ${via} larger than ${MAX_ANSWER_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new MemberCommandError(`${via} answered ${res.status} with no JSON`);
  }
  if (!isRecord(json)) throw new MemberCommandError(`${via} answered ${res.status} with JSON that is not an object`);
  return { status: res.status, json };
}

/** The configuration in an answer (GET's whole body, a change's `members`), checked field by field. */
function membersOf(via: string, value: unknown): MembersView {
  const view = parseMembersView(value);
  if (view === null) throw new MemberCommandError(`${via} answered with no configuration`);
  return view;
}

function describe(json: Record<string, unknown>): string {
  const field = typeof json['field'] === 'string' ? ` (${json['field']})` : '';
  return `${String(json['error'] ?? 'error')}: ${String(json['message'] ?? '')}${field}`;
}

async function change(via: string, changes: unknown[]): Promise<MembersView> {
  const { status, json } = await call(via, 'POST', { changes });
  if (status !== 200) throw new MemberCommandError(describe(json));
  return membersOf(via, json['members']);
}

/** Prints the configuration as a table. */
export async function memberList(via: string): Promise<number> {
  const { status, json } = await call(via, 'GET');
  if (status !== 200) throw new MemberCommandError(describe(json));
  const view = membersOf(via, json);
  console.log(`configuration index ${view.configIndex}${view.joint ? ` (joint: outgoing ${view.joint.outgoing.join(', ')})` : ''}`);
  const rows = [...view.voters.map((m) => ({ ...m, role: 'voter' })), ...view.learners.map((m) => ({ ...m, role: 'learner' }))];
  const width = Math.max(2, ...rows.map((r) => r.id.length));
  console.log(`${'ID'.padEnd(width)}  ROLE     RAFT                   HTTP`);
  for (const r of rows) console.log(`${r.id.padEnd(width)}  ${r.role.padEnd(7)}  ${(r.raft || '-').padEnd(21)}  ${r.http || '-'}`);
  return 0;
}

/** Promotes `id` once it is within the leader's catch-up bound, retrying while it lags (409 with lag). */
async function promoteWhenCaughtUp(via: string, id: string, timeoutMs: number): Promise<MembersView> {
  const deadline = Date.now() + timeoutMs;
  let lastLag: unknown = null;
  for (;;) {
    const { status, json } = await call(via, 'POST', { changes: [{ op: 'promote', id }] });
    if (status === 200) return membersOf(via, json['members']);
    if (status !== 409 && status !== 503) throw new MemberCommandError(describe(json));
    if (json['lag'] !== undefined && json['lag'] !== lastLag) {
      lastLag = json['lag'];
      console.log(`  ${id} is ${String(json['lag'])} entries behind; waiting for it to catch up`);
    }
    if (Date.now() > deadline) throw new MemberCommandError(`${id} did not catch up within ${timeoutMs} ms (${describe(json)})`);
    await new Promise((resolve) => setTimeout(resolve, CATCH_UP_POLL_MS));
  }
}

/** `member add ID --raft H:P --http URL [--learner]`: a learner, promoted once caught up unless --learner. */
export async function memberAdd(via: string, id: string, raft: string, http: string, learner: boolean, timeoutMs: number): Promise<number> {
  await change(via, [{ op: 'add-learner', id, raft, http }]);
  console.log(`added ${id} as a learner (raft ${raft}, http ${http})`);
  if (learner) return 0;
  await promoteWhenCaughtUp(via, id, timeoutMs);
  console.log(`promoted ${id} to voter`);
  return 0;
}

export async function memberPromote(via: string, id: string, timeoutMs: number): Promise<number> {
  await promoteWhenCaughtUp(via, id, timeoutMs);
  console.log(`promoted ${id} to voter`);
  return 0;
}

export async function memberRemove(via: string, id: string): Promise<number> {
  const members = await change(via, [{ op: 'remove', id }]);
  console.log(`removed ${id}; voters now ${members.voters.map((m) => m.id).join(', ')}`);
  return 0;
}

/**
 * `member replace OLD --with NEW --raft H:P --http URL`: the runbook for a dead machine in one
 * command. Add NEW as a learner, wait for it to catch up, promote it, then remove OLD: the
 * number of voters never drops, so the cluster keeps its fault tolerance throughout.
 */
export async function memberReplace(via: string, old: string, id: string, raft: string, http: string, timeoutMs: number): Promise<number> {
  console.log(`replacing ${old} with ${id}`);
  const members = await change(via, [{ op: 'add-learner', id, raft, http }]);
  if (![...members.voters, ...members.learners].some((m) => m.id === old)) throw new MemberCommandError(`${old} is not a member`);
  console.log(`  1/3 added ${id} as a learner`);
  await promoteWhenCaughtUp(via, id, timeoutMs);
  console.log(`  2/3 ${id} caught up and promoted to voter`);
  const after = await change(via, [{ op: 'remove', id: old }]);
  console.log(`  3/3 removed ${old}; voters now ${after.voters.map((m) => m.id).join(', ')}`);
  return 0;
}
