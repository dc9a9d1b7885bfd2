/**
 * A GET over HTTP or HTTPS that can trust a given CA. Node 20's fetch cannot take a CA (undici's
 * Agent is not a dependency here), so `cluster --tls` and `status` use https.request with `ca`.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** Largest response body read (a status document is a few KB). */
const MAX_BODY_BYTES = 1024 * 1024;

/** A response: status and body text. */
export interface GetResult {
  status: number;
  body: string;
}

/** GET `url`, trusting `ca` (PEM) for https:// URLs when given; rejects on timeout or error. */
export function httpGet(url: string, options: { ca?: string | Buffer | undefined; timeoutMs: number }): Promise<GetResult> {
  return httpSend(url, { ...options, method: 'GET' });
}

/**
 * Any method with optional headers and body (e.g. a JSON POST), trusting `ca` for https:// URLs
 * and presenting `clientCert` when given (a node calling a cluster that asks for certificates).
 */
export function httpSend(url: string, options: { method: string; headers?: Record<string, string>; body?: string; ca?: string | Buffer | Array<string | Buffer> | undefined; clientCert?: { cert: Buffer; key: Buffer } | undefined; timeoutMs: number }): Promise<GetResult> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const onResponse = (res: import('node:http').IncomingMessage): void => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_BODY_BYTES) req.destroy(new Error(`response larger than ${MAX_BODY_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => done() ?? resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err) => done() ?? reject(err));
    };
    const headers = { ...options.headers, ...(options.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(options.body)) }) };
    const req = target.protocol === 'https:'
      ? httpsRequest(target, { method: options.method, headers, ca: options.ca, ...options.clientCert, timeout: options.timeoutMs }, onResponse)
      : httpRequest(target, { method: options.method, headers, timeout: options.timeoutMs }, onResponse);
    // A hard deadline (the socket timeout only bounds idle gaps).
    const timer = setTimeout(() => req.destroy(new Error(`no answer from ${url} within ${options.timeoutMs} ms`)), options.timeoutMs);
    const done = (): undefined => void clearTimeout(timer);
    req.on('error', (err) => done() ?? reject(err));
    req.end(options.body);
  });
}
