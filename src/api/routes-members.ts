/**
 * GET and POST /api/members (SPEC §9): the configuration, and changes to it. POST is an admin
 * action (SPEC §7: loopback or the admin token, JSON content type); a follower forwards it to
 * the leader like any write (the server does, on the runtime's not_leader).
 */
import { CONF_CHANGE_OPS, type ConfChange, MAX_CHANGES_PER_REQUEST, MAX_MEMBER_ADDRESS_CHARS, parseRaftAddress } from '@raftquotes/raft';
import { MembershipError } from '../node/membership.js';
import { requireAdmin, requireAdminJson } from './admin.js';
import { type ApiContext, type ApiRequest, readJson } from './context.js';
import { ApiError, badRequest } from './errors.js';
import { jsonReply, type Reply } from './reply.js';
import { isRecord, oneOf } from '../narrow.js';

/** Node ids as `--id` accepts them (src/cli/config.ts). */
const MEMBER_ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** GET /api/members. */
export function getMembers(ctx: ApiContext): Reply {
  const members = ctx.node.members?.();
  if (!members) throw new ApiError('not_found', 'this node does not serve membership');
  return jsonReply(200, members);
}

/** POST /api/members `{"changes": [...]}`: 200 `{"index","members"}` once the final configuration commits. */
export async function postMembers(ctx: ApiContext, request: ApiRequest): Promise<Reply> {
  requireAdmin(ctx, request);
  requireAdminJson(request);
  const body = await readJson(request);
  const changes = parseChanges(body['changes']);
  if (!ctx.node.changeMembers) throw new ApiError('not_found', 'this node does not serve membership');
  try {
    const { index, members } = await ctx.node.changeMembers(changes);
    return jsonReply(200, { index, members });
  } catch (err) {
    if (!(err instanceof MembershipError)) throw err;
    if (err.code === 'bad_request') throw new ApiError('bad_request', err.message, { field: err.field ?? 'changes', cause: err });
    throw new ApiError('precondition_failed', err.message, { extra: err.lag === undefined ? undefined : { lag: err.lag }, cause: err });
  }
}

/** Checks every field first (400 naming its JSON path), before the leader judges the changes. */
function parseChanges(value: unknown): ConfChange[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_CHANGES_PER_REQUEST) {
    throw badRequest('changes', `must be an array of 1..${MAX_CHANGES_PER_REQUEST} changes`);
  }
  const seen = new Set<string>();
  return value.map((raw: unknown, i) => {
    const path = `changes[${i}]`;
    if (!isRecord(raw)) throw badRequest(path, 'must be an object');
    const { op, id, raft, http } = raw;
    const known = oneOf(CONF_CHANGE_OPS, op);
    if (known === undefined) throw badRequest(`${path}.op`, `must be one of ${CONF_CHANGE_OPS.join(', ')}`);
    if (typeof id !== 'string' || !MEMBER_ID_PATTERN.test(id)) throw badRequest(`${path}.id`, 'must be a node id like Node6');
    if (seen.has(id)) throw badRequest(`${path}.id`, `${id} appears twice in this request`);
    seen.add(id);
    const change: ConfChange = { op: known, id };
    if (op !== 'add-learner' && op !== 'add-voter') {
      if (raft !== undefined || http !== undefined) throw badRequest(`${path}.${raft !== undefined ? 'raft' : 'http'}`, `only an add carries addresses`);
      return change;
    }
    if (typeof raft !== 'string' || parseRaftAddress(raft) === null) throw badRequest(`${path}.raft`, 'must be the Raft address as host:port');
    if (typeof http !== 'string' || !isHttpUrl(http)) throw badRequest(`${path}.http`, 'must be an http:// or https:// URL');
    return { ...change, raft, http };
  });
}

function isHttpUrl(text: string): boolean {
  if (text.length > MAX_MEMBER_ADDRESS_CHARS) return false;
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.host !== '' && url.username === '' && url.password === '' && (url.pathname === '/' || url.pathname === '') && url.search === '' && url.hash === '';
  } catch {
    return false;
  }
}
