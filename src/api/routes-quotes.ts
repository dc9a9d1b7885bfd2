/**
 * SPEC §3 quote routes: POST /api/quotes (rate limited per client address) and
 * GET /api/quotes?after&limit.
 */
import { queryOf, readBarrier, readJson, type ApiContext, type ApiRequest } from './context.js';
import { ApiError } from './errors.js';
import { DEFAULT_QUOTES_LIMIT, MAX_QUOTES_LIMIT } from './limits.js';
import { clientAddress } from './rate-limit.js';
import { jsonReply, raftHeaders, type Reply } from './reply.js';
import { isStaleRead, nonNegativeInt, quoteInput } from './validate.js';
import { proposeCommand, withIdempotencyKey } from './writes.js';

/**
 * Charges the client's bucket. A forwarded request was charged by the node the client talked
 * to (here its address would be that node's, shared by all its clients), so it is not charged again.
 */
function checkRateLimit(ctx: ApiContext, request: ApiRequest): void {
  if (!ctx.rateLimiter || request.forwarded) return;
  const decision = ctx.rateLimiter.take(clientAddress(request.req.socket.remoteAddress));
  if (decision.ok) return;
  throw new ApiError('too_many_requests', `too many quotes from this address; retry in ${decision.retryAfterSeconds} s`, {
    headers: { 'Retry-After': String(decision.retryAfterSeconds) },
  });
}

/** POST /api/quotes `{"text", "author"?}` → 201 `{"quote"}`. */
export async function postQuote(ctx: ApiContext, request: ApiRequest): Promise<Reply> {
  checkRateLimit(ctx, request);
  const { text, author } = quoteInput(await readJson(request));
  const command = withIdempotencyKey(request, { op: 'quote' as const, text, author, postedAt: new Date().toISOString() });
  const { result, leader } = await proposeCommand(ctx, request, command);
  // The state machine answers idempotency_key_reused for a key first used with another request;
  // only a record from before request hashes were kept (matching any request) gets here.
  if (!result.quote) throw new ApiError('idempotency_key_reused', 'this Idempotency-Key was first used with a different request', { field: 'Idempotency-Key' });
  return jsonReply(201, { quote: result.quote }, raftHeaders(leader, result.index));
}

/**
 * GET /api/quotes: committed quotes after `after`, oldest first. `commitIndex` is the applied
 * index the answer reflects: every quote committed at or below it is included, so a client can
 * use it as its cursor (for a linearizable read it covers everything committed before the request).
 */
export async function listQuotes(ctx: ApiContext, request: ApiRequest): Promise<Reply> {
  const query = queryOf(request);
  const after = nonNegativeInt(query, 'after', 0);
  const limit = nonNegativeInt(query, 'limit', DEFAULT_QUOTES_LIMIT, MAX_QUOTES_LIMIT);
  await readBarrier(ctx, isStaleRead(query));
  const appliedIndex = ctx.node.stateMachine.appliedIndex();
  const quotes = limit === 0 ? [] : ctx.node.stateMachine.quotesAfter(after, limit);
  return jsonReply(200, { quotes, commitIndex: appliedIndex }, raftHeaders(ctx.node.knownLeader(), appliedIndex));
}
