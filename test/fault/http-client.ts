import http from 'node:http';

/** Keep-alive sockets per node for the harness's clients (loopback; bounded so a paused node cannot take more). */
const MAX_SOCKETS_PER_NODE = 32;
/** Largest response body the harness reads (quote pages are the biggest). */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

const agent = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS_PER_NODE, scheduling: 'lifo' });

/** What happened to one HTTP call. */
export type CallResult =
  | { kind: 'response'; status: number; headers: http.IncomingHttpHeaders; body: any }
  /**
   * `refused`: the connection was refused, so the request never reached a server (known
   * not applied). `timeout` and `broken` (reset, closed mid-way, other errors): the request
   * may have been received, so its outcome is unknown.
   */
  | { kind: 'error'; error: 'refused' | 'timeout' | 'broken'; message: string };

export interface CallOptions {
  method: string;
  url: string;
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs: number;
}

/**
 * One JSON request over a shared keep-alive agent, with a hard deadline. Never throws and
 * never retries: the caller decides what an error means (the history needs the truth).
 * node:http rather than fetch, because undici may silently retry a PUT on a reused socket.
 */
export function httpCall(options: CallOptions): Promise<CallResult> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: CallResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const req = http.request(options.url, { method: options.method, headers, agent });
    const timer = setTimeout(() => {
      finish({ kind: 'error', error: 'timeout', message: `no answer within ${options.timeoutMs} ms` });
      req.destroy(new Error('client timeout'));
    }, options.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      finish({ kind: 'error', error: err.code === 'ECONNREFUSED' ? 'refused' : 'broken', message: `${err.code ?? ''} ${err.message}`.trim() });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) req.destroy(new Error(`response larger than ${MAX_RESPONSE_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on('error', (err) => finish({ kind: 'error', error: 'broken', message: err.message }));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = text ? JSON.parse(text) : null;
        } catch {
          // not JSON
        }
        finish({ kind: 'response', status: res.statusCode ?? 0, headers: res.headers, body });
      });
    });
    req.end(payload);
  });
}
