/**
 * Request bodies: JSON only (415 otherwise), at most MAX_BODY_BYTES (413, checked against
 * Content-Length first and then counted while streaming, so we never read past the limit).
 */
import type { IncomingMessage } from 'node:http';
import { ApiError, badRequest } from './errors.js';
import { MAX_BODY_BYTES, MAX_DRAIN_BYTES } from './limits.js';
import { errorMessage, isRecord } from '../narrow.js';

/** `application/json`, optionally with a UTF-8 charset. */
const JSON_CONTENT_TYPE = /^application\/json\s*(;\s*charset\s*=\s*"?utf-?8"?\s*)?$/i;

/** Whether a Content-Type header names JSON we accept. */
export function isJsonContentType(value: string | undefined): boolean {
  return value !== undefined && JSON_CONTENT_TYPE.test(value.trim());
}

/** Whether the request carries a body at all (a declared length above 0, or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

function tooLarge(closeConnection: boolean): ApiError {
  return new ApiError('payload_too_large', `body: a request body is at most ${MAX_BODY_BYTES} bytes`, { field: 'body', closeConnection });
}

/**
 * Reads the whole body, refusing more than `maxBytes`. A declared length over the limit is
 * refused before reading; the socket is then drained by node:http (small excess) or closed.
 */
export function readRawBody(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    return Promise.reject(tooLarge(Number(declared) > MAX_DRAIN_BYTES));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        req.pause();
        reject(tooLarge(true));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      const [only] = chunks;
      resolve(chunks.length === 1 && only !== undefined ? only : Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(new ApiError('bad_request', `body: the request body could not be read (${err.message})`, { field: 'body', closeConnection: true, cause: err }));
    };
    const onClose = (): void => onError(new Error('connection closed'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * Strict UTF-8: invalid bytes are refused, never stored as U+FFFD (a client would read back
 * something other than what it sent). `ignoreBOM: false` drops a leading BOM, as JSON allows.
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes a body as UTF-8, refusing invalid bytes with 400. */
export function decodeUtf8(raw: Buffer): string {
  try {
    return UTF8.decode(raw);
  } catch {
    throw badRequest('body', 'the body is not valid UTF-8');
  }
}

/** Parses a JSON body that must be an object (valid UTF-8 only). */
export function parseJsonObject(raw: Buffer): Record<string, unknown> {
  if (raw.length === 0) throw badRequest('body', 'expected a JSON object, got an empty body');
  const text = decodeUtf8(raw);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw badRequest('body', `invalid JSON (${errorMessage(err)})`);
  }
  if (!isRecord(value)) throw badRequest('body', 'expected a JSON object');
  return value;
}

/** Checks the Content-Type of a request that has a body (415 unless JSON). */
export function requireJsonContentType(req: IncomingMessage): void {
  const type = req.headers['content-type'];
  if (!isJsonContentType(type)) {
    throw new ApiError('unsupported_media_type', `Content-Type must be application/json (got ${type === undefined ? 'none' : JSON.stringify(type.slice(0, 100))})`);
  }
}
