/**
 * The HTTP API of one node (SPEC §3): node:http with keep-alive for the JSON routes and the
 * web pages, and `ws` on the same server for /api/live. Everything the API knows about Raft
 * goes through RaftNodeHandle.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Registry } from 'prom-client';
import type { RaftNodeHandle } from '../node/types.js';
import type { ApiContext, ApiLogger, ApiTuning } from './context.js';
import { Forwarder } from './forward.js';
import { createRequestListener } from './handler.js';
import { FORWARD_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS, MAX_ERROR_LOGS_PER_SECOND, MAX_WS_BUFFERED_BYTES, MAX_WS_CLIENTS, PEER_STATUS_TIMEOUT_MS, REQUEST_TIMEOUT_MS, WS_STATUS_INTERVAL_MS } from './limits.js';
import { LeaderView } from './leader-view.js';
import { LiveHub } from './live.js';
import { ApiMetrics } from './metrics.js';
import { RateLimiter } from './rate-limit.js';
import { JSON_TYPE } from './reply.js';

export interface ApiServerOptions {
  node: RaftNodeHandle;
  logger: ApiLogger;
  /** Absolute path of the web pages (repo/web). */
  webDir: string;
  /** When set, admin actions are also allowed with `Authorization: Bearer <adminToken>` (SPEC §7). */
  adminToken?: string | undefined;
  /** The node's registry; the API adds its metrics to it and serves it on /metrics. */
  metricsRegistry: Registry;
  /** Per-address limit on posting quotes, or null for none. */
  rateLimit: { perSecond: number; burst: number } | null;
  /** Test knobs (client limits, intervals, timeouts); defaults from limits.ts. */
  tuning?: Partial<ApiTuning>;
  /** SPEC §5 `--quota-bytes` (none when absent). */
  quotaBytes?: number;
}

export interface ApiServer {
  /** Starts listening; rejects with the raw listen error (EADDRINUSE, ...). */
  listen(host: string, port: number): Promise<void>;
  /** Stops listening, closes every connection and WebSocket. */
  close(): Promise<void>;
  /** The bound address once listening (tests listen on port 0). */
  address(): AddressInfo | null;
  /** Open /api/live clients. */
  readonly liveClients: number;
}

const DEFAULT_TUNING: ApiTuning = {
  maxWsClients: MAX_WS_CLIENTS,
  maxWsBufferedBytes: MAX_WS_BUFFERED_BYTES,
  wsStatusIntervalMs: WS_STATUS_INTERVAL_MS,
  forwardTimeoutMs: FORWARD_TIMEOUT_MS,
  peerStatusTimeoutMs: PEER_STATUS_TIMEOUT_MS,
  maxErrorLogsPerSecond: MAX_ERROR_LOGS_PER_SECOND,
};

/** A malformed HTTP request gets a JSON 400 (431 for oversized headers), then the connection closes. */
function onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const body = JSON.stringify({ error: 'bad_request', message: tooLarge ? 'request headers too large' : `malformed HTTP request (${err.code ?? 'parse error'})` });
  const status = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
  socket.end(`HTTP/1.1 ${status}\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

function configure(server: Server): void {
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = Math.min(REQUEST_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS);
}

/** Builds the API server of one node (see src/cli/node-command.ts). */
export function createApiServer(options: ApiServerOptions): ApiServer {
  const metrics = new ApiMetrics(options.metricsRegistry);
  const ctx: ApiContext = {
    node: options.node,
    logger: options.logger,
    webDir: options.webDir,
    adminToken: options.adminToken || undefined,
    rateLimiter: options.rateLimit ? new RateLimiter(options.rateLimit) : null,
    forwarder: new Forwarder(),
    metricsRegistry: options.metricsRegistry,
    metrics,
    leader: new LeaderView(options.node),
    tuning: { ...DEFAULT_TUNING, ...options.tuning },
    quotaBytes: options.quotaBytes,
  };
  const live = new LiveHub(ctx, metrics);
  const server = createServer(createRequestListener(ctx));
  configure(server);
  server.on('clientError', onClientError);
  server.on('upgrade', (req, socket, head) => live.handleUpgrade(req, socket, head));

  return {
    listen(host, port) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          server.on('error', (err) => ctx.logger.error({ err }, `http server error: ${err.message}`));
          resolve();
        });
      });
    },
    close() {
      live.close();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        ctx.forwarder.close();
      });
    },
    address() {
      const address = server.address();
      return address !== null && typeof address === 'object' ? address : null;
    },
    get liveClients() {
      return live.size;
    },
  };
}
