// Helpers shared by the board and the dashboard. Browser ES module, no dependencies.

/** SPEC §3 limits on a quote (the server checks them too). */
export const POST_LIMITS = { textMax: 1000, authorMax: 100 };

/** Retry backoff for writes whose outcome is unknown or that found no leader. */
const RETRY = { baseMs: 300, maxMs: 4_000 };

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A fresh Idempotency-Key. crypto.randomUUID needs a secure context; fall back to getRandomValues. */
export function newIdempotencyKey() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Whether a failed write may be retried with the same Idempotency-Key: no leader yet, the
 * node is paused, or the outcome is unknown (504). The dedup in the state machine makes the
 * retry apply at most once.
 */
export function isRetryable(status, payload) {
  if (status === 503 || status === 504 || status === 502) return true;
  return payload?.error === 'no_leader' || payload?.error === 'timeout';
}

/** Exponential backoff with jitter, at least the server's Retry-After, capped. */
export function retryDelayMs(attempt, retryAfterMs = 0) {
  const backoff = Math.min(RETRY.maxMs, RETRY.baseMs * 2 ** (attempt - 1));
  const jittered = backoff * (0.75 + Math.random() * 0.5);
  return Math.min(RETRY.maxMs, Math.max(jittered, retryAfterMs || 0));
}

/** A human sentence for an API error body `{error, message}` (SPEC §3 codes). */
export function describeError(status, payload) {
  const code = payload && typeof payload.error === 'string' ? payload.error : '';
  const message = payload && typeof payload.message === 'string' ? payload.message : '';
  switch (code) {
    case 'no_leader':
      return 'The cluster is electing a leader.';
    case 'timeout':
      return 'The write timed out, so its outcome is unknown.';
    case 'unavailable':
      return 'This node is paused by the controller.';
    case 'too_many_requests':
      return 'Too many posts from this address; wait a moment.';
    case 'payload_too_large':
      return 'That is too long.';
    case 'bad_request':
      return message ? `Not accepted: ${message}` : 'The server did not accept that.';
    case 'forbidden':
      return message ? `Forbidden: ${message}` : 'Forbidden.';
    default:
      return message || `The server answered HTTP ${status}.`;
  }
}

const timeFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

/** A short local date and time for an ISO timestamp, or '' if it does not parse. */
export function formatTime(iso) {
  const date = new Date(String(iso ?? ''));
  return Number.isNaN(date.getTime()) ? '' : timeFormat.format(date);
}

/** The SVG namespace, for the ring drawings. */
export const SVG_NS = 'http://www.w3.org/2000/svg';

/** A new element with an optional class and text (never HTML: user text stays text). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

/** A new SVG element with these attributes. */
export function svg(tag, attributes) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}
