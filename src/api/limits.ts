/**
 * Every limit the HTTP API enforces (SPEC §3 "Limits"), in one place. Each one is checked on
 * input; the tests probe each at its boundary.
 */

/** A KV key: at most this many bytes of UTF-8, and no control characters (defined with the key rules). */
export { MAX_KEY_BYTES } from '../state/keys.js';
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
 * Request body bytes a client address may send per second (a bucket one second deep), charged
 * by the declared length before the body is read: past it, 429. Reading, decoding and parsing
 * 1 MiB of JSON costs a node ~8 ms here, so 16 clients sending 1 MiB bodies took a follower's
 * writes from 328/s to 23/s. Loopback (this machine, already trusted with admin actions) has a
 * budget of its own; a proven node-to-node forward is not charged again.
 */
export const MAX_BODY_BYTES_PER_S_PER_ADDRESS = 4 * 1024 * 1024;
export const MAX_BODY_BYTES_PER_S_PER_LOOPBACK = 16 * 1024 * 1024;
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
/**
 * Largest frame a client may send us. The live feed takes no messages: a client that sends one
 * is closed (1008), since one client sending 4 KiB messages as fast as it could took a
 * follower's writes from 300 a second to 1 (p50 979 ms) by the CPU it cost to parse them.
 */
export const MAX_WS_INCOMING_BYTES = 4 * 1024;
/**
 * Pings and pongs a live client may send us: a burst, then one a second (a keepalive every few
 * seconds is fine). Past it the client is closed (1008), for the same reason as messages.
 */
export const WS_CLIENT_CONTROL_FRAMES_BURST = 20;
export const WS_CLIENT_CONTROL_FRAMES_PER_S = 1;
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
/**
 * GET /api/cluster asks every peer for its status: a request in flight is shared by all the
 * calls that want it, and an answer is reused this long (the dashboard polls every 200 ms).
 * Unshared, 16 clients calling it took a follower's writes from 188/s to 60/s: each call
 * cost four peers a status with 200 log entries.
 */
export const PEER_STATUS_REUSE_MS = 100;
/** Log tails asked of peers: a request's logTail is rounded up to one of these, then trimmed. */
export const PEER_LOG_TAIL_STEPS: readonly number[] = [20, MAX_LOG_TAIL];

/** Rate-limit buckets kept at most (one per client address); the least recently used go first. */
export const MAX_RATE_LIMIT_BUCKETS = 10_000;

/** HTTP keep-alive: idle connections stay open this long (benchmark clients reuse them). */
export const KEEP_ALIVE_TIMEOUT_MS = 30_000;
/** A whole request (headers and body) must arrive within this. */
export const REQUEST_TIMEOUT_MS = 30_000;
/**
 * A connection with no byte read or written for this long is closed, whatever it is doing: a
 * client that stopped reading a response larger than the kernel's buffers would otherwise hold
 * its socket and the response's memory forever (node:http has no such timeout by default).
 * Far above any request's own wait (5 s for a write); keep-alive idling has its own, shorter.
 */
export const SOCKET_IDLE_TIMEOUT_MS = 120_000;
/**
 * HTTP/1.1 pipelining: node:http parses every request of a chunk it has read at once, so 20
 * connections that pipelined 2,000 status requests each and read nothing took a node from 90
 * to 734 MB of queued answers. A connection gets MAX_PIPELINED_REQUESTS_PER_CONNECTION
 * requests answered at a time (an answer counts until it is handed to the kernel); the next
 * ones wait their turn, and past MAX_WAITING_PIPELINED_REQUESTS waiting it is closed.
 */
export const MAX_PIPELINED_REQUESTS_PER_CONNECTION = 16;
export const MAX_WAITING_PIPELINED_REQUESTS = 256;
/** Error lines logged per second at most; the rest are counted and summarized. */
export const MAX_ERROR_LOGS_PER_SECOND = 20;

/** A forward's proof is accepted within this much of the receiver's clock (node clocks are NTP-synced). */
export const MAX_FORWARD_SKEW_MS = 30_000;
/**
 * Forward nonces remembered against replay (about 50 bytes each). Past this, the oldest go and
 * proofs older than them are refused; at 6,000 forwards/s that still keeps ~16 s of nonces.
 */
export const MAX_FORWARD_NONCES = 100_000;
/** Forward proofs refused, logged at most this often per second (the rest are counted). */
export const MAX_FORWARD_REFUSAL_LOGS_PER_SECOND = 5;
/** HTTPS connections refused in the TLS handshake, logged at most this often per second (the rest are counted). */
export const MAX_TLS_REFUSAL_LOGS_PER_SECOND = 5;

/** A request's headers must all arrive within this (slow-header clients lose their socket). */
export const HEADERS_TIMEOUT_MS = 10_000;
/** How often node:http checks the header and request deadlines (its default, 30 s, doubles them). */
export const CONNECTIONS_CHECK_INTERVAL_MS = 1_000;
/** After an error answer to a malformed or too-slow request, a client that does not close is cut off after this. */
export const CLIENT_ERROR_GRACE_MS = 1_000;
/**
 * Open HTTP connections per node, WebSockets included (10,000 live clients by SPEC §3, plus
 * room for requests); the process runs with a 20,000 fd limit here. Beyond it the kernel
 * queues new connections until one closes.
 */
export const MAX_HTTP_CONNECTIONS = 12_000;
/**
 * Open connections per remote address. 512 is ~80 browsers behind one NAT (6 connections
 * each plus a live socket), or one peer node's forward agent (256 sockets at most).
 */
export const MAX_HTTP_CONNECTIONS_PER_ADDRESS = 512;
/**
 * Loopback is this machine: already trusted with admin actions, and where the benchmark runs
 * (256 keep-alive connections, 200 live clients per node in the fan-out, and every local
 * peer's forwards arrive from 127.0.0.1), so it gets a cap of its own, well above those.
 */
export const MAX_HTTP_CONNECTIONS_PER_LOOPBACK = 4_096;
/** /api/live clients per remote address (a browser tab has one); loopback has its own cap, as above. */
export const MAX_WS_CLIENTS_PER_ADDRESS = 64;
export const MAX_WS_CLIENTS_PER_LOOPBACK = 1_000;
/**
 * Bytes queued and unsent over all live clients of a node. Past it the clients with the most
 * queued are closed (1013) until the total is back under. A quote message is a shared Buffer,
 * so the real memory is at most this (often much less: clients share the same bytes).
 */
export const MAX_WS_TOTAL_BUFFERED_BYTES = 32 * 1024 * 1024;
/**
 * A live client with anything queued in the process (its kernel buffers already full) that
 * drains nothing for WS_STALL_MS is closed (1013): it is not reading. A reader that merely
 * paused (a tunnel, a sleeping laptop) reconnects with its cursor and misses nothing.
 */
export const WS_STALL_MIN_BYTES = 1;
/**
 * A streamed reply (GET /api/backup) whose client reads nothing for this long is cut: it holds
 * an SQLite read transaction, and while one is open the WAL cannot be checkpointed past it, so
 * a stalled reader would make the node's database file grow without bound.
 */
export const STREAM_STALL_MS = 30_000;
export const WS_STALL_MS = 3_000;
/**
 * The kernel's socket buffers can take a few MB from a client that never reads (on loopback
 * here a whole 3.6 MB backlog), leaving nothing queued in the process for the stall rule to
 * see. So a client that has taken this many bytes into those buffers since it last proved it
 * reads gets a ping (with a random payload it must echo), and is closed (1013) if the pong has
 * not come back within WS_PONG_TIMEOUT_MS: time to read the largest kernel buffers (~6 MB) at
 * ~600 kB/s. A client reading quotes and status events gets a ping every few minutes.
 */
export const WS_PING_UNCONFIRMED_BYTES = 64 * 1024;
/**
 * A client catching up on a backlog is sent its next page only while it has taken less than
 * this into its socket beyond what its last pong proved it read: the kernel memory one client
 * can pin (a page past this at most) however little it reads. A ping goes out at half of it,
 * so a reader's pong is back before the window closes.
 */
export const WS_BACKLOG_MAX_UNCONFIRMED_BYTES = 2 * 1024 * 1024;
export const WS_PONG_TIMEOUT_MS = 10_000;
/** Backlog quotes sent to one client per turn of the event loop, so many clients catching up never stall the node. */
export const WS_BACKLOG_SEND_CHUNK = 100;
/** How often the live clients' queues are checked against the budget and for stalls. */
export const WS_BUDGET_CHECK_MS = 250;
/** Encoded backlog pages kept for reuse by other clients (an LRU, by bytes). */
export const WS_BACKLOG_CACHE_BYTES = 16 * 1024 * 1024;
