import type net from 'node:net';
import type { Message, NodeId } from '../raft/types.js';
import { decodePayload, encodeFrame, FrameDecoder, FrameError } from './frame-codec.js';
import { clipReason, handshakeMac, macMatches, MAX_HANDSHAKE_FRAME_BYTES, newNonce, parseHandshake, type Hello, type Transcript, type Welcome } from './handshake.js';
import { KEEPALIVE_DELAY_MS } from './limits.js';
import { logLimited, type RepeatLimiter, type TransportLogger } from './log.js';
import { checkMessage } from './message-shape.js';

/** What an accepted connection needs from its transport. */
export interface InboundContext {
  selfId: NodeId;
  clusterId: string;
  secret: Buffer | null;
  http: string;
  /** Node ids allowed to connect (the configured peers). */
  peers: ReadonlySet<NodeId>;
  maxFrameBytes: number;
  handshakeTimeoutMs: number;
  logger: TransportLogger;
  limiter: RepeatLimiter;
  /** The peer authenticated: from now on its messages are delivered. */
  onOpen(connection: InboundConnection, peer: NodeId, http: string): void;
  onMessage(message: Message): void;
  onClosed(connection: InboundConnection): void;
}

type InboundState = 'hello' | 'auth' | 'open' | 'closed';

/**
 * One accepted peer connection. Runs the acceptor's side of the handshake, then only reads:
 * each frame is decoded, checked against the authenticated peer, and handed to the node.
 * Anything malformed closes this connection (the peer redials) and never the node.
 */
export class InboundConnection {
  private state: InboundState = 'hello';
  private readonly decoder = new FrameDecoder(MAX_HANDSHAKE_FRAME_BYTES);
  private hello: Hello | null = null;
  private acceptorNonce: Buffer | null = null;
  private handshakeTimer: NodeJS.Timeout | null;
  /** host:port of the dialer, for logs. */
  private readonly remote: string;
  /** The authenticated peer, once open. */
  peer: NodeId | null = null;

  constructor(
    private readonly socket: net.Socket,
    private readonly ctx: InboundContext,
  ) {
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    this.handshakeTimer = setTimeout(() => this.refuse('handshake timed out'), ctx.handshakeTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
    socket.once('close', () => this.onSocketClosed());
  }

  /** Destroys the socket; the transport forgets this connection once it has closed. */
  destroy(): void {
    this.state = 'closed';
    this.clearHandshakeTimer();
    this.socket.destroy();
  }

  private onSocketClosed(): void {
    this.state = 'closed';
    this.clearHandshakeTimer();
    this.ctx.onClosed(this);
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    let payloads: Buffer[];
    try {
      payloads = this.decoder.push(chunk);
    } catch (err) {
      this.protocolError((err as FrameError).message);
      return;
    }
    for (const payload of payloads) {
      const state = this.state as InboundState; // handlers below may close the connection
      if (state === 'closed') return;
      if (state === 'open') this.onRaftFrame(payload);
      else this.onHandshakeFrame(payload);
    }
  }

  /**
   * Delivers one Raft message. The handler runs outside the try: an exception from the
   * node (e.g. a broken invariant in the core) must crash loudly, not be taken for bad input.
   */
  private onRaftFrame(payload: Buffer): void {
    let checked: ReturnType<typeof checkMessage>;
    try {
      checked = checkMessage(decodePayload(payload), this.peer as NodeId, this.ctx.selfId);
    } catch (err) {
      this.protocolError((err as FrameError).message);
      return;
    }
    if ('reason' in checked) return this.protocolError(checked.reason);
    this.ctx.onMessage(checked.message);
  }

  private protocolError(reason: string): void {
    if (this.state !== 'open') return this.refuse(reason);
    logLimited(this.ctx.limiter, this.ctx.logger, 'warn', `protocol:${this.peer}`, { peer: this.peer, reason }, `closing connection from ${this.peer}: protocol error: ${reason}`);
    this.destroy();
  }

  // ------------------------------------------------------------------ handshake

  private onHandshakeFrame(payload: Buffer): void {
    let value: unknown;
    try {
      value = decodePayload(payload);
    } catch (err) {
      return this.refuse((err as FrameError).message);
    }
    if (this.state === 'hello') {
      const parsed = parseHandshake(value, ['hello'] as const);
      if ('reason' in parsed) return this.refuse(parsed.reason);
      this.onHello(parsed.frame);
    } else {
      const parsed = parseHandshake(value, ['auth'] as const);
      if ('reason' in parsed) return this.refuse(parsed.reason);
      this.onAuth(parsed.frame.mac);
    }
  }

  private onHello(hello: Hello): void {
    this.hello = hello;
    const problem = this.checkHello(hello);
    if (problem) return this.refuse(problem);
    if (this.ctx.secret === null) return this.open(null);
    this.acceptorNonce = newNonce();
    this.state = 'auth';
    this.socket.write(encodeFrame({ kind: 'challenge', nonce: this.acceptorNonce }));
  }

  private checkHello(hello: Hello): string | null {
    if (hello.clusterId !== this.ctx.clusterId) return `wrong cluster id ${JSON.stringify(hello.clusterId)} (this cluster is ${JSON.stringify(this.ctx.clusterId)})`;
    if (hello.to !== this.ctx.selfId) return `dialed ${JSON.stringify(hello.to)} but this is ${this.ctx.selfId} (check the peers list)`;
    if (!this.ctx.peers.has(hello.from)) return `unknown node id ${JSON.stringify(hello.from)}`;
    if (hello.auth && this.ctx.secret === null) return 'peer uses a shared secret, this node has none';
    if (!hello.auth && this.ctx.secret !== null) return 'peer has no shared secret, this node requires one';
    return null;
  }

  private onAuth(mac: Uint8Array): void {
    const secret = this.ctx.secret as Buffer;
    const hello = this.hello as Hello;
    const transcript = this.transcript(hello);
    if (!macMatches(handshakeMac(secret, 'dialer', transcript, hello.http), mac)) return this.refuse('authentication failed (wrong secret)');
    this.open(handshakeMac(secret, 'acceptor', transcript, this.ctx.http));
  }

  private transcript(hello: Hello): Transcript {
    return { clusterId: this.ctx.clusterId, dialer: hello.from, acceptor: this.ctx.selfId, dialerNonce: hello.nonce, acceptorNonce: this.acceptorNonce as Buffer };
  }

  private open(mac: Buffer | null): void {
    const hello = this.hello as Hello;
    this.clearHandshakeTimer();
    this.state = 'open';
    this.peer = hello.from;
    this.decoder.setMaxFrameBytes(this.ctx.maxFrameBytes);
    const welcome: Welcome = { kind: 'welcome', clusterId: this.ctx.clusterId, from: this.ctx.selfId, http: this.ctx.http, mac };
    this.socket.write(encodeFrame(welcome));
    this.ctx.logger.debug({ peer: this.peer }, `accepted peer connection from ${this.peer} (${this.remote})`);
    this.ctx.onOpen(this, hello.from, hello.http);
  }

  /**
   * Refuses the connection: logs why (the words "refused peer connection" are what
   * operators and tests look for), tells the dialer, and closes once that is written.
   */
  private refuse(reason: string): void {
    if (this.state === 'closed' || this.state === 'open') return;
    const claimed = this.hello ? ` (claims to be ${JSON.stringify(this.hello.from)})` : '';
    const key = `refuse:${this.hello?.from ?? this.socket.remoteAddress}:${reason}`;
    logLimited(this.ctx.limiter, this.ctx.logger, 'warn', key, { remote: this.remote, claimedPeer: this.hello?.from ?? null, reason }, `refused peer connection from ${this.remote}${claimed}: ${reason}`);
    this.state = 'closed';
    this.clearHandshakeTimer();
    this.socket.end(encodeFrame({ kind: 'refused', reason: clipReason(reason) }));
    // end() lets the refusal reach the dialer; destroy anyway if the dialer never closes.
    this.handshakeTimer = setTimeout(() => this.socket.destroy(), this.ctx.handshakeTimeoutMs);
  }

  private clearHandshakeTimer(): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
  }
}
