/**
 * Proposing a client command and turning its ApplyResult into an answer. Shared by the KV
 * and quote routes.
 */
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
 * Proposes `command` and returns the successful result; a refused one (not_found,
 * precondition_failed) is thrown as its API error. NodeErrors pass through to the server,
 * which forwards a not_leader to the leader.
 */
export async function proposeCommand(ctx: ApiContext, command: Command): Promise<Extract<ApplyResult, { ok: true }>> {
  const result = await ctx.node.propose(command);
  // The write committed through this node as leader, so this node is the leader that applied it.
  const headers = raftHeaders(ctx.node.id, result.index);
  if (result.ok) return result;
  switch (result.error) {
    case 'not_found':
      throw new ApiError('not_found', `key not found (checked at index ${result.index})`, { headers });
    case 'precondition_failed':
      throw new ApiError('precondition_failed', 'the current value differs from "from"', { headers, extra: { current: result.current } });
    case 'invalid_command':
      throw new ApiError('internal', `the state machine refused the command at index ${result.index}`, { headers });
  }
}
