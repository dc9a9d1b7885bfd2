/**
 * A minimal HTTP/1.1 keep-alive client for the load generator: one socket, one request in
 * flight (a closed-loop client), the request written in one syscall and the response parsed
 * just enough to know its status and where it ends (Content-Length or chunked).
 *
 * Why not node:http: its ClientRequest/IncomingMessage machinery cost ~85-115 µs of CPU per
 * request here, a quarter of the shared 2-core machine under load, taken from the system being
 * measured. This costs a fraction of that, for raftquotes and etcd alike.
 */
import { connect, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';

/** One HTTP request, prepared once (the body is a Buffer so nothing is re-encoded per call). */
export interface PreparedRequest {
  method: string;
  path: string;
  headers: Record<string, string | number>;
  body: Buffer | null;
}

/** Where one client sends its requests. */
export interface Target {
  host: string;
  port: number;
  /** HTTPS: the server's certificate is checked against Node's CAs (NODE_EXTRA_CA_CERTS for a cluster's own CA). */
  tls?: boolean;
}

/** A response larger than this is a protocol problem, not a benchmark answer. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
const HEADER_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

/** Where the response in `buf` ends, or -1 while it is incomplete; throws on a malformed one. */
export function responseEnd(buf: Buffer): { end: number; status: number; close: boolean } | null {
  const headerEnd = buf.indexOf(HEADER_END);
  if (headerEnd < 0) return null;
  const head = buf.toString('latin1', 0, headerEnd);
  const status = Number(head.slice(9, 12));
  if (!head.startsWith('HTTP/1.') || !Number.isInteger(status)) throw new Error(`not an HTTP response: ${JSON.stringify(head.slice(0, 40))}`);
  const lower = head.toLowerCase();
  const close = /\r\nconnection:\s*close/.test(lower) || head.startsWith('HTTP/1.0');
  const bodyStart = headerEnd + 4;
  const length = /\r\ncontent-length:\s*(\d+)/.exec(lower);
  if (length) {
    const end = bodyStart + Number(length[1]);
    return buf.length >= end ? { end, status, close } : null;
  }
  if (/\r\ntransfer-encoding:[^\r]*chunked/.test(lower)) {
    const end = chunkedEnd(buf, bodyStart);
    return end < 0 ? null : { end, status, close };
  }
  // No length: 204/304 and 1xx have no body; anything else is delimited by the close.
  if (status === 204 || status === 304 || status < 200) return { end: bodyStart, status, close };
  throw new Error(`response ${status} without Content-Length or chunked encoding`);
}

/** End of a chunked body starting at `at`, or -1 while incomplete (trailers are not used here). */
function chunkedEnd(buf: Buffer, at: number): number {
  let pos = at;
  for (;;) {
    const lineEnd = buf.indexOf(CRLF, pos);
    if (lineEnd < 0) return -1;
    const size = parseInt(buf.toString('latin1', pos, lineEnd).split(';')[0] as string, 16);
    if (!Number.isInteger(size) || size < 0) throw new Error('malformed chunk size');
    if (size === 0) {
      const end = buf.indexOf(HEADER_END, lineEnd);
      return end < 0 ? -1 : end + 4;
    }
    pos = lineEnd + 2 + size + 2;
    if (buf.length < pos) return -1;
  }
}

/** The request's bytes: head and body in one buffer, so it goes out in one write. */
export function encodeRequest(target: Target, req: PreparedRequest): Buffer {
  let head = `${req.method} ${req.path} HTTP/1.1\r\nhost: ${target.host}:${target.port}\r\n`;
  for (const [name, value] of Object.entries(req.headers)) if (name.toLowerCase() !== 'content-length') head += `${name}: ${value}\r\n`;
  head += `content-length: ${req.body ? req.body.length : 0}\r\n\r\n`;
  return req.body ? Buffer.concat([Buffer.from(head, 'latin1'), req.body]) : Buffer.from(head, 'latin1');
}

/**
 * One keep-alive connection with at most one request in flight. send() resolves with null for
 * a 2xx, else a short error kind (http_503, timeout, ECONNREFUSED, closed, protocol); it never
 * rejects. A broken or timed-out connection is dropped and redialed by the next send().
 */
export class RawHttpClient {
  private socket: Socket | null = null;
  private received: Buffer[] = [];
  private receivedBytes = 0;
  private pending: ((kind: string | null) => void) | null = null;

  constructor(private readonly target: Target) {}

  send(req: PreparedRequest, timeoutMs: number): Promise<string | null> {
    if (this.pending) throw new Error('RawHttpClient: one request at a time');
    const socket = this.socket ?? this.dial();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.finish('timeout', true), timeoutMs);
      this.pending = (kind) => {
        clearTimeout(timer);
        resolve(kind);
      };
      socket.write(encodeRequest(this.target, req));
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  private dial(): Socket {
    const socket = this.target.tls ? connectTls({ host: this.target.host, port: this.target.port }).setNoDelay(true) : connect({ host: this.target.host, port: this.target.port, noDelay: true });
    socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => this.onGone(socket, err.code ?? 'socket_error'));
    socket.on('close', () => this.onGone(socket, 'closed'));
    this.socket = socket;
    this.received = [];
    this.receivedBytes = 0;
    return socket;
  }

  private onData(socket: Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    this.received.push(chunk);
    this.receivedBytes += chunk.length;
    const buf = this.received.length === 1 ? chunk : Buffer.concat(this.received, this.receivedBytes);
    this.received = [buf];
    let done;
    try {
      done = responseEnd(buf);
    } catch {
      this.finish('protocol', true);
      return;
    }
    if (!done) {
      if (this.receivedBytes > MAX_RESPONSE_BYTES) this.finish('protocol', true);
      return;
    }
    // Closed loop: nothing may follow the response; if something does, the stream is out of step.
    const extra = done.end !== buf.length;
    this.received = [];
    this.receivedBytes = 0;
    this.finish(done.status >= 200 && done.status < 300 ? null : `http_${done.status}`, done.close || extra);
  }

  private onGone(socket: Socket, kind: string): void {
    if (socket !== this.socket) return;
    this.socket = null;
    this.finish(kind, false);
  }

  private finish(kind: string | null, dropSocket: boolean): void {
    if (dropSocket) this.close();
    const pending = this.pending;
    this.pending = null;
    pending?.(kind);
  }
}
