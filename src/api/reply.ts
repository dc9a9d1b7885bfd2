/**
 * What a route handler returns: a status, headers and a body (JSON or raw bytes). The server
 * writes it in one place, which also counts it in the metrics and logs errors.
 */
import type { ServerResponse } from 'node:http';
import { STREAM_STALL_MS } from './limits.js';

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
  /**
   * A body streamed with chunked encoding (GET /api/backup), written at the pace the client
   * reads it. A failure part way destroys the connection, so the client sees a cut stream,
   * never a clean end; `onStreamError` logs it.
   */
  stream?: AsyncIterable<Buffer>;
  onStreamError?: (err: Error) => void;
  /** How long a stream waits for the client to read before it is cut (default STREAM_STALL_MS). */
  streamStallMs?: number;
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
  if (reply.stream) {
    res.writeHead(reply.status, { ...common, ...reply.headers, 'Content-Type': reply.contentType ?? 'application/octet-stream' });
    void pipeStream(res, reply.stream, reply.streamStallMs ?? STREAM_STALL_MS).catch((err: Error) => {
      res.destroy(err);
      reply.onStreamError?.(err);
    });
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

/**
 * Writes `chunks` to `res`, waiting for 'drain' whenever the socket's buffer is full, so at
 * most one chunk beyond the high-water mark is held; stops early (returning the iterator, which
 * ends its read view) when the client goes away, or reads nothing for `stallMs`.
 */
async function pipeStream(res: ServerResponse, chunks: AsyncIterable<Buffer>, stallMs: number): Promise<void> {
  const iterator = chunks[Symbol.asyncIterator]();
  try {
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      if (res.destroyed) return;
      if (next.value.length > 0 && !res.write(next.value) && !(await drained(res, stallMs))) {
        throw new Error(`the client read nothing for ${stallMs} ms`);
      }
    }
    res.end();
  } finally {
    await iterator.return?.();
  }
}

/** Resolves true on 'drain' or 'close', false if neither came within `stallMs`. */
function drained(res: ServerResponse, stallMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      res.off('drain', onEvent);
      res.off('close', onEvent);
      resolve(ok);
    };
    const onEvent = (): void => finish(true);
    const timer = setTimeout(() => finish(false), stallMs);
    res.on('drain', onEvent);
    res.on('close', onEvent);
  });
}
