/**
 * The HTTP API of one node (SPEC §3): node:http (or node:https with --http-tls-cert, SPEC §7)
 * with keep-alive for the JSON routes and the web pages, and `ws` on the same server for
 * /api/live. Everything the API knows about Raft goes through RaftNodeHandle.
 *
 * Slow and greedy clients: headers must arrive within HEADERS_TIMEOUT_MS
 * (checked every second, not node's default 30 s), a client that got an error answer and does
 * not close is cut off after a short grace, and open connections are capped per node and per
 * remote address (see limits.ts for why loopback has its own cap).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { Registry } from '../metrics/prometheus.js';
import type { DebugControls } from '../node/debug-controls.js';
import { LogBudget } from '../log/logger.js';
import type { RaftNodeHandle } from '../node/types.js';
import { isLoopback } from './admin.js';
import { NO_PUBLIC_URLS, type ApiContext, type ApiLogger, type ApiTuning, type MemberPublicUrls } from './context.js';
import { ForwardAuth } from './forward-proof.js';
import { Forwarder, type ForwarderTls } from './forward.js';
import { createRequestListener } from './handler.js';
import {
  CLIENT_ERROR_GRACE_MS, MAX_BODY_BYTES, MAX_BODY_BYTES_PER_S_PER_ADDRESS, MAX_BODY_BYTES_PER_S_PER_LOOPBACK, CONNECTIONS_CHECK_INTERVAL_MS, FORWARD_TIMEOUT_MS, HEADERS_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS, MAX_ERROR_LOGS_PER_SECOND,
  MAX_HTTP_CONNECTIONS, MAX_HTTP_CONNECTIONS_PER_ADDRESS, MAX_HTTP_CONNECTIONS_PER_LOOPBACK, MAX_WS_BUFFERED_BYTES, MAX_WS_CLIENTS,
  MAX_TLS_REFUSAL_LOGS_PER_SECOND, MAX_WS_CLIENTS_PER_ADDRESS, MAX_WS_CLIENTS_PER_LOOPBACK, MAX_WS_TOTAL_BUFFERED_BYTES, PEER_STATUS_TIMEOUT_MS, REQUEST_TIMEOUT_MS,
  SOCKET_IDLE_TIMEOUT_MS, WS_BACKLOG_MAX_UNCONFIRMED_BYTES, WS_PONG_TIMEOUT_MS, WS_STALL_MS, WS_STATUS_INTERVAL_MS,
} from './limits.js';
import { LiveHub } from './live.js';
import { ApiMetrics } from './metrics.js';
import { NodeNames } from './names.js';
import { clientAddress, RateLimiter } from './rate-limit.js';
import { JSON_TYPE } from './reply.js';

/** HTTPS for the API (PEM paths, re-read by reloadTls). */
export interface ApiTlsFiles {
  cert: string;
  key: string;
  /** When set, clients must present a certificate signed by this CA. */
  clientCa: string | null;
}

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
  /**
   * The cluster secret: forwards between nodes are signed with it (forward-proof.ts). Null
   * (--insecure without TLS) means a forward can never be proven, so none is trusted.
   */
  secret?: string | null;
  /** This node's public URLs (advertised URL and --public-url): Host, Origin and CORS checks. */
  publicUrls?: readonly string[];
  /**
   * The --public-url values of this node (`own`) and of each peer (`peer`, from its
   * authenticated handshake): the members' origins for CORS, and /api/cluster's `publicUrls`.
   */
  memberPublicUrls?: MemberPublicUrls;
  /** Serve HTTPS with these files (SPEC §7 --http-tls-cert/--http-tls-key/--http-client-ca). */
  tls?: ApiTlsFiles | null;
  /**
   * The CA peers' HTTPS certificates are signed by (the cluster's --tls-ca), trusted for
   * forwards and /api/cluster; null: the system's CAs.
   */
  peerCa?: string | null;
  /** Test knobs (client limits, intervals, timeouts); defaults from limits.ts. */
  tuning?: Partial<ApiTuning>;
  /** SPEC §5 `--quota-bytes` (none when absent). */
  quotaBytes?: number;
  /** SPEC §11 dashboard controls of this node (link, clock, events). */
  debug?: DebugControls;
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
  /** HTTP requests answered since start. */
  readonly requestsAnswered: number;
  /** Open HTTP connections (WebSockets included) from one remote address. */
  connectionsFrom(address: string): number;
  /** Re-reads the HTTPS certificate files (SIGHUP); throws if they cannot be read, keeping the old ones. */
  reloadTls(): void;
}

const DEFAULT_TUNING: ApiTuning = {
  maxWsClients: MAX_WS_CLIENTS,
  maxWsBufferedBytes: MAX_WS_BUFFERED_BYTES,
  maxWsTotalBufferedBytes: MAX_WS_TOTAL_BUFFERED_BYTES,
  maxWsClientsPerAddress: MAX_WS_CLIENTS_PER_ADDRESS,
  maxWsClientsPerLoopback: MAX_WS_CLIENTS_PER_LOOPBACK,
  wsStallMs: WS_STALL_MS,
  wsPongTimeoutMs: WS_PONG_TIMEOUT_MS,
  wsBacklogWindowBytes: WS_BACKLOG_MAX_UNCONFIRMED_BYTES,
  bodyBytesPerSecond: MAX_BODY_BYTES_PER_S_PER_ADDRESS,
  bodyBytesPerSecondLoopback: MAX_BODY_BYTES_PER_S_PER_LOOPBACK,
  socketIdleTimeoutMs: SOCKET_IDLE_TIMEOUT_MS,
  wsStatusIntervalMs: WS_STATUS_INTERVAL_MS,
  forwardTimeoutMs: FORWARD_TIMEOUT_MS,
  peerStatusTimeoutMs: PEER_STATUS_TIMEOUT_MS,
  maxErrorLogsPerSecond: MAX_ERROR_LOGS_PER_SECOND,
  maxConnections: MAX_HTTP_CONNECTIONS,
  maxConnectionsPerAddress: MAX_HTTP_CONNECTIONS_PER_ADDRESS,
  maxConnectionsPerLoopback: MAX_HTTP_CONNECTIONS_PER_LOOPBACK,
  headersTimeoutMs: HEADERS_TIMEOUT_MS,
};

/**
 * A malformed or too-slow HTTP request gets a JSON 400 (431 for oversized headers, 408 for a
 * timeout), then the connection closes; a client that keeps it open anyway is cut off after
 * CLIENT_ERROR_GRACE_MS, so a slow client never holds a file descriptor for long.
 */
function onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  const message = tooLarge ? 'request headers too large' : timedOut ? 'the request did not arrive in time' : `malformed HTTP request (${err.code ?? 'parse error'})`;
  const body = JSON.stringify({ error: 'bad_request', message });
  const status = tooLarge ? '431 Request Header Fields Too Large' : timedOut ? '408 Request Timeout' : '400 Bad Request';
  socket.end(`HTTP/1.1 ${status}\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  setTimeout(() => socket.destroy(), CLIENT_ERROR_GRACE_MS).unref();
}

/**
 * SPEC §7: a client refused in the TLS handshake (no certificate, another CA, plaintext on the
 * HTTPS port) is logged, like a refused peer, and its socket destroyed. The budget is global
 * and the line carries only the address and OpenSSL's code, nothing the client wrote.
 */
function tlsRefusalLogger(ctx: ApiContext): (err: Error & { code?: string }, socket: Socket) => void {
  const budget = new LogBudget(MAX_TLS_REFUSAL_LOGS_PER_SECOND, 1000, (n) => ctx.logger.warn({ suppressed: n }, `${n} more HTTPS connections refused in the TLS handshake`));
  return (err, socket) => {
    const address = clientAddress(socket.remoteAddress);
    const why = (err.code ?? err.message).slice(0, 200);
    if (budget.admit()) ctx.logger.warn({ address, code: err.code }, `refused HTTPS connection from ${address}: TLS handshake failed (${why})`);
    socket.destroy();
  };
}

/**
 * Caps open connections per remote address: one over the cap is destroyed at once (before
 * any byte is read). The per-node cap is server.maxConnections.
 */
class ConnectionLimiter {
  private readonly open = new Map<string, number>();
  private refusedLogged = 0;

  constructor(private readonly ctx: ApiContext) {}

  /** Open connections from `address`. */
  count(address: string): number {
    return this.open.get(address) ?? 0;
  }

  admit(socket: Socket): void {
    const address = clientAddress(socket.remoteAddress);
    const count = (this.open.get(address) ?? 0) + 1;
    const cap = isLoopback(address) ? this.ctx.tuning.maxConnectionsPerLoopback : this.ctx.tuning.maxConnectionsPerAddress;
    if (count > cap) {
      // One line per second at most: a flood must not flood the log.
      const now = Date.now();
      if (now - this.refusedLogged >= 1000) {
        this.refusedLogged = now;
        this.ctx.logger.warn({ address }, `refused a connection from ${address}: it already has ${cap} open`);
      }
      socket.destroy();
      return;
    }
    this.open.set(address, count);
    socket.once('close', () => {
      const left = (this.open.get(address) ?? 1) - 1;
      if (left <= 0) this.open.delete(address);
      else this.open.set(address, left);
    });
  }
}

/**
 * The HTTPS server's TLS settings. With --http-client-ca every client needs a certificate of
 * that CA (or of the cluster CA: the nodes forwarding to each other). With only the cluster CA,
 * a certificate is asked for but optional: nodes present theirs as the proof of a forward
 * (forward-proof.ts), browsers without one still connect.
 */
function readTlsFiles(files: ApiTlsFiles, peerCa: string | null): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  const clientCa = files.clientCa ? readFileSync(files.clientCa) : null;
  const cas = [...(clientCa ? [clientCa] : []), ...(peerCa ? [readFileSync(peerCa)] : [])];
  return {
    cert: readFileSync(files.cert),
    key: readFileSync(files.key),
    ca: cas.length > 0 ? cas : undefined,
    requestCert: cas.length > 0,
    rejectUnauthorized: clientCa !== null,
  };
}

function forwarderTls(tls: ApiTlsFiles | null, peerCa: string | null): ForwarderTls | null {
  if (!tls && !peerCa) return null;
  return {
    ca: peerCa ? readFileSync(peerCa) : null,
    // This node's HTTPS certificate doubles as its client certificate (makeNodeCert gives clientAuth).
    cert: tls ? readFileSync(tls.cert) : null,
    key: tls ? readFileSync(tls.key) : null,
  };
}

function makeServer(tls: ApiTlsFiles | null, peerCa: string | null, { headersTimeoutMs, socketIdleTimeoutMs }: ApiTuning): Server | HttpsServer {
  const options = {
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    headersTimeout: headersTimeoutMs,
    connectionsCheckingInterval: CONNECTIONS_CHECK_INTERVAL_MS,
  };
  // A TLS handshake must finish as fast as headers must arrive (node's default is 120 s).
  const server = tls ? createHttpsServer({ ...options, ...readTlsFiles(tls, peerCa), handshakeTimeout: headersTimeoutMs }) : createServer(options);
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  // With no 'timeout' listener, node:http destroys a socket idle this long (WebSockets opt out).
  server.timeout = socketIdleTimeoutMs;
  return server;
}

/** The server's bound address, read once listening (a syscall; the Host check runs on every request). */
function boundAddressOf(server: Server | HttpsServer): () => { host: string; port: number } | null {
  let boundAddress: { host: string; port: number } | null = null;
  return () => {
    if (boundAddress) return boundAddress;
    const address = server.address();
    boundAddress = address !== null && typeof address === 'object' ? { host: address.address, port: address.port } : null;
    return boundAddress;
  };
}

/** Body bytes per second per address, one second deep: a body of the largest size always fits a full bucket. */
function bodyBudget(bytesPerSecond: number): RateLimiter {
  return new RateLimiter({ perSecond: bytesPerSecond, burst: Math.max(bytesPerSecond, MAX_BODY_BYTES) });
}

/** Listens; rejects with the raw listen error, and logs any later server error instead. */
function listenOn(server: Server | HttpsServer, host: string, port: number, logger: ApiLogger): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      server.on('error', (err) => logger.error({ err }, `http server error: ${err.message}`));
      resolve();
    });
  });
}

/** Builds the API server of one node (see src/cli/node-command.ts). */
export function createApiServer(options: ApiServerOptions): ApiServer {
  const metrics = new ApiMetrics(options.metricsRegistry);
  const tls = options.tls ?? null;
  const peerCa = options.peerCa ?? null;
  const tuning = { ...DEFAULT_TUNING, ...options.tuning };
  const server = makeServer(tls, peerCa, tuning);
  const bound = boundAddressOf(server);
  const ctx: ApiContext = {
    node: options.node,
    logger: options.logger,
    webDir: options.webDir,
    adminToken: options.adminToken || undefined,
    rateLimiter: options.rateLimit ? new RateLimiter(options.rateLimit) : null,
    bodyBudget: { address: bodyBudget(tuning.bodyBytesPerSecond), loopback: bodyBudget(tuning.bodyBytesPerSecondLoopback) },
    forwarder: new Forwarder(forwarderTls(tls, peerCa)),
    // Without a secret, a node serving HTTPS with the cluster CA proves its forwards by its certificate.
    forwardAuth: new ForwardAuth(options.secret ?? null, options.node.id, Date.now, tls && peerCa ? new X509Certificate(readFileSync(peerCa)) : null),
    names: new NodeNames({ node: options.node, scheme: tls ? 'https' : 'http', publicUrls: options.publicUrls ?? [], peerPublicUrls: options.memberPublicUrls?.peer, bound }),
    memberPublicUrls: options.memberPublicUrls ?? NO_PUBLIC_URLS,
    metricsRegistry: options.metricsRegistry,
    metrics,
    tuning,
    quotaBytes: options.quotaBytes,
    debug: options.debug, // SPEC §11 controls
  };
  const live = new LiveHub(ctx, metrics);
  const connections = new ConnectionLimiter(ctx);
  server.maxConnections = tuning.maxConnections;
  server.on('request', createRequestListener(ctx));
  server.on('connection', (socket: Socket) => connections.admit(socket));
  server.on('clientError', onClientError);
  server.on('tlsClientError', tlsRefusalLogger(ctx));
  server.on('upgrade', (req, socket, head) => live.handleUpgrade(req, socket as Socket, head));

  return {
    listen(host, port) {
      return listenOn(server, host, port, ctx.logger);
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
    get requestsAnswered() {
      return metrics.answered;
    },
    connectionsFrom(address) {
      return connections.count(address);
    },
    reloadTls() {
      if (!tls) return;
      const files = readTlsFiles(tls, peerCa);
      (server as HttpsServer).setSecureContext(files);
      ctx.forwarder.reloadTls(forwarderTls(tls, peerCa));
    },
  };
}
