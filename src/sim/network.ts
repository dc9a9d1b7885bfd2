import type { PeerLinkStats, Transport } from '../transport/types.js';
import type { Message, NodeId, SeededPrng } from '@raftquotes/raft';

/** Fault settings of the simulated network. */
export interface NetworkFaults {
  dropRate: number;
  duplicateRate: number;
  minDelayMs: number;
  maxDelayMs: number;
}

export const CALM_NETWORK: NetworkFaults = { dropRate: 0, duplicateRate: 0, minDelayMs: 1, maxDelayMs: 3 };

/**
 * The simulated network: per-message delay (which reorders), loss, duplication, and
 * directed link cuts, so partitions can be symmetric or asymmetric.
 */
export class SimNetwork {
  faults: NetworkFaults = { ...CALM_NETWORK };
  private readonly cut = new Set<string>();

  constructor(private readonly prng: SeededPrng) {}

  /** Delivery delays for one message: [] when lost, two entries when duplicated. */
  deliveryDelays(from: NodeId, to: NodeId): number[] {
    if (this.cut.has(linkKey(from, to))) return [];
    if (this.prng.chance(this.faults.dropRate)) return [];
    const delays = [this.delay()];
    if (this.prng.chance(this.faults.duplicateRate)) delays.push(this.delay());
    return delays;
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(linkKey(from, to));
  }

  /** Splits the nodes into groups that cannot talk to each other. */
  partition(groups: NodeId[][]): void {
    this.cut.clear();
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue;
        for (const x of a) for (const y of b) this.cutLink(x, y);
      }
    }
  }

  healAll(): void {
    this.cut.clear();
    this.faults = { ...CALM_NETWORK };
  }

  cutLinks(): number {
    return this.cut.size;
  }

  private delay(): number {
    const { minDelayMs, maxDelayMs } = this.faults;
    return minDelayMs + this.prng.float() * (maxDelayMs - minDelayMs);
  }
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}>${to}`;
}

/**
 * One node's end of the simulated network: the same Transport interface as TCP, so the
 * simulator runs the real RaftNode. A crashed node's endpoint is detached and drops what
 * arrives, as a closed socket does.
 */
export class SimTransport implements Transport {
  private handler: ((message: Message) => unknown) | null = null;
  private peerDownHandler: ((peer: NodeId) => void) | null = null;
  /** The peers linked to (TcpTransport's handshake allow-list). */
  private peers: Set<NodeId>;
  /**
   * Authenticated senders outside `peers` that reached us (TcpTransport's strangers: a member
   * added after the configurations we know), linked back to until the next setPeers.
   */
  private strangers = new Set<NodeId>();

  /** `authenticated`: whether a sender holds the cluster's credentials (the simulation's own nodes). */
  constructor(
    readonly id: NodeId,
    peers: readonly NodeId[],
    private readonly deliver: (message: Message) => void,
    private readonly authenticated: (id: NodeId) => boolean = () => false,
  ) {
    this.peers = new Set(peers.filter((p) => p !== id));
  }

  /** Membership changed: link to exactly these peers from now on, as TcpTransport.setPeers does. */
  setPeers(peers: ReadonlyArray<{ id: NodeId; raft: string }>): void {
    this.peers = new Set(peers.map((p) => p.id).filter((p) => p !== this.id));
    this.strangers.clear();
  }

  /** The peers the node last asked to be linked to. */
  linkedPeers(): NodeId[] {
    return [...this.peers];
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  send(to: NodeId, message: Message): void {
    if (this.handler && to === message.to && (this.peers.has(to) || this.strangers.has(to))) this.deliver(message);
  }

  onMessage(handler: (message: Message) => unknown): void {
    this.handler = handler;
  }

  onPeerDown(handler: (peer: NodeId) => void): void {
    this.peerDownHandler = handler;
  }

  /** A message arrives from the network (dropped once the node is gone); returns what the handler did with it. */
  receive(message: Message): unknown {
    // A sender without the cluster's credentials cannot complete the handshake: its messages
    // never arrive. An authenticated one outside the allow-list is admitted as a stranger.
    if (!this.peers.has(message.from)) {
      if (message.from === this.id || !this.authenticated(message.from)) return null;
      if (this.handler) this.strangers.add(message.from);
    }
    return this.handler?.(message);
  }

  /** The link to `peer` broke (a partition): TCP would notice and report it. */
  linkDown(peer: NodeId): void {
    this.peerDownHandler?.(peer);
  }

  stats(): PeerLinkStats[] {
    return [...this.peers].map((peer) => ({ peer, connected: true, queuedMessages: 0, queuedBytes: 0, sentMessages: 0, droppedMessages: 0 }));
  }

  peerHttpUrl(peer: NodeId): string | null {
    return `sim://${peer}`;
  }

  close(): Promise<void> {
    this.detach();
    return Promise.resolve();
  }

  /** The process is gone: stop delivering to it. */
  detach(): void {
    this.handler = null;
    this.peerDownHandler = null;
  }
}
