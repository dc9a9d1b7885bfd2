import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

export interface RawOptions {
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Source address (a different 127.x address is a different rate-limit bucket). */
  localAddress?: string;
  /** TLS: CA to trust, and a client certificate. */
  ca?: string;
  cert?: string;
  key?: string;
  timeoutMs?: number;
  /** The request target exactly as sent (no URL normalization of `..` or `%2e`); default: the URL's path and query. */
  path?: string;
}

/** One HTTP(S) request with exact headers (no fetch normalization), no keep-alive. */
export function rawRequest(method: string, url: string, options: RawOptions = {}): Promise<Answer> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const headers = { ...options.headers, ...(options.body !== undefined ? { 'Content-Length': String(Buffer.byteLength(options.body)) } : {}) };
  const base = { host: target.hostname, port: target.port, method, path: options.path ?? `${target.pathname}${target.search}`, headers, agent: false as const, localAddress: options.localAddress };
  return new Promise((resolve, reject) => {
    const req = secure ? httpsRequest({ ...base, ca: options.ca, cert: options.cert, key: options.key }) : httpRequest(base);
    req.setTimeout(options.timeoutMs ?? 5_000, () => req.destroy(new Error(`no answer within ${options.timeoutMs ?? 5_000} ms`)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
