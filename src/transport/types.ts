import type { NodeId } from '@raftquotes/raft';
import type { PeerMessage } from './forward-message.js';

/** Per-peer counters for status and metrics. */
export interface PeerLinkStats {
  peer: NodeId;
  connected: boolean;
  queuedMessages: number;
  queuedBytes: number;
  sentMessages: number;
  droppedMessages: number;
}

/**
 * Peer-to-peer message delivery. Best effort: Raft tolerates loss, so `send` never blocks
 * and drops when the peer's bounded queue is full. Implemented over TCP for real nodes and
 * by the simulator's network in tests.
 */
export interface Transport {
  /** Starts listening for inbound peer connections. */
  start(): Promise<void>;
  send(to: NodeId, message: PeerMessage): void;
  /**
   * Writes what send() queued now instead of at the end of the current event-loop turn. The
   * runtime calls it before its fsync, so the leader's entries travel while it persists them.
   */
  flush?(): void;
  /** Registers the single consumer of inbound messages. */
  onMessage(handler: (message: PeerMessage) => void): void;
  /**
   * True when a message sent to `peer` now goes out on an established link with room in its
   * queue (it may still be lost with the link). Write forwarding answers 503 at once, instead
   * of an unknown outcome later, when it cannot even be sent.
   */
  linkUp?(peer: NodeId): boolean;
  /** Called when a peer link goes down (the core moves that peer's progress to probe). */
  onPeerDown(handler: (peer: NodeId) => void): void;
  stats(): PeerLinkStats[];
  /** HTTP base URL the peer advertised in its handshake (null until it has connected once). */
  peerHttpUrl(peer: NodeId): string | null;
  /**
   * Membership changed (SPEC §9): keep exactly these peer links, dialing each `raft` address
   * ("host:port"; empty keeps the address the link already has). Peers not listed are closed
   * and refused at the handshake from then on.
   */
  setPeers?(peers: ReadonlyArray<{ id: NodeId; raft: string }>): void;
  close(): Promise<void>;
}
