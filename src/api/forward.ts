/**
 * Requests from this node to another node's HTTP API: forwarding a write to the leader, an
 * admin action to the node it names, and the peers' /api/status for /api/cluster. One
 * keep-alive agent for all of them. Failures are classified by what they mean for a write:
 * `connect` (the peer never got it), `timeout` or `failed` (it may have been applied).
 */
import { Agent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** What went wrong with a peer request. */
export type PeerFailure = 'connect' | 'timeout' | 'failed';

/** A failed peer request; `kind` says whether the peer may have acted on it. */
export class PeerRequestError extends Error {
  override readonly name = 'PeerRequestError';
  constructor(readonly kind: PeerFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A peer's complete answer. */
export interface PeerResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request to a peer, with its deadline and the largest answer accepted. */
export interface PeerRequest {
  method: string;
  /** Path and query, already percent-encoded, sent as is. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer | null;
  timeoutMs: number;
  maxResponseBytes: number;
}

/** Errors that mean the connection was never made, so the peer never saw the request. */
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'EINVAL',
  // A TLS handshake that failed: the request was never sent.
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER',
]);

interface Endpoint {
  host: string;
  port: number;
  secure: boolean;
}

/** Splits `http(s)://host:port` into what http(s).request needs (null for anything else). */
function endpoint(baseUrl: string): Endpoint | null {
  try {
    const url = new URL(baseUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    const secure = url.protocol === 'https:';
    return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port ? Number(url.port) : secure ? 443 : 80, secure };
  } catch {
    return null;
  }
}

/**
 * TLS for forwards to peers served over HTTPS: the CA their certificates are signed by (the
 * cluster's --tls-ca; null: the system's CAs), and this node's certificate to present when a
 * peer requires client certificates (--http-client-ca).
 */
export interface ForwarderTls {
  ca: Buffer | null;
  cert: Buffer | null;
  key: Buffer | null;
}

/**
 * Sockets per peer at most: a peer caps connections per address (MAX_HTTP_CONNECTIONS_PER_ADDRESS,
 * 512), and this stays well under it.
 */
const MAX_SOCKETS_PER_PEER = 256;
const AGENT_OPTIONS = { keepAlive: true, maxSockets: MAX_SOCKETS_PER_PEER, maxFreeSockets: 64, scheduling: 'lifo' } as const;

/** HTTP(S) client for peer nodes, with one keep-alive agent per scheme. */
export class Forwarder {
  private readonly agent = new Agent(AGENT_OPTIONS);
  private httpsAgent: HttpsAgent;

  constructor(tls: ForwarderTls | null = null) {
    this.httpsAgent = Forwarder.httpsAgentFor(tls);
  }

  private static httpsAgentFor(tls: ForwarderTls | null): HttpsAgent {
    return new HttpsAgent({ ...AGENT_OPTIONS, ca: tls?.ca ?? undefined, cert: tls?.cert ?? undefined, key: tls?.key ?? undefined });
  }

  /** New certificates (SIGHUP): later forwards use them; requests in flight finish on the old agent. */
  reloadTls(tls: ForwarderTls | null): void {
    const old = this.httpsAgent;
    this.httpsAgent = Forwarder.httpsAgentFor(tls);
    setTimeout(() => old.destroy(), 30_000).unref();
  }

  /**
   * Sends `peer` to the node at `baseUrl`. A reset on a reused keep-alive socket is retried
   * once: usually the peer had closed that idle socket and never saw the request. But the peer
   * may also have died after reading it, so if the retry cannot connect, the outcome of the
   * first attempt is unknown ('failed'), not 'connect'.
   */
  async request(baseUrl: string, peer: PeerRequest): Promise<PeerResponse> {
    const target = endpoint(baseUrl);
    if (!target) throw new PeerRequestError('connect', `not an http(s):// URL: ${baseUrl}`);
    try {
      return await this.once(target, peer);
    } catch (err) {
      if (!(err instanceof StaleSocketError)) throw err;
    }
    try {
      return await this.once(target, peer);
    } catch (err) {
      if (err instanceof PeerRequestError && err.kind === 'connect') {
        throw new PeerRequestError('failed', `connection reset, then ${err.message}`, { cause: err });
      }
      throw err;
    }
  }

  close(): void {
    this.agent.destroy();
    this.httpsAgent.destroy();
  }

  private once(target: Endpoint, peer: PeerRequest): Promise<PeerResponse> {
    return new Promise((resolve, reject) => {
      let connected = false;
      let timedOut: PeerRequestError | null = null;
      const headers = { ...peer.headers, 'Content-Length': String(peer.body?.length ?? 0) };
      const options = { host: target.host, port: target.port, method: peer.method, path: peer.path, headers };
      const req = target.secure ? httpsRequest({ ...options, agent: this.httpsAgent }) : httpRequest({ ...options, agent: this.agent });
      const fail = (err: Error): void => {
        clearTimeout(timer);
        reject(timedOut ?? err);
      };
      const timer = setTimeout(() => {
        timedOut = new PeerRequestError(connected ? 'timeout' : 'connect', `no answer within ${peer.timeoutMs} ms`);
        req.destroy(timedOut);
      }, peer.timeoutMs);
      req.on('socket', (socket) => {
        if (!socket.connecting) connected = true;
        else socket.once('connect', () => (connected = true));
      });
      req.on('response', (res) => {
        readResponse(res, peer.maxResponseBytes).then((response) => {
          clearTimeout(timer);
          resolve(response);
        }, fail);
      });
      req.on('error', (err: NodeJS.ErrnoException) => fail(classify(err, connected, req.reusedSocket)));
      req.end(peer.body ?? undefined);
    });
  }
}

/** A keep-alive socket the peer had already closed: it never saw the request, so a retry is safe. */
class StaleSocketError extends Error {}

function classify(err: NodeJS.ErrnoException, connected: boolean, reusedSocket: boolean): Error {
  if (err instanceof PeerRequestError) return err;
  if (reusedSocket && err.code === 'ECONNRESET') return new StaleSocketError(err.message);
  if (!connected || (err.code !== undefined && CONNECT_ERRORS.has(err.code))) {
    return new PeerRequestError('connect', `cannot connect (${err.code ?? err.message})`, { cause: err });
  }
  return new PeerRequestError('failed', `connection failed before the answer (${err.code ?? err.message})`, { cause: err });
}

function readResponse(res: IncomingMessage, maxBytes: number): Promise<PeerResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        res.destroy(new PeerRequestError('failed', `answer larger than ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks, size) }));
    res.on('error', (err) => reject(err instanceof PeerRequestError ? err : new PeerRequestError('failed', `answer cut short (${err.message})`, { cause: err })));
    res.on('close', () => {
      if (!res.complete) reject(new PeerRequestError('failed', 'answer cut short'));
    });
  });
}
