/**
 * `raftquotes node --join URL` (SPEC §9): a new node asks the cluster to add it as a learner,
 * starts from the configuration the cluster answers with (kept in its data dir, so a restart
 * needs no --join), catches up, and is promoted once within the catch-up bound unless --learner.
 * The request is an admin action: the joining host must be loopback to the node at URL, or
 * RAFTQUOTES_ADMIN_TOKEN must be set; the peer secret or TLS then authenticate Raft traffic.
 * An https:// URL (a `cluster --tls` cluster, SPEC §7) is verified against the system's CAs and
 * the node's own --tls-ca (the cluster CA that signed its peers' certificates), and the node
 * presents its certificate, as nodes do when they forward to each other.
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Configuration, Member } from '@raftquotes/raft';
import type { Logger } from '../log/logger.js';
import { ConfigError, type NodeConfig } from './config.js';
import { httpSend } from './http-get.js';

/** One join or promote request. */
const JOIN_REQUEST_TIMEOUT_MS = 15_000;
/** Join attempts while the cluster has no leader or another change is pending. */
const JOIN_ATTEMPTS = 30;
const JOIN_RETRY_MS = 1_000;
/** How long a joined node keeps asking to be promoted while it catches up. */
const PROMOTE_TIMEOUT_MS = 600_000;
const PROMOTE_POLL_MS = 1_000;
/** Largest answer read. */
const MAX_ANSWER_CHARS = 1024 * 1024;

type JoinLogger = Pick<Logger, 'info' | 'warn'>;

/** How the join requests reach an HTTPS cluster: whom to trust and which certificate to show. */
interface JoinTls {
  ca: Array<string | Buffer> | undefined;
  clientCert: { cert: Buffer; key: Buffer } | undefined;
}

/**
 * The TLS settings of the join requests, read once per request (certificates may be renewed
 * while a learner waits to be promoted). Without --tls-ca only the system's CAs are trusted.
 */
function joinTls(config: NodeConfig): JoinTls {
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(`--join: cannot read ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };
  const ca = config.tls ? [...rootCertificates, read(config.tls.ca, 'the CA')] : undefined;
  const own = config.httpTls ?? config.tls;
  const clientCert = own ? { cert: read(own.cert, 'the certificate'), key: read(own.key, 'the key') } : undefined;
  return { ca, clientCert };
}

async function callMembers(config: NodeConfig, method: 'GET' | 'POST', changes?: unknown[]): Promise<{ status: number; json: Record<string, unknown> }> {
  const url = config.join as string;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (changes !== undefined) headers['content-type'] = 'application/json';
  const token = process.env['RAFTQUOTES_ADMIN_TOKEN'];
  if (token) headers['authorization'] = `Bearer ${token}`;
  const body = changes === undefined ? {} : { body: JSON.stringify({ changes }) };
  const res = await httpSend(`${url}/api/members`, { method, headers, ...body, ...joinTls(config), timeoutMs: JOIN_REQUEST_TIMEOUT_MS });
  if (res.body.length > MAX_ANSWER_CHARS) throw new ConfigError(`--join: the answer from ${url} is too large`);
  try {
    return { status: res.status, json: JSON.parse(res.body) as Record<string, unknown> };
  } catch {
    throw new ConfigError(`--join: ${url} answered ${res.status} without JSON`);
  }
}

const postMembers = (config: NodeConfig, changes: unknown[]): Promise<{ status: number; json: Record<string, unknown> }> => callMembers(config, 'POST', changes);

/** Asks the cluster at config.join to add this node as a learner; returns the configuration it is in. */
export async function joinCluster(config: NodeConfig, logger: JoinLogger): Promise<Configuration> {
  const url = config.join as string;
  const change = { op: 'add-learner', id: config.id, raft: `${config.raft.host}:${config.raft.port}`, http: config.advertiseHttp };
  logger.info(`joining the cluster at ${url} as a learner (raft ${change.raft}, http ${change.http})`);
  let answer: { status: number; json: Record<string, unknown> } = { status: 0, json: {} };
  // A cluster between leaders answers 503 (or a change is pending, 409): retry for a while.
  for (let attempt = 1; attempt <= JOIN_ATTEMPTS; attempt++) {
    try {
      answer = await postMembers(config, [change]);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`--join: cannot reach ${url} (${(err as Error).message})`);
    }
    if (answer.status !== 503 && answer.status !== 409) break;
    logger.warn(`join: ${url} answered ${answer.status} ${String(answer.json['error'])}; retrying (${attempt}/${JOIN_ATTEMPTS})`);
    await new Promise((resolve) => setTimeout(resolve, JOIN_RETRY_MS));
  }
  // Already added (by `member add` or `member replace`, which then wait for this node): start
  // from the current configuration if it names this node at this HTTP URL. The Raft address
  // recorded may differ from the one it listens on: the operator may have recorded an address
  // in front of it (a NAT, a proxy), which the node then advertises to its peers.
  if (answer.status === 400 && answer.json['field'] === 'changes[0].id') answer = await alreadyAdded(config, change, answer);
  if (answer.status !== 200) throw new ConfigError(`--join: ${url} refused: ${String(answer.json['error'])}: ${String(answer.json['message'])}`);
  const members = answer.json['members'] as { voters?: Member[]; learners?: Member[] } | undefined;
  if (!members || !Array.isArray(members.voters) || !Array.isArray(members.learners)) throw new ConfigError(`--join: ${url} answered without a configuration`);
  return { voters: members.voters, learners: members.learners, outgoing: null };
}

async function alreadyAdded(config: NodeConfig, change: { id: string; raft: string; http: string }, refusal: { status: number; json: Record<string, unknown> }): Promise<{ status: number; json: Record<string, unknown> }> {
  const members = (await callMembers(config, 'GET')).json as { voters?: Member[]; learners?: Member[] };
  const self = [...(members.voters ?? []), ...(members.learners ?? [])].find((m) => m.id === change.id);
  return self && self.http === change.http ? { status: 200, json: { members } } : refusal;
}

/** Once caught up (within the leader's bound), asks to be promoted; retries while behind. */
export async function promoteWhenCaughtUp(config: NodeConfig, logger: JoinLogger): Promise<void> {
  const deadline = Date.now() + PROMOTE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, PROMOTE_POLL_MS));
    try {
      const { status, json } = await postMembers(config, [{ op: 'promote', id: config.id }]);
      if (status === 200) return logger.info(`promoted to voter`);
      if (status === 400) return logger.warn(`promotion refused: ${String(json['message'])}`);
      if (json['lag'] !== undefined) logger.info(`catching up: ${String(json['lag'])} entries behind the leader`);
    } catch (err) {
      logger.warn(`promotion request failed (${(err as Error).message}); retrying`);
    }
  }
  logger.warn(`not promoted within ${PROMOTE_TIMEOUT_MS} ms; promote it with: raftquotes member promote ${config.id}`);
}
