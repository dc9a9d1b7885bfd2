import net from 'node:net';
import { decodePayload, FRAME_HEADER_BYTES } from '../../src/transport/frame-codec.js';
import { MAX_HANDSHAKE_FRAME_BYTES } from '../../src/transport/handshake.js';
import { FaultProxy, type CutMode } from './proxy.js';

/** How long an entrance waits for a dialer's hello before it drops the connection. */
const HELLO_TIMEOUT_MS = 10_000;

/** A node as the network needs it: its id and the address its Raft transport listens on. */
export interface NetworkNode {
  id: string;
  raft: { host: string; port: number };
}

/** A directed link, "from dials to". */
export type Link = readonly [from: string, to: string];

/**
 * The cluster's network as a set of directed links. Every node has one entrance: a listener
 * that every other node dials to reach it, and the Raft address the configuration records
 * for it (--peers for the first nodes, `member add --raft` for a node added at run time), so
 * a member added later is behind the same faults as the first ones. The entrance reads the
 * first frame of each connection, the transport's hello, which names the dialer (`from`; it
 * is plaintext in secret mode, the harness's mode), and hands the connection to link
 * from→to: a FaultProxy without a listener of its own, which forwards, holds or resets it.
 * With a transport that dials one connection per direction (i sends to j on the connection
 * i opened), cutting i→j silences exactly i's messages to j, and asymmetric partitions are
 * possible.
 *
 * Start it before the nodes (ports must be known for --peers), keep it across node
 * restarts (a restarted node listens on the same Raft port), close it last.
 */
export class FaultNetwork {
  private readonly links = new Map<string, FaultProxy>();
  /** Delay given to every link, including links made later. */
  private delayMs = 0;

  private constructor(private readonly nodes: NetworkNode[], private readonly entrances: Map<string, Entrance>) {}

  /** Starts one entrance per node; links are made on first use. */
  static async start(nodes: readonly NetworkNode[], listenHost = '127.0.0.1'): Promise<FaultNetwork> {
    const ids = nodes.map((node) => node.id);
    if (new Set(ids).size !== ids.length) throw new Error(`FaultNetwork: node ids must be unique, got ${ids.join(', ')}`);
    const network = new FaultNetwork([], new Map());
    try {
      for (const node of nodes) await network.addNode(node, listenHost);
    } catch (err) {
      await network.close();
      throw err;
    }
    return network;
  }

  /** Every node, in the order added. */
  get nodeIds(): string[] {
    return this.nodes.map((node) => node.id);
  }

  /** Adds a node (one that joins at run time): its entrance listens from now on. */
  async addNode(node: NetworkNode, listenHost = '127.0.0.1'): Promise<void> {
    if (this.entrances.has(node.id)) throw new Error(`FaultNetwork: ${node.id} is already in the network`);
    const entrance = await Entrance.start(node, listenHost, (from, socket, head) => this.link(from, node.id).adopt(socket, head));
    this.entrances.set(node.id, entrance);
    this.nodes.push(node);
  }

  /** Link from→to, made on first use (a connection from a dialer the network does not list still gets one). */
  link(from: string, to: string): FaultProxy {
    const entrance = this.entrances.get(to);
    if (!entrance) throw new Error(`FaultNetwork: no link ${from}→${to} (nodes: ${this.nodeIds.join(', ')})`);
    let proxy = this.links.get(linkKey(from, to));
    if (!proxy) {
      proxy = FaultProxy.detached({ target: entrance.node.raft, address: entrance.bound, name: `${from}→${to}` });
      proxy.setDelay(this.delayMs);
      this.links.set(linkKey(from, to), proxy);
    }
    return proxy;
  }

  /** host:port every node dials to reach `id` (its entrance): the Raft address to record for it. */
  entranceOf(id: string): string {
    const entrance = this.entrances.get(id);
    if (!entrance) throw new Error(`FaultNetwork: unknown node ${id} (nodes: ${this.nodeIds.join(', ')})`);
    return `${entrance.bound.host}:${entrance.bound.port}`;
  }

  /** host:port node `from` must dial to reach `to`: `to`'s entrance, whoever dials. */
  peerAddress(from: string, to: string): string {
    this.node(from);
    return this.entranceOf(to);
  }

  /**
   * The --peers value, the same for every node: "Node1=<entrance1>,Node2=..." over `members`
   * (default every node; not the spares that join later). A node's own entry is its entrance
   * too (what the configuration records); it listens where --raft says.
   */
  peersFlag(from: string, members: readonly string[] = this.nodeIds): string {
    this.node(from);
    return members.map((to) => `${to}=${this.entranceOf(to)}`).join(',');
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

  /** Delay on every link, now and made later, both directions of every connection. */
  setDelay(ms: number): void {
    for (const proxy of this.allLinks().map(([from, to]) => this.link(from, to))) proxy.setDelay(ms);
    this.delayMs = ms;
  }

  setLinkDelay(from: string, to: string, ms: number): void {
    this.link(from, to).setDelay(ms);
  }

  /** The links cut now, in node order. */
  cutLinks(): Link[] {
    return this.allLinks().filter(([from, to]) => this.links.get(linkKey(from, to))?.isCut() === true);
  }

  /** One line for fault logs: "cut: Node1→Node2, Node2→Node1" or "all links up". */
  describe(): string {
    const cut = this.cutLinks();
    return cut.length === 0 ? 'all links up' : `cut: ${cut.map(([from, to]) => `${from}→${to}`).join(', ')}`;
  }

  /** Closes every entrance and drops every connection. */
  async close(): Promise<void> {
    // Links first: a listener's close waits for the connections it accepted, which the links hold.
    const entrances = Promise.all([...this.entrances.values()].map((entrance) => entrance.close()));
    await Promise.all([...this.links.values()].map((proxy) => proxy.close()));
    await entrances;
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

/**
 * Where connections to one node arrive. It reads the first frame (the hello, at most
 * MAX_HANDSHAKE_FRAME_BYTES, within HELLO_TIMEOUT_MS) to learn who dials, then hands the
 * paused connection and the bytes read to that dialer's link. A connection whose first frame
 * names no dialer (not a hello: a stray client, or TLS) goes to link "?→to", which is cut
 * only by hand.
 */
class Entrance {
  private readonly pending = new Set<net.Socket>();

  private constructor(readonly node: NetworkNode, private readonly server: net.Server, readonly bound: { host: string; port: number }) {}

  static async start(node: NetworkNode, listenHost: string, handOver: (from: string, socket: net.Socket, head: Buffer) => void): Promise<Entrance> {
    const server = net.createServer({ allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as net.AddressInfo;
    const entrance = new Entrance(node, server, { host: address.address, port: address.port });
    server.on('connection', (socket) => entrance.readHello(socket, handOver));
    return entrance;
  }

  async close(): Promise<void> {
    for (const socket of this.pending) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private readHello(socket: net.Socket, handOver: (from: string, socket: net.Socket, head: Buffer) => void): void {
    this.pending.add(socket);
    socket.on('error', () => undefined);
    let head = Buffer.alloc(0);
    const finish = (from: string | null): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      this.pending.delete(socket);
      if (from === null) socket.resetAndDestroy();
      else handOver(from, socket, head);
    };
    const timer = setTimeout(() => finish(null), HELLO_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      if (head.length < FRAME_HEADER_BYTES) return;
      const length = head.readUInt32BE(0);
      if (length === 0 || length > MAX_HANDSHAKE_FRAME_BYTES) return finish('?');
      if (head.length < FRAME_HEADER_BYTES + length) return;
      finish(helloSender(head.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length)) ?? '?');
    };
    socket.on('data', onData);
    socket.once('close', () => {
      if (this.pending.has(socket)) finish(null);
    });
  }
}

/** The dialer a hello frame names, or null when the payload is not a hello. */
function helloSender(payload: Buffer): string | null {
  try {
    const hello = decodePayload(payload) as { kind?: unknown; from?: unknown } | null;
    return hello !== null && typeof hello === 'object' && hello.kind === 'hello' && typeof hello.from === 'string' ? hello.from : null;
  } catch {
    return null;
  }
}
