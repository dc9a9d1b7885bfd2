/**
 * One HTTP request, start to finish: route, run the handler, forward a not_leader to the
 * leader, map any failure to the SPEC §3 error answer, write it, count it, and log errors
 * (never 2xx: one log line per request would cost more than the request).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LogBudget } from '../log/logger.js';
import { monotonicMicros } from '../node/write-trace.js';
import { NodeError } from '../node/types.js';
import { hasBody } from './body.js';
import type { ApiContext, ApiRequest } from './context.js';
import { ApiError, toApiError } from './errors.js';
import { forwardToLeader } from './forwarding.js';
import {
  MAX_BODY_BYTES, MAX_DRAIN_BYTES, MAX_FORWARD_REFUSAL_LOGS_PER_SECOND, MAX_PIPELINED_REQUESTS_PER_CONNECTION, MAX_WAITING_PIPELINED_REQUESTS,
} from './limits.js';
import { isLoopback } from './admin.js';
import { clientAddress } from './rate-limit.js';
import { HEADER_FORWARDED, HEADER_INDEX, HEADER_LEADER, jsonReply, raftHeaders, writeReply, type Reply } from './reply.js';
import { handlerFor, matchRoute, optionsReply, type Route } from './router.js';

const EXPOSED_HEADERS = `${HEADER_LEADER}, ${HEADER_INDEX}, Retry-After`;
/** Public routes vary by Origin even when refusing one, so a cache never serves one origin's answer to another. */
const VARY_ORIGIN = { Vary: 'Origin' };

interface Outcome {
  reply: Reply;
  closeConnection: boolean;
}

const FORWARDED_HEADER = HEADER_FORWARDED.toLowerCase();

function parseRequest(ctx: ApiContext, req: IncomingMessage, refusals: LogBudget): ApiRequest {
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const method = req.method ?? 'GET';
  const request: ApiRequest = {
    req,
    method,
    path: queryAt === -1 ? url : url.slice(0, queryAt),
    rawQuery: queryAt === -1 ? '' : url.slice(queryAt + 1),
    forwarded: false,
    proof: null,
    mayForward: true,
    body: null,
  };
  const header = req.headers[FORWARDED_HEADER];
  if (typeof header !== 'string') return request;
  const proof = ctx.forwardAuth.verify(header, method, url, ctx.node.voters, req.socket);
  if (typeof proof === 'object') {
    request.forwarded = true;
    request.proof = proof;
    request.mayForward = false;
    return request;
  }
  // An unproven forward is a plain client request: rate-limited, forwarded at most once (with
  // our proof, which the next node accepts, and never forwards again). When this node cannot
  // prove its forwards (no secret, no TLS identity), the header only marks the hop and the
  // request is not forwarded again: no loop between nodes either way.
  request.mayForward = ctx.forwardAuth.enabled;
  if (proof !== 'no_secret') {
    if (refusals.admit()) ctx.logger.warn({ reason: proof, from: req.socket.remoteAddress, path: request.path.slice(0, 200) }, `forward proof refused (${proof}): treated as a client request`);
  }
  return request;
}

/**
 * SPEC §7: the Host must name this node or a member (DNS rebinding), and an Origin, when
 * sent, must be a member's (cross-site requests); admin routes take only this node's own.
 */
function checkCaller(ctx: ApiContext, request: ApiRequest, route: Route | null): void {
  const { host, origin } = request.req.headers;
  if (!ctx.names.hostAllowed(host)) {
    throw new ApiError('forbidden', `Host ${JSON.stringify((host ?? '').slice(0, 100))} does not name this node or a member of its cluster`);
  }
  if (origin === undefined) return;
  const allowed = route?.admin ? ctx.names.ownOrigin(origin) : ctx.names.memberOrigin(origin);
  if (!allowed) throw new ApiError('forbidden', `Origin ${JSON.stringify(origin.slice(0, 100))} is not ${route?.admin ? 'this node' : 'a member of this cluster'}`);
}

/** CORS headers of a public route's answer: the caller's origin is echoed only if it is a member's. */
function corsHeaders(ctx: ApiContext, request: ApiRequest, route: Route | null): Record<string, string> | null {
  if (route?.cors !== 'public') return null;
  const origin = request.req.headers.origin;
  if (origin === undefined || !ctx.names.memberOrigin(origin)) return VARY_ORIGIN;
  return { 'Access-Control-Allow-Origin': origin, 'Access-Control-Expose-Headers': EXPOSED_HEADERS, Vary: 'Origin' };
}

/** Error answers of data routes carry the Raft position too (X-Raft-Leader / X-Raft-Index). */
function isDataRoute(route: Route | null): boolean {
  return route !== null && (route.label === '/api/quotes' || route.label.startsWith('/api/kv/'));
}

function errorReply(ctx: ApiContext, route: Route | null, err: ApiError): Reply {
  let headers = err.options.headers;
  if (isDataRoute(route) && !headers?.[HEADER_LEADER]) {
    const leader = err.cause instanceof NodeError && err.cause.leader ? err.cause.leader : ctx.node.knownLeader();
    headers = { ...raftHeaders(leader, ctx.node.stateMachine.appliedIndex()), ...headers };
  }
  return jsonReply(err.status, err.body(), headers);
}

/** After a not_leader, the request goes to the leader once; otherwise the error is answered. */
async function recover(ctx: ApiContext, request: ApiRequest, route: Route | null, err: unknown): Promise<Outcome> {
  if (err instanceof NodeError && err.code === 'not_leader' && route) {
    try {
      const reply = await forwardToLeader(ctx, request, err.leader, route.admin);
      ctx.metrics.forwards.inc({ outcome: 'relayed' });
      return { reply, closeConnection: false };
    } catch (forwardErr) {
      ctx.metrics.forwards.inc({ outcome: forwardErr instanceof ApiError ? forwardErr.code : 'internal' });
      err = forwardErr;
    }
  }
  const apiError = toApiError(err);
  if (apiError.code === 'internal') ctx.logger.error({ err, method: request.method, path: request.path.slice(0, 200) }, `unexpected error: ${apiError.message}`);
  return { reply: errorReply(ctx, route, apiError), closeConnection: apiError.options.closeConnection === true };
}

async function answer(ctx: ApiContext, request: ApiRequest, route: Route | null): Promise<Outcome> {
  try {
    checkCaller(ctx, request, route);
    if (!route) throw new ApiError('not_found', `no such route: ${request.path.slice(0, 200)}`);
    if (!request.forwarded && hasBody(request.req)) chargeBody(ctx, request);
    if (request.method === 'OPTIONS') return { reply: optionsReply(route, request.req.headers.origin !== undefined), closeConnection: false };
    return { reply: await handlerFor(route, request.method)(ctx, request), closeConnection: false };
  } catch (err) {
    return recover(ctx, request, route, err);
  }
}

/**
 * Charges the body's declared length (a chunked body: the most it may be) to the client's
 * address before it is read; 429 when the address has sent its budget's worth this second.
 */
function chargeBody(ctx: ApiContext, request: ApiRequest): void {
  const declared = Number(request.req.headers['content-length'] ?? MAX_BODY_BYTES);
  // A declared length over the limit is refused (413) without being read: nothing to charge.
  if (declared > MAX_BODY_BYTES) return;
  const bytes = Number.isSafeInteger(declared) && declared >= 0 ? declared : MAX_BODY_BYTES;
  const remote = request.req.socket.remoteAddress;
  const budget = isLoopback(remote) ? ctx.bodyBudget.loopback : ctx.bodyBudget.address;
  const decision = budget.take(clientAddress(remote), bytes);
  if (decision.ok) return;
  throw new ApiError('too_many_requests', `body: this address sent more request bytes than it may per second; retry in ${decision.retryAfterSeconds} s`, {
    field: 'body',
    closeConnection: true,
    headers: { 'Retry-After': String(decision.retryAfterSeconds) },
  });
}

/** A body nobody read is drained by node:http; one too large (or of unknown size) closes the connection instead. */
function unreadBodyTooLarge(request: ApiRequest): boolean {
  if (request.body !== null || request.req.readableEnded || !hasBody(request.req)) return false;
  const length = request.req.headers['content-length'];
  return length === undefined || Number(length) > MAX_DRAIN_BYTES;
}

/** Error lines, at most tuning.maxErrorLogsPerSecond, then one line counting the rest (a flood never floods the log). */
class ErrorLog {
  private readonly budget: LogBudget;

  constructor(private readonly ctx: ApiContext) {
    this.budget = new LogBudget(ctx.tuning.maxErrorLogsPerSecond, 1000, (n) => ctx.logger.warn({ suppressed: n }, `${n} more error answers not logged`));
  }

  note(request: ApiRequest, reply: Reply): void {
    if (!this.budget.admit()) return;
    const body = reply.json as { error?: string; message?: string } | undefined;
    const fields = { method: request.method, path: request.path.slice(0, 200), status: reply.status, code: body?.error };
    const line = `${request.method} ${fields.path} -> ${reply.status} ${body?.error ?? ''}: ${body?.message ?? ''}`;
    if (reply.status >= 500) this.ctx.logger.warn(fields, line);
    else this.ctx.logger.info(fields, line);
  }
}

/** Tracing: a write's HTTP arrival and answer, keyed by the index it answers with. */
function traceHttp(traceWrite: NonNullable<ApiContext['node']['traceWrite']>, reply: Reply, startedMicros: number): void {
  const index = Number(reply.headers?.[HEADER_INDEX]);
  if (!Number.isSafeInteger(index) || index <= 0) return;
  traceWrite(index, 'http_in', startedMicros);
  traceWrite(index, 'http_out');
}

/** A connection's requests being answered, and those waiting their turn. */
interface ConnectionTurns {
  active: number;
  waiting: Array<() => void>;
}

/**
 * Bounds what one connection can make a node hold by pipelining requests whose answers it does
 * not read (see MAX_PIPELINED_REQUESTS_PER_CONNECTION). Requests keep their order: node:http
 * sends the answers in request order whatever order they are ready in.
 */
class PipelineGuard {
  private readonly turns = new WeakMap<object, ConnectionTurns>();
  private readonly closeLog: LogBudget;

  constructor(private readonly ctx: ApiContext) {
    this.closeLog = new LogBudget(ctx.tuning.maxErrorLogsPerSecond, 1000, (n) => ctx.logger.warn({ suppressed: n }, `${n} more pipelining connections closed, not logged`));
  }

  /** Runs `handle` now or when an earlier request of the connection is answered; closes a connection that queues too many. */
  admit(req: IncomingMessage, res: ServerResponse, handle: () => void): void {
    const turns = this.turnsOf(req.socket);
    const start = (): void => {
      turns.active++;
      res.once('close', () => {
        turns.active--;
        turns.waiting.shift()?.();
      });
      handle();
    };
    if (turns.active < MAX_PIPELINED_REQUESTS_PER_CONNECTION) return start();
    if (turns.waiting.length < MAX_WAITING_PIPELINED_REQUESTS) {
      turns.waiting.push(start);
      return;
    }
    if (this.closeLog.admit()) this.ctx.logger.warn({ from: req.socket.remoteAddress }, `closing a connection that pipelined more than ${MAX_WAITING_PIPELINED_REQUESTS} requests beyond the ${MAX_PIPELINED_REQUESTS_PER_CONNECTION} being answered: it is not reading its answers`);
    req.socket.destroy();
  }

  private turnsOf(socket: IncomingMessage['socket']): ConnectionTurns {
    const known = this.turns.get(socket);
    if (known) return known;
    const turns: ConnectionTurns = { active: 0, waiting: [] };
    socket.once('close', () => (turns.waiting = []));
    this.turns.set(socket, turns);
    return turns;
  }
}

/** The `request` listener of the HTTP server. */
export function createRequestListener(ctx: ApiContext): (req: IncomingMessage, res: ServerResponse) => void {
  const errorLog = new ErrorLog(ctx);
  const refusals = new LogBudget(MAX_FORWARD_REFUSAL_LOGS_PER_SECOND, 1000, (n) => ctx.logger.warn({ suppressed: n }, `${n} more forward proofs refused`));
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const startedMicros = ctx.node.traceWrite ? monotonicMicros() : 0;
    const request = parseRequest(ctx, req, refusals);
    const route = matchRoute(request);
    const { reply, closeConnection } = await answer(ctx, request, route);
    writeReply(res, reply, corsHeaders(ctx, request, route), closeConnection || unreadBodyTooLarge(request));
    if (ctx.node.traceWrite && request.method !== 'GET' && reply.status < 300) traceHttp(ctx.node.traceWrite, reply, startedMicros);
    ctx.metrics.observe(route?.label ?? 'unknown', request.method, reply.status, (performance.now() - started) / 1000);
    if (reply.status >= 400) errorLog.note(request, reply);
  };
  const pipelined = new PipelineGuard(ctx);
  return (req, res) => {
    req.on('error', () => undefined);
    pipelined.admit(req, res, () => {
      handle(req, res).catch((err: Error) => {
        ctx.logger.error({ err }, `request handling failed: ${err.message}`);
        if (!res.headersSent) writeReply(res, jsonReply(500, { error: 'internal', message: 'internal error' }), null, true);
        else res.destroy();
      });
    });
  };
}
