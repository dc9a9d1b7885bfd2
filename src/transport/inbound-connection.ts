import type net from 'node:net';
import tls from 'node:tls';
import { defined, type NodeId } from '@raftquotes/raft';
import type { PeerMessage } from './forward-message.js';
import { decodePayload, encodeFrame, FrameDecoder } from './frame-codec.js';
import {
  handshakeMac,
  welcomeAssertions,
  macMatches,
  MAX_HANDSHAKE_FRAME_BYTES,
  newNonce,
  parseHandshake,
  REFUSED_FRAME,
  secretOf,
  sessionKey,
  type AuthMode,
  type Hello,
  type Transcript,
  type Welcome,
} from './handshake.js';
import { KEEPALIVE_DELAY_MS, LINK_IDLE_TIMEOUT_MS, LINK_PING_INTERVAL_MS } from './limits.js';
import { limitKey, logLimited, type RepeatLimiter, type TransportLogger } from './log.js';
import { checkMessage, rejectionCategory } from './message-shape.js';
import { FRAME_TAG_BYTES, FrameOpener } from './session-mac.js';
import { certificateNames, verifyPeerCertificate, type PeerTls } from './tls-identity.js';
import { errorMessage } from '../narrow.js';

/** The rate-limit key of a connection whose dialer has not yet said who it is. */
const UNIDENTIFIED = '(unidentified)';

/** What an accepted connection needs from its transport. */
export interface InboundContext {
  selfId: NodeId;
  clusterId: string;
  mode: AuthMode;
  /** The shared secret (secret mode only). */
  secret: Buffer | null;
  /** The TLS context and CA new connections use (TLS mode only; they change on reloadTls). */
  tls(): PeerTls | null;
  http: string;
  /** This node's --public-url values, told to peers in the welcome (bounded by MAX_PUBLIC_URLS). */
  publicUrls: readonly string[];
  /** Node ids allowed to connect (the configured peers). */
  peers: ReadonlySet<NodeId>;
  /**
   * An authenticated dialer outside `peers` (a member added after the configurations this node
   * holds): whether to admit it anyway, given the Raft address its hello names.
   */
  admitStranger?(peer: NodeId, raft: string | undefined): boolean;
  maxFrameBytes: number;
  /** The whole handshake (TLS included) must finish within this. */
  handshakeTimeoutMs: number;
  /** An open connection silent this long is closed (default LINK_IDLE_TIMEOUT_MS; see PeerLink "Liveness"). */
  idleTimeoutMs?: number;
  /** How often silence is checked (default LINK_PING_INTERVAL_MS, the dialer's ping interval). */
  idleCheckMs?: number;
  logger: TransportLogger;
  limiter: RepeatLimiter;
  /** The peer authenticated: from now on its messages are delivered. */
  onOpen(connection: InboundConnection, peer: NodeId): void;
  onMessage(message: PeerMessage): void;
  onClosed(connection: InboundConnection): void;
}

type InboundState = 'tls' | 'hello' | 'auth' | 'open' | 'closed';

/**
 * Categories of rate-limited log lines (fixed strings: a peer never chooses a log key).
 * The limiter keys them by the remote address.
 */
type RefusalCategory = 'refused-tls' | 'refused-cert' | 'refused-handshake' | 'refused-auth' | 'refused-member' | 'handshake-timeout';

/**
 * One accepted peer connection. Runs the acceptor's side of the handshake, then only reads:
 * each frame's MAC is checked (secret mode), it is decoded, validated field by field against
 * the authenticated peer, and handed to the node. Anything wrong closes this connection
 * (the peer redials) and never the node.
 */
export class InboundConnection {
  private state: InboundState;
  private readonly decoder = new FrameDecoder(MAX_HANDSHAKE_FRAME_BYTES);
  private readonly stream: net.Socket;
  private hello: Hello | null = null;
  private acceptorNonce: Buffer | null = null;
  private opener: FrameOpener | null = null;
  /** Names in the dialer's certificate (TLS mode, once its handshake is done). */
  private certNames: readonly string[] = [];
  private handshakeTimer: NodeJS.Timeout | null;
  /** Source IP of the dialer: what flood limits and log keys use. */
  readonly address: string;
  /** host:port of the dialer, for logs. */
  private readonly remote: string;
  /** The authenticated peer, once open. */
  peer: NodeId | null = null;
  /**
   * When bytes last arrived (Date.now() ms). Every chunk counts, not just whole frames: a
   * large InstallSnapshot chunk on a slow path is still a peer talking. The peer's outbound
   * link judges its own health by this (PeerLink "Liveness").
   */
  lastDataAt = Date.now();
  private idleTimer: NodeJS.Timeout | null = null;
  private lastIdleCheckAt = 0;

  constructor(socket: net.Socket, private readonly ctx: InboundContext) {
    this.address = socket.remoteAddress ?? '?';
    this.remote = `${this.address}:${socket.remotePort ?? '?'}`;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    socket.on('error', () => socket.destroy());
    this.handshakeTimer = setTimeout(() => this.refuse('handshake-timeout', `handshake not done within ${ctx.handshakeTimeoutMs} ms`), ctx.handshakeTimeoutMs);
    const peerTls = ctx.mode === 'tls' ? ctx.tls() : null;
    if (peerTls) {
      // requestCert + rejectUnauthorized: a dialer without a certificate fails the TLS
      // handshake; the chain itself is checked in onSecure (a hand-wrapped socket gets no
      // tls.Server verification), so the refusal is logged with its reason.
      const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: peerTls.context, requestCert: true, rejectUnauthorized: true });
      secure.once('secure', () => this.onSecure(secure, peerTls));
      secure.on('error', (err: NodeJS.ErrnoException) => this.onTlsError(err));
      this.stream = secure;
      this.state = 'tls';
    } else {
      this.stream = socket;
      this.state = 'hello';
    }
    this.stream.on('data', (chunk: Buffer) => this.onData(chunk));
    this.stream.once('close', () => this.onSocketClosed());
    if (this.stream !== socket) socket.once('close', () => this.stream.destroy());
  }

  /** Whether the peer has authenticated (it then holds its reserved slot, not a flood slot). */
  get authenticated(): boolean {
    return this.peer !== null;
  }

  /** Destroys the socket; the transport forgets this connection once it has closed. */
  destroy(): void {
    this.state = 'closed';
    this.clearHandshakeTimer();
    this.clearIdleTimer();
    this.stream.destroy();
  }

  private onSocketClosed(): void {
    this.state = 'closed';
    this.clearHandshakeTimer();
    this.clearIdleTimer();
    this.ctx.onClosed(this);
  }

  // ------------------------------------------------------------------ silence

  /**
   * A dialer that is alive writes at least a ping every LINK_PING_INTERVAL_MS, so an open
   * connection silent for the idle timeout has lost its path (or its peer): it is closed, so
   * it holds no slot and no buffers, and a stale peer entry does not vouch for a dead link. As
   * in PeerLink, a check that runs late (our own stalled event loop) judges nothing that round.
   */
  private startIdleTimer(): void {
    const idle = this.ctx.idleTimeoutMs ?? LINK_IDLE_TIMEOUT_MS;
    const every = this.ctx.idleCheckMs ?? LINK_PING_INTERVAL_MS;
    this.lastIdleCheckAt = Date.now();
    this.idleTimer = setInterval(() => {
      const now = Date.now();
      const stalled = now - this.lastIdleCheckAt > every + idle / 2;
      this.lastIdleCheckAt = now;
      if (stalled || this.state !== 'open' || now - this.lastDataAt <= idle) return;
      logLimited(this.ctx.limiter, this.ctx.logger, 'info', limitKey('inbound-idle', this.peer ?? UNIDENTIFIED), { peer: this.peer, remote: this.remote, silentMs: now - this.lastDataAt }, `closing connection from ${this.peer} (${this.remote}): nothing received for ${now - this.lastDataAt} ms`);
      this.destroy();
    }, every);
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.idleTimer = null;
  }

  // ------------------------------------------------------------------ TLS

  private onSecure(secure: tls.TLSSocket, peerTls: PeerTls): void {
    if (this.state !== 'tls') return;
    const problem = verifyPeerCertificate(secure.getPeerX509Certificate(), peerTls.ca);
    if (problem) return this.refuse('refused-cert', `certificate not accepted: ${problem}`, { silent: true });
    this.certNames = certificateNames(secure.getPeerCertificate());
    this.state = 'hello';
  }

  private onTlsError(err: NodeJS.ErrnoException): void {
    if (this.state === 'tls') this.refuse('refused-tls', `TLS handshake failed (plaintext peer or bad certificate): ${err.code ?? err.message}`, { silent: true });
    else this.destroy();
  }

  // ------------------------------------------------------------------ frames

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.lastDataAt = Date.now();
    let payloads: Buffer[];
    try {
      payloads = this.decoder.push(chunk);
    } catch (err) {
      this.protocolError(errorMessage(err));
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
   * node is the node's to handle (it guards its own step), not to be taken for bad input.
   */
  private onRaftFrame(sealed: Buffer): void {
    const payload = this.opener ? this.opener.open(sealed) : sealed;
    if (payload === null) return this.protocolError('bad frame MAC (altered, injected, replayed or reordered frame)', 'bad-mac');
    let value: unknown;
    try {
      value = decodePayload(payload);
    } catch (err) {
      this.protocolError(errorMessage(err));
      return;
    }
    // A link ping (msgpack nil, see PeerLink "Liveness"): its arrival was the whole message.
    if (value === null) return;
    const checked = checkMessage(value, this.peer as NodeId, this.ctx.selfId);
    if ('reason' in checked) return this.protocolError(`dropped hostile or malformed message: ${checked.reason}`, rejectionCategory(value));
    this.ctx.onMessage(checked.message);
  }

  private protocolError(reason: string, category = 'bad-frame'): void {
    if (this.state !== 'open') return this.refuse('refused-handshake', reason);
    logLimited(this.ctx.limiter, this.ctx.logger, 'warn', limitKey(category, this.peer ?? UNIDENTIFIED), { peer: this.peer, remote: this.remote, reason }, `closing connection from ${this.peer} (${this.remote}): ${reason}`);
    this.destroy();
  }

  // ------------------------------------------------------------------ handshake

  private onHandshakeFrame(payload: Buffer): void {
    let value: unknown;
    try {
      value = decodePayload(payload);
    } catch (err) {
      return this.refuse('refused-handshake', errorMessage(err));
    }
    if (this.state === 'hello') {
      const parsed = parseHandshake(value, ['hello'] as const);
      if ('reason' in parsed) return this.refuse('refused-handshake', parsed.reason);
      this.onHello(parsed.frame);
    } else if (this.state === 'auth') {
      const parsed = parseHandshake(value, ['auth'] as const);
      if ('reason' in parsed) return this.refuse('refused-handshake', parsed.reason);
      this.onAuth(parsed.frame.mac);
    }
  }

  /**
   * In secret mode nothing in the hello is checked yet: every well-formed hello gets the
   * same bare challenge, so a dialer without the secret cannot probe ids or the cluster id.
   */
  private onHello(hello: Hello): void {
    this.hello = hello;
    if (hello.mode !== this.ctx.mode) return this.refuse('refused-auth', `peer uses ${hello.mode} authentication, this node ${this.ctx.mode}`);
    if (this.ctx.mode !== 'secret') {
      const problem = this.checkClaims(hello);
      return problem ? this.refuse('refused-member', problem) : this.open(hello, null, null);
    }
    this.acceptorNonce = newNonce();
    this.state = 'auth';
    this.stream.write(encodeFrame({ kind: 'challenge', nonce: this.acceptorNonce }));
  }

  private onAuth(mac: Uint8Array): void {
    // The auth state is entered only from onHello in secret mode, which set both.
    const secret = secretOf(this.ctx.secret);
    const hello = defined(this.hello, 'auth frame before a hello');
    const transcript = this.transcript(hello, defined(this.acceptorNonce, 'auth frame before a challenge'));
    if (!macMatches(handshakeMac(secret, 'dialer', transcript), mac)) return this.refuse('refused-auth', 'authentication failed (wrong secret, or the hello was altered)');
    const problem = this.checkClaims(hello);
    if (problem) return this.refuse('refused-member', problem);
    this.open(hello, handshakeMac(secret, 'acceptor', transcript, welcomeAssertions(this.welcomeUrls())), sessionKey(secret, transcript));
  }

  /** What the dialer claims (cluster, its id, ours), checked against the configuration and, under TLS, its certificate. */
  private checkClaims(hello: Hello): string | null {
    if (hello.clusterId !== this.ctx.clusterId) return `wrong cluster id ${JSON.stringify(hello.clusterId)}`;
    if (hello.to !== this.ctx.selfId) return `dialed ${JSON.stringify(hello.to)} but this is ${this.ctx.selfId} (check the peers list)`;
    if (this.ctx.mode === 'tls' && !this.certNames.includes(hello.from)) {
      return `claims to be ${JSON.stringify(hello.from)} but its certificate names ${JSON.stringify(this.certNames.slice(0, 4))}`;
    }
    // Last: admitting a stranger links back to it, so only an otherwise accepted dialer gets that far.
    if (!this.ctx.peers.has(hello.from) && !(this.ctx.admitStranger?.(hello.from, hello.raft) ?? false)) return `${JSON.stringify(hello.from)} is not a configured peer`;
    return null;
  }

  private transcript(hello: Hello, acceptorNonce: Buffer): Transcript {
    // What the dialer claims: a MAC that checks with it proves the secret, and checkClaims
    // then names the real problem (wrong cluster, misdialed node) in the log.
    return { clusterId: hello.clusterId, dialer: hello.from, acceptor: hello.to, dialerNonce: hello.nonce, acceptorNonce };
  }

  /** The URLs this node asserts in its welcome (`public` only when it has some, as older nodes sent it). */
  private welcomeUrls(): Pick<Welcome, 'http' | 'public'> {
    return this.ctx.publicUrls.length > 0 ? { http: this.ctx.http, public: [...this.ctx.publicUrls] } : { http: this.ctx.http };
  }

  private open(hello: Hello, mac: Buffer | null, key: Buffer | null): void {
    this.clearHandshakeTimer();
    this.state = 'open';
    this.peer = hello.from;
    this.opener = key ? new FrameOpener(key) : null;
    this.decoder.setMaxFrameBytes(this.ctx.maxFrameBytes + (key ? FRAME_TAG_BYTES : 0));
    const welcome: Welcome = { kind: 'welcome', from: this.ctx.selfId, ...this.welcomeUrls(), mac };
    this.stream.write(encodeFrame(welcome));
    this.ctx.logger.debug({ peer: this.peer }, `accepted peer connection from ${this.peer} (${this.remote})`);
    this.lastDataAt = Date.now();
    this.startIdleTimer();
    this.ctx.onOpen(this, hello.from);
  }

  /**
   * Refuses the connection: logs why (the words "refused peer connection" are what
   * operators and tests look for), sends the fixed refusal (nothing more: the dialer may be
   * an attacker) unless the stream cannot carry it, and closes.
   */
  private refuse(category: RefusalCategory, reason: string, how: { silent?: boolean } = {}): void {
    if (this.state === 'closed' || this.state === 'open') return;
    const claimed = this.hello ? ` (claims to be ${JSON.stringify(this.hello.from)})` : '';
    const level = category === 'handshake-timeout' ? 'info' : 'warn';
    logLimited(this.ctx.limiter, this.ctx.logger, level, limitKey(category, this.address), { remote: this.remote, claimedPeer: this.hello?.from ?? null, reason }, `refused peer connection from ${this.remote}${claimed}: ${reason}`);
    const silent = how.silent === true || this.state === 'tls';
    this.state = 'closed';
    this.clearHandshakeTimer();
    if (silent) {
      this.stream.destroy();
      return;
    }
    this.stream.end(encodeFrame(REFUSED_FRAME));
    // end() lets the refusal reach the dialer; destroy anyway if the dialer never closes.
    this.handshakeTimer = setTimeout(() => this.stream.destroy(), this.ctx.handshakeTimeoutMs);
  }

  private clearHandshakeTimer(): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
  }
}
