/**
 * The UDP controller listener of one node (SPEC §4): course requests in, one datagram out
 * (or none), driving the node only through RaftNodeHandle. It stays up while the node is
 * shut down by SHUTDOWN, so CONVERT_FOLLOWER can revive it.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { Counter, type Registry } from '../metrics/prometheus.js';
import { SILENT_LOGGER, type Logger } from '../log/logger.js';
import { NodeError, type RaftNodeHandle } from '../node/types.js';
import { quotaProblem } from '../state/quota.js';
import { CidrAllowList, DEFAULT_CONTROLLER_ALLOW } from './cidr.js';
import { ReplyBudget, type ReplyBudgetOptions } from './reply-budget.js';
import {
  MAX_REPLY_BYTES,
  encodeReply,
  errorReply,
  leaderInfoReply,
  parseDatagram,
  retrieveReply,
  statusReply,
  storeAckReply,
  storeErrorReply,
  type ControllerMessage,
  type ParsedRequest,
} from './protocol.js';
import { errorMessage } from '../narrow.js';

/** How long a STORE with "ack": true waits for its entry to commit before answering timeout. */
export const STORE_ACK_TIMEOUT_MS = 3_000;
/** How long RETRIEVE waits for a ReadIndex round, so the list includes everything committed before it. */
export const RETRIEVE_BARRIER_MS = 1_000;
/** Rate-limited warnings: at most this many per window per kind, then one summary line. */
const WARNINGS_PER_WINDOW = 5;
const WARNING_WINDOW_MS = 10_000;

/** The pino methods the server uses (pino's Logger fits). */
export type ControllerLogger = Logger;

export interface ControllerServerOptions {
  node: RaftNodeHandle;
  host: string;
  port: number;
  /** CIDRs whose datagrams are accepted (default DEFAULT_CONTROLLER_ALLOW). */
  allow?: readonly string[];
  logger?: ControllerLogger;
  storeAckTimeoutMs?: number;
  retrieveBarrierMs?: number;
  /** Per-source reply byte budget (defaults: REPLY_BURST_BYTES, REPLY_BYTES_PER_SECOND). */
  replyBudget?: ReplyBudgetOptions;
  /** Where the drop counters are registered (the node's /metrics), if anywhere. */
  metricsRegistry?: Registry;
  /** The state size quota (--quota-bytes, SPEC §5); STORE is a client write like PUT and obeys it. */
  quotaBytes?: number;
}

/** Counts of what the listener did not answer, for tests and /metrics. */
export interface ControllerStats {
  /** Datagrams from sources outside --controller-allow (never answered). */
  refused: number;
  /** Replies (or RETRIEVE requests) dropped because the source's byte budget was spent. */
  overBudget: number;
  /** Replies sent, and their bytes. */
  replies: number;
  replyBytes: number;
}

/** Warnings about one kind of event, at most WARNINGS_PER_WINDOW per window (a flood never floods the log). */
class WarningLimiter {
  private windowStart = 0;
  private count = 0;
  private suppressed = 0;

  constructor(private readonly logger: ControllerLogger, private readonly what: string) {}

  warn(fields: object, msg: string): void {
    const now = Date.now();
    if (now - this.windowStart >= WARNING_WINDOW_MS) {
      if (this.suppressed > 0) this.logger.warn({ suppressed: this.suppressed }, `${this.suppressed} more ${this.what} in the last ${WARNING_WINDOW_MS / 1000} s`);
      this.windowStart = now;
      this.count = 0;
      this.suppressed = 0;
    }
    if (++this.count <= WARNINGS_PER_WINDOW) this.logger.warn(fields, msg);
    else this.suppressed++;
  }
}

/** Listens for controller datagrams on host:port and drives one node. */
export class ControllerServer {
  private readonly node: RaftNodeHandle;
  private readonly allow: CidrAllowList;
  private readonly logger: ControllerLogger;
  private readonly dropWarnings: WarningLimiter;
  private readonly badWarnings: WarningLimiter;
  private readonly budgetWarnings: WarningLimiter;
  private readonly quotaWarnings: WarningLimiter;
  private readonly budget: ReplyBudget;
  private readonly counters: ControllerStats = { refused: 0, overBudget: 0, replies: 0, replyBytes: 0 };
  private readonly droppedMetric: Counter<'reason'> | null;
  private socket: Socket | null = null;
  private closed = false;

  /** Throws CidrError when an `allow` entry is not a CIDR. */
  constructor(private readonly options: ControllerServerOptions) {
    this.node = options.node;
    this.allow = new CidrAllowList(options.allow ?? DEFAULT_CONTROLLER_ALLOW);
    this.logger = options.logger ?? SILENT_LOGGER;
    this.dropWarnings = new WarningLimiter(this.logger, 'datagrams dropped (source not in --controller-allow)');
    this.badWarnings = new WarningLimiter(this.logger, 'bad controller datagrams');
    this.budgetWarnings = new WarningLimiter(this.logger, 'controller replies dropped (per-source reply budget spent)');
    this.quotaWarnings = new WarningLimiter(this.logger, 'controller STOREs refused (state quota)');
    this.budget = new ReplyBudget(options.replyBudget);
    this.droppedMetric = options.metricsRegistry
      ? new Counter({
        name: 'controller_datagrams_unanswered_total',
        help: 'Controller datagrams not answered: source not allowed (refused) or its reply byte budget spent (over_budget)',
        labelNames: ['reason'],
        registers: [options.metricsRegistry],
      })
      : null;
  }

  /** What the listener refused or dropped so far, and what it sent. */
  stats(): ControllerStats {
    return { ...this.counters };
  }

  /** Binds the socket; rejects with the bind error (EADDRINUSE, EADDRNOTAVAIL, ...). */
  start(): Promise<void> {
    const socket = createSocket({ type: this.options.host.includes(':') ? 'udp6' : 'udp4' });
    this.socket = socket;
    socket.on('message', (data, from) => this.onDatagram(data, from));
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.options.port, this.options.host, () => {
        socket.off('error', reject);
        socket.on('error', (err) => this.logger.error({ err }, `controller socket error: ${err.message}`));
        resolve();
      });
    });
  }

  /** The bound address (the port is the real one when started on port 0). */
  address(): { host: string; port: number } {
    if (!this.socket) throw new Error('controller server is not started');
    const { address, port } = this.socket.address();
    return { host: address, port };
  }

  /** Closes the socket; replies still pending (STORE acks) are dropped. */
  close(): Promise<void> {
    const socket = this.socket;
    if (this.closed || !socket) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => socket.close(() => resolve()));
  }

  private onDatagram(data: Buffer, from: RemoteInfo): void {
    if (!this.allow.allows(from.address)) {
      // Never a reply, not even an ERROR: the source may be spoofed, and it learns nothing.
      this.counters.refused++;
      this.droppedMetric?.inc({ reason: 'refused' });
      this.dropWarnings.warn({ from: `${from.address}:${from.port}` }, `dropped a controller datagram from ${from.address}: not in --controller-allow`);
      return;
    }
    const parsed = parseDatagram(data);
    if ('bad' in parsed) {
      this.badWarnings.warn({ from: `${from.address}:${from.port}`, request: parsed.request }, `bad controller datagram: ${parsed.reason}`);
      this.reply(errorReply(this.node.id, parsed.request, parsed.reason), from);
      return;
    }
    this.handle(parsed, from).catch((err: unknown) => {
      // A failure here is a bug in the node or this server; the listener keeps running.
      const message = err instanceof Error ? err.message : String(err);
      this.logger.error({ err, request: parsed.request }, `controller ${parsed.request} failed: ${message}`);
      this.reply(errorReply(this.node.id, parsed.request, `internal error: ${message}`), from);
    });
  }

  private async handle(parsed: ParsedRequest, from: RemoteInfo): Promise<void> {
    const source = `${from.address}:${from.port}`;
    switch (parsed.request) {
      case 'CONVERT_FOLLOWER':
        this.logger.info({ from: source }, 'controller: CONVERT_FOLLOWER');
        return this.node.becomeFollower();
      case 'TIMEOUT':
        this.logger.info({ from: source }, 'controller: TIMEOUT (forced campaign)');
        return this.node.campaign();
      case 'SHUTDOWN':
        this.logger.info({ from: source }, 'controller: SHUTDOWN');
        return this.node.shutdown();
      case 'LEADER_INFO':
        return this.reply(this.leaderInfo(), from);
      case 'STATUS':
        return this.reply(statusReply(this.node.id, this.node.status()), from);
      case 'STORE':
        return this.store(parsed, from);
      case 'RETRIEVE':
        return this.retrieve(parsed.from, from);
    }
  }

  private leaderInfo(leader?: string | null): ControllerMessage {
    const status = this.node.status();
    return leaderInfoReply(this.node.id, status.term, leader !== undefined ? leader : status.leader);
  }

  /** The leader's term when this node may serve STORE and RETRIEVE; null: answer LEADER_INFO (SPEC §4). */
  private leaderTerm(): number | null {
    const status = this.node.status();
    return !this.node.isShutdown() && status.state === 'leader' ? status.term : null;
  }

  private async store(request: Extract<ParsedRequest, { request: 'STORE' }>, from: RemoteInfo): Promise<void> {
    // The entry is appended in this term: it is read in the same turn as the append.
    const term = this.leaderTerm();
    if (term === null) return this.reply(this.leaderInfo(), from);
    const { key, value } = request;
    const quota = this.options.quotaBytes === undefined ? null : quotaProblem(this.node.stateMachine, { op: 'put', key, value }, this.options.quotaBytes);
    if (quota !== null) {
      // Answered even without "ack": a write refused before the log must not vanish silently.
      this.quotaWarnings.warn({ key }, `controller STORE refused: ${quota}`);
      return this.reply(storeErrorReply(this.node.id, { key, value, term, error: 'quota_exceeded' }), from);
    }
    const proposal = this.node.propose({ op: 'put', key, value }, this.options.storeAckTimeoutMs ?? STORE_ACK_TIMEOUT_MS);
    if (!request.ack) {
      proposal.catch((err: Error) => this.logger.debug({ key, err: err.message }, 'controller STORE did not commit'));
      return;
    }
    try {
      const result = await proposal;
      if (result.ok) return this.reply(storeAckReply(this.node.id, { key, value, term, index: result.index }), from);
      return this.reply(storeErrorReply(this.node.id, { key, value, term, error: result.error }), from);
    } catch (err) {
      if (!(err instanceof NodeError)) throw err;
      // not_leader before the append: the course's redirect. After it, the outcome is unknown.
      if (err.code === 'not_leader' && err.leader) return this.reply(this.leaderInfo(err.leader), from);
      return this.reply(storeErrorReply(this.node.id, { key, value, term, error: err.code, leader: err.leader }), from);
    }
  }

  private async retrieve(fromIndex: number, from: RemoteInfo): Promise<void> {
    if (this.leaderTerm() === null) return this.reply(this.leaderInfo(), from);
    // A page can be up to MAX_REPLY_BYTES: reserve that much before the read barrier and the
    // encoding (the rest is refunded when the reply is sent), so a flood past the budget costs
    // the node almost nothing, however many requests arrive before the first one is answered.
    if (!this.budget.trySpend(from.address, MAX_REPLY_BYTES)) return this.overBudget(from, 'RETRIEVE', MAX_REPLY_BYTES);
    try {
      // ReadIndex: everything committed before this request is applied, hence listed.
      await this.node.readBarrier(this.options.retrieveBarrierMs ?? RETRIEVE_BARRIER_MS);
    } catch (err) {
      if (err instanceof NodeError && (err.code === 'not_leader' || err.code === 'unavailable')) return this.reply(this.leaderInfo(err.leader ?? undefined), from, MAX_REPLY_BYTES);
      // Timed out: still answer with what is applied, which is committed (never speculative).
      this.logger.debug({ err: errorMessage(err) }, 'RETRIEVE read barrier failed; listing applied entries');
    }
    const machine = this.node.stateMachine;
    this.reply(retrieveReply(this.node.id, (start, limit) => machine.clientEntriesFrom(start, limit), fromIndex), from, MAX_REPLY_BYTES);
  }

  /** Sends one datagram if it fits the source's byte budget; `reserved` bytes were spent up front. */
  private reply(message: ControllerMessage, to: RemoteInfo, reserved = 0): void {
    if (reserved > 0) this.budget.refund(to.address, reserved);
    if (this.closed || !this.socket) return;
    const data = encodeReply(message);
    if (!this.budget.trySpend(to.address, data.length)) return this.overBudget(to, message.request, data.length);
    this.counters.replies++;
    this.counters.replyBytes += data.length;
    this.socket.send(data, to.port, to.address, (err) => {
      if (err) this.logger.debug({ err: err.message, to: `${to.address}:${to.port}` }, 'controller reply not sent');
    });
  }

  /** A reply that does not fit the source's budget is not sent at all; counted and logged (rate-limited). */
  private overBudget(to: RemoteInfo, request: unknown, bytes: number): void {
    this.counters.overBudget++;
    this.droppedMetric?.inc({ reason: 'over_budget' });
    this.budgetWarnings.warn(
      { from: `${to.address}:${to.port}`, request: String(request).slice(0, 32), bytes },
      `no reply to ${to.address}: its controller reply budget (${this.budget.burstBytes} bytes, ${this.budget.bytesPerSecond} bytes/s) is spent`,
    );
  }
}
