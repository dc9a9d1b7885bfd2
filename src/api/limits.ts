/**
 * Every limit the HTTP API enforces (SPEC §3 "Limits"), in one place. Each one is checked on
 * input; the tests probe each at its boundary.
 */

/** A KV key: at most this many bytes of UTF-8, and no control characters. */
export const MAX_KEY_BYTES = 1024;
/** A KV value (and each of a cas's `from`/`to`): at most this many bytes as JSON. */
export const MAX_VALUE_BYTES = 64 * 1024;
/** Quote text: 1 to this many characters (Unicode code points, after trimming). */
export const MAX_QUOTE_TEXT_CHARS = 1000;
/** Quote author: at most this many characters (after trimming). */
export const MAX_AUTHOR_CHARS = 100;
/** The author stored when a quote has none. */
export const DEFAULT_AUTHOR = 'Anonymous';
/** A request body: at most this many bytes (413 beyond, without reading the rest). */
export const MAX_BODY_BYTES = 1024 * 1024;
/**
 * A too-large body whose declared length is at most this is still drained after the 413, so
 * the connection stays usable and the client reliably reads the answer; beyond it, we close.
 */
export const MAX_DRAIN_BYTES = 4 * 1024 * 1024;
/** Idempotency-Key header: at most this many printable ASCII characters. */
export const MAX_IDEMPOTENCY_KEY_CHARS = 256;
/** GET /api/quotes page size: default and maximum. */
export const DEFAULT_QUOTES_LIMIT = 100;
export const MAX_QUOTES_LIMIT = 1000;
/** GET /api/status?logTail=N: at most this many log entries. */
export const MAX_LOG_TAIL = 200;

/** WebSocket clients per node (SPEC §3); the next upgrade gets HTTP 503. */
export const MAX_WS_CLIENTS = 10_000;
/** A WebSocket client with more than this queued and unsent is closed with 1013 (slow consumer). */
export const MAX_WS_BUFFERED_BYTES = 8 * 1024 * 1024;
/** While sending a backlog, wait for a client's queue to fall below this before the next page. */
export const WS_BACKLOG_LOW_WATER_BYTES = 1024 * 1024;
/** Backlog pages are read with this many quotes each. */
export const WS_BACKLOG_PAGE_QUOTES = 1000;
/** Live quotes buffered for one client while its backlog is being sent (beyond: re-read from the state machine). */
export const MAX_WS_PENDING_LIVE_QUOTES = 10_000;
/** Largest message a client may send us (we ignore them anyway). */
export const MAX_WS_INCOMING_BYTES = 4 * 1024;
/** Status events to WebSocket clients, about 5 per second (SPEC §3); one timer for all clients. */
export const WS_STATUS_INTERVAL_MS = 200;

/** A write or read forwarded to the leader: longer than the leader's own client timeout (5 s), so its 504 arrives first. */
export const FORWARD_TIMEOUT_MS = 7_000;
/** Largest answer we relay from a forwarded request. */
export const MAX_FORWARD_RESPONSE_BYTES = 16 * 1024 * 1024;
/** GET /api/cluster: how long to wait for each peer's /api/status. */
export const PEER_STATUS_TIMEOUT_MS = 300;
/** Largest /api/status answer accepted from a peer. */
export const MAX_PEER_STATUS_BYTES = 1024 * 1024;

/** Rate-limit buckets kept at most (one per client address); the least recently used go first. */
export const MAX_RATE_LIMIT_BUCKETS = 10_000;

/** HTTP keep-alive: idle connections stay open this long (benchmark clients reuse them). */
export const KEEP_ALIVE_TIMEOUT_MS = 30_000;
/** A whole request (headers and body) must arrive within this. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** Error lines logged per second at most; the rest are counted and summarized. */
export const MAX_ERROR_LOGS_PER_SECOND = 20;
