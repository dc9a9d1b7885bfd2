/**
 * What a route handler returns: a status, headers and a body (JSON or raw bytes). The server
 * writes it in one place, which also counts it in the metrics and logs errors.
 */
import type { ServerResponse } from 'node:http';

/** Response headers with the Raft position of an answer (SPEC §3 "Forwarding"). */
export const HEADER_LEADER = 'X-Raft-Leader';
export const HEADER_INDEX = 'X-Raft-Index';
/** Set on a request one node forwards to another, so it is never forwarded twice. */
export const HEADER_FORWARDED = 'X-Raft-Forwarded';

export const JSON_TYPE = 'application/json; charset=utf-8';

/** An answer as a handler returns it; writeReply sends it. */
export interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** A JSON body (serialized by writeReply), or raw bytes with `contentType`. */
  json?: unknown;
  raw?: Buffer | string;
  contentType?: string;
}

/** A JSON answer. */
export function jsonReply(status: number, json: unknown, headers?: Record<string, string>): Reply {
  return { status, json, headers };
}

/** The X-Raft-Leader / X-Raft-Index headers of a read or write answer. */
export function raftHeaders(leader: string | null, index: number): Record<string, string> {
  return { [HEADER_LEADER]: leader ?? '', [HEADER_INDEX]: String(index) };
}

/**
 * Writes `reply` with an explicit Content-Length (no chunking: cheaper, and keep-alive stays
 * simple). `common` headers (CORS) go first so the reply's own headers win.
 */
export function writeReply(res: ServerResponse, reply: Reply, common: Record<string, string> | null, closeConnection = false): void {
  if (res.headersSent || res.destroyed) return;
  if (reply.status === 204) {
    res.writeHead(204, { ...common, ...reply.headers });
    res.end();
    return;
  }
  const body = reply.json !== undefined ? JSON.stringify(reply.json) : (reply.raw ?? '');
  const headers: Record<string, string | number> = {
    ...common,
    ...reply.headers,
    'Content-Type': reply.json !== undefined ? JSON_TYPE : (reply.contentType ?? 'application/octet-stream'),
    'Content-Length': typeof body === 'string' ? Buffer.byteLength(body) : body.length,
  };
  if (closeConnection) headers.Connection = 'close';
  res.writeHead(reply.status, headers);
  res.end(body);
}
