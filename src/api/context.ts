/**
 * What route handlers share: the server-wide context (node, logger, limits, helpers) and the
 * parsed request.
 */
import type { IncomingMessage } from 'node:http';
import type { NodeId } from '@raftquotes/raft';
import type { Registry } from '../metrics/prometheus.js';
import type { Logger } from '../log/logger.js';
import type { DebugControls } from '../node/debug-controls.js';
import { NodeError, type RaftNodeHandle } from '../node/types.js';
import { hasBody, parseJsonObject, readRawBody, requireJsonContentType } from './body.js';
import { ApiError, badRequest } from './errors.js';
import { bodyMatches, type ForwardAuth, type ForwardProof } from './forward-proof.js';
import type { Forwarder } from './forward.js';
import type { ApiMetrics } from './metrics.js';
import type { NodeNames } from './names.js';
import type { RateLimiter } from './rate-limit.js';
import type { Reply } from './reply.js';

/** The pino methods the API uses (pino's Logger fits). */
/** The API logs at three levels (no debug lines on its paths). */
export type ApiLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

/** Knobs a test can turn; production uses the defaults in limits.ts. */
export interface ApiTuning {
  maxWsClients: number;
  maxWsBufferedBytes: number;
  maxWsTotalBufferedBytes: number;
  maxWsClientsPerAddress: number;
  maxWsClientsPerLoopback: number;
  wsStallMs: number;
  wsPongTimeoutMs: number;
  wsBacklogWindowBytes: number;
  bodyBytesPerSecond: number;
  bodyBytesPerSecondLoopback: number;
  socketIdleTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  maxConnectionsPerLoopback: number;
  headersTimeoutMs: number;
  wsStatusIntervalMs: number;
  forwardTimeoutMs: number;
  peerStatusTimeoutMs: number;
  maxErrorLogsPerSecond: number;
}

/** The --public-url values of this node and of its peers (SPEC §3 "Other nodes' pages"). */
export interface MemberPublicUrls {
  own: readonly string[];
  /** A peer's, from its authenticated handshake; empty when unknown or none. */
  peer: (id: NodeId) => readonly string[];
}

/** No --public-url known anywhere (tests, the simulator). */
export const NO_PUBLIC_URLS: MemberPublicUrls = { own: [], peer: () => [] };

/** Server-wide state shared by every handler. */
export interface ApiContext {
  node: RaftNodeHandle;
  logger: ApiLogger;
  webDir: string;
  adminToken: string | undefined;
  rateLimiter: RateLimiter | null;
  /** Request body bytes per client address (MAX_BODY_BYTES_PER_S_PER_ADDRESS), loopback apart. */
  bodyBudget: { address: RateLimiter; loopback: RateLimiter };
  forwarder: Forwarder;
  /** Signs this node's forwards and checks other nodes' (SPEC §7). */
  forwardAuth: ForwardAuth;
  /** This node's and its members' names: the Host, Origin and CORS checks. */
  names: NodeNames;
  /** Each member's --public-url values, for /api/cluster (the board fails over to them). */
  memberPublicUrls: MemberPublicUrls;
  metricsRegistry: Registry;
  metrics: ApiMetrics;
  tuning: ApiTuning;
  /** SPEC §5 `--quota-bytes`: writes that would grow the state past it get 507 (undefined: no quota). */
  quotaBytes?: number | undefined;
  /** SPEC §11 link, clock and event controls (routes-debug.ts); absent: those routes answer 404. */
  debug?: DebugControls | undefined;
}

/** One HTTP request, parsed once. */
export interface ApiRequest {
  req: IncomingMessage;
  method: string;
  /** The raw (still percent-encoded) path, without the query. */
  path: string;
  /** The raw query string without `?` ('' if none). */
  rawQuery: string;
  /**
   * Whether another node of the cluster provably forwarded this request (X-Raft-Forwarded
   * with a valid proof, see forward-proof.ts). Only then is it trusted: not rate-limited again.
   */
  forwarded: boolean;
  /** The proof of a proven forward (its body is checked against it once read). */
  proof: ForwardProof | null;
  /**
   * Whether this node may forward the request on. Never for a proven forward (it was forwarded
   * once already). A request with an unprovable X-Raft-Forwarded (no secret configured) is not
   * forwarded either: the header then marks the hop, so no forwarding loop can form.
   */
  mayForward: boolean;
  /** The raw body once read, so a forward can resend it unchanged. */
  body: Buffer | null;
}

/** A route's handler: returns the answer or throws (ApiError, NodeError, anything else is a 500). */
export type RouteHandler = (ctx: ApiContext, request: ApiRequest) => Promise<Reply> | Reply;

/** Query parameters, parsed on demand (most requests have none). */
export function queryOf(request: ApiRequest): URLSearchParams {
  return new URLSearchParams(request.rawQuery);
}

/** Reads and parses a JSON object body (415 for another type, 413 beyond the limit, 400 if invalid). */
export async function readJson(request: ApiRequest): Promise<Record<string, unknown>> {
  if (!hasBody(request.req)) throw badRequest('body', 'expected a JSON object, got no body');
  requireJsonContentType(request.req);
  request.body = await readRawBody(request.req);
  if (request.proof && !bodyMatches(request.proof, request.body)) {
    throw new ApiError('forbidden', 'the forward proof does not match the request body');
  }
  return parseJsonObject(request.body);
}

/** Like readJson, but a request without a body gives `{}`. */
export async function readOptionalJson(request: ApiRequest): Promise<Record<string, unknown>> {
  if (!hasBody(request.req)) return {};
  return readJson(request);
}

/**
 * Waits until this node may answer a read: a ReadIndex barrier for a linearizable read (it
 * works on followers too, SPEC §2 "Reads"); nothing for a stale one, unless the node is shut
 * down (then the API answers unavailable, SPEC §4 SHUTDOWN).
 */
export async function readBarrier(ctx: ApiContext, stale: boolean): Promise<void> {
  if (!stale) return ctx.node.readBarrier();
  if (ctx.node.isShutdown()) throw new NodeError('unavailable', 'node is shut down by the controller');
}
