/**
 * Hold, step and drop of this node's outgoing Raft messages, per peer (SPEC §11), for the
 * dashboard's pause/step controls. To Raft a held message is one that is slow to arrive, and a
 * dropped one is lost: both are conditions the protocol tolerates (§5.1 of the paper: "messages
 * may be lost, delayed or reordered"), so no safety argument changes. A held message released
 * after its term has passed is harmless: the receiver's term checks (§5.1, Figure 2) ignore it.
 *
 * The control sits in front of any Transport (ControlledTransport), so the TCP transport and
 * the simulator's network stay unaware of it.
 */
import type { Message, NodeId } from '@raftquotes/raft';
import { isForwardMessage, type PeerMessage } from './forward-message.js';
import type { PeerLinkStats, Transport } from './types.js';

/** What a link does with a new outgoing message: send it, queue it, or discard it. */
export type LinkMode = 'open' | 'hold' | 'drop';
export const LINK_MODES: readonly LinkMode[] = ['open', 'hold', 'drop'];

/**
 * Held messages per peer. A paused leader under client load keeps producing appends; past this
 * the oldest is dropped (and counted), like a router's tail of a full queue: Raft retransmits.
 */
export const MAX_HELD_PER_PEER = 1_000;
/** Messages one step/drop request may release or discard. */
export const MAX_LINK_STEP = 1_000;

/** The fields of a message the dashboard and the event log show (the core's message names). */
export interface MessageSummary {
  type: Message['type'];
  from: NodeId;
  to: NodeId;
  term: number;
  /**
   * The log index the message is about: AppendEntries' prevLogIndex (its entries follow it),
   * a vote request's lastLogIndex, an append reply's matchIndex (or the rejected index), a
   * heartbeat's commit, a snapshot's last included index; 0 when none applies.
   */
  index: number;
  /** Log entries carried (AppendEntries only). */
  entries: number;
  /** Leader commit index carried (AppendEntries, Heartbeat), else undefined. */
  commit: number | undefined;
  /** A reply's outcome (votes granted, appends accepted), else undefined. */
  ok: boolean | undefined;
}

/** One held message as GET /api/status lists it. */
export interface HeldMessageView extends MessageSummary {
  /** Increasing per node: identifies the message across polls. */
  id: number;
  /** When it was held (ms since the epoch). */
  heldAt: number;
}

/** What happened to an outgoing message, for the event log. */
export type LinkEventKind = 'send' | 'hold' | 'release' | 'drop';
export type LinkListener = (kind: LinkEventKind, message: Message) => void;

/** A summary of any message; never throws (the message came from our own core). */
export function summarize(m: Message): MessageSummary {
  // One object of one shape (no spreads): this runs for every message the event ring records.
  const s: MessageSummary = { type: m.type, from: m.from, to: m.to, term: m.term, index: 0, entries: 0, commit: undefined, ok: undefined };
  switch (m.type) {
    case 'AppendEntries':
      s.index = m.prevLogIndex;
      s.entries = m.entries.length;
      s.commit = m.commit;
      break;
    case 'AppendEntriesResponse':
      s.index = m.success ? m.matchIndex : m.rejectedIndex;
      s.ok = m.success;
      break;
    case 'Heartbeat':
      s.index = m.commit;
      s.commit = m.commit;
      break;
    case 'PreVote':
    case 'RequestVote':
      s.index = m.lastLogIndex;
      break;
    case 'PreVoteResponse':
    case 'RequestVoteResponse':
      s.ok = m.granted;
      break;
    case 'InstallSnapshot':
      s.index = m.meta.index;
      break;
    case 'InstallSnapshotResponse':
      s.index = m.snapshotIndex;
      s.ok = m.done;
      break;
    default:
      break;
  }
  return s;
}

interface Held {
  id: number;
  heldAt: number;
  message: Message;
}

/**
 * The per-peer policy and hold queues. `deliver` is the real send; it is given by attach()
 * (ControlledTransport does that), and until then released messages are discarded.
 */
export class LinkControl {
  private defaultMode: LinkMode = 'open';
  private readonly modes = new Map<NodeId, LinkMode>();
  private readonly queues = new Map<NodeId, Held[]>();
  private nextId = 1;
  private deliver: (to: NodeId, message: Message) => void = () => undefined;
  private flush: () => void = () => undefined;
  private listener: LinkListener = () => undefined;
  /** Messages discarded: by drop mode, by a drop request, or by overflow of a hold queue. */
  dropped = 0;
  /** Of `dropped`, those pushed out of a full hold queue. */
  overflowed = 0;

  constructor(private readonly maxHeldPerPeer = MAX_HELD_PER_PEER) {
    if (!Number.isSafeInteger(maxHeldPerPeer) || maxHeldPerPeer <= 0) throw new RangeError(`maxHeldPerPeer must be a positive integer, got ${maxHeldPerPeer}`);
  }

  /** Connects the real send (and its flush) that released messages go to. */
  attach(deliver: (to: NodeId, message: Message) => void, flush?: () => void): void {
    this.deliver = deliver;
    if (flush) this.flush = flush;
  }

  /** Observes every outgoing message's fate (the event log). */
  onEvent(listener: LinkListener): void {
    this.listener = listener;
  }

  /** The mode of the link to `peer`. */
  modeOf(peer: NodeId): LinkMode {
    return this.modes.get(peer) ?? this.defaultMode;
  }

  /**
   * Sets the mode of one link, or of every link ('*', which also clears per-peer modes).
   * Opening a link delivers what it held, oldest first; setting it to drop discards it.
   */
  setMode(target: NodeId | '*', mode: LinkMode): void {
    if (target === '*') {
      this.defaultMode = mode;
      this.modes.clear();
    } else if (mode === this.defaultMode) {
      this.modes.delete(target);
    } else {
      this.modes.set(target, mode);
    }
    for (const peer of this.peersOf(target)) {
      if (this.modeOf(peer) === 'open') this.step(peer, Number.MAX_SAFE_INTEGER);
      else if (this.modeOf(peer) === 'drop') this.drop(peer, Number.MAX_SAFE_INTEGER);
    }
  }

  /** Takes an outgoing message per its link's mode. True: held or dropped here; false: send it. */
  intercept(to: NodeId, message: Message): boolean {
    const mode = this.modeOf(to);
    if (mode === 'open') {
      this.listener('send', message);
      return false;
    }
    if (mode === 'drop') {
      this.dropped++;
      this.listener('drop', message);
      return true;
    }
    const queue = this.queueOf(to);
    const oldest = queue.length >= this.maxHeldPerPeer ? queue.shift() : undefined;
    if (oldest !== undefined) {
      this.dropped++;
      this.overflowed++;
      this.listener('drop', oldest.message);
    }
    queue.push({ id: this.nextId++, heldAt: Date.now(), message });
    this.listener('hold', message);
    return true;
  }

  /** Delivers the `n` oldest held messages to `target` (or to each peer for '*'); returns how many. */
  step(target: NodeId | '*', n: number): number {
    let released = 0;
    for (const peer of this.peersOf(target)) {
      for (const held of this.take(peer, n)) {
        this.listener('release', held.message);
        this.deliver(peer, held.message);
        released++;
      }
    }
    if (released > 0) this.flush();
    return released;
  }

  /** Discards the `n` oldest held messages to `target` (or to each peer for '*'); returns how many. */
  drop(target: NodeId | '*', n: number): number {
    let discarded = 0;
    for (const peer of this.peersOf(target)) {
      for (const held of this.take(peer, n)) {
        this.listener('drop', held.message);
        discarded++;
      }
    }
    this.dropped += discarded;
    return discarded;
  }

  /** Held messages per peer, oldest first, at most `limit` each (peers with none are left out). */
  held(limit = this.maxHeldPerPeer): Record<NodeId, HeldMessageView[]> {
    const view: Record<NodeId, HeldMessageView[]> = {};
    for (const [peer, queue] of this.queues) view[peer] = queue.slice(0, limit).map((h) => ({ id: h.id, heldAt: h.heldAt, ...summarize(h.message) }));
    return view;
  }

  /** How many messages each peer's link holds (peers with none are left out). */
  heldCounts(): Record<NodeId, number> {
    return Object.fromEntries([...this.queues].map(([peer, queue]) => [peer, queue.length]));
  }

  /** The mode of every link that differs from the default, and the default. */
  modesView(): { default: LinkMode; peers: Record<NodeId, LinkMode> } {
    return { default: this.defaultMode, peers: Object.fromEntries(this.modes) };
  }

  private take(peer: NodeId, n: number): Held[] {
    const queue = this.queues.get(peer);
    if (!queue) return [];
    const taken = queue.splice(0, Math.max(0, n));
    if (queue.length === 0) this.queues.delete(peer);
    return taken;
  }

  private queueOf(peer: NodeId): Held[] {
    let queue = this.queues.get(peer);
    if (!queue) {
      queue = [];
      this.queues.set(peer, queue);
    }
    return queue;
  }

  private peersOf(target: NodeId | '*'): NodeId[] {
    return target === '*' ? [...this.queues.keys()] : [target];
  }
}

/** Observes inbound messages (the event log). */
export type ReceiveListener = (message: Message) => void;

/**
 * A Transport whose sends pass through a LinkControl first. Everything else is the inner
 * transport's. With every link open the cost is one boolean check per send.
 */
export class ControlledTransport implements Transport {
  private receiveListener: ReceiveListener = () => undefined;

  constructor(
    private readonly inner: Transport,
    readonly control: LinkControl,
  ) {
    control.attach(
      (to, message) => inner.send(to, message),
      () => inner.flush?.(),
    );
  }

  /** Observes every message received from a peer, before the node steps it. */
  onReceive(listener: ReceiveListener): void {
    this.receiveListener = listener;
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  send(to: NodeId, message: PeerMessage): void {
    // A forwarded write is a client's request, not a Raft message (the held table shows only
    // those): like the HTTP forward it replaced, it passes an open or held link (a paused
    // cluster still receives the lab's writes, then holds the AppendEntries they cause) and is
    // lost only on a cut one, like the write of a client behind a partition.
    if (isForwardMessage(message)) {
      if (this.control.modeOf(to) === 'drop') this.control.dropped++;
      else this.inner.send(to, message);
      return;
    }
    if (this.control.intercept(to, message)) return;
    this.inner.send(to, message);
  }

  flush(): void {
    this.inner.flush?.();
  }

  onMessage(handler: (message: PeerMessage) => void): void {
    this.inner.onMessage((message) => {
      if (!isForwardMessage(message)) this.receiveListener(message);
      handler(message);
    });
  }

  linkUp(peer: NodeId): boolean {
    // As send() treats forwarded writes: only a cut link is down for them.
    return this.control.modeOf(peer) !== 'drop' && (this.inner.linkUp?.(peer) ?? true);
  }

  onPeerDown(handler: (peer: NodeId) => void): void {
    this.inner.onPeerDown(handler);
  }

  stats(): PeerLinkStats[] {
    return this.inner.stats();
  }

  peerHttpUrl(peer: NodeId): string | null {
    return this.inner.peerHttpUrl(peer);
  }

  /** Membership changes (SPEC §9) reach the real transport through the control layer. */
  setPeers(peers: ReadonlyArray<{ id: NodeId; raft: string }>): void {
    this.inner.setPeers?.(peers);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
