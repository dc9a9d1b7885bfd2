/**
 * SPEC §11 "Seeing Raft work": POST /api/admin/link (hold, step, drop this node's outgoing
 * messages per peer), POST /api/admin/clock (slow or freeze its timers, step ticks) and
 * GET /api/events?after=<seq> (its recent Raft events). The two POSTs are admin actions
 * (SPEC §7: loopback or the admin token, JSON content type). Each may name another voter in
 * `"node"` (the events route in `?node=`), to drive any node through the one serving the page.
 */
import { MAX_CLOCK_TICKS, MIN_CLOCK_RATE, MAX_CLOCK_RATE, ClockError, isValidRate } from '../node/controllable-clock.js';
import { LINK_MODES, MAX_LINK_STEP, type DebugControls, type HeldMessageView } from '../node/debug-controls.js';
import { DEFAULT_EVENTS_PAGE, MAX_EVENTS_PAGE } from '../node/event-ring.js';
import type { NodeId } from '@raftquotes/raft';
import { requireAdmin, requireAdminJson } from './admin.js';
import { queryOf, readOptionalJson, type ApiContext, type ApiRequest, type RouteHandler } from './context.js';
import { ApiError, badRequest } from './errors.js';
import { forwardToNode } from './forwarding.js';
import { jsonReply, type Reply } from './reply.js';
import { nonNegativeInt } from './validate.js';
import { oneOf } from '../narrow.js';

/** Held messages listed per peer in GET /api/status (the count is always given in full). */
export const MAX_HELD_IN_STATUS = 100;
/** Longest `to`/`node` value looked at (a node id is short; anything longer is refused unread). */
const MAX_NODE_ID_CHARS = 64;

const LINK_FIELDS = new Set(['to', 'mode', 'step', 'drop', 'node']);
const CLOCK_FIELDS = new Set(['rate', 'tick', 'node']);

function controlsOf(ctx: ApiContext): DebugControls {
  if (!ctx.debug) throw new ApiError('not_found', 'the dashboard controls (SPEC §11) are not enabled on this node');
  return ctx.debug;
}

/** Refuses fields outside `allowed`, naming the first. */
function onlyFields(body: Record<string, unknown>, allowed: Set<string>): void {
  for (const field of Object.keys(body)) {
    if (!allowed.has(field)) throw badRequest(field.slice(0, MAX_NODE_ID_CHARS), `unknown field; allowed: ${[...allowed].join(', ')}`);
  }
}

/** Exactly one of `fields` is present in `body`; returns it. */
function exactlyOne(body: Record<string, unknown>, fields: readonly string[]): string {
  const present = fields.filter((field) => body[field] !== undefined);
  const [only, second] = present;
  if (only === undefined || second !== undefined) throw badRequest(second ?? fields[0] ?? 'body', `give exactly one of ${fields.join(', ')}`);
  return only;
}

/** A voter named by `field` (or undefined when absent). */
function voter(ctx: ApiContext, value: unknown, field: string): NodeId | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length > MAX_NODE_ID_CHARS || !ctx.node.voters.includes(value)) throw badRequest(field, `must be one of ${ctx.node.voters.join(', ')}`);
  return value;
}

/** `count` in 1..max. */
function count(value: unknown, field: string, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) throw badRequest(field, `must be an integer from 1 to ${max}`);
  return value;
}

/** Reads an admin POST body; a forward when it names another node (returns the relayed reply). */
async function adminBody(ctx: ApiContext, request: ApiRequest, allowed: Set<string>): Promise<{ body: Record<string, unknown>; forward: Promise<Reply> | null }> {
  requireAdmin(ctx, request);
  requireAdminJson(request);
  const body = await readOptionalJson(request);
  onlyFields(body, allowed);
  const target = voter(ctx, body.node, 'node');
  // A proven forward was routed by the node that sent it: act here.
  const forward = target !== undefined && target !== ctx.node.id && request.mayForward ? forwardToNode(ctx, request, target) : null;
  return { body, forward };
}

function linkTarget(ctx: ApiContext, value: unknown): NodeId | '*' {
  if (value === '*') return '*';
  const peers = ctx.node.voters.filter((id) => id !== ctx.node.id);
  if (typeof value !== 'string' || !peers.includes(value)) throw badRequest('to', `must be "*" or one of this node's peers: ${peers.join(', ')}`);
  return value;
}

/** POST /api/admin/link {"to", "mode"} | {"to", "step": n} | {"to", "drop": n} [, "node"]. */
export async function postLink(ctx: ApiContext, request: ApiRequest): Promise<Reply> {
  const { link, recorder } = controlsOf(ctx);
  const { body, forward } = await adminBody(ctx, request, LINK_FIELDS);
  if (forward) return forward;
  const to = linkTarget(ctx, body.to);
  const action = exactlyOne(body, ['mode', 'step', 'drop']);
  const reply: Record<string, unknown> = { ok: true, node: ctx.node.id, to };
  if (action === 'mode') {
    const mode = oneOf(LINK_MODES, body.mode);
    if (mode === undefined) throw badRequest('mode', `must be one of ${LINK_MODES.join(', ')}`);
    // Recorded first: opening a link releases what it held, and the timeline reads in that order.
    recorder.observeControl('link', { to, mode });
    link.setMode(to, mode);
    reply.mode = mode;
  } else if (action === 'step') {
    reply.released = link.step(to, count(body.step, 'step', MAX_LINK_STEP));
  } else {
    reply.dropped = link.drop(to, count(body.drop, 'drop', MAX_LINK_STEP));
  }
  return jsonReply(200, { ...reply, links: link.modesView() });
}

/** POST /api/admin/clock {"rate": r} | {"tick": n} [, "node"]. */
export async function postClock(ctx: ApiContext, request: ApiRequest): Promise<Reply> {
  const { clock, recorder } = controlsOf(ctx);
  const { body, forward } = await adminBody(ctx, request, CLOCK_FIELDS);
  if (forward) return forward;
  const action = exactlyOne(body, ['rate', 'tick']);
  if (action === 'rate') {
    const rate = body.rate;
    if (typeof rate !== 'number' || !isValidRate(rate)) throw badRequest('rate', `must be 0 (frozen) or a number from ${MIN_CLOCK_RATE} to ${MAX_CLOCK_RATE} (1 is real time)`);
    clock.setRate(rate);
    recorder.observeControl('clock', { rate });
  } else {
    const ticks = count(body.tick, 'tick', MAX_CLOCK_TICKS);
    try {
      clock.tick(ticks);
    } catch (err) {
      if (err instanceof ClockError && err.code === 'not_frozen') throw new ApiError('precondition_failed', err.message, { cause: err });
      throw err;
    }
    recorder.observeControl('tick', { ticks });
  }
  return jsonReply(200, { ok: true, node: ctx.node.id, rate: clock.rate, steppedTicks: clock.steppedTicks });
}

/** GET /api/events?after=<seq>&limit=<n>[&node=NodeK]: oldest first, seq increasing. */
export async function getEvents(ctx: ApiContext, request: ApiRequest): Promise<Reply> {
  const query = queryOf(request);
  const after = nonNegativeInt(query, 'after', 0);
  const limit = nonNegativeInt(query, 'limit', DEFAULT_EVENTS_PAGE, MAX_EVENTS_PAGE);
  if (limit < 1) throw badRequest('limit', `must be from 1 to ${MAX_EVENTS_PAGE}`);
  const target = voter(ctx, query.get('node') ?? undefined, 'node');
  if (target !== undefined && target !== ctx.node.id && request.mayForward) return forwardToNode(ctx, request, target);
  const { events } = controlsOf(ctx);
  return jsonReply(200, { node: ctx.node.id, ...events.after(after, limit) });
}

/** The §11 part of GET /api/status: held messages per peer, link modes, clock rate. */
export function debugStatus(ctx: ApiContext): { held: Record<NodeId, HeldMessageView[]>; heldCount: Record<NodeId, number>; links: ReturnType<DebugControls['link']['modesView']>; clock: { rate: number } } | null {
  if (!ctx.debug) return null;
  const link = ctx.debug.link;
  return { held: link.held(MAX_HELD_IN_STATUS), heldCount: link.heldCounts(), links: ctx.debug.link.modesView(), clock: { rate: ctx.debug.clock.rate } };
}

const postLinkHandler: RouteHandler = postLink;
const postClockHandler: RouteHandler = postClock;

/** The routes of this file, for the router's table (admin POSTs are same-origin only). */
export const DEBUG_ROUTES = {
  '/api/admin/link': { label: '/api/admin/link', cors: 'same-origin', admin: true, methods: { POST: postLinkHandler } },
  '/api/admin/clock': { label: '/api/admin/clock', cors: 'same-origin', admin: true, methods: { POST: postClockHandler } },
  '/api/events': { label: '/api/events', cors: 'public', admin: false, methods: { GET: getEvents } },
} as const;
