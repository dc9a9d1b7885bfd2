/**
 * Test helpers for the HTTP API: start a real API server on 127.0.0.1:0 around a FakeNode,
 * with a temporary web directory and a logger that records lines; raw HTTP requests (fetch
 * would normalize `..` and refuse some methods).
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from '../../src/metrics/prometheus.js';
import { rawRequest } from '../support/raw-http.js';
import { waitFor } from '../support/wait.js';
import { createApiServer, type ApiServer, type ApiServerOptions } from '../../src/api/server.js';
import type { FakeNode } from './fake-node.js';

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  msg: string;
}

export interface Started {
  api: ApiServer;
  url: string;
  registry: Registry;
  logs: LogLine[];
  webDir: string;
  close(): Promise<void>;
}

/** A web directory with the pages, a few static files, and a secret file beside it (outside). */
export function makeWebDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'raftquotes-api-'));
  const web = join(root, 'web');
  mkdirSync(web);
  writeFileSync(join(root, 'secret.txt'), 'TOP SECRET');
  writeFileSync(join(root, 'secret.js'), 'TOP SECRET');
  writeFileSync(join(web, 'index.html'), '<!doctype html><title>board</title>');
  writeFileSync(join(web, 'dashboard.html'), '<!doctype html><title>dashboard</title>');
  writeFileSync(join(web, 'app.js'), 'export const app = 1;\n//# sourceMappingURL=app.js.map');
  writeFileSync(join(web, 'app.js.map'), '{"version":3,"sources":[],"mappings":""}');
  writeFileSync(join(web, 'style.css'), 'body { color: black; }');
  writeFileSync(join(web, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(join(web, 'notes.txt'), 'not served');
  mkdirSync(join(web, 'dir.js'));
  return web;
}

/** Starts an API server for `node` on 127.0.0.1, port 0. */
export async function startApi(node: FakeNode, overrides: Partial<ApiServerOptions> = {}): Promise<Started> {
  const logs: LogLine[] = [];
  const logger = {
    info: (_obj: object, msg?: string) => logs.push({ level: 'info', msg: msg ?? '' }),
    warn: (_obj: object, msg?: string) => logs.push({ level: 'warn', msg: msg ?? '' }),
    error: (_obj: object, msg?: string) => logs.push({ level: 'error', msg: msg ?? '' }),
  };
  const registry = overrides.metricsRegistry ?? new Registry();
  const ownWebDir = overrides.webDir === undefined;
  const webDir = overrides.webDir ?? makeWebDir();
  const api = createApiServer({ node, logger, webDir, adminToken: undefined, metricsRegistry: registry, rateLimit: null, ...overrides });
  await api.listen('127.0.0.1', 0);
  const url = `http://127.0.0.1:${api.address()?.port}`;
  node.peerUrls[node.id] = url;
  return {
    api,
    url,
    registry,
    logs,
    webDir,
    async close() {
      await api.close();
      // Only the temporary directory made here is removed (never a web directory passed in).
      if (ownWebDir) rmSync(join(webDir, '..'), { recursive: true, force: true });
    },
  };
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: unknown;
}

/** One HTTP request with the path sent exactly as given. */
export function raw(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<RawResponse> {
  return rawRequest(method, base, { path, headers, body });
}

/** fetch with a JSON body; returns status, headers and parsed body (loosely typed: tests probe it). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function call(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const init: RequestInit = { method, headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers } };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** Polls `check` every 5 ms until it returns a value (no timing assertions: just a bounded wait). */
export function waitUntil<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  return waitFor(what, check, timeoutMs, 5);
}

/** The SPEC §3 error shape. */
export function expectErrorShape(body: unknown, code?: string): { error: string; message: string; field?: string } {
  const error = body as { error: string; message: string; field?: string };
  if (typeof error !== 'object' || error === null || typeof error.error !== 'string' || typeof error.message !== 'string') {
    throw new Error(`not an error body: ${JSON.stringify(body)}`);
  }
  if (code !== undefined && error.error !== code) throw new Error(`expected error ${code}, got ${JSON.stringify(body)}`);
  return error;
}
