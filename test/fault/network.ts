import { FaultProxy, type CutMode } from './proxy.js';

/** A node as the network needs it: its id and the address its Raft transport listens on. */
export interface NetworkNode {
  id: string;
  raft: { host: string; port: number };
}

/** A directed link, "from dials to". */
export type Link = readonly [from: string, to: string];

/**
 * The cluster's network as a set of directed links, one FaultProxy each. Node i's
 * --peers entry for node j points at proxy(i→j); its own entry is its real Raft
 * address (it listens there). So proxy(i→j) carries the connections node i opens to
 * node j: with a transport that dials one connection per direction (i sends to j on
 * the connection i opened), cutting i→j silences exactly i's messages to j, and
 * asymmetric partitions are possible. If a transport answered on the connection it
 * accepted, cutting i→j would silence both directions of that connection.
 *
 * Start it before the nodes (ports must be known for --peers), keep it across node
 * restarts (a restarted node listens on the same Raft port), close it last.
 */
export class FaultNetwork {
  readonly nodeIds: readonly string[];

  private constructor(private readonly nodes: readonly NetworkNode[], private readonly links: ReadonlyMap<string, FaultProxy>) {
    this.nodeIds = nodes.map((node) => node.id);
  }

  /** Starts a proxy for every ordered pair of distinct nodes (n·(n−1) proxies). */
  static async start(nodes: readonly NetworkNode[], listenHost = '127.0.0.1'): Promise<FaultNetwork> {
    const ids = nodes.map((node) => node.id);
    if (new Set(ids).size !== ids.length) throw new Error(`FaultNetwork: node ids must be unique, got ${ids.join(', ')}`);
    const links = new Map<string, FaultProxy>();
    try {
      for (const from of nodes) {
        for (const to of nodes) {
          if (from.id === to.id) continue;
          const proxy = await FaultProxy.start({ target: to.raft, listen: { host: listenHost }, name: `${from.id}→${to.id}` });
          links.set(linkKey(from.id, to.id), proxy);
        }
      }
    } catch (err) {
      await Promise.all([...links.values()].map((proxy) => proxy.close()));
      throw err;
    }
    return new FaultNetwork(nodes, links);
  }

  /** The proxy of link from→to. */
  link(from: string, to: string): FaultProxy {
    const proxy = this.links.get(linkKey(from, to));
    if (!proxy) throw new Error(`FaultNetwork: no link ${from}→${to} (nodes: ${this.nodeIds.join(', ')})`);
    return proxy;
  }

  /** host:port node `from` must dial to reach `to`: the proxy, or its own address for itself. */
  peerAddress(from: string, to: string): string {
    if (from !== to) return this.link(from, to).address;
    const node = this.node(from);
    return `${node.raft.host}:${node.raft.port}`;
  }

  /** The --peers value for node `from`: "Node1=127.0.0.1:p1,Node2=...". */
  peersFlag(from: string): string {
    this.node(from);
    return this.nodeIds.map((to) => `${to}=${this.peerAddress(from, to)}`).join(',');
  }

  cutLink(from: string, to: string, mode?: CutMode): void {
    this.link(from, to).cut(mode);
  }

  healLink(from: string, to: string): void {
    this.link(from, to).heal();
  }

  /** Cuts every link to and from `node`; other links stay as they are (faults compose). */
  isolate(node: string, mode?: CutMode): void {
    this.node(node);
    for (const [from, to] of this.allLinks()) if (from === node || to === node) this.cutLink(from, to, mode);
  }

  /**
   * Sets the whole topology: links within a group healed, links between groups cut.
   * Every node must be in exactly one group.
   */
  partition(groups: readonly (readonly string[])[], mode?: CutMode): void {
    this.checkCover(groups, 'partition');
    const groupOf = new Map(groups.flatMap((group, g) => group.map((id) => [id, g] as const)));
    this.apply((from, to) => groupOf.get(from) === groupOf.get(to), mode);
  }

  /**
   * Two sides that cannot see each other but both see the bridge node: the classic
   * topology where the bridge can win elections that neither side can. sideA, sideB
   * and [bridgeNode] must cover every node exactly once.
   */
  bridge(sideA: readonly string[], sideB: readonly string[], bridgeNode: string, mode?: CutMode): void {
    this.checkCover([sideA, sideB, [bridgeNode]], 'bridge');
    const a = new Set([...sideA, bridgeNode]);
    const b = new Set([...sideB, bridgeNode]);
    this.apply((from, to) => (a.has(from) && a.has(to)) || (b.has(from) && b.has(to)), mode);
  }

  /** Heals every link (delays are left as they are; setDelay(0) clears them). */
  healAll(): void {
    for (const proxy of this.links.values()) proxy.heal();
  }

  /** Delay on every link, both directions of every connection. */
  setDelay(ms: number): void {
    for (const proxy of this.links.values()) proxy.setDelay(ms);
  }

  setLinkDelay(from: string, to: string, ms: number): void {
    this.link(from, to).setDelay(ms);
  }

  /** The links cut now, in node order. */
  cutLinks(): Link[] {
    return this.allLinks().filter(([from, to]) => this.link(from, to).isCut());
  }

  /** One line for fault logs: "cut: Node1→Node2, Node2→Node1" or "all links up". */
  describe(): string {
    const cut = this.cutLinks();
    return cut.length === 0 ? 'all links up' : `cut: ${cut.map(([from, to]) => `${from}→${to}`).join(', ')}`;
  }

  /** Closes every proxy. */
  async close(): Promise<void> {
    await Promise.all([...this.links.values()].map((proxy) => proxy.close()));
  }

  private allLinks(): Link[] {
    return this.nodeIds.flatMap((from) => this.nodeIds.filter((to) => to !== from).map((to) => [from, to] as const));
  }

  private apply(connected: (from: string, to: string) => boolean, mode?: CutMode): void {
    for (const [from, to] of this.allLinks()) {
      if (connected(from, to)) this.healLink(from, to);
      else this.cutLink(from, to, mode);
    }
  }

  private node(id: string): NetworkNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`FaultNetwork: unknown node ${id} (nodes: ${this.nodeIds.join(', ')})`);
    return node;
  }

  private checkCover(groups: readonly (readonly string[])[], what: string): void {
    const listed = groups.flat();
    for (const id of listed) this.node(id);
    const missing = this.nodeIds.filter((id) => !listed.includes(id));
    const twice = listed.filter((id, i) => listed.indexOf(id) !== i);
    if (missing.length || twice.length) {
      throw new Error(`FaultNetwork.${what}: every node must be listed exactly once (missing: ${missing.join(', ') || 'none'}; listed twice: ${twice.join(', ') || 'none'})`);
    }
  }
}

function linkKey(from: string, to: string): string {
  return `${from}\u0000${to}`;
}
