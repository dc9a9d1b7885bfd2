/**
 * GET /api/live?after=<index> (WebSocket): every committed quote after `after`, in order, with
 * no gap and no duplicate, then live; plus a status event about 5 times a second.
 *
 * No gap, no duplicate: a client is registered (so the one shared apply listener buffers its
 * live quotes) before its backlog is read from the state machine; the buffer is flushed once
 * the backlog is caught up, skipping anything at or below the last index sent. Every send
 * goes through `lastSent`, so a quote can never go out twice or out of order.
 *
 * Fan-out: happens on the turn after the apply (never inside Raft's apply loop). Each quote and
 * each status is serialized and framed once (live-frame.ts), and the quotes applied together go
 * to a live client as one write of their frames: one Buffer, the same for every client, so the
 * cost per client is one socket write. The clients are visited WS_FANOUT_CHUNK at a time with
 * a turn of the event loop in between, so timers and Raft's messages are never starved by a
 * fan-out to thousands. Quotes applied while a run is under way join it for the clients it has
 * not reached yet (`extend`), so a fan-out that falls behind writes less, not more. Backlog pages
 * are serialized once too and shared (BacklogCache), so clients catching up from the same place
 * share the same bytes.
 *
 * Status events: one timer ticks every WS_STATUS_TICK_MS and sends the current status to the
 * next few clients in turn, so each gets one about every wsStatusIntervalMs (5 a second) and a
 * burst of thousands of writes never sits in front of a quote. A node's status writes are
 * capped at MAX_WS_STATUS_FRAMES_PER_S in all: past 2,000 clients each client's status comes
 * less often (once a second at the 10,000 limit), still well inside a page's 5 s silence timer.
 * A client that receives quotes gets its status in the same write (STATUS_WITH_QUOTES_SHARE), so
 * the timer writes mostly to quiet clients. A tick that finds a quote fan-out under way waits
 * for it: quotes first.
 *
 * Memory (issue 15, finding 9): a client whose unsent queue passes its limit is closed with
 * 1013 instead of buffering without bound; so is one that drains nothing for WS_STALL_MS (it
 * is not reading); and when all clients together queue more than the node's budget, the ones
 * with the most queued are closed first until the total is back under. The kernel's buffers can
 * hide a non-reader from all of that (nothing stays queued in the process), so a client that
 * has taken WS_PING_UNCONFIRMED_BYTES since it last answered a ping is pinged, and closed if it
 * does not answer within wsPongTimeoutMs. Live clients are also capped per remote address.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import type { WebSocket, WebSocketServer } from 'ws';
import type { ApplyResult, Quote } from '../state/types.js';
import type { Entry } from '@raftquotes/raft';
import type { ApiContext } from './context.js';
import { LogBudget } from '../log/logger.js';
import { isLoopback } from './admin.js';
import { ApiError, badRequest } from './errors.js';
import {
  MAX_WS_INCOMING_BYTES, MAX_WS_PENDING_LIVE_QUOTES, WS_CLIENT_CONTROL_FRAMES_BURST, WS_CLIENT_CONTROL_FRAMES_PER_S, WS_BACKLOG_CACHE_BYTES, WS_BACKLOG_LOW_WATER_BYTES, WS_BACKLOG_PAGE_QUOTES, WS_BACKLOG_SEND_CHUNK, WS_BUDGET_CHECK_MS,
  WS_PING_UNCONFIRMED_BYTES, WS_STALL_MIN_BYTES,
} from './limits.js';
import { jsonFrame } from './live-frame.js';
import type { ApiMetrics } from './metrics.js';
import { clientAddress, refill, type Bucket } from './rate-limit.js';
import { JSON_TYPE } from './reply.js';
import { nonNegativeInt } from './validate.js';

/** WebSocket close code for a client that does not read fast enough ("try again later"). */
export const CLOSE_SLOW_CONSUMER = 1013;
/** WebSocket close code for a client that sends what the live feed does not take (RFC 6455 §7.4.1). */
export const CLOSE_POLICY_VIOLATION = 1008;
/** A closing slow client that does not finish the close handshake (it is not reading) is dropped after this. */
const CLOSE_GRACE_MS = 1_000;
const BACKLOG_DRAIN_POLL_MS = 10;
/** A ping's payload: random, so a client cannot answer a ping it has not read with a forged pong. */
const PING_PAYLOAD_BYTES = 8;
/** WebSocket ping opcode with FIN set (RFC 6455 §5.5.2); a server's frames are not masked. */
const PING_FIRST_BYTE = 0x89;
/** Clients visited per turn of the event loop in a fan-out (a write each, a few µs apiece). */
export const WS_FANOUT_CHUNK = 500;
/** Quotes fanned out together are one write up to this many bytes; a larger run is split. */
export const WS_FANOUT_BATCH_BYTES = 64 * 1024;
/** How often the status timer sends to its next share of clients. */
export const WS_STATUS_TICK_MS = 50;
/** Status events per second over all clients of a node (5 a second each up to 2,000 clients). */
export const MAX_WS_STATUS_FRAMES_PER_S = 10_000;
/**
 * A client's status rides along with its quotes once this share of its interval has passed
 * (free: the same write), and is sent alone by the timer only past STATUS_ALONE_SHARE. The gap
 * between the two is what keeps the timer's own writes away from clients that receive quotes,
 * so under a stream of quotes status events cost no socket write at all.
 */
const STATUS_WITH_QUOTES_SHARE = 0.5;
/** Below 1 so that a client the timer visits once per interval (a quiet one) is never skipped for a few ms of jitter. */
const STATUS_ALONE_SHARE = 0.9;
/** WebSocket readyState OPEN (ws's constant, without loading ws). */
const WS_OPEN = 1;

export const LIVE_PATH = '/api/live';

const requireCjs = createRequire(import.meta.url);
/**
 * `ws` is loaded by the first upgrade, synchronously (so the client counts checked in `admit`
 * still cannot be overtaken): a node nobody watches live never carries it (issue 19, memory).
 */
function newWebSocketServer(): WebSocketServer {
  const ws = requireCjs('ws') as typeof import('ws');
  return new ws.WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false, maxPayload: MAX_WS_INCOMING_BYTES });
}

interface LiveClient {
  ws: WebSocket;
  /** The upgraded socket: frames are written to it directly, in order with ws's own (close, pong). */
  socket: Duplex;
  /** Remote address (the per-address cap). */
  address: string;
  /** Bytes written so far, and the queue and count at the last budget check: progress = sent - queued grew. */
  sentBytes: number;
  checkedSent: number;
  checkedQueued: number;
  /** When the client last drained anything (or had little queued), ms. */
  progressAt: number;
  /** Bytes the client has proved it read: what had been written before the last ping it answered. */
  confirmedBytes: number;
  /** The ping awaiting its pong, if any: its payload, when it was sent (ms) and sentBytes then. */
  ping: { payload: Buffer; sentAt: number; sentBytes: number } | null;
  /** Pings and unsolicited pongs the client may still send. */
  controlFrames: Bucket;
  /** When the client was last sent a status event, ms. */
  statusAt: number;
  /** Highest quote index sent to this client. */
  lastSent: number;
  /** Live quotes that arrived while the backlog was being sent (null once live). */
  pending: Quote[] | null;
  closing: boolean;
}

/** A quote and its frame, serialized and framed at most once for all clients. */
interface Outgoing {
  quote: Quote;
  frame: Buffer | null;
  /** When it was applied (performance.now(), ms); 0 for a backlog quote. */
  appliedAt: number;
}

/** Bytes the kernel took for the client (written, no longer queued here) that no pong has confirmed it read. */
function unconfirmedBytes(client: LiveClient, queued: number): number {
  return client.sentBytes - queued - client.confirmedBytes;
}

function quoteFrame(outgoing: Outgoing): Buffer {
  outgoing.frame ??= jsonFrame({ type: 'quote', quote: outgoing.quote });
  return outgoing.frame;
}

/**
 * Quotes applied together, in index order, and all their frames in one Buffer: what every live
 * client that has none of them yet receives, as one write.
 */
interface Fanout {
  quotes: Outgoing[];
  frames: Buffer;
  first: number;
  last: number;
  /** `frames` then a status event: for a client whose status is due, in the same write. */
  withStatus: Buffer | null;
  /** The clients not yet visited (a Set iterator: clients that leave meanwhile are skipped). */
  cursor: Iterator<LiveClient>;
  /** When its first quote was applied (performance.now(), ms). */
  appliedAt: number;
}

/** Splits applied quotes into runs of at most WS_FANOUT_BATCH_BYTES of frames (at least one quote each). */
function fanoutRuns(queue: Outgoing[]): Outgoing[][] {
  const runs: Outgoing[][] = [];
  let run: Outgoing[] = [];
  let bytes = 0;
  for (const outgoing of queue) {
    const size = quoteFrame(outgoing).length;
    if (run.length > 0 && bytes + size > WS_FANOUT_BATCH_BYTES) {
      runs.push(run);
      run = [];
      bytes = 0;
    }
    run.push(outgoing);
    bytes += size;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/** Answers a refused upgrade with a plain HTTP error and the JSON error body. */
function refuseUpgrade(socket: Duplex, err: ApiError): void {
  const body = JSON.stringify(err.body());
  const extra = Object.entries(err.options.headers ?? {}).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.on('error', () => undefined);
  socket.end(
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? ''}\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n${extra}\r\n${body}`,
  );
}

/** One encoded backlog page: the quotes after some index, each message serialized once. */
interface BacklogPage {
  messages: Outgoing[];
  bytes: number;
}

/**
 * Full backlog pages by the index they start after, least recently used first, bounded by
 * bytes. Only full pages are kept: committed quotes never change, so a full page after X is
 * the same for every client (a short page, the tail, may still grow).
 */
class BacklogCache {
  private readonly pages = new Map<number, BacklogPage>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get(after: number, read: () => Quote[]): Outgoing[] {
    const cached = this.pages.get(after);
    if (cached) {
      this.pages.delete(after);
      this.pages.set(after, cached);
      return cached.messages;
    }
    const messages = read().map((quote): Outgoing => ({ quote, frame: null, appliedAt: 0 }));
    if (messages.length < WS_BACKLOG_PAGE_QUOTES) return messages;
    let bytes = 0;
    for (const outgoing of messages) bytes += quoteFrame(outgoing).length;
    this.pages.set(after, { messages, bytes });
    this.bytes += bytes;
    for (const [key, page] of this.pages) {
      if (this.bytes <= this.maxBytes) break;
      this.pages.delete(key);
      this.bytes -= page.bytes;
    }
    return messages;
  }

  clear(): void {
    this.pages.clear();
    this.bytes = 0;
  }
}

/** All /api/live clients of one node (see the file comment). */
export class LiveHub {
  private wss: WebSocketServer | null = null;
  private readonly clients = new Set<LiveClient>();
  private readonly perAddress = new Map<string, number>();
  private readonly backlog = new BacklogCache(WS_BACKLOG_CACHE_BYTES);
  private statusTimer: NodeJS.Timeout | null = null;
  private budgetTimer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  /** Quotes applied and not yet being fanned out, oldest first. */
  private queue: Outgoing[] = [];
  /** Runs of quotes waiting for the fan-out in progress, oldest first. */
  private runs: Outgoing[][] = [];
  /** The fan-out in progress (one at a time, so every client gets the runs in order). */
  private fanout: Fanout | null = null;
  private flushScheduled = false;
  /** The status timer's place among the clients, and the status events it owes them (fractional). */
  private statusCursor: Iterator<LiveClient> | null = null;
  private statusCredit = 0;
  /** The latest status frame and when it was built (ms), reused within a tick. */
  private statusFrame: Buffer | null = null;
  private statusFrameAt = 0;

  /** Lines about closed clients: a flood of bad clients never floods the log. */
  private readonly closeLog: LogBudget;

  constructor(private readonly ctx: ApiContext, private readonly metrics: ApiMetrics) {
    this.closeLog = new LogBudget(ctx.tuning.maxErrorLogsPerSecond, 1000, (n) => ctx.logger.warn({ suppressed: n }, `${n} more live clients closed, not logged`));
  }

  /** Open clients (for tests and metrics). */
  get size(): number {
    return this.clients.size;
  }

  /** Handles an HTTP upgrade: only GET /api/live, within the client limits. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    try {
      const after = this.admit(req);
      // ws completes a valid handshake synchronously, so the client counts above cannot be overtaken.
      this.wss ??= newWebSocketServer();
      this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws, socket, after, clientAddress(req.socket.remoteAddress)));
    } catch (err) {
      const apiError = err instanceof ApiError ? err : new ApiError('internal', (err as Error).message);
      this.ctx.logger.info({ path: req.url?.slice(0, 200), status: apiError.status }, `upgrade refused: ${apiError.message}`);
      refuseUpgrade(socket, apiError);
    }
  }

  /** Checks an upgrade request; returns its `after`. */
  private admit(req: IncomingMessage): number {
    const url = req.url ?? '';
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    if (path !== LIVE_PATH) throw new ApiError('not_found', 'WebSockets are served only on /api/live');
    if (req.method !== 'GET') throw badRequest('method', 'a WebSocket upgrade must be a GET');
    const { host, origin } = req.headers;
    // The same Host and Origin checks as every request (SPEC §7): no rebinding, no other site's page.
    if (!this.ctx.names.hostAllowed(host)) throw new ApiError('forbidden', 'the Host header does not name this node or a member of its cluster');
    if (origin !== undefined && !this.ctx.names.memberOrigin(origin)) throw new ApiError('forbidden', 'the Origin is not a member of this cluster');
    const after = nonNegativeInt(new URLSearchParams(queryAt === -1 ? '' : url.slice(queryAt + 1)), 'after', 0);
    if (this.clients.size >= this.ctx.tuning.maxWsClients) {
      throw new ApiError('unavailable', `this node already serves ${this.clients.size} live clients; try another node`, { headers: { 'Retry-After': '1' } });
    }
    const address = clientAddress(req.socket.remoteAddress);
    const cap = isLoopback(address) ? this.ctx.tuning.maxWsClientsPerLoopback : this.ctx.tuning.maxWsClientsPerAddress;
    if ((this.perAddress.get(address) ?? 0) >= cap) {
      throw new ApiError('too_many_requests', `this address already has ${cap} live clients on this node`, { headers: { 'Retry-After': '5' } });
    }
    return after;
  }

  private attach(ws: WebSocket, socket: Duplex, after: number, address: string): void {
    const client: LiveClient = { ws, socket, address, sentBytes: 0, checkedSent: 0, checkedQueued: 0, progressAt: Date.now(), confirmedBytes: 0, ping: null, controlFrames: { tokens: WS_CLIENT_CONTROL_FRAMES_BURST, updatedMs: Date.now() }, statusAt: 0, lastSent: after, pending: [], closing: false };
    // Registered before the backlog is read: from here on, the apply listener buffers for it.
    this.clients.add(client);
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
    this.subscribe();
    this.metrics.wsClients.set(this.clients.size);
    ws.on('close', () => this.detach(client));
    ws.on('error', () => undefined);
    ws.on('pong', (payload: Buffer) => this.onPong(client, payload));
    ws.on('ping', () => this.spendControlCredit(client));
    ws.on('message', () => this.closeMisbehaving(client, 'sent a message (the live feed takes none)'));
    void this.sendBacklog(client).catch((err: Error) => {
      this.ctx.logger.warn({ err }, `live backlog failed: ${err.message}`);
      ws.close(1011, 'internal error');
    });
  }

  private detach(client: LiveClient): void {
    client.closing = true;
    if (!this.clients.delete(client)) return;
    const left = (this.perAddress.get(client.address) ?? 1) - 1;
    if (left <= 0) this.perAddress.delete(client.address);
    else this.perAddress.set(client.address, left);
    this.metrics.wsClients.set(this.clients.size);
    if (this.clients.size === 0) this.unsubscribeAll();
  }

  /** One apply listener and one status timer for all clients, while there are clients. */
  private subscribe(): void {
    this.unsubscribe ??= this.ctx.node.onApply((entries, results) => this.onApply(entries, results));
    this.statusTimer ??= setInterval(() => this.statusTick(), this.statusTickMs()).unref();
    this.budgetTimer ??= setInterval(() => this.enforceBudget(), WS_BUDGET_CHECK_MS).unref();
  }

  private unsubscribeAll(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.queue = [];
    this.runs = [];
    this.fanout = null;
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.statusTimer = null;
    this.statusCursor = null;
    this.statusCredit = 0;
    this.statusFrame = null;
    if (this.budgetTimer) clearInterval(this.budgetTimer);
    this.budgetTimer = null;
    this.backlog.clear();
  }

  /** Sends the committed quotes after `lastSent` page by page, then the buffered live ones. */
  private async sendBacklog(client: LiveClient): Promise<void> {
    for (;;) {
      if (!(await this.waitForRoom(client))) return;
      const after = client.lastSent;
      const page = this.backlog.get(after, () => this.ctx.node.stateMachine.quotesAfter(after, WS_BACKLOG_PAGE_QUOTES));
      if (page.length < WS_BACKLOG_PAGE_QUOTES) {
        // A short page is sent at once, synchronous with the flush of `pending` below: nothing
        // can be applied in between, so nothing falls in a gap.
        this.sendEach(client, page);
        break;
      }
      for (let from = 0; from < page.length && !client.closing; from += WS_BACKLOG_SEND_CHUNK) {
        this.sendEach(client, page.slice(from, from + WS_BACKLOG_SEND_CHUNK));
        await yieldToLoop();
      }
    }
    const pending = client.pending ?? [];
    client.pending = null;
    this.sendEach(client, pending.map((quote): Outgoing => ({ quote, frame: null, appliedAt: 0 })));
    this.sendStatus(client, this.currentStatusFrame(), Date.now());
  }

  /**
   * Waits until the client's queue is below the low-water mark and its unconfirmed bytes are
   * inside the window; false once it closed. A client that stops reading meanwhile is closed by
   * enforceBudget (a stalled queue, or a ping unanswered), which ends this wait.
   */
  private async waitForRoom(client: LiveClient): Promise<boolean> {
    for (;;) {
      if (client.closing) return false;
      const queued = client.ws.bufferedAmount;
      const unconfirmed = unconfirmedBytes(client, queued);
      const window = this.ctx.tuning.wsBacklogWindowBytes;
      if (!client.ping && unconfirmed >= window / 2) this.sendPing(client, Date.now());
      if (queued <= WS_BACKLOG_LOW_WATER_BYTES && unconfirmed < window) return true;
      await sleep(BACKLOG_DRAIN_POLL_MS);
    }
  }

  /**
   * Every WS_BUDGET_CHECK_MS: closes clients that drained nothing for tuning.wsStallMs with a
   * real queue (they are not reading), then, if all queues together exceed the node's budget,
   * the clients with the most queued until the total is under it.
   */
  private enforceBudget(): void {
    const now = Date.now();
    let total = 0;
    const open: LiveClient[] = [];
    for (const client of this.clients) {
      if (client.closing) continue;
      const queued = client.ws.bufferedAmount;
      const drained = client.checkedQueued + (client.sentBytes - client.checkedSent) - queued;
      if (drained > 0 || queued < WS_STALL_MIN_BYTES) client.progressAt = now;
      client.checkedSent = client.sentBytes;
      client.checkedQueued = queued;
      if (now - client.progressAt >= this.ctx.tuning.wsStallMs) {
        this.closeSlow(client, `read nothing for ${now - client.progressAt} ms with ${queued} bytes queued`);
        continue;
      }
      if (!this.checkPing(client, queued, now)) continue;
      total += queued;
      open.push(client);
    }
    if (total <= this.ctx.tuning.maxWsTotalBufferedBytes) return;
    open.sort((a, b) => b.checkedQueued - a.checkedQueued);
    for (const client of open) {
      if (total <= this.ctx.tuning.maxWsTotalBufferedBytes) break;
      total -= client.checkedQueued;
      this.closeSlow(client, `live clients queue ${total + client.checkedQueued} bytes in all, over the budget of ${this.ctx.tuning.maxWsTotalBufferedBytes}; this one has the most (${client.checkedQueued})`);
    }
  }

  /**
   * Pings a client that took WS_PING_UNCONFIRMED_BYTES into its socket since it last proved it
   * reads; closes it if an earlier ping went unanswered for wsPongTimeoutMs. False if closed.
   */
  private checkPing(client: LiveClient, queued: number, now: number): boolean {
    const { ping } = client;
    if (ping) {
      if (now - ping.sentAt < this.ctx.tuning.wsPongTimeoutMs) return true;
      this.closeSlow(client, `answered no ping for ${now - ping.sentAt} ms (${ping.sentBytes - client.confirmedBytes} bytes written before it)`);
      return false;
    }
    if (unconfirmedBytes(client, queued) >= WS_PING_UNCONFIRMED_BYTES) this.sendPing(client, now);
    return true;
  }

  /** A ping with a fresh random payload, behind everything written so far. */
  private sendPing(client: LiveClient, now: number): void {
    const payload = randomBytes(PING_PAYLOAD_BYTES);
    this.write(client, Buffer.concat([Buffer.from([PING_FIRST_BYTE, PING_PAYLOAD_BYTES]), payload]));
    client.ping = { payload, sentAt: now, sentBytes: client.sentBytes };
  }

  /** A pong that echoes the outstanding ping proves the client read everything written before it. */
  private onPong(client: LiveClient, payload: Buffer): void {
    const { ping } = client;
    if (!ping || !payload.equals(ping.payload)) {
      this.spendControlCredit(client);
      return;
    }
    client.confirmedBytes = ping.sentBytes;
    client.ping = null;
  }

  /** A ping or an unsolicited pong: allowed as a keepalive, closed as a flood. */
  private spendControlCredit(client: LiveClient): void {
    const bucket = client.controlFrames;
    refill(bucket, Date.now(), WS_CLIENT_CONTROL_FRAMES_PER_S, WS_CLIENT_CONTROL_FRAMES_BURST);
    bucket.tokens -= 1;
    if (bucket.tokens < 0) this.closeMisbehaving(client, `sent more than ${WS_CLIENT_CONTROL_FRAMES_BURST} pings or pongs, then more than ${WS_CLIENT_CONTROL_FRAMES_PER_S} a second`);
  }

  /**
   * Closes (1008) a client that sends what the feed does not take, and stops reading from it at
   * once: parsing a flood is the cost to avoid. Its close reply is never read, so the socket is
   * dropped after CLOSE_GRACE_MS.
   */
  private closeMisbehaving(client: LiveClient, why: string): void {
    if (client.closing) return;
    if (this.closeLog.admit()) this.ctx.logger.warn({ address: client.address }, `closing a live client that ${why}`);
    this.drop(client, CLOSE_POLICY_VIOLATION, 'the live feed takes no messages');
    client.socket.pause();
  }

  /**
   * Called inside the node's apply loop: only queues the quotes, so fan-out to many clients
   * never delays Raft. The queue is sent on the next turn of the event loop.
   */
  private onApply(entries: Entry[], results: ApplyResult[]): void {
    const appliedAt = performance.now();
    for (let i = 0; i < entries.length; i++) {
      const result = results[i];
      if (result?.ok && result.quote) this.queue.push({ quote: result.quote, frame: null, appliedAt });
    }
    if (this.queue.length > 0) this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flush);
  }

  /**
   * One turn of the fan-out: up to WS_FANOUT_CHUNK clients of the run in progress (starting the
   * next run, oldest first, when there is none), then again on the next turn if anything is left.
   * Each live client gets each run in order; clients still in their backlog buffer it. Any quote
   * a client already got from its backlog is skipped by `lastSent`.
   */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    const now = Date.now();
    const statusMs = this.statusIntervalMs();
    if (this.fanout && this.runs.length === 0) this.extend(this.fanout);
    for (let visited = 0; visited < WS_FANOUT_CHUNK; visited++) {
      const fanout = this.fanout ?? this.nextFanout();
      if (!fanout) return;
      const next = fanout.cursor.next();
      if (next.done) this.finishFanout(fanout);
      else this.deliver(next.value, fanout, now, statusMs);
    }
    this.scheduleFlush();
  };

  /** Starts fanning out the oldest waiting run, if any. */
  private nextFanout(): Fanout | null {
    if (this.runs.length === 0 && this.queue.length > 0) {
      this.runs = fanoutRuns(this.queue);
      this.queue = [];
    }
    const quotes = this.runs.shift();
    if (!quotes) return null;
    const frames = quotes.length === 1 ? quoteFrame(quotes[0] as Outgoing) : Buffer.concat(quotes.map(quoteFrame));
    const head = quotes[0] as Outgoing;
    this.fanout = { quotes, frames, first: head.quote.index, last: (quotes.at(-1) as Outgoing).quote.index, withStatus: null, cursor: this.clients.values(), appliedAt: head.appliedAt };
    return this.fanout;
  }

  /**
   * Quotes applied while a run is under way join it (up to WS_FANOUT_BATCH_BYTES) for the clients
   * it has not reached yet: one write of both instead of two, so a fan-out that falls behind
   * catches up. They stay queued as a run of their own for the clients already visited; the
   * others skip it by `lastSent`, with no write.
   */
  private extend(fanout: Fanout): void {
    let bytes = fanout.frames.length;
    const joined: Outgoing[] = [];
    for (const outgoing of this.queue) {
      if (outgoing.quote.index <= fanout.last) continue;
      const size = quoteFrame(outgoing).length;
      if (bytes + size > WS_FANOUT_BATCH_BYTES) break;
      joined.push(outgoing);
      bytes += size;
    }
    const tail = joined.at(-1);
    if (!tail) return;
    fanout.quotes = [...fanout.quotes, ...joined];
    fanout.frames = Buffer.concat([fanout.frames, ...joined.map(quoteFrame)]);
    fanout.last = tail.quote.index;
    fanout.withStatus = null;
  }

  /** Ends a run once every client has it: how long it took from the apply is the server's share of the latency. */
  private finishFanout(fanout: Fanout): void {
    this.fanout = null;
    this.metrics.wsFanout.observe((performance.now() - fanout.appliedAt) / 1000);
  }

  /**
   * Gives one client a run: the shared frames (with the status event when one is due, which
   * spares the status timer a write), or only the quotes it lacks, or buffers them.
   */
  private deliver(client: LiveClient, fanout: Fanout, now: number, statusMs: number): void {
    if (client.closing) return;
    if (client.pending) {
      this.buffer(client, fanout.quotes);
    } else if (client.lastSent < fanout.first) {
      client.lastSent = fanout.last;
      if (now - client.statusAt >= statusMs * STATUS_WITH_QUOTES_SHARE) {
        client.statusAt = now;
        fanout.withStatus ??= Buffer.concat([fanout.frames, this.currentStatusFrame()]);
        this.write(client, fanout.withStatus);
      } else {
        this.write(client, fanout.frames);
      }
    } else {
      this.sendEach(client, fanout.quotes);
    }
  }

  /**
   * Buffers live quotes during a backlog. Past the bound the buffer is dropped: those quotes
   * are already in the state machine, so the backlog's remaining pages include them.
   */
  private buffer(client: LiveClient, quotes: Outgoing[]): void {
    const pending = client.pending as Quote[];
    if (pending.length + quotes.length > MAX_WS_PENDING_LIVE_QUOTES) pending.length = 0;
    else for (const outgoing of quotes) pending.push(outgoing.quote);
  }

  /**
   * Sends the quotes after `lastSent`, in order (never a gap backwards, never a duplicate), in
   * one corked write: their shared frames are queued as they are (a backlog page's frames are
   * shared by every client reading it, so they are never copied per client).
   */
  private sendEach(client: LiveClient, quotes: Outgoing[]): void {
    if (client.closing || client.ws.readyState !== WS_OPEN) return;
    let corked = false;
    let bytes = 0;
    for (const outgoing of quotes) {
      if (outgoing.quote.index <= client.lastSent) continue;
      client.lastSent = outgoing.quote.index;
      if (!corked) client.socket.cork();
      corked = true;
      const frame = quoteFrame(outgoing);
      client.socket.write(frame);
      bytes += frame.length;
    }
    if (!corked) return;
    client.socket.uncork();
    this.wrote(client, bytes);
  }

  private sendStatus(client: LiveClient, frame: Buffer, now: number): void {
    client.statusAt = now;
    this.write(client, frame);
  }

  /**
   * Writes whole frames to the client's socket. ws writes its own frames (close, pong) to the
   * same socket synchronously, so frames never interleave; nothing is written once ws is
   * closing (its close frame must be the last).
   */
  private write(client: LiveClient, frames: Buffer): void {
    if (client.closing || client.ws.readyState !== WS_OPEN) return;
    client.socket.write(frames);
    this.wrote(client, frames.length);
  }

  /** Counts what was written, and closes the client if its queue is now over its limit. */
  private wrote(client: LiveClient, bytes: number): void {
    client.sentBytes += bytes;
    if (client.ws.bufferedAmount > this.ctx.tuning.maxWsBufferedBytes) this.closeSlow(client, `queue over ${this.ctx.tuning.maxWsBufferedBytes} bytes`);
  }

  /** Each client's time between status events: 5 a second, or less often past MAX_WS_STATUS_FRAMES_PER_S in all. */
  private statusIntervalMs(): number {
    return Math.max(this.ctx.tuning.wsStatusIntervalMs, (this.clients.size * 1000) / MAX_WS_STATUS_FRAMES_PER_S);
  }

  private statusTickMs(): number {
    return Math.min(WS_STATUS_TICK_MS, this.ctx.tuning.wsStatusIntervalMs);
  }

  /** The current status as a frame, built at most once per tick. */
  private currentStatusFrame(): Buffer {
    const now = Date.now();
    if (!this.statusFrame || now - this.statusFrameAt >= this.statusTickMs()) {
      this.statusFrame = jsonFrame({ type: 'status', status: this.ctx.node.status() });
      this.statusFrameAt = now;
    }
    return this.statusFrame;
  }

  /**
   * Visits this tick's share of the clients, in turn, and sends the current status to those that
   * had none for most of an interval (the others had it with a run of quotes). A tick during a
   * quote fan-out sends nothing: quotes first, and the fan-out carries the status anyway.
   */
  private statusTick(): void {
    const count = this.clients.size;
    if (count === 0) return;
    const tickMs = this.statusTickMs();
    const intervalMs = this.statusIntervalMs();
    const share = (count * tickMs) / intervalMs;
    // What a skipped tick owes is carried to the next one only: a long fan-out is not followed by a burst.
    this.statusCredit = Math.min(Math.max(1, 2 * share), this.statusCredit + share);
    if (this.fanout || this.queue.length > 0 || this.statusCredit < 1) return;
    const frame = this.currentStatusFrame();
    const now = Date.now();
    for (; this.statusCredit >= 1; this.statusCredit--) {
      let next = (this.statusCursor ??= this.clients.values()).next();
      if (next.done) {
        this.statusCursor = this.clients.values();
        next = this.statusCursor.next();
        if (next.done) return;
      }
      if (now - next.value.statusAt >= intervalMs * STATUS_ALONE_SHARE) this.sendStatus(next.value, frame, now);
    }
  }

  /**
   * Closes a client that does not keep up (1013), and drops it if it does not finish closing.
   * It leaves the client set at once, so its queue no longer counts against the budget.
   */
  private closeSlow(client: LiveClient, why: string): void {
    if (client.closing) return;
    if (this.closeLog.admit()) this.ctx.logger.info({ buffered: client.ws.bufferedAmount, address: client.address }, `closing a slow live client: ${why}`);
    this.drop(client, CLOSE_SLOW_CONSUMER, 'slow consumer');
  }

  /** Detaches the client and closes it; its socket goes after CLOSE_GRACE_MS if it never finishes the close handshake. */
  private drop(client: LiveClient, code: number, reason: string): void {
    this.detach(client);
    client.ws.close(code, reason);
    setTimeout(() => client.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  /** Drops every client and stops the timer and the listener. */
  close(): void {
    for (const client of this.clients) {
      client.closing = true;
      client.ws.terminate();
    }
    this.clients.clear();
    this.perAddress.clear();
    this.metrics.wsClients.set(0);
    this.unsubscribeAll();
    this.wss?.close();
  }
}
