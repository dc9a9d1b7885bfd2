/**
 * POST /api/admin/<action>: the controller's actions for the dashboard (SPEC §3), allowed
 * from loopback or with the admin token (SPEC §7). A body `"node": "Node3"` naming another
 * voter sends the request on to that node, so the dashboard can drive any node through one.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIPv4 } from 'node:net';
import type { NodeId } from '@raftquotes/raft';
import { requireJsonContentType } from './body.js';
import { readOptionalJson, type ApiContext, type ApiRequest } from './context.js';
import { ApiError, badRequest } from './errors.js';
import { forwardToNode } from './forwarding.js';
import { jsonReply, type Reply } from './reply.js';
import { oneOf } from '../narrow.js';

export const ADMIN_ACTIONS = ['timeout', 'step-down', 'shutdown', 'resume', 'transfer-leadership'] as const;
export type AdminAction = (typeof ADMIN_ACTIONS)[number];

/** 127.0.0.0/8, ::1, and IPv4-mapped 127.x addresses. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.toLowerCase().startsWith('::ffff:') ? address.slice(7) : address;
  if (isIPv4(v4)) return v4.startsWith('127.');
  return address === '::1' || address === '0:0:0:0:0:0:0:1';
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Whether `authorization` is `Bearer <token>` (compared in constant time, over digests of equal length). */
function hasToken(authorization: string | undefined, token: string | undefined): boolean {
  if (!token || !authorization) return false;
  const given = /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
  if (given === undefined) return false;
  return timingSafeEqual(digest(given), digest(token));
}

/** SPEC §7: admin actions from loopback, or with `Authorization: Bearer <admin token>` when one is set. */
export function isAdminAllowed(remoteAddress: string | undefined, authorization: string | undefined, adminToken: string | undefined): boolean {
  return isLoopback(remoteAddress) || hasToken(authorization, adminToken);
}

/** A body field that, when present, must name a configured voter. */
function voterField(ctx: ApiContext, body: Record<string, unknown>, field: string): NodeId | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !ctx.node.voters.includes(value)) {
    throw badRequest(field, `must be one of ${ctx.node.voters.join(', ')}`);
  }
  return value;
}

async function runAction(ctx: ApiContext, action: AdminAction, body: Record<string, unknown>): Promise<void> {
  switch (action) {
    case 'timeout':
      return ctx.node.campaign();
    case 'step-down':
      return ctx.node.becomeFollower();
    case 'shutdown':
      return ctx.node.shutdown();
    case 'resume':
      return ctx.node.resume();
    case 'transfer-leadership':
      return ctx.node.transferLeadership(voterField(ctx, body, 'to'));
  }
}

/**
 * Refuses a caller that may not run admin actions (SPEC §7): not from loopback, without the
 * admin token, and not a proven forward from another node (which checked its own caller).
 * Use for every admin route (/api/admin/*, POST /api/members, GET /api/backup), with
 * requireAdminJson for the POSTs.
 */
export function requireAdmin(ctx: ApiContext, request: ApiRequest): void {
  if (!request.forwarded && !isAdminAllowed(request.req.socket.remoteAddress, request.req.headers.authorization, ctx.adminToken)) {
    throw new ApiError('forbidden', 'admin actions are allowed only from loopback or with the admin token');
  }
}

/**
 * Admin POSTs need a JSON Content-Type even with no body (which then counts as `{}`): a
 * cross-site form cannot send one without a CORS preflight, which admin routes never grant.
 */
export function requireAdminJson(request: ApiRequest): void {
  requireJsonContentType(request.req);
}

/** POST /api/admin/<action>. A not_leader from transfer-leadership is forwarded to the leader by the server. */
export async function postAdmin(ctx: ApiContext, request: ApiRequest, action: string): Promise<Reply> {
  requireAdmin(ctx, request);
  const known = oneOf(ADMIN_ACTIONS, action);
  if (known === undefined) {
    throw new ApiError('not_found', `no admin action ${JSON.stringify(action.slice(0, 64))}; use one of ${ADMIN_ACTIONS.join(', ')}`);
  }
  requireAdminJson(request);
  const body = await readOptionalJson(request);
  const target = voterField(ctx, body, 'node');
  // A forwarded request was already routed by the node that forwarded it: act here.
  if (target !== undefined && target !== ctx.node.id && request.mayForward) return forwardToNode(ctx, request, target);
  await runAction(ctx, known, body);
  return jsonReply(200, { ok: true, node: ctx.node.id, action });
}
