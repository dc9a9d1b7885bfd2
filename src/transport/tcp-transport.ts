import net from 'node:net';
import type { Message, NodeId } from '../raft/types.js';
import { encodeFrame, FRAME_HEADER_BYTES } from './frame-codec.js';
import { InboundConnection, type InboundContext } from './inbound-connection.js';
import { resolveLimits, type TransportLimits } from './limits.js';
import { logLimited, RepeatLimiter, type TransportLogger } from './log.js';
import { PeerLink, type PeerLinkContext } from './peer-link.js';
import type { PeerLinkStats, Transport } from './types.js';

/** A host and port to listen on or dial. */
export interface HostPort {
  host: string;
  port: number;
}

export interface TcpTransportOptions {
  selfId: NodeId;
  /** Peers of another cluster are refused at the handshake. */
  clusterId: string;
  listen: HostPort;
  /** The other nodes (not this one) and where their Raft ports are. */
  peers: Record<NodeId, HostPort>;
  /** Shared secret for the HMAC challenge (SPEC §7); undefined means peers are not authenticated. */
  secret?: string;
  /** This node's HTTP base URL, told to peers in the handshake (they forward clients to it). */
  advertise: { http: string };
  logger: TransportLogger;
  /** Overrides of the named limits in limits.ts (tests shrink them). */
  limits?: Partial<TransportLimits>;
}

/**
 * Raft peer traffic over TCP (SPEC §7): length-prefixed msgpack frames, one outbound
 * connection per peer that this node dials and writes, inbound connections that it only
 * reads, an authenticated handshake before any Raft message, bounded per-peer queues that
 * drop instead of blocking, and reconnect with backoff. See peer-link.ts and
 * inbound-connection.ts for the two sides of a connection.
 */
export class TcpTransport implements Transport {
  private readonly limits: TransportLimits;
  private readonly secret: Buffer | null;
  private readonly limiter = new RepeatLimiter();
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly inbound = new Set<InboundConnection>();
  /** The live inbound connection of each authenticated peer (a newer one replaces it). */
  private readonly inboundByPeer = new Map<NodeId, InboundConnection>();
  private readonly httpUrls = new Map<NodeId, string>();
  private readonly server: net.Server;
  private readonly inboundContext: InboundContext;
  private messageHandler: (message: Message) => void = () => undefined;
  private peerDownHandler: (peer: NodeId) => void = () => undefined;
  private state: 'new' | 'starting' | 'started' | 'closed' = 'new';
  private closing: Promise<void> | null = null;

  constructor(private readonly options: TcpTransportOptions) {
    if (options.secret === '') throw new RangeError('transport secret must not be empty (omit it to disable authentication)');
    if (options.selfId in options.peers) throw new RangeError(`transport peers must not include this node (${options.selfId})`);
    this.limits = resolveLimits(options.limits);
    this.secret = options.secret === undefined ? null : Buffer.from(options.secret, 'utf8');
    const linkContext = this.linkContext();
    for (const [peer, address] of Object.entries(options.peers)) this.links.set(peer, new PeerLink(peer, address, linkContext));
    this.inboundContext = this.makeInboundContext();
    this.server = net.createServer((socket) => this.accept(socket));
  }

  /** Listens, then dials every peer. Rejects with the raw listen error (e.g. code EADDRINUSE). */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`transport cannot start: it is ${this.state}`);
    this.state = 'starting';
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.options.listen.port, this.options.listen.host, () => {
        this.server.off('error', onError);
        resolve();
      });
    }).catch((err: unknown) => {
      this.state = 'new';
      throw err;
    });
    if (this.state !== 'starting') {
      this.server.close(); // close() ran while listen was pending
      return;
    }
    this.state = 'started';
    this.server.on('error', (err) => this.options.logger.error({ err }, `peer listener error: ${err.message}`));
    for (const link of this.links.values()) link.start();
  }

  /** The bound listen address (useful with port 0). */
  address(): HostPort {
    const bound = this.server.address();
    if (bound === null || typeof bound === 'string') throw new Error('transport is not listening');
    return { host: bound.address, port: bound.port };
  }

  flush(): void {
    for (const link of this.links.values()) link.flushNow();
  }

  send(to: NodeId, message: Message): void {
    const link = this.links.get(to);
    if (!link || message.to !== to) {
      // A bug in the caller, not a network condition: say so, but never throw into the node loop.
      const problem = link ? `addressed to ${message.to}` : 'an unknown peer';
      logLimited(this.limiter, this.options.logger, 'error', `send:${to}:${message.to}`, { to, messageTo: message.to, type: message.type }, `dropped ${message.type} sent to ${to}: ${problem}`);
      return;
    }
    // Cheap checks first: a message that would be dropped is never encoded.
    if (!link.canAccept()) return link.countDropped();
    let frame: Buffer;
    try {
      frame = encodeFrame(message);
    } catch (err) {
      logLimited(this.limiter, this.options.logger, 'error', `encode:${message.type}`, { err, type: message.type }, `cannot encode ${message.type} for ${to}: ${(err as Error).message}`);
      return link.countDropped();
    }
    if (frame.length - FRAME_HEADER_BYTES > this.limits.maxFrameBytes) {
      logLimited(this.limiter, this.options.logger, 'error', `oversize:${message.type}`, { type: message.type, bytes: frame.length }, `dropped ${message.type} for ${to}: ${frame.length} bytes exceeds the frame limit ${this.limits.maxFrameBytes}`);
      return link.countDropped();
    }
    link.enqueue(frame);
  }

  onMessage(handler: (message: Message) => void): void {
    this.messageHandler = handler;
  }

  onPeerDown(handler: (peer: NodeId) => void): void {
    this.peerDownHandler = handler;
  }

  stats(): PeerLinkStats[] {
    return [...this.links.values()].map((link) => link.stats());
  }

  peerHttpUrl(peer: NodeId): string | null {
    return this.httpUrls.get(peer) ?? null;
  }

  /** Destroys every socket, stops listening, clears every timer. Idempotent. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    const wasListening = this.server.listening;
    this.state = 'closed';
    for (const link of this.links.values()) link.close();
    for (const connection of this.inbound) connection.destroy();
    this.closing = wasListening ? new Promise<void>((resolve) => this.server.close(() => resolve())) : Promise.resolve();
    return this.closing;
  }

  // ------------------------------------------------------------------ inbound

  private accept(socket: net.Socket): void {
    if (this.state !== 'started' || this.inbound.size >= this.limits.maxInboundConnections) {
      if (this.state === 'started') {
        logLimited(this.limiter, this.options.logger, 'warn', 'inbound-limit', { remote: socket.remoteAddress }, `refused peer connection from ${socket.remoteAddress}: already ${this.inbound.size} inbound connections`);
      }
      socket.destroy();
      return;
    }
    this.inbound.add(new InboundConnection(socket, this.inboundContext));
  }

  private onInboundOpen(connection: InboundConnection, peer: NodeId, http: string): void {
    const previous = this.inboundByPeer.get(peer);
    this.inboundByPeer.set(peer, connection);
    this.httpUrls.set(peer, http);
    // The peer redialed, so its old connection is dead or dying; keep one per peer.
    previous?.destroy();
  }

  private onInboundClosed(connection: InboundConnection): void {
    this.inbound.delete(connection);
    if (connection.peer !== null && this.inboundByPeer.get(connection.peer) === connection) this.inboundByPeer.delete(connection.peer);
  }

  // ------------------------------------------------------------------ contexts

  private linkContext(): PeerLinkContext {
    return {
      selfId: this.options.selfId,
      clusterId: this.options.clusterId,
      secret: this.secret,
      http: this.options.advertise.http,
      limits: this.limits,
      logger: this.options.logger,
      limiter: this.limiter,
      onUp: (peer, http) => this.httpUrls.set(peer, http),
      onDown: (peer) => this.peerDownHandler(peer),
    };
  }

  private makeInboundContext(): InboundContext {
    return {
      selfId: this.options.selfId,
      clusterId: this.options.clusterId,
      secret: this.secret,
      http: this.options.advertise.http,
      peers: new Set(this.links.keys()),
      maxFrameBytes: this.limits.maxFrameBytes,
      handshakeTimeoutMs: this.limits.handshakeTimeoutMs,
      logger: this.options.logger,
      limiter: this.limiter,
      onOpen: (connection, peer, http) => this.onInboundOpen(connection, peer, http),
      onMessage: (message) => this.messageHandler(message),
      onClosed: (connection) => this.onInboundClosed(connection),
    };
  }
}
