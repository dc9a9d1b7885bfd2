/**
 * GET /api/live?after=<index> (WebSocket): every committed quote after `after`, in order, with
 * no gap and no duplicate, then live; plus a status event about 5 times a second.
 *
 * No gap, no duplicate: a client is registered (so the one shared apply listener buffers its
 * live quotes) before its backlog is read from the state machine; the buffer is flushed once
 * the backlog is caught up, skipping anything at or below the last index sent. Every send
 * goes through `lastSent`, so a quote can never go out twice or out of order.
 *
 * Fan-out: happens on the turn after the apply (never inside Raft's apply loop); each quote
 * and each status is serialized once for all clients, and one timer drives the status events. A client whose unsent queue passes the limit is closed with 1013
 * instead of buffering without bound.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ApplyResult, Quote } from '../state/types.js';
import type { Entry } from '../raft/types.js';
import type { ApiContext } from './context.js';
import { ApiError, badRequest } from './errors.js';
import { MAX_WS_INCOMING_BYTES, MAX_WS_PENDING_LIVE_QUOTES, WS_BACKLOG_LOW_WATER_BYTES, WS_BACKLOG_PAGE_QUOTES } from './limits.js';
import type { ApiMetrics } from './metrics.js';
import { JSON_TYPE } from './reply.js';
import { nonNegativeInt } from './validate.js';

/** WebSocket close code for a client that does not read fast enough ("try again later"). */
export const CLOSE_SLOW_CONSUMER = 1013;
/** A closing slow client that does not finish the close handshake is dropped after this. */
const CLOSE_GRACE_MS = 5_000;
/** How long a backlog waits, in total, for a client to drain its queue before it counts as slow. */
const BACKLOG_DRAIN_WAIT_MS = 30_000;
const BACKLOG_DRAIN_POLL_MS = 10;

export const LIVE_PATH = '/api/live';

interface LiveClient {
  ws: WebSocket;
  /** Highest quote index sent to this client. */
  lastSent: number;
  /** Live quotes that arrived while the backlog was being sent (null once live). */
  pending: Quote[] | null;
  closing: boolean;
}

/** A quote and its message, serialized and UTF-8 encoded at most once for all clients. */
interface Outgoing {
  quote: Quote;
  message: Buffer | null;
}

/** Sent as a text frame: the Buffer is not re-encoded per client, as a string would be. */
const TEXT_FRAME = { binary: false } as const;

function quoteMessage(outgoing: Outgoing): Buffer {
  outgoing.message ??= Buffer.from(JSON.stringify({ type: 'quote', quote: outgoing.quote }));
  return outgoing.message;
}

function statusMessage(ctx: ApiContext): Buffer {
  return Buffer.from(JSON.stringify({ type: 'status', status: ctx.node.status() }));
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

/** All /api/live clients of one node (see the file comment). */
export class LiveHub {
  private readonly wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false, maxPayload: MAX_WS_INCOMING_BYTES });
  private readonly clients = new Set<LiveClient>();
  private statusTimer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  /** Quotes applied since the last flush, oldest first. */
  private queue: Outgoing[] = [];
  private flushScheduled = false;

  constructor(private readonly ctx: ApiContext, private readonly metrics: ApiMetrics) {}

  /** Open clients (for tests and metrics). */
  get size(): number {
    return this.clients.size;
  }

  /** Handles an HTTP upgrade: only GET /api/live, within the client limit. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    try {
      const after = this.admit(req);
      // ws completes a valid handshake synchronously, so the client count above cannot be overtaken.
      this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws, after));
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
    const after = nonNegativeInt(new URLSearchParams(queryAt === -1 ? '' : url.slice(queryAt + 1)), 'after', 0);
    if (this.clients.size >= this.ctx.tuning.maxWsClients) {
      throw new ApiError('unavailable', `this node already serves ${this.clients.size} live clients; try another node`, { headers: { 'Retry-After': '1' } });
    }
    return after;
  }

  private attach(ws: WebSocket, after: number): void {
    const client: LiveClient = { ws, lastSent: after, pending: [], closing: false };
    // Registered before the backlog is read: from here on, the apply listener buffers for it.
    this.clients.add(client);
    this.subscribe();
    this.metrics.wsClients.set(this.clients.size);
    ws.on('close', () => this.detach(client));
    ws.on('error', () => undefined);
    void this.sendBacklog(client).catch((err: Error) => {
      this.ctx.logger.warn({ err }, `live backlog failed: ${err.message}`);
      ws.close(1011, 'internal error');
    });
  }

  private detach(client: LiveClient): void {
    client.closing = true;
    this.clients.delete(client);
    this.metrics.wsClients.set(this.clients.size);
    if (this.clients.size === 0) this.unsubscribeAll();
  }

  /** One apply listener and one status timer for all clients, while there are clients. */
  private subscribe(): void {
    this.unsubscribe ??= this.ctx.node.onApply((entries, results) => this.onApply(entries, results));
    this.statusTimer ??= setInterval(() => this.broadcastStatus(), this.ctx.tuning.wsStatusIntervalMs).unref();
  }

  private unsubscribeAll(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.queue = [];
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.statusTimer = null;
  }

  /** Sends the committed quotes after `lastSent` page by page, then the buffered live ones. */
  private async sendBacklog(client: LiveClient): Promise<void> {
    for (;;) {
      if (!(await this.waitForRoom(client))) return;
      const page = this.ctx.node.stateMachine.quotesAfter(client.lastSent, WS_BACKLOG_PAGE_QUOTES);
      for (const quote of page) this.send(client, { quote, message: null });
      // A short page is synchronous with the check below: nothing can be applied in between.
      if (page.length < WS_BACKLOG_PAGE_QUOTES) break;
      await yieldToLoop();
    }
    const pending = client.pending ?? [];
    client.pending = null;
    for (const quote of pending) this.send(client, { quote, message: null });
    this.sendStatus(client, statusMessage(this.ctx));
  }

  /** Waits until the client's queue is below the low-water mark; false if it closed or stayed slow. */
  private async waitForRoom(client: LiveClient): Promise<boolean> {
    for (let waited = 0; client.ws.bufferedAmount > WS_BACKLOG_LOW_WATER_BYTES; waited += BACKLOG_DRAIN_POLL_MS) {
      if (client.closing) return false;
      if (waited >= BACKLOG_DRAIN_WAIT_MS) {
        this.closeSlow(client);
        return false;
      }
      await sleep(BACKLOG_DRAIN_POLL_MS);
    }
    return !client.closing;
  }

  /**
   * Called inside the node's apply loop: only queues the quotes, so fan-out to many clients
   * never delays Raft. The queue is sent on the next turn of the event loop.
   */
  private onApply(entries: Entry[], results: ApplyResult[]): void {
    for (let i = 0; i < entries.length; i++) {
      const result = results[i];
      if (result?.ok && result.quote) this.queue.push({ quote: result.quote, message: null });
    }
    if (this.queue.length > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  /**
   * Sends the queued quotes to every live client and buffers them for clients still in their
   * backlog. Any quote a client already got from its backlog is skipped by `lastSent`.
   */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    const quotes = this.queue;
    this.queue = [];
    for (const client of this.clients) {
      if (client.pending) this.buffer(client, quotes);
      else for (const outgoing of quotes) this.send(client, outgoing);
    }
  };

  /**
   * Buffers live quotes during a backlog. Past the bound the buffer is dropped: those quotes
   * are already in the state machine, so the backlog's remaining pages include them.
   */
  private buffer(client: LiveClient, quotes: Outgoing[]): void {
    const pending = client.pending as Quote[];
    if (pending.length + quotes.length > MAX_WS_PENDING_LIVE_QUOTES) pending.length = 0;
    else for (const outgoing of quotes) pending.push(outgoing.quote);
  }

  /** Sends one quote if it is after `lastSent` (never a gap backwards, never a duplicate). */
  private send(client: LiveClient, outgoing: Outgoing): void {
    if (client.closing || outgoing.quote.index <= client.lastSent) return;
    client.lastSent = outgoing.quote.index;
    client.ws.send(quoteMessage(outgoing), TEXT_FRAME);
    if (client.ws.bufferedAmount > this.ctx.tuning.maxWsBufferedBytes) this.closeSlow(client);
  }

  private sendStatus(client: LiveClient, message: Buffer): void {
    if (client.closing) return;
    client.ws.send(message, TEXT_FRAME);
    if (client.ws.bufferedAmount > this.ctx.tuning.maxWsBufferedBytes) this.closeSlow(client);
  }

  private broadcastStatus(): void {
    if (this.clients.size === 0) return;
    const message = statusMessage(this.ctx);
    for (const client of this.clients) this.sendStatus(client, message);
  }

  /** Closes a client that does not keep up (1013), and drops it if it does not finish closing. */
  private closeSlow(client: LiveClient): void {
    if (client.closing) return;
    client.closing = true;
    this.ctx.logger.info({ buffered: client.ws.bufferedAmount }, `closing a slow live client (queue over ${this.ctx.tuning.maxWsBufferedBytes} bytes)`);
    client.ws.close(CLOSE_SLOW_CONSUMER, 'slow consumer');
    setTimeout(() => client.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  /** Drops every client and stops the timer and the listener. */
  close(): void {
    for (const client of this.clients) {
      client.closing = true;
      client.ws.terminate();
    }
    this.clients.clear();
    this.metrics.wsClients.set(0);
    this.unsubscribeAll();
    this.wss.close();
  }
}
