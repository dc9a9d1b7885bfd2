/**
 * Status routes: GET /api/status, /api/cluster (every voter as this node can reach it),
 * /healthz, /readyz and /metrics.
 */
import type { Registry } from '../metrics/prometheus.js';
import type { NodeStatus } from '../node/types.js';
import type { NodeId } from '@raftquotes/raft';
import { debugStatus } from './routes-debug.js';
import { queryOf, type ApiContext, type ApiRequest } from './context.js';
import { ApiError } from './errors.js';
import { MAX_LOG_TAIL, MAX_PEER_STATUS_BYTES, PEER_LOG_TAIL_STEPS, PEER_STATUS_REUSE_MS } from './limits.js';
import { jsonReply, type Reply } from './reply.js';
import { nonNegativeInt } from './validate.js';

/** A node's status, with the tail of its log when asked (`?logTail=N`, for the dashboard). */
type StatusView = NodeStatus & { log?: ReturnType<ApiContext['node']['recentLog']> };

/** One voter in /api/cluster. */
export interface ClusterNodeView {
  id: NodeId;
  http: string | null;
  /**
   * Where a browser reaches this member: its --public-url values (learned in its authenticated
   * handshake), or its advertised URL when it has none. The board fails over to these.
   */
  publicUrls: readonly string[];
  reachable: boolean;
  status: StatusView | null;
}

function logTailOf(request: ApiRequest): number | null {
  const query = queryOf(request);
  return query.has('logTail') ? nonNegativeInt(query, 'logTail', 0, MAX_LOG_TAIL) : null;
}

function ownStatus(ctx: ApiContext, logTail: number | null): StatusView {
  const status = { ...ctx.node.status(), ...debugStatus(ctx) };
  if (logTail === null) return status;
  return { ...status, log: ctx.node.recentLog(Math.max(1, status.lastIndex - logTail + 1), logTail) };
}

/** GET /api/status[?logTail=N]. */
export function getStatus(ctx: ApiContext, request: ApiRequest): Reply {
  return jsonReply(200, ownStatus(ctx, logTailOf(request)));
}

function publicUrlsOf(given: readonly string[], http: string | null): readonly string[] {
  return given.length > 0 ? given : http ? [http] : [];
}

async function peerView(ctx: ApiContext, id: NodeId, logTail: number | null): Promise<ClusterNodeView> {
  const http = ctx.node.peerHttpUrl(id);
  const publicUrls = publicUrlsOf(ctx.memberPublicUrls.peer(id), http);
  const down: ClusterNodeView = { id, http, publicUrls, reachable: false, status: null };
  if (!http) return down;
  try {
    const response = await ctx.forwarder.request(http, {
      method: 'GET',
      path: logTail === null ? '/api/status' : `/api/status?logTail=${logTail}`,
      headers: { Accept: 'application/json' },
      timeoutMs: ctx.tuning.peerStatusTimeoutMs,
      maxResponseBytes: MAX_PEER_STATUS_BYTES,
    });
    if (response.status !== 200) return down;
    const status = JSON.parse(response.body.toString('utf8')) as unknown;
    if (typeof status !== 'object' || status === null || Array.isArray(status)) return down;
    return { id, http, publicUrls, reachable: true, status: status as StatusView };
  } catch {
    return down;
  }
}

/** A peer's view being fetched, or fetched `at` (ms) once settled. */
interface SharedView {
  view: Promise<ClusterNodeView>;
  settledAt: number | null;
}

/** Per API context (a process may run several), per peer and log tail step. */
const sharedViews = new WeakMap<ApiContext, Map<string, SharedView>>();

/**
 * A peer's view, shared with the other /api/cluster calls (PEER_STATUS_REUSE_MS). The log tail
 * asked of the peer is a step at or above `logTail`, so callers cannot multiply the requests by
 * varying it; the answer is trimmed to what was asked.
 */
function sharedPeerView(ctx: ApiContext, id: NodeId, logTail: number | null): Promise<ClusterNodeView> {
  const step = logTail === null ? null : (PEER_LOG_TAIL_STEPS.find((s) => s >= logTail) ?? MAX_LOG_TAIL);
  let views = sharedViews.get(ctx);
  if (!views) sharedViews.set(ctx, (views = new Map()));
  const key = `${id}\n${step}`;
  let shared = views.get(key);
  if (!shared || (shared.settledAt !== null && Date.now() - shared.settledAt >= PEER_STATUS_REUSE_MS)) {
    const fresh: SharedView = { view: peerView(ctx, id, step), settledAt: null };
    void fresh.view.then(() => (fresh.settledAt = Date.now()));
    views.set(key, (shared = fresh));
  }
  return shared.view.then((view) => withLogTail(view, logTail));
}

/** `view` with at most the last `logTail` log entries (a new object: views are shared). */
function withLogTail(view: ClusterNodeView, logTail: number | null): ClusterNodeView {
  const log = view.status?.log;
  if (!view.status || !log || logTail === null || log.entries.length <= logTail) return view;
  return { ...view, status: { ...view.status, log: { ...log, entries: log.entries.slice(log.entries.length - logTail) } } };
}

/**
 * GET /api/cluster[?logTail=N]: every voter, then every learner (SPEC §9), in configuration
 * order, each with its `role`, peers asked in parallel; `members` is this node's view of the
 * configuration (the joint state and removed nodes included).
 */
export async function getCluster(ctx: ApiContext, request: ApiRequest): Promise<Reply> {
  const logTail = logTailOf(request);
  const self = ownStatus(ctx, logTail);
  const members = ctx.node.status().members;
  const learners = members?.learners ?? [];
  const roles: Array<[NodeId, 'voter' | 'learner']> = [...ctx.node.voters.filter((id) => !learners.includes(id)).map((id): [NodeId, 'voter'] => [id, 'voter']), ...learners.map((id): [NodeId, 'learner'] => [id, 'learner'])];
  const nodes = await Promise.all(
    roles.map(async ([id, role]) => ({ ...(id === ctx.node.id ? { id, http: self.http, publicUrls: publicUrlsOf(ctx.memberPublicUrls.own, self.http), reachable: true, status: self } : await sharedPeerView(ctx, id, logTail)), role })),
  );
  return jsonReply(200, { nodes, leader: self.leader, ...(members ? { members } : {}) });
}

/**
 * GET /healthz (a liveness probe): the process answers and its storage answers a read. A
 * node that lost its disk is unhealthy, so a supervisor restarts it (and the restart then
 * stops with a clear error rather than starting empty, SPEC §5). Deliberately not about the
 * cluster: a node without a leader is alive, and restarting it would not bring one.
 */
export function getHealth(ctx: ApiContext): Reply {
  const problem = ctx.node.stateMachine.checkStorage?.() ?? null;
  if (problem !== null) throw new ApiError('unavailable', `storage: ${problem.slice(0, 200)}`, { headers: { 'Retry-After': '1' } });
  return jsonReply(200, { ok: true });
}

/** GET /readyz: a leader is known, this node has applied all it knows committed, and it is not shut down. */
export function getReady(ctx: ApiContext): Reply {
  const status = ctx.node.status();
  const unready = (why: string): never => {
    throw new ApiError('unavailable', `not ready: ${why}`, { headers: { 'Retry-After': '1' } });
  };
  if (ctx.node.isShutdown()) unready('shut down by the controller');
  if (status.leader === null) unready('no leader known');
  if (status.appliedIndex < status.commitIndex) unready(`applied ${status.appliedIndex} of ${status.commitIndex} committed entries`);
  return jsonReply(200, { ok: true, leader: status.leader, commitIndex: status.commitIndex, appliedIndex: status.appliedIndex });
}

/** GET /metrics: Prometheus text of the node's registry (Raft and API metrics). */
export async function getMetrics(registry: Registry): Promise<Reply> {
  return { status: 200, raw: await registry.metrics(), contentType: registry.contentType };
}
