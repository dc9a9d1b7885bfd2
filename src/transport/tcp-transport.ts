import { type NodeId, parseRaftAddress } from '@raftquotes/raft';
import net from 'node:net';
import type { PeerMessage } from './forward-message.js';
import { BULK_MESSAGE_TYPE, encodeBulkFrame, encodeFrame, FRAME_HEADER_BYTES, outboundFrameBytes, type OutboundFrame } from './frame-codec.js';
import type { AuthMode } from './handshake.js';
import { InboundConnection, type InboundContext } from './inbound-connection.js';
import { MAX_STRANGER_LINKS, resolveLimits, type TransportLimits } from './limits.js';
import { limitKey, logLimited, RepeatLimiter, type TransportLogger } from './log.js';
import { PeerLink, type PeerLinkContext } from './peer-link.js';
import { loadPeerTls, type PeerTls, type PeerTlsFiles } from './tls-identity.js';
import type { PeerLinkStats, Transport } from './types.js';
import { errorMessage } from '../narrow.js';

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
  /**
   * Shared secret (SPEC §7): authenticates the handshake and, with a per-connection key,
   * every frame. Ignored when `tls` is given (mutual TLS authenticates and protects peers).
   */
  secret?: string;
  /** Mutual TLS between peers (PEM paths, re-read by reloadTls). Takes precedence over `secret`. */
  tls?: PeerTlsFiles;
  /** Explicitly run without peer authentication (--insecure). Required when neither secret nor tls is given. */
  insecure?: boolean;
  /**
   * This node's HTTP base URL, told to peers in the handshake (they forward clients to it),
   * its --public-url values (browsers use them; at most MAX_PUBLIC_URLS), and its Raft
   * address, told in the hello so a peer that does not know this node yet can answer it.
   */
  advertise: { http: string; publicUrls?: readonly string[]; raft?: string };
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
  private readonly mode: AuthMode;
  private readonly secret: Buffer | null;
  private peerTls: PeerTls | null = null;
  private readonly limiter = new RepeatLimiter();
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly inbound = new Set<InboundConnection>();
  /** Inbound connections still handshaking, oldest first (Set keeps insertion order). */
  private readonly unauthenticated = new Set<InboundConnection>();
  /** The live inbound connection of each authenticated peer (a newer one replaces it). */
  private readonly inboundByPeer = new Map<NodeId, InboundConnection>();
  private readonly httpUrls = new Map<NodeId, string>();
  private readonly publicUrls = new Map<NodeId, readonly string[]>();
  private readonly server: net.Server;
  private readonly inboundContext: InboundContext;
  /** Who may complete the handshake: the current configuration's members (setPeers keeps it). */
  private readonly allowedPeers = new Set<NodeId>();
  /** Authenticated peers admitted outside allowedPeers, linked back to until the next setPeers (admitStranger). */
  private readonly strangers = new Set<NodeId>();
  private messageHandler: (message: PeerMessage) => void = () => undefined;
  private peerDownHandler: (peer: NodeId) => void = () => undefined;
  private state: 'new' | 'starting' | 'started' | 'closed' = 'new';
  private closing: Promise<void> | null = null;

  constructor(private readonly options: TcpTransportOptions) {
    if (options.secret === '') throw new RangeError('transport secret must not be empty');
    if (options.selfId in options.peers) throw new RangeError(`transport peers must not include this node (${options.selfId})`);
    this.limits = resolveLimits(options.limits);
    this.mode = options.tls ? 'tls' : options.secret !== undefined ? 'secret' : options.insecure === true ? 'insecure' : failUnauthenticated();
    this.secret = this.mode === 'secret' && options.secret !== undefined ? Buffer.from(options.secret, 'utf8') : null;
    if (options.tls) this.peerTls = loadPeerTls(options.tls);
    const linkContext = this.linkContext();
    for (const [peer, address] of Object.entries(options.peers)) {
      this.links.set(peer, new PeerLink(peer, address, linkContext));
      this.allowedPeers.add(peer);
    }
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
    if (this.mode === 'tls' && this.options.secret !== undefined) this.options.logger.info({}, 'peers use mutual TLS; the shared secret is not used for peer connections');
    for (const link of this.links.values()) link.start();
  }

  /**
   * Membership changed (SPEC §9): opens a link to each new peer at its Raft address, closes
   * the links (and inbound connections) of peers no longer listed, and from now on admits at
   * the handshake only the listed peers. A peer whose address is empty keeps its link's
   * address; one with neither an address nor a link, or a bad address, is skipped and logged.
   */
  setPeers(peers: ReadonlyArray<{ id: NodeId; raft: string }>): void {
    if (this.state === 'closed') return;
    const wanted = new Set<NodeId>();
    for (const { id, raft } of peers) {
      if (id === this.options.selfId) continue;
      const existing = this.links.get(id);
      const address = raft === '' ? null : parseRaftAddress(raft);
      if (existing && (address === null || sameAddress(existing.address, address))) {
        wanted.add(id);
        continue;
      }
      if (address === null) {
        this.options.logger.warn({ peer: id, raft }, `no usable Raft address for member ${id} (${JSON.stringify(raft.slice(0, 100))}); not linking to it`);
        continue;
      }
      existing?.close();
      const link = new PeerLink(id, address, this.linkContext());
      this.links.set(id, link);
      wanted.add(id);
      if (this.state === 'started') link.start();
      this.options.logger.info({ peer: id, raft }, `linking to member ${id} at ${raft}`);
    }
    for (const [id, link] of this.links) {
      if (wanted.has(id)) continue;
      link.close();
      this.links.delete(id);
      this.inboundByPeer.get(id)?.destroy();
      this.options.logger.info({ peer: id }, `closed the link to ${id}: no longer a member`);
    }
    this.allowedPeers.clear();
    for (const id of wanted) this.allowedPeers.add(id);
    this.strangers.clear();
  }

  /**
   * An authenticated peer outside every configuration this node holds: a member added after
   * them, whose vote requests or leader traffic a node far behind must answer (etcd accepts
   * any member id of its cluster; the authenticated link keeps impostors out, and the core
   * judges what it may send: message-validation.ts admitsNewMember). Admitted, and linked back
   * to at the Raft address its hello names, up to MAX_STRANGER_LINKS at once, until the next
   * setPeers (a node that learns the newer configuration links to its members as usual).
   */
  private admitStranger(peer: NodeId, raft: string | undefined): boolean {
    if (peer === this.options.selfId || this.state === 'closed') return false;
    if (this.strangers.has(peer)) return true;
    const address = raft === undefined ? null : parseRaftAddress(raft);
    if (address === null || this.links.has(peer) || this.strangers.size >= MAX_STRANGER_LINKS) return false;
    const link = new PeerLink(peer, address, this.linkContext());
    this.links.set(peer, link);
    this.strangers.add(peer);
    if (this.state === 'started') link.start();
    this.options.logger.info({ peer, raft }, `admitted ${peer}, authenticated but in no configuration this node holds (added since?); linking back to ${raft}`);
    return true;
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

  linkUp(peer: NodeId): boolean {
    return this.links.get(peer)?.isUp() ?? false;
  }

  send(to: NodeId, message: PeerMessage): void {
    const link = this.links.get(to);
    if (!link || message.to !== to) {
      // A bug in the caller, not a network condition: say so, but never throw into the node loop.
      const problem = link ? `addressed to ${message.to}` : 'an unknown peer';
      logLimited(this.limiter, this.options.logger, 'error', limitKey('send-misaddressed', to), { to, messageTo: message.to, type: message.type }, `dropped ${message.type} sent to ${to}: ${problem}`);
      return;
    }
    // Cheap checks first: a message that would be dropped is never encoded.
    if (!link.canAccept()) return link.countDropped();
    let frame: OutboundFrame;
    try {
      // A snapshot chunk goes raw after a small header (frame-codec.ts encodeBulkFrame).
      frame = message.type === BULK_MESSAGE_TYPE ? encodeBulkFrame(message as unknown as Record<string, unknown> & { type: string }) : encodeFrame(message);
    } catch (err) {
      logLimited(this.limiter, this.options.logger, 'error', limitKey('encode', message.type), { err, type: message.type }, `cannot encode ${message.type} for ${to}: ${errorMessage(err)}`);
      return link.countDropped();
    }
    const bytes = outboundFrameBytes(frame);
    if (bytes - FRAME_HEADER_BYTES > this.limits.maxFrameBytes) {
      logLimited(this.limiter, this.options.logger, 'error', limitKey('oversize', message.type), { type: message.type, bytes }, `dropped ${message.type} for ${to}: ${bytes} bytes exceeds the frame limit ${this.limits.maxFrameBytes}`);
      return link.countDropped();
    }
    link.enqueue(frame);
  }

  onMessage(handler: (message: PeerMessage) => void): void {
    this.messageHandler = handler;
  }

  onPeerDown(handler: (peer: NodeId) => void): void {
    this.peerDownHandler = handler;
  }

  stats(): PeerLinkStats[] {
    return [...this.links.values()].map((link) => link.stats());
  }

  /**
   * The HTTP URL a peer advertised in the authenticated welcome of OUR dial to its configured
   * Raft address (never from an inbound hello: whoever connects to us proves nothing about
   * where the configured member is). The API forwards bearer tokens there.
   */
  peerHttpUrl(peer: NodeId): string | null {
    return this.httpUrls.get(peer) ?? null;
  }

  /**
   * The public URLs (`--public-url`) a peer told us in the same authenticated welcome as its
   * HTTP URL (validated and bounded by parseHandshake); empty until then, or if it has none.
   */
  peerPublicUrls(peer: NodeId): readonly string[] {
    return this.publicUrls.get(peer) ?? [];
  }

  /** How this transport authenticates peers. */
  get authMode(): AuthMode {
    return this.mode;
  }

  /**
   * Re-reads the TLS files (SIGHUP). New connections, inbound and outbound, use the new
   * certificates; live ones keep theirs. Throws TlsConfigError and keeps the old context
   * when the files are unusable; throws when TLS is not configured.
   */
  reloadTls(): void {
    if (!this.options.tls) throw new Error('peer TLS is not configured');
    this.peerTls = loadPeerTls(this.options.tls);
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

  /**
   * Admits a new socket into the unauthenticated pool, making room when a limit is reached:
   * past the per-address limit, by dropping that address's oldest connection; past the total,
   * by dropping the oldest connection of the address holding the most. A flood from a few
   * addresses thus only evicts itself, and a member's dial (one connection from its address)
   * keeps its place while it authenticates. Authenticated connections never count here:
   * each configured peer keeps its own slot.
   */
  private accept(socket: net.Socket): void {
    if (this.state !== 'started') {
      socket.destroy();
      return;
    }
    const address = socket.remoteAddress ?? '?';
    const { count, oldest } = this.unauthenticatedByAddress();
    const fromAddress = count.get(address) ?? 0;
    const evict = fromAddress >= this.limits.maxUnauthenticatedPerAddress ? (oldest.get(address) ?? null) : this.unauthenticated.size >= this.limits.maxUnauthenticatedConnections ? this.oldestOfBusiestAddress(count, oldest) : null;
    if (evict) {
      logLimited(this.limiter, this.options.logger, 'warn', limitKey('flood', address), { remote: address, unauthenticated: this.unauthenticated.size, fromAddress }, `refused peer connection from ${evict.address}: too many unauthenticated connections (${this.unauthenticated.size} in total, ${fromAddress} from ${address}); dropping the oldest`);
      this.forgetUnauthenticated(evict);
      evict.destroy();
    }
    const connection = new InboundConnection(socket, this.inboundContext);
    this.inbound.add(connection);
    this.unauthenticated.add(connection);
  }

  /** Unauthenticated connections per source address, and each address's oldest (the pool is at most maxUnauthenticatedConnections). */
  private unauthenticatedByAddress(): { count: Map<string, number>; oldest: Map<string, InboundConnection> } {
    const count = new Map<string, number>();
    const oldest = new Map<string, InboundConnection>();
    for (const connection of this.unauthenticated) {
      count.set(connection.address, (count.get(connection.address) ?? 0) + 1);
      if (!oldest.has(connection.address)) oldest.set(connection.address, connection);
    }
    return { count, oldest };
  }

  /** The oldest connection of the address with the most unauthenticated connections (ties: the address seen first, i.e. the oldest). */
  private oldestOfBusiestAddress(count: Map<string, number>, oldest: Map<string, InboundConnection>): InboundConnection | null {
    let busiest: string | null = null;
    for (const [address, n] of count) if (busiest === null || n > (count.get(busiest) ?? 0)) busiest = address;
    return busiest === null ? null : (oldest.get(busiest) ?? null);
  }

  private forgetUnauthenticated(connection: InboundConnection): void {
    this.unauthenticated.delete(connection);
  }

  private onInboundOpen(connection: InboundConnection, peer: NodeId): void {
    this.forgetUnauthenticated(connection);
    const previous = this.inboundByPeer.get(peer);
    this.inboundByPeer.set(peer, connection);
    // The peer redialed, so its old connection is dead or dying; keep one per peer.
    previous?.destroy();
    // It reached us just now, so the path to it works: our own link need not wait out a backoff.
    this.links.get(peer)?.peerReachable();
  }

  private onInboundClosed(connection: InboundConnection): void {
    this.inbound.delete(connection);
    this.forgetUnauthenticated(connection);
    if (connection.peer !== null && this.inboundByPeer.get(connection.peer) === connection) this.inboundByPeer.delete(connection.peer);
  }

  // ------------------------------------------------------------------ contexts

  private linkContext(): PeerLinkContext {
    return {
      selfId: this.options.selfId,
      clusterId: this.options.clusterId,
      mode: this.mode,
      secret: this.secret,
      tls: () => this.peerTls,
      limits: this.limits,
      logger: this.options.logger,
      limiter: this.limiter,
      ...(this.options.advertise.raft === undefined ? {} : { advertiseRaft: this.options.advertise.raft }),
      onUp: (peer, http, publicUrls) => {
        this.httpUrls.set(peer, http);
        this.publicUrls.set(peer, publicUrls);
      },
      onDown: (peer) => this.peerDownHandler(peer),
      lastHeard: (peer) => this.inboundByPeer.get(peer)?.lastDataAt ?? 0,
    };
  }

  private makeInboundContext(): InboundContext {
    return {
      selfId: this.options.selfId,
      clusterId: this.options.clusterId,
      mode: this.mode,
      secret: this.secret,
      tls: () => this.peerTls,
      http: this.options.advertise.http,
      publicUrls: this.options.advertise.publicUrls ?? [],
      peers: this.allowedPeers,
      admitStranger: (peer, raft) => this.admitStranger(peer, raft),
      maxFrameBytes: this.limits.maxFrameBytes,
      handshakeTimeoutMs: this.limits.acceptHandshakeTimeoutMs,
      idleTimeoutMs: this.limits.linkIdleTimeoutMs,
      idleCheckMs: this.limits.linkPingIntervalMs,
      logger: this.options.logger,
      limiter: this.limiter,
      onOpen: (connection, peer) => this.onInboundOpen(connection, peer),
      onMessage: (message) => this.messageHandler(message),
      onClosed: (connection) => this.onInboundClosed(connection),
    };
  }
}

function sameAddress(a: HostPort, b: HostPort): boolean {
  return a.host === b.host && a.port === b.port;
}

/** Peers must be authenticated unless the caller says otherwise in so many words (SPEC §7). */
function failUnauthenticated(): never {
  throw new RangeError('transport needs a secret or a TLS configuration (or insecure: true to run unauthenticated)');
}
