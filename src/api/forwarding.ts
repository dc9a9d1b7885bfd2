/**
 * SPEC §3 "Forwarding": a follower that gets a write sends it on to the leader, once (the
 * forwarded copy carries X-Raft-Forwarded with this node's proof, see forward-proof.ts, and
 * is never forwarded again), and relays the leader's answer. Also used to drive another
 * node's admin actions through this one.
 */
import type { NodeId } from '@raftquotes/raft';
import type { ApiContext, ApiRequest } from './context.js';
import { ApiError, noLeader } from './errors.js';
import { PeerRequestError, type PeerResponse } from './forward.js';
import { MAX_FORWARD_RESPONSE_BYTES } from './limits.js';
import { HEADER_FORWARDED, HEADER_INDEX, HEADER_LEADER, type Reply } from './reply.js';
import { errorMessage } from '../narrow.js';

/** Response headers relayed from the node that answered. */
const RELAYED_HEADERS = [HEADER_LEADER, HEADER_INDEX, 'Retry-After'] as const;

/** The request headers a forward carries on. */
function forwardHeaders(ctx: ApiContext, request: ApiRequest, path: string, overTls: boolean, withAuthorization: boolean): Record<string, string> {
  const incoming = request.req.headers;
  // Without a secret or TLS identity the header proves nothing, but still marks the hop (see ApiRequest.mayForward).
  const proof = ctx.forwardAuth.sign(request.method, path, request.body, overTls) ?? '1';
  const headers: Record<string, string> = { [HEADER_FORWARDED]: proof, Accept: 'application/json' };
  if (incoming['content-type'] !== undefined) headers['Content-Type'] = incoming['content-type'];
  const idempotencyKey = incoming['idempotency-key'];
  if (typeof idempotencyKey === 'string') headers['Idempotency-Key'] = idempotencyKey;
  if (withAuthorization && incoming.authorization !== undefined) headers.Authorization = incoming.authorization;
  return headers;
}

/** The peer's answer as ours: status, body, content type and the X-Raft-* headers. */
function relay(response: PeerResponse): Reply {
  const headers: Record<string, string> = {};
  for (const name of RELAYED_HEADERS) {
    const value = response.headers[name.toLowerCase()];
    if (typeof value === 'string') headers[name] = value;
  }
  return { status: response.status, headers, raw: response.body, contentType: response.headers['content-type'] ?? 'application/json' };
}

/** Maps a failed forward: never reached → no_leader (not applied); otherwise the outcome is unknown. */
function forwardFailure(target: NodeId, err: unknown): ApiError {
  if (err instanceof PeerRequestError && err.kind === 'connect') {
    return noLeader(`cannot reach the leader ${target}: ${err.message}; retry shortly`, err);
  }
  const why = err instanceof Error ? err.message : String(err);
  return new ApiError('timeout', `forwarded to ${target}, which did not answer (${why}); the outcome is unknown`, { cause: err });
}

async function send(ctx: ApiContext, request: ApiRequest, baseUrl: string, withAuthorization: boolean): Promise<Reply> {
  const path = request.rawQuery ? `${request.path}?${request.rawQuery}` : request.path;
  const response = await ctx.forwarder.request(baseUrl, {
    method: request.method,
    path,
    headers: forwardHeaders(ctx, request, path, baseUrl.startsWith('https:'), withAuthorization),
    body: request.body,
    timeoutMs: ctx.tuning.forwardTimeoutMs,
    maxResponseBytes: MAX_FORWARD_RESPONSE_BYTES,
  });
  return relay(response);
}

/**
 * Forwards a request that needs the leader to `leader` and relays the answer. Refuses
 * (503 no_leader) when the request was itself forwarded, no other leader is known, or its
 * address is not known.
 */
export async function forwardToLeader(ctx: ApiContext, request: ApiRequest, leader: NodeId | null, withAuthorization = false): Promise<Reply> {
  if (!request.mayForward) throw noLeader(`${ctx.node.id} is not the leader and this request was already forwarded once; retry shortly`);
  if (leader === null || leader === ctx.node.id) throw noLeader('no leader is known right now; retry shortly');
  const baseUrl = ctx.node.peerHttpUrl(leader);
  if (!baseUrl) throw noLeader(`the HTTP address of the leader ${leader} is not known yet; retry shortly`);
  try {
    return await send(ctx, request, baseUrl, withAuthorization);
  } catch (err) {
    throw forwardFailure(leader, err);
  }
}

/** Forwards an admin request to the node it names (with the caller's Authorization) and relays the answer. */
export async function forwardToNode(ctx: ApiContext, request: ApiRequest, target: NodeId): Promise<Reply> {
  const baseUrl = ctx.node.peerHttpUrl(target);
  const unreachable = (why: string, cause?: unknown): ApiError =>
    new ApiError('unavailable', `cannot reach ${target} from ${ctx.node.id}: ${why}`, { headers: { 'Retry-After': '1' }, cause });
  if (!baseUrl) throw unreachable('its HTTP address is not known yet');
  try {
    return await send(ctx, request, baseUrl, true);
  } catch (err) {
    if (err instanceof PeerRequestError && err.kind === 'connect') throw unreachable(err.message, err);
    throw new ApiError('timeout', `${target} did not answer (${errorMessage(err)}); the outcome is unknown`, { cause: err });
  }
}
