/**
 * Proposing a client command and turning its ApplyResult into an answer. Shared by the KV
 * and quote routes.
 */
import { quotaProblem } from '../state/quota.js';
import type { ApplyResult, Command } from '../state/types.js';
import type { ApiContext, ApiRequest } from './context.js';
import { ApiError } from './errors.js';
import { raftHeaders } from './reply.js';
import { idempotencyKeyOf } from './validate.js';

/** The command with the request's Idempotency-Key (if any) attached. */
export function withIdempotencyKey<C extends Command>(request: ApiRequest, command: C): C {
  const idempotencyKey = idempotencyKeyOf(request.req);
  return idempotencyKey === undefined ? command : { ...command, idempotencyKey };
}

/**
 * SPEC §5 quota, checked by the node that proposes: the leader. A follower skips it and its
 * propose fails with not_leader, so the request is forwarded and the leader checks it against
 * its own quota (see state/quota.ts for why at propose time and not at apply time).
 */
function checkQuota(ctx: ApiContext, command: Command): void {
  if (ctx.quotaBytes === undefined || ctx.node.knownLeader() !== ctx.node.id) return;
  const problem = quotaProblem(ctx.node.stateMachine, command, ctx.quotaBytes);
  if (problem) throw new ApiError('quota_exceeded', problem);
}

/** A write's successful result, and the leader that accepted it (X-Raft-Leader). */
export interface Written {
  result: Extract<ApplyResult, { ok: true }>;
  leader: string;
}

/**
 * Proposes `command` and returns the successful result; a refused one (not_found,
 * precondition_failed, idempotency_key_reused) is thrown as its API error. On a follower the
 * node forwards the command over the peer link and answers from its own apply; a
 * request that was itself forwarded over HTTP (by an older node) is only proposed here, so a
 * not_leader reaches the server, which answers it as before. NodeErrors pass through.
 */
export async function proposeCommand(ctx: ApiContext, request: ApiRequest, command: Command): Promise<Written> {
  checkQuota(ctx, command);
  const { result, leader } = ctx.node.submit && request.mayForward ? await ctx.node.submit(command) : { result: await ctx.node.propose(command), leader: ctx.node.id };
  const headers = raftHeaders(leader, result.index);
  if (result.ok) return { result, leader };
  throw refusal(result, headers);
}

function refusal(result: Extract<ApplyResult, { ok: false }>, headers: Record<string, string>): ApiError {
  switch (result.error) {
    case 'not_found':
      return new ApiError('not_found', `key not found (checked at index ${result.index})`, { headers });
    case 'precondition_failed':
      return new ApiError('precondition_failed', 'the current value differs from "from"', { headers, extra: { current: result.current } });
    case 'idempotency_key_reused':
      return new ApiError('idempotency_key_reused', 'this Idempotency-Key was first used with a different request; nothing was written', { headers, field: 'Idempotency-Key' });
    case 'invalid_command':
      return new ApiError('internal', `the state machine refused the command at index ${result.index}`, { headers });
    case 'apply_failed':
      return new ApiError('internal', `applying the command at index ${result.index} failed on every node; nothing was written`, { headers });
  }
}
