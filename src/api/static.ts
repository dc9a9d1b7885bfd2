/**
 * The web pages: GET / and /dashboard (HTML with security headers) and /static/<file> from the
 * web directory. Only plain file names with known extensions are served: no slashes, no
 * `..`, no percent-encoding, so no path can leave the directory.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiError } from './errors.js';
import type { Reply } from './reply.js';
import { errorCode } from '../narrow.js';

const CONTENT_TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  ico: 'image/x-icon',
  // The simulator bundle's source map: fetched by a browser's developer tools only.
  map: 'application/json; charset=utf-8',
};

/** A file name: word characters and single dots, ending in a served extension. */
const STATIC_NAME = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.(js|css|svg|png|ico|map)$/;
/** Longest static file name accepted. */
const MAX_STATIC_NAME = 128;

/**
 * Scripts and styles only from this origin; the pages connect (fetch, WebSocket) to this node
 * and to the other nodes' HTTP origins, so connect-src allows any http(s)/ws(s) origin.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self' http: https: ws: wss:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const COMMON_HEADERS = { 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' };
const HTML_HEADERS = { ...COMMON_HEADERS, 'Content-Security-Policy': CONTENT_SECURITY_POLICY, 'Referrer-Policy': 'no-referrer', 'X-Frame-Options': 'DENY' };

async function fileReply(webDir: string, name: string, contentType: string, headers: Record<string, string>): Promise<Reply> {
  try {
    return { status: 200, raw: await readFile(join(webDir, name)), contentType, headers };
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') throw new ApiError('not_found', `no such page: ${name}`);
    throw err;
  }
}

/** GET / (index.html), GET /dashboard (dashboard.html) and GET /sim (sim.html, the browser simulator). */
export function servePage(webDir: string, page: 'index.html' | 'dashboard.html' | 'sim.html'): Promise<Reply> {
  return fileReply(webDir, page, 'text/html; charset=utf-8', HTML_HEADERS);
}

/** GET /static/<name>, where `name` is the raw (still encoded) rest of the path. */
export function serveStatic(webDir: string, name: string): Promise<Reply> {
  const extension = name.length <= MAX_STATIC_NAME ? STATIC_NAME.exec(name)?.[1] : undefined;
  const contentType = extension === undefined ? undefined : CONTENT_TYPES[extension];
  if (contentType === undefined) return Promise.reject(new ApiError('not_found', 'no such file'));
  return fileReply(webDir, name, contentType, COMMON_HEADERS);
}
