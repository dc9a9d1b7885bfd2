import type { Message, MessageType, NodeId } from '../types.js';

/** Selects messages in the network by sender, recipient and type. */
export interface MessageFilter {
  from?: NodeId[];
  to?: NodeId[];
  type?: MessageType[];
}

export function matches(filter: MessageFilter, m: Message): boolean {
  return (
    (filter.from === undefined || filter.from.includes(m.from)) &&
    (filter.to === undefined || filter.to.includes(m.to)) &&
    (filter.type === undefined || filter.type.includes(m.type))
  );
}

/**
 * The test network: one FIFO queue of sent messages, delivered only when a command says so,
 * a stash for messages held back (to deliver late, reordered), and partitions.
 */
export class ManualNetwork {
  queue: Message[] = [];
  stash: Message[] = [];
  private groups: Map<NodeId, number> | null = null;

  send(m: Message): void {
    this.queue.push(m);
  }

  /** Removes and returns the queued messages that match, oldest first. */
  take(filter: MessageFilter, limit = Infinity): Message[] {
    const taken: Message[] = [];
    this.queue = this.queue.filter((m) => {
      if (taken.length >= limit || !matches(filter, m)) return true;
      taken.push(m);
      return false;
    });
    return taken;
  }

  /** Cuts every link between different groups; every node must be in exactly one group. */
  partition(groups: NodeId[][], allNodes: NodeId[]): void {
    const map = new Map<NodeId, number>();
    groups.forEach((group, i) => group.forEach((id) => map.set(id, i)));
    const missing = allNodes.filter((id) => !map.has(id));
    if (missing.length > 0) throw new Error(`partition: nodes ${missing.join(' ')} are in no group`);
    this.groups = map;
  }

  heal(): void {
    this.groups = null;
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.groups !== null && this.groups.get(from) !== this.groups.get(to);
  }
}
