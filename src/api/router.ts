/**
 * Maps a method and path to its handler (SPEC §3 routes). Unknown paths are 404 not_found;
 * a known path with another method is 400 bad_request naming the method.
 */
import { isAdminAllowed, postAdmin } from './admin.js';
import type { ApiRequest, RouteHandler } from './context.js';
import { ApiError } from './errors.js';
import { LIVE_PATH } from './live.js';
import { jsonReply } from './reply.js';
import { getBackup } from './routes-backup.js';
import { casKv, deleteKv, getKv, putKv } from './routes-kv.js';
import { DEBUG_ROUTES } from './routes-debug.js';
import { getMembers, postMembers } from './routes-members.js';
import { listQuotes, postQuote } from './routes-quotes.js';
import { getCluster, getHealth, getMetrics, getReady, getStatus } from './routes-status.js';
import { servePage, serveStatic } from './static.js';

/** How a route answers browsers from other origins. */
export type CorsPolicy = 'public' | 'same-origin';

/** A matched route: its label, CORS policy and handlers by method. */
export interface Route {
  /** Route template, for metrics labels and logs (never the raw path). */
  label: string;
  cors: CorsPolicy;
  /** Admin routes forward the caller's Authorization header. */
  admin: boolean;
  methods: Partial<Record<string, RouteHandler>>;
}

const KV_PREFIX = '/api/kv/';
const ADMIN_PREFIX = '/api/admin/';
const STATIC_PREFIX = '/static/';
const CAS_SUFFIX = '/cas';

const liveWithoutUpgrade: RouteHandler = () => {
  throw new ApiError('bad_request', 'method: /api/live is a WebSocket; send a GET with Upgrade: websocket', { field: 'method' });
};

/** GET /metrics: loopback or the admin token only (SPEC §7); it names peers and internals. */
const metricsHandler: RouteHandler = (ctx, request) => {
  if (!isAdminAllowed(request.req.socket.remoteAddress, request.req.headers.authorization, ctx.adminToken)) {
    throw new ApiError('forbidden', '/metrics is served only to loopback or with the admin token');
  }
  return getMetrics(ctx.metricsRegistry);
};

const EXACT: Record<string, Route> = {
  '/': { label: '/', cors: 'same-origin', admin: false, methods: { GET: (ctx) => servePage(ctx.webDir, 'index.html') } },
  '/dashboard': { label: '/dashboard', cors: 'same-origin', admin: false, methods: { GET: (ctx) => servePage(ctx.webDir, 'dashboard.html') } },
  '/sim': { label: '/sim', cors: 'same-origin', admin: false, methods: { GET: (ctx) => servePage(ctx.webDir, 'sim.html') } },
  '/api/quotes': { label: '/api/quotes', cors: 'public', admin: false, methods: { GET: listQuotes, POST: postQuote } },
  '/api/status': { label: '/api/status', cors: 'public', admin: false, methods: { GET: getStatus } },
  '/api/cluster': { label: '/api/cluster', cors: 'public', admin: false, methods: { GET: getCluster } },
  '/api/members': { label: '/api/members', cors: 'same-origin', admin: true, methods: { GET: getMembers, POST: postMembers } },
  [LIVE_PATH]: { label: LIVE_PATH, cors: 'public', admin: false, methods: { GET: liveWithoutUpgrade } },
  '/metrics': { label: '/metrics', cors: 'same-origin', admin: false, methods: { GET: metricsHandler } },
  '/healthz': { label: '/healthz', cors: 'same-origin', admin: false, methods: { GET: getHealth } },
  '/readyz': { label: '/readyz', cors: 'same-origin', admin: false, methods: { GET: getReady } },
  '/api/backup': { label: '/api/backup', cors: 'same-origin', admin: true, methods: { GET: getBackup } },
  ...DEBUG_ROUTES,
};

function kvRoute(method: string, rest: string): Route {
  if (method === 'POST' && rest.endsWith(CAS_SUFFIX) && rest.length > CAS_SUFFIX.length) {
    const key = rest.slice(0, -CAS_SUFFIX.length);
    return { label: '/api/kv/:key/cas', cors: 'public', admin: false, methods: { POST: (ctx, request) => casKv(ctx, request, key) } };
  }
  return {
    label: '/api/kv/:key',
    cors: 'public',
    admin: false,
    methods: {
      GET: (ctx, request) => getKv(ctx, request, rest),
      PUT: (ctx, request) => putKv(ctx, request, rest),
      DELETE: (ctx, request) => deleteKv(ctx, request, rest),
    },
  };
}

/** The route for a path, or null (404). */
export function matchRoute(request: ApiRequest): Route | null {
  const { path, method } = request;
  const exact = EXACT[path];
  if (exact) return exact;
  if (path.startsWith(KV_PREFIX)) return kvRoute(method, path.slice(KV_PREFIX.length));
  if (path.startsWith(ADMIN_PREFIX)) {
    const action = path.slice(ADMIN_PREFIX.length);
    return { label: '/api/admin/:action', cors: 'same-origin', admin: true, methods: { POST: (ctx, req) => postAdmin(ctx, req, action) } };
  }
  if (path.startsWith(STATIC_PREFIX)) {
    const name = path.slice(STATIC_PREFIX.length);
    return { label: '/static/:file', cors: 'same-origin', admin: false, methods: { GET: (ctx) => serveStatic(ctx.webDir, name) } };
  }
  return null;
}

/** The methods a route answers, for Allow headers. */
export function allowedMethods(route: Route): string {
  const methods = Object.keys(route.methods);
  if (methods.includes('GET')) methods.push('HEAD');
  return [...methods, 'OPTIONS'].join(', ');
}

/** The handler for the request's method: HEAD runs GET (node:http drops the body), others are 400. */
export function handlerFor(route: Route, method: string): RouteHandler {
  const handler = route.methods[method === 'HEAD' ? 'GET' : method];
  if (handler) return handler;
  const allow = allowedMethods(route);
  throw new ApiError('bad_request', `method: ${method.slice(0, 20)} is not allowed on ${route.label}; use ${allow}`, { field: 'method', headers: { Allow: allow } });
}

/** An OPTIONS answer: a CORS preflight is granted for public routes, and only to a member's origin. */
export function optionsReply(route: Route, memberOrigin: boolean): ReturnType<typeof jsonReply> {
  const headers: Record<string, string> = { Allow: allowedMethods(route) };
  if (route.cors === 'public' && memberOrigin) {
    headers['Access-Control-Allow-Methods'] = allowedMethods(route);
    headers['Access-Control-Allow-Headers'] = 'Content-Type, Idempotency-Key';
    headers['Access-Control-Max-Age'] = '600';
  }
  return { status: 204, headers };
}
