/**
 * The API's error codes (SPEC §3) and the mapping from runtime failures to them. Every error
 * answer is `{"error": "<code>", "message": "<human text>"}`; a 400 also names its `field`.
 */
import { NodeError } from '../node/types.js';

/** SPEC §3 error codes and their HTTP statuses (`internal` is the 500 for our own bugs). */
export const ERROR_STATUS = {
  bad_request: 400,
  forbidden: 403,
  not_found: 404,
  precondition_failed: 409,
  idempotency_key_reused: 422,
  payload_too_large: 413,
  unsupported_media_type: 415,
  too_many_requests: 429,
  internal: 500,
  no_leader: 503,
  unavailable: 503,
  timeout: 504,
  quota_exceeded: 507,
} as const;

/** An error code of SPEC §3 (plus `internal`). */
export type ErrorCode = keyof typeof ERROR_STATUS;

/** Extra parts of an error answer. */
export interface ApiErrorOptions {
  /** The request field at fault (for 400s): a body field, query parameter, header or `method`. */
  field?: string;
  /** More response headers (Retry-After, Allow, ...). */
  headers?: Record<string, string>;
  /** More body fields (e.g. `current` on precondition_failed). */
  extra?: Record<string, unknown>;
  /** Close the connection after answering (a body we stopped reading). */
  closeConnection?: boolean;
  cause?: unknown;
}

/** A failure with a SPEC §3 code; the server turns it into the error answer. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;

  constructor(readonly code: ErrorCode, message: string, readonly options: ApiErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.status = ERROR_STATUS[code];
  }

  /** The JSON body of the answer. */
  body(): Record<string, unknown> {
    const body: Record<string, unknown> = { error: this.code, message: this.message };
    if (this.options.field !== undefined) body.field = this.options.field;
    return this.options.extra ? { ...body, ...this.options.extra } : body;
  }
}

/** A 400 that names the field at fault. */
export function badRequest(field: string, message: string): ApiError {
  return new ApiError('bad_request', `${field}: ${message}`, { field });
}

const RETRY_AFTER_1 = { 'Retry-After': '1' };

/** 503 no_leader, which always carries Retry-After (SPEC §3). */
export function noLeader(message: string, cause?: unknown): ApiError {
  return new ApiError('no_leader', message, { headers: RETRY_AFTER_1, cause });
}

/**
 * Maps a runtime NodeError to its API error. not_leader reaches here only when forwarding is
 * not possible (already forwarded, or no route to the leader), so it becomes no_leader.
 */
export function fromNodeError(err: NodeError): ApiError {
  switch (err.code) {
    case 'not_leader':
    case 'no_leader':
      return noLeader(err.message, err);
    case 'unavailable':
      return new ApiError('unavailable', err.message, { cause: err });
    case 'timeout':
      return new ApiError('timeout', err.message, { cause: err });
    case 'too_many_requests':
      return new ApiError('too_many_requests', err.message, { headers: RETRY_AFTER_1, cause: err });
    case 'quota_exceeded':
      return new ApiError('quota_exceeded', err.message, { cause: err });
  }
}

/** Any thrown value as an ApiError; unexpected ones become 500 internal (the caller logs them). */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof NodeError) return fromNodeError(err);
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError('internal', `internal error: ${message}`, { cause: err });
}
