import net from 'node:net';
import type { NodeId } from '../raft/types.js';
import { decodePayload, encodeFrame, FrameDecoder, FrameError } from './frame-codec.js';
import { clipReason, handshakeMac, macMatches, MAX_HANDSHAKE_FRAME_BYTES, newNonce, parseHandshake, HANDSHAKE_VERSION, type Hello, type Transcript, type Welcome } from './handshake.js';
import { backoffDelay, KEEPALIVE_DELAY_MS, STABLE_LINK_MS, type TransportLimits } from './limits.js';
import { logLimited, type RepeatLimiter, type TransportLogger } from './log.js';
import { SendQueue } from './send-queue.js';
import type { PeerLinkStats } from './types.js';

/** What an outbound link needs from its transport. */
export interface PeerLinkContext {
  selfId: NodeId;
  clusterId: string;
  secret: Buffer | null;
  http: string;
  limits: TransportLimits;
  logger: TransportLogger;
  limiter: RepeatLimiter;
  /** The handshake succeeded: the peer advertised this HTTP URL. */
  onUp(peer: NodeId, http: string): void;
  /** A link that was up went down. */
  onDown(peer: NodeId): void;
}

type LinkState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'closed';

/** Per-connection handshake progress of the dialer. */
interface DialAttempt {
  socket: net.Socket;
  decoder: FrameDecoder;
  dialerNonce: Buffer;
  acceptorNonce: Uint8Array | null;
}

/**
 * The one outbound connection to a peer. This node only ever writes Raft messages on it;
 * the peer's replies arrive on the peer's own outbound connection (our inbound side), so
 * there is no race between two nodes dialing each other at once.
 *
 * Lifecycle: connecting (TCP connect + handshake, bounded by a timeout) → connected →
 * backoff on any failure (queue dropped, exponential delay with jitter) → connecting ...
 * Messages are queued while connecting or connected and dropped while backing off.
 */
export class PeerLink {
  private state: LinkState = 'idle';
  private attempt: DialAttempt | null = null;
  private readonly queue: SendQueue;
  /** socket.write returned false: wait for 'drain' before writing more (backpressure). */
  private blocked = false;
  private flushScheduled = false;
  private consecutiveFailures = 0;
  private connectedAt = 0;
  private handshakeTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private sentMessages = 0;
  private droppedMessages = 0;

  constructor(
    readonly peer: NodeId,
    private readonly address: { host: string; port: number },
    private readonly ctx: PeerLinkContext,
  ) {
    this.queue = new SendQueue({ maxMessages: ctx.limits.maxQueuedMessages, maxBytes: ctx.limits.maxQueuedBytes });
  }

  /** Starts dialing. */
  start(): void {
    if (this.state === 'idle') this.dial();
  }

  /** True when a message sent now may be queued (the link is up or coming up and has room). */
  canAccept(): boolean {
    return (this.state === 'connecting' || this.state === 'connected') && !this.queue.isFull();
  }

  /** Queues an encoded frame, or counts it as dropped. Never blocks, never throws. */
  enqueue(frame: Buffer): void {
    if (!(this.state === 'connecting' || this.state === 'connected') || !this.queue.push(frame)) {
      this.droppedMessages++;
      return;
    }
    if (this.state === 'connected') this.scheduleFlush();
  }

  /** Counts a message that was refused before it reached the queue (e.g. the link is down). */
  countDropped(): void {
    this.droppedMessages++;
  }

  stats(): PeerLinkStats {
    return {
      peer: this.peer,
      connected: this.state === 'connected',
      queuedMessages: this.queue.length,
      queuedBytes: this.queue.bytes,
      sentMessages: this.sentMessages,
      droppedMessages: this.droppedMessages,
    };
  }

  /** Stops for good: timers cleared, socket destroyed, queue dropped. Idempotent. */
  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearTimers();
    this.droppedMessages += this.queue.clear();
    this.attempt?.socket.destroy();
    this.attempt = null;
  }

  // ------------------------------------------------------------------ connecting

  private dial(): void {
    this.state = 'connecting';
    this.blocked = false;
    const socket = net.connect({ host: this.address.host, port: this.address.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_DELAY_MS });
    const attempt: DialAttempt = { socket, decoder: new FrameDecoder(MAX_HANDSHAKE_FRAME_BYTES), dialerNonce: newNonce(), acceptorNonce: null };
    this.attempt = attempt;
    this.handshakeTimer = setTimeout(() => this.fail(attempt, 'handshake timed out'), this.ctx.limits.handshakeTimeoutMs);
    socket.on('connect', () => this.sendHello(attempt));
    socket.on('data', (chunk: Buffer) => this.onData(attempt, chunk));
    socket.on('drain', () => this.onDrain(attempt));
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(attempt, err.code ?? err.message));
    socket.on('close', () => this.fail(attempt, 'connection closed'));
  }

  private sendHello(attempt: DialAttempt): void {
    if (attempt !== this.attempt) return;
    const hello: Hello = {
      kind: 'hello',
      version: HANDSHAKE_VERSION,
      clusterId: this.ctx.clusterId,
      from: this.ctx.selfId,
      to: this.peer,
      http: this.ctx.http,
      nonce: attempt.dialerNonce,
      auth: this.ctx.secret !== null,
    };
    attempt.socket.write(encodeFrame(hello));
  }

  private onData(attempt: DialAttempt, chunk: Buffer): void {
    if (attempt !== this.attempt) return;
    let payloads: Buffer[];
    try {
      payloads = attempt.decoder.push(chunk);
    } catch (err) {
      this.protocolError(attempt, (err as FrameError).message);
      return;
    }
    for (const payload of payloads) {
      if (attempt !== this.attempt) return;
      if (this.state === 'connected') return this.protocolError(attempt, 'unexpected data after the handshake');
      this.onHandshakeFrame(attempt, payload);
    }
  }

  private onHandshakeFrame(attempt: DialAttempt, payload: Buffer): void {
    let value: unknown;
    try {
      value = decodePayload(payload);
    } catch (err) {
      return this.refuse(attempt, (err as FrameError).message);
    }
    const expected = this.ctx.secret !== null && attempt.acceptorNonce === null ? (['challenge', 'welcome', 'refused'] as const) : (['welcome', 'refused'] as const);
    const parsed = parseHandshake(value, expected);
    if ('reason' in parsed) return this.refuse(attempt, parsed.reason);
    const frame = parsed.frame;
    if (frame.kind === 'refused') return this.rejected(attempt, frame.reason);
    if (frame.kind === 'challenge') return this.answerChallenge(attempt, frame.nonce);
    this.onWelcome(attempt, frame);
  }

  private answerChallenge(attempt: DialAttempt, acceptorNonce: Uint8Array): void {
    const secret = this.ctx.secret as Buffer;
    attempt.acceptorNonce = acceptorNonce;
    const mac = handshakeMac(secret, 'dialer', this.transcript(attempt, acceptorNonce), this.ctx.http);
    attempt.socket.write(encodeFrame({ kind: 'auth', mac }));
  }

  private onWelcome(attempt: DialAttempt, welcome: Welcome): void {
    if (welcome.clusterId !== this.ctx.clusterId) return this.refuse(attempt, `peer is in cluster ${JSON.stringify(welcome.clusterId)}, this node in ${JSON.stringify(this.ctx.clusterId)}`);
    if (welcome.from !== this.peer) return this.refuse(attempt, `answered as ${JSON.stringify(welcome.from)} (check the peers list)`);
    if (this.ctx.secret === null) {
      if (welcome.mac !== null) return this.refuse(attempt, 'peer uses a shared secret, this node has none');
    } else {
      if (attempt.acceptorNonce === null) return this.refuse(attempt, 'peer skipped the authentication challenge (it has no shared secret?)');
      const expected = handshakeMac(this.ctx.secret, 'acceptor', this.transcript(attempt, attempt.acceptorNonce), welcome.http);
      if (!macMatches(expected, welcome.mac)) return this.refuse(attempt, 'peer failed authentication (wrong secret)');
    }
    this.connected(attempt, welcome.http);
  }

  private transcript(attempt: DialAttempt, acceptorNonce: Uint8Array): Transcript {
    return { clusterId: this.ctx.clusterId, dialer: this.ctx.selfId, acceptor: this.peer, dialerNonce: attempt.dialerNonce, acceptorNonce };
  }

  private connected(attempt: DialAttempt, http: string): void {
    this.clearTimers();
    this.state = 'connected';
    this.connectedAt = Date.now();
    attempt.decoder.setMaxFrameBytes(MAX_HANDSHAKE_FRAME_BYTES);
    this.ctx.limiter.reset(this.failureKey());
    this.ctx.logger.info({ peer: this.peer }, `link to ${this.peer} up (${this.address.host}:${this.address.port})`);
    this.ctx.onUp(this.peer, http);
    this.scheduleFlush();
  }

  /** This node refuses the peer it dialed: log it as a refusal and back off to the maximum. */
  private refuse(attempt: DialAttempt, reason: string): void {
    logLimited(this.ctx.limiter, this.ctx.logger, 'warn', `refuse:${this.peer}:${reason}`, { peer: this.peer, reason }, `refused peer connection to ${this.peer} at ${this.address.host}:${this.address.port}: ${clipReason(reason)}`);
    this.fail(attempt, reason, { logged: true, configProblem: true });
  }

  /** The peer refused us; its reason says what to fix. */
  private rejected(attempt: DialAttempt, reason: string): void {
    logLimited(this.ctx.limiter, this.ctx.logger, 'warn', `rejected:${this.peer}:${reason}`, { peer: this.peer, reason }, `${this.peer} rejected our handshake: ${reason}`);
    this.fail(attempt, `rejected: ${reason}`, { logged: true, configProblem: true });
  }

  /** Bytes the acceptor should never send: refuse it while handshaking; drop the link once up. */
  private protocolError(attempt: DialAttempt, reason: string): void {
    if (this.state === 'connected') this.fail(attempt, `protocol error: ${reason}`);
    else this.refuse(attempt, reason);
  }

  // ------------------------------------------------------------------ failing

  /**
   * Ends the attempt (or the live link): drops what was queued, reconnects after a backoff.
   * `logged` means the caller already logged why; `configProblem` backs off to the maximum,
   * since redialing fast cannot fix a mismatched secret or cluster id.
   */
  private fail(attempt: DialAttempt, reason: string, how: { logged?: boolean; configProblem?: boolean } = {}): void {
    const { logged = false, configProblem = false } = how;
    if (attempt !== this.attempt || this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.attempt = null;
    attempt.socket.destroy();
    this.clearTimers();
    this.droppedMessages += this.queue.clear();
    this.blocked = false;
    this.state = 'backoff';
    if (wasConnected && Date.now() - this.connectedAt >= STABLE_LINK_MS) this.consecutiveFailures = 0;
    this.consecutiveFailures = configProblem ? Math.max(this.consecutiveFailures + 1, 30) : this.consecutiveFailures + 1;
    const delay = backoffDelay(this.consecutiveFailures, this.ctx.limits);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.state === 'backoff') this.dial();
    }, delay);
    if (wasConnected) {
      this.ctx.logger.info({ peer: this.peer, reason }, `link to ${this.peer} down: ${reason}`);
      this.ctx.onDown(this.peer);
    } else if (!logged) {
      logLimited(this.ctx.limiter, this.ctx.logger, 'debug', this.failureKey(), { peer: this.peer, reason }, `cannot reach ${this.peer} at ${this.address.host}:${this.address.port}: ${reason}`);
    }
  }

  private failureKey(): string {
    return `unreachable:${this.peer}`;
  }

  private clearTimers(): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.handshakeTimer = null;
    this.reconnectTimer = null;
  }

  // ------------------------------------------------------------------ writing

  /** Writes the queued frames now (the scheduled microtask then finds nothing left). */
  flushNow(): void {
    if (this.flushScheduled) this.flush();
  }

  /** Flushes once the current synchronous burst of sends is over, so they share a write. */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.blocked) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Writes queued frames in batches until the queue is empty or the socket pushes back. */
  private flush(): void {
    const socket = this.attempt?.socket;
    if (this.state !== 'connected' || !socket) return;
    while (!this.blocked && this.queue.length > 0) {
      const { frames, bytes } = this.queue.takeBatch(this.ctx.limits.writeBatchBytes);
      const data = frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames, bytes);
      this.sentMessages += frames.length;
      if (!socket.write(data)) this.blocked = true;
    }
  }

  private onDrain(attempt: DialAttempt): void {
    if (attempt !== this.attempt) return;
    this.blocked = false;
    this.flush();
  }
}
