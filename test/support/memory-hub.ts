import type { Message, NodeId } from '@raftquotes/raft';
import type { PeerMessage } from '../../src/transport/forward-message.js';
import type { PeerLinkStats, Transport } from '../../src/transport/types.js';
import { waitFor } from './wait.js';

/**
 * An in-process network for real RaftNodes in unit tests: every message is cloned (as a
 * wire would) and delivered on a later turn of the event loop. Links can be cut one way, and
 * a node's peer set follows its setPeers (membership) once given.
 */
export class MemoryHub {
  readonly handlers = new Map<NodeId, (m: PeerMessage) => void>();
  /** Links that drop everything, as "from>to". */
  readonly cut = new Set<string>();
  /** Whom each node may reach (its last setPeers, or what transport() was given); absent: everyone. */
  readonly links = new Map<NodeId, Set<NodeId>>();

  transport(self: NodeId, initialPeers?: readonly NodeId[]): Transport {
    if (initialPeers) this.links.set(self, new Set(initialPeers.filter((id) => id !== self)));
    const reaches = (to: NodeId): boolean => !this.cut.has(`${self}>${to}`) && (this.links.get(self)?.has(to) ?? true);
    return {
      start: async () => {},
      send: (to, message) => {
        if (!reaches(to)) return;
        const copy = structuredClone(message);
        setImmediate(() => this.handlers.get(to)?.(copy));
      },
      linkUp: (peer) => reaches(peer),
      onMessage: (handler) => void this.handlers.set(self, handler),
      onPeerDown: () => {},
      stats: (): PeerLinkStats[] => [],
      peerHttpUrl: () => null,
      setPeers: (peers) => void this.links.set(self, new Set(peers.map((p) => p.id))),
      close: async () => void this.handlers.delete(self),
    };
  }

  /** Delivers a message as if it came in on a peer connection (no checks: the attacker's view). */
  inject(to: NodeId, message: unknown): void {
    this.handlers.get(to)?.(message as Message);
  }
}

/** Polls `check` every 10 ms until it gives a value, for at most `timeoutMs` (a bound, not a timing). */
export function waitUntil<T>(what: string, check: () => T | undefined | null | false, timeoutMs = 15_000): Promise<T> {
  return waitFor(what, check, timeoutMs, 10);
}
