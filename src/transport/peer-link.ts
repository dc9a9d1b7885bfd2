import net from 'node:net';
import tls from 'node:tls';
import { defined, type NodeId } from '@raftquotes/raft';
import { decodePayload, encodeFrame, FrameDecoder, type OutboundFrame } from './frame-codec.js';
import { handshakeMac, secretOf, welcomeAssertions, macMatches, MAX_HANDSHAKE_FRAME_BYTES, newNonce, parseHandshake, HANDSHAKE_VERSION, sessionKey, type AuthMode, type Hello, type Transcript, type Welcome } from './handshake.js';
import { backoffDelay, KEEPALIVE_DELAY_MS, STABLE_LINK_MS, type TransportLimits } from './limits.js';
import { limitKey, logLimited, type RepeatLimiter, type TransportLogger } from './log.js';
import { SendQueue } from './send-queue.js';
import { FRAME_TAG_BYTES, FrameSealer } from './session-mac.js';
import { expectPeerIdentity, type PeerTls } from './tls-identity.js';
import type { PeerLinkStats } from './types.js';
import { errorMessage } from '../narrow.js';

/** What an outbound link needs from its transport. */
export interface PeerLinkContext {
  selfId: NodeId;
  clusterId: string;
  mode: AuthMode;
  /** The shared secret (secret mode only). */
  secret: Buffer | null;
  /** The TLS context for new dials (TLS mode only; it changes on reloadTls). */
  tls(): PeerTls | null;
  limits: TransportLimits;
  logger: TransportLogger;
  limiter: RepeatLimiter;
  /** This node's own Raft address, told in the hello so a peer that does not know us yet can link back. */
  advertiseRaft?: string;
  /**
   * The handshake succeeded: the peer we dialed at its configured address advertised this
   * HTTP URL and these public URLs in its authenticated welcome (the only source of peer
   * URLs we trust).
   */
  onUp(peer: NodeId, http: string, publicUrls: readonly string[]): void;
  /** A link that was up went down. */
  onDown(peer: NodeId): void;
  /**
   * When data from `peer` last arrived on our inbound connection from it (Date.now() ms), or
   * 0 if never: the only evidence, in this transport, that the peer hears our link (see
   * PeerLink's "Liveness"). Optional so a transport without inbound tracking keeps the old
   * behaviour (no idle drops).
   */
  lastHeard?(peer: NodeId): number;
}

type LinkState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'closed';

/** Per-connection handshake progress of the dialer. */
interface DialAttempt {
  socket: net.Socket;
  decoder: FrameDecoder;
  dialerNonce: Buffer;
  acceptorNonce: Uint8Array | null;
  /** Tags every frame once connected (secret mode). */
  sealer: FrameSealer | null;
}

/**
 * The one outbound connection to a peer. This node only ever writes Raft messages on it;
 * the peer's replies arrive on the peer's own outbound connection (our inbound side), so
 * there is no race between two nodes dialing each other at once.
 *
 * Lifecycle: connecting (TCP connect + handshake, bounded by a timeout) → connected →
 * backoff on any failure (queue dropped, exponential delay with jitter) → connecting ...
 * Messages are queued while connecting or connected and dropped while backing off.
 *
 * Liveness. A TCP connection whose path dies says nothing: writes go into the kernel's
 * buffer, and the kernel retransmits with a backoff that doubles up to 120 s, so after the
 * path heals the link stays dead until the next retransmission (tens of seconds
 * after a 30 s cut). TCP keepalive does not help (it probes idle sockets only, and ours
 * write heartbeats), Node gives no TCP_USER_TIMEOUT, and socket.setTimeout counts our own
 * writes as activity. Nor can this connection read an answer: the peer only ever writes on
 * its own outbound connection, which arrives on our inbound side. So the evidence that the
 * peer hears us is that we hear it: any data from it on the inbound connection (Raft
 * replies, its heartbeats, or its link pings). Every connected link writes a ping after
 * LINK_PING_INTERVAL_MS of quiet, so between two healthy nodes something arrives at least
 * that often in each direction, even between two followers that exchange no Raft messages.
 * When nothing has arrived for LINK_IDLE_TIMEOUT_MS (about an election timeout), the link is
 * dropped and redialled: a redial goes out on a fresh socket with no retransmission backoff,
 * and the handshake proves the path. Either half of a pair being dead takes both down
 * (Raft needs replies anyway), and each side heals its own. When the peer dials us
 * successfully, that proves the path: a link backing off, or stuck connecting, redials at
 * once (peerReachable).
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
  /** Liveness check and ping timer, while connected. */
  private livenessTimer: NodeJS.Timeout | null = null;
  /** When the liveness timer last ran, to tell a silent peer from our own stalled event loop. */
  private lastLivenessCheckAt = 0;
  /** When a batch was last handed to the socket (pings are sent only after a quiet spell). */
  private lastWriteAt = 0;
  /** When the current dial attempt started. */
  private dialStartedAt = 0;

  constructor(
    readonly peer: NodeId,
    readonly address: { host: string; port: number },
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

  /** True when the link is connected and has room: a frame queued now goes out on it. */
  isUp(): boolean {
    return this.state === 'connected' && !this.queue.isFull();
  }

  /** Queues an encoded frame, or counts it as dropped. Never blocks, never throws. */
  enqueue(frame: OutboundFrame): void {
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

  /**
   * The peer just authenticated a connection to us, so the path to it works now: a link
   * waiting out its backoff, or stuck in a dial started before the path healed (a SYN lost
   * to the cut waits for its own retransmission), dials again at once.
   */
  peerReachable(): void {
    const stuckMs = this.ctx.limits.linkPingIntervalMs;
    if (this.state === 'backoff') {
      this.clearTimers();
      this.consecutiveFailures = 0;
      this.dial();
    } else if (this.state === 'connecting' && this.attempt && Date.now() - this.dialStartedAt >= stuckMs) {
      const stale = this.attempt;
      this.attempt = null;
      stale.socket.destroy();
      this.clearTimers();
      this.dial();
    }
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
    this.dialStartedAt = Date.now();
    const context = this.ctx.mode === 'tls' ? (this.ctx.tls()?.context ?? null) : null;
    const options = { host: this.address.host, port: this.address.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_DELAY_MS };
    const socket = context
      ? tls.connect({ ...options, secureContext: context, servername: sniName(this.peer), checkServerIdentity: expectPeerIdentity(this.peer), rejectUnauthorized: true })
      : net.connect(options);
    const attempt: DialAttempt = { socket, decoder: new FrameDecoder(MAX_HANDSHAKE_FRAME_BYTES), dialerNonce: newNonce(), acceptorNonce: null, sealer: null };
    this.attempt = attempt;
    this.handshakeTimer = setTimeout(() => this.fail(attempt, 'handshake timed out'), this.ctx.limits.handshakeTimeoutMs);
    socket.on(context ? 'secureConnect' : 'connect', () => this.sendHello(attempt));
    socket.on('data', (chunk: Buffer) => this.onData(attempt, chunk));
    socket.on('drain', () => this.onDrain(attempt));
    socket.on('error', (err: NodeJS.ErrnoException) => this.onSocketError(attempt, err));
    socket.on('close', () => this.fail(attempt, 'connection closed'));
  }

  /** A TLS verification failure is a refusal (the acceptor is not who we meant to dial); the rest are network failures. */
  private onSocketError(attempt: DialAttempt, err: NodeJS.ErrnoException): void {
    const code = err.code ?? '';
    if (this.state === 'connecting' && (code === 'ERR_PEER_IDENTITY' || /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO/.test(code))) return this.refuse(attempt, `TLS: ${err.message}`);
    this.fail(attempt, err.code ?? err.message);
  }

  private sendHello(attempt: DialAttempt): void {
    if (attempt !== this.attempt) return;
    const hello: Hello = {
      kind: 'hello',
      version: HANDSHAKE_VERSION,
      mode: this.ctx.mode,
      clusterId: this.ctx.clusterId,
      from: this.ctx.selfId,
      to: this.peer,
      nonce: attempt.dialerNonce,
      ...(this.ctx.advertiseRaft === undefined ? {} : { raft: this.ctx.advertiseRaft }),
    };
    attempt.socket.write(encodeFrame(hello));
  }

  private onData(attempt: DialAttempt, chunk: Buffer): void {
    if (attempt !== this.attempt) return;
    let payloads: Buffer[];
    try {
      payloads = attempt.decoder.push(chunk);
    } catch (err) {
      this.protocolError(attempt, errorMessage(err));
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
      return this.refuse(attempt, errorMessage(err));
    }
    const expected = this.ctx.mode === 'secret' && attempt.acceptorNonce === null ? (['challenge', 'refused'] as const) : (['welcome', 'refused'] as const);
    const parsed = parseHandshake(value, expected);
    if ('reason' in parsed) return this.refuse(attempt, parsed.reason);
    const frame = parsed.frame;
    if (frame.kind === 'refused') return this.rejected(attempt);
    if (frame.kind === 'challenge') return this.answerChallenge(attempt, frame.nonce);
    this.onWelcome(attempt, frame);
  }

  private answerChallenge(attempt: DialAttempt, acceptorNonce: Uint8Array): void {
    const secret = secretOf(this.ctx.secret);
    attempt.acceptorNonce = acceptorNonce;
    const mac = handshakeMac(secret, 'dialer', this.transcript(attempt, acceptorNonce));
    attempt.socket.write(encodeFrame({ kind: 'auth', mac }));
  }

  private onWelcome(attempt: DialAttempt, welcome: Welcome): void {
    if (this.ctx.mode === 'secret') {
      // parseHandshake admits a welcome in secret mode only after a challenge set the nonce.
      const transcript = this.transcript(attempt, defined(attempt.acceptorNonce, 'welcome before a challenge'));
      const secret = secretOf(this.ctx.secret);
      const expected = handshakeMac(secret, 'acceptor', transcript, welcomeAssertions(welcome));
      if (!macMatches(expected, welcome.mac)) return this.refuse(attempt, 'peer failed authentication (wrong secret, or an impostor)');
      attempt.sealer = new FrameSealer(sessionKey(secret, transcript));
    } else if (welcome.mac !== null) {
      return this.refuse(attempt, `peer uses a shared secret, this node ${this.ctx.mode}`);
    }
    if (welcome.from !== this.peer) return this.refuse(attempt, `answered as ${JSON.stringify(welcome.from)} (check the peers list)`);
    this.connected(attempt, welcome.http, welcome.public ?? []);
  }

  private transcript(attempt: DialAttempt, acceptorNonce: Uint8Array): Transcript {
    return { clusterId: this.ctx.clusterId, dialer: this.ctx.selfId, acceptor: this.peer, dialerNonce: attempt.dialerNonce, acceptorNonce };
  }

  private connected(attempt: DialAttempt, http: string, publicUrls: readonly string[]): void {
    this.clearTimers();
    this.state = 'connected';
    this.connectedAt = Date.now();
    attempt.decoder.setMaxFrameBytes(MAX_HANDSHAKE_FRAME_BYTES);
    this.ctx.limiter.reset(this.failureKey());
    this.ctx.logger.info({ peer: this.peer }, `link to ${this.peer} up (${this.address.host}:${this.address.port})`);
    this.ctx.onUp(this.peer, http, publicUrls);
    this.startLiveness(attempt);
    this.scheduleFlush();
  }

  // ------------------------------------------------------------------ liveness

  private startLiveness(attempt: DialAttempt): void {
    if (!this.ctx.lastHeard) return;
    const interval = this.ctx.limits.linkPingIntervalMs;
    this.lastLivenessCheckAt = Date.now();
    this.lastWriteAt = Date.now();
    this.livenessTimer = setInterval(() => this.checkLiveness(attempt), interval);
  }

  /**
   * Pings after a quiet spell, and drops the link when the peer has been silent for the idle
   * timeout. A check that runs late by more than half the idle timeout means this process
   * stalled (GC, a long apply, a loaded host): the peer's data may be sitting unread in the
   * socket buffer, so that round judges nothing and the next one, after the reads, does.
   */
  private checkLiveness(attempt: DialAttempt): void {
    if (attempt !== this.attempt || this.state !== 'connected') return;
    const now = Date.now();
    const { linkPingIntervalMs: interval, linkIdleTimeoutMs: idle } = this.ctx.limits;
    const stalled = now - this.lastLivenessCheckAt > interval + idle / 2;
    this.lastLivenessCheckAt = now;
    const heard = Math.max(this.connectedAt, this.ctx.lastHeard?.(this.peer) ?? now);
    if (!stalled && now - heard > idle) {
      const reason = `nothing heard from ${this.peer} for ${now - heard} ms (limit ${idle} ms); redialling`;
      logLimited(this.ctx.limiter, this.ctx.logger, 'info', limitKey('idle', this.peer), { peer: this.peer, silentMs: now - heard }, `link to ${this.peer} down: ${reason}`);
      return this.fail(attempt, reason, { logged: true });
    }
    if (now - this.lastWriteAt >= interval && this.queue.length === 0 && !this.blocked) {
      // The ping is msgpack nil: the one frame payload that is never a Raft message.
      if (this.queue.push(encodeFrame(null))) this.scheduleFlush();
    }
  }

  /** This node refuses the peer it dialed: log it as a refusal and back off to the maximum. */
  private refuse(attempt: DialAttempt, reason: string): void {
    logLimited(this.ctx.limiter, this.ctx.logger, 'warn', limitKey('refused-dial', this.peer), { peer: this.peer, reason }, `refused peer connection to ${this.peer} at ${this.address.host}:${this.address.port}: ${reason}`);
    this.fail(attempt, reason, { logged: true, configProblem: true });
  }

  /** The peer refused us. It says nothing about why (we may be an attacker to it); its log does. */
  private rejected(attempt: DialAttempt): void {
    logLimited(this.ctx.limiter, this.ctx.logger, 'warn', limitKey('rejected', this.peer), { peer: this.peer }, `${this.peer} refused our handshake (its log says why: secret, cluster id, peers list or certificate)`);
    this.fail(attempt, 'refused by the peer', { logged: true, configProblem: true });
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
    const { backoffBaseMs, backoffMaxMs, refusedBackoffMs } = this.ctx.limits;
    const delay = backoffDelay(this.consecutiveFailures, { backoffBaseMs, backoffMaxMs: configProblem ? Math.max(backoffMaxMs, refusedBackoffMs) : backoffMaxMs });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.state === 'backoff') this.dial();
    }, delay);
    if (wasConnected) {
      if (!logged) this.ctx.logger.info({ peer: this.peer, reason }, `link to ${this.peer} down: ${reason}`);
      this.ctx.onDown(this.peer);
    } else if (!logged) {
      logLimited(this.ctx.limiter, this.ctx.logger, 'debug', this.failureKey(), { peer: this.peer, reason }, `cannot reach ${this.peer} at ${this.address.host}:${this.address.port}: ${reason}`);
    }
  }

  private failureKey(): string {
    return limitKey('unreachable', this.peer);
  }

  private clearTimers(): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    this.handshakeTimer = null;
    this.reconnectTimer = null;
    this.livenessTimer = null;
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

  /**
   * Writes queued frames in batches until the queue is empty or the socket pushes back. A
   * batch of small frames is one buffer; a bulk frame's parts (the image's own bytes) are
   * written as they are, corked together so the kernel gets them in one writev.
   */
  private flush(): void {
    const socket = this.attempt?.socket;
    if (this.state !== 'connected' || !socket) return;
    while (!this.blocked && this.queue.length > 0) {
      const { frames, bytes } = this.queue.takeBatch(this.ctx.limits.writeBatchBytes);
      const pieces = wirePieces(this.attempt?.sealer ?? null, frames, bytes);
      this.sentMessages += frames.length;
      this.lastWriteAt = Date.now();
      if (pieces.length === 1) {
        if (!socket.write(pieces[0] as Uint8Array)) this.blocked = true;
        continue;
      }
      socket.cork();
      let room = true;
      for (const piece of pieces) room = socket.write(piece);
      socket.uncork();
      if (!room) this.blocked = true;
    }
  }

  private onDrain(attempt: DialAttempt): void {
    if (attempt !== this.attempt) return;
    this.blocked = false;
    this.flush();
  }
}

/**
 * The bytes of a batch, in order: runs of encoded frames joined into one buffer (each followed
 * by its tag in secret mode), a bulk frame as its head, its body and its tag.
 */
function wirePieces(sealer: FrameSealer | null, frames: OutboundFrame[], bytes: number): Uint8Array[] {
  if (frames.every((frame) => Buffer.isBuffer(frame))) return [joinFrames(sealer, frames as Buffer[], bytes)];
  const pieces: Uint8Array[] = [];
  let run: Buffer[] = [];
  const endRun = (): void => {
    if (run.length > 0) pieces.push(joinFrames(sealer, run, run.reduce((sum, frame) => sum + frame.length, 0)));
    run = [];
  };
  for (const frame of frames) {
    if (Buffer.isBuffer(frame)) {
      run.push(frame);
      continue;
    }
    endRun();
    const tag = sealer ? sealer.sealParts(frame.head, frame.body) : null;
    pieces.push(frame.head, frame.body);
    if (tag) pieces.push(tag);
  }
  endRun();
  return pieces;
}

/** Encoded frames as one buffer, each tagged (in order) in secret mode. */
function joinFrames(sealer: FrameSealer | null, frames: Buffer[], bytes: number): Buffer {
  if (!sealer) return frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames, bytes);
  const parts: Buffer[] = [];
  for (const frame of frames) parts.push(frame, sealer.seal(frame));
  return Buffer.concat(parts, bytes + frames.length * FRAME_TAG_BYTES);
}

/** SNI must be a host name; a node id that is not one is simply not sent. */
function sniName(peer: NodeId): string | undefined {
  return /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(peer) && !/^\d+$/.test(peer) ? peer : undefined;
}
