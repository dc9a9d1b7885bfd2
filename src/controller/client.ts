/**
 * The controller's client side (used by `raftquotes ctl`): one UDP socket, replies matched to
 * the node that sent them, LEADER_INFO redirects followed for STORE and RETRIEVE, and RETRIEVE
 * pages (`"next"`) fetched and concatenated. Every wait is bounded.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { requestMessage, type ControllerMessage } from './protocol.js';
import { STORE_ACK_TIMEOUT_MS } from './server.js';
import { errorMessage } from '../narrow.js';

/** Default wait for one reply. */
export const DEFAULT_TIMEOUT_MS = 2_000;
/** LEADER_INFO redirects (and no-leader retries) followed before giving up. */
export const MAX_REDIRECTS = 8;
/** RETRIEVE pages fetched at most (each up to 60,000 bytes). */
export const MAX_PAGES = 10_000;
/** A STORE without ack has no reply on the leader; a non-leader redirects within this window. */
const REDIRECT_GRACE_MS = 300;
/** Pause before asking again when no node knows a leader (an election is running). */
const NO_LEADER_RETRY_MS = 250;
/** A STORE ack can take the server's whole commit wait; give it that plus the round trip. */
const ACK_WAIT_MS = STORE_ACK_TIMEOUT_MS + 1_000;

/** A node's controller address. */
export interface ControllerTarget {
  id: string;
  host: string;
  port: number;
}

/** One datagram received, attributed to a node when it came from one we know. */
export interface ControllerReply {
  message: ControllerMessage;
  /** Our name for the node that sent it (null: an unknown source). */
  node: string | null;
  from: { address: string; port: number };
  bytes: number;
}

/** How a request ended. */
export type ControllerOutcome =
  | { kind: 'reply'; reply: ControllerReply; pages?: number }
  | { kind: 'sent'; node: string; message: ControllerMessage }
  | { kind: 'no_reply'; node: string; detail: string };

export interface ControllerClientOptions {
  nodes: ControllerTarget[];
  timeoutMs?: number;
  /** `sender_name` of every request (the course controller calls itself "Controller"). */
  senderName?: string;
}

interface Waiter {
  node: string;
  resolve(reply: ControllerReply | null): void;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A UDP controller client for a fixed set of nodes. Call close() when done. */
export class ControllerClient {
  readonly nodes: readonly ControllerTarget[];
  /** The first node given: where a request goes when no leader is known. */
  readonly firstNode: ControllerTarget;
  readonly timeoutMs: number;
  readonly senderName: string;
  private readonly socket: Socket;
  private readonly addresses = new Map<string, Promise<string>>();
  /** "ip:port" of each resolved node → its id, to attribute replies. */
  private readonly sources = new Map<string, string>();
  private readonly waiters = new Set<Waiter>();
  private readonly listeners = new Set<(reply: ControllerReply) => void>();
  private closed = false;

  constructor(options: ControllerClientOptions) {
    const [first] = options.nodes;
    if (first === undefined) throw new Error('no controller nodes given');
    this.nodes = options.nodes;
    this.firstNode = first;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.senderName = options.senderName ?? 'Controller';
    this.socket = createSocket('udp4');
    this.socket.on('message', (data, from) => this.onDatagram(data, from));
    this.socket.on('error', () => undefined); // send errors are reported per request
  }

  /** The node with this id (case-insensitive), or null. */
  node(id: string): ControllerTarget | null {
    return this.nodes.find((n) => n.id.toLowerCase() === id.toLowerCase()) ?? null;
  }

  /** Calls `listener` with every datagram received (the REPL prints them all). */
  onReply(listener: (reply: ControllerReply) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A request in the course template, from this client. */
  message(request: string, fields: { key?: unknown; value?: unknown; ack?: boolean } = {}): ControllerMessage {
    return requestMessage(this.senderName, request, fields);
  }

  /** Sends one message; rejects when the name does not resolve or the send fails. */
  send(target: ControllerTarget, message: ControllerMessage): Promise<void> {
    return this.sendBytes(target, Buffer.from(JSON.stringify(message), 'utf8'));
  }

  /** Sends a datagram as given (JSON or not: the REPL's SEND, tests of ERROR replies). */
  async sendBytes(target: ControllerTarget, data: Uint8Array): Promise<void> {
    const address = await this.resolve(target);
    await new Promise<void>((resolve, reject) => this.socket.send(data, target.port, address, (err) => (err ? reject(err) : resolve())));
  }

  /** Sends `message` and waits for the next datagram from that node; null on timeout or send failure. */
  async exchange(target: ControllerTarget, message: ControllerMessage, timeoutMs = this.timeoutMs): Promise<ControllerReply | null> {
    let resolveReply: (reply: ControllerReply | null) => void = () => undefined;
    const reply = new Promise<ControllerReply | null>((resolve) => {
      resolveReply = resolve;
    });
    const waiter: Waiter = { node: target.id, resolve: resolveReply };
    this.waiters.add(waiter);
    const timer = setTimeout(() => this.settle(waiter, null), timeoutMs);
    try {
      await this.send(target, message);
    } catch {
      this.settle(waiter, null);
    }
    const result = await reply;
    clearTimeout(timer);
    return result;
  }

  /** Asks every node for LEADER_INFO; the leader most of them name (a self-claim ends the wait early). */
  async findLeader(): Promise<ControllerTarget | null> {
    const named = new Map<string, { votes: number; term: number }>();
    const message = this.message('LEADER_INFO');
    let claimed: string | null = null;
    await new Promise<void>((done) => {
      let pending = this.nodes.length;
      for (const target of this.nodes) {
        void this.exchange(target, message).then((reply) => {
          const leader = reply?.message.request === 'LEADER_INFO' ? reply.message.value : null;
          if (typeof leader === 'string') {
            const seen = named.get(leader) ?? { votes: 0, term: 0 };
            named.set(leader, { votes: seen.votes + 1, term: Math.max(seen.term, Number(reply?.message.term) || 0) });
            if (leader === reply?.message.sender_name) claimed = leader;
          }
          if (--pending === 0 || claimed) done();
        });
      }
    });
    const best = claimed ?? [...named.entries()].sort((a, b) => b[1].term - a[1].term || b[1].votes - a[1].votes)[0]?.[0];
    return best ? this.node(best) : null;
  }

  /** STORE key=value, following redirects to the leader. Without ack, a silent leader means "sent". */
  async store(key: string, value: unknown, options: { ack?: boolean; node?: string } = {}): Promise<ControllerOutcome> {
    const message = this.message('STORE', { key, value, ack: options.ack });
    let target = await this.startingNode(options.node);
    for (let hop = 0; ; hop++) {
      const reply = await this.exchange(target, message, options.ack ? Math.max(this.timeoutMs, ACK_WAIT_MS) : Math.min(this.timeoutMs, REDIRECT_GRACE_MS));
      if (!reply) return options.ack ? this.noReply(target, 'STORE') : { kind: 'sent', node: target.id, message };
      const next = hop < MAX_REDIRECTS ? await this.redirect(reply, target) : null;
      if (!next) return { kind: 'reply', reply };
      target = next;
    }
  }

  /** RETRIEVE the committed log from the leader, every page, concatenated into one reply. */
  async retrieve(options: { node?: string; from?: number } = {}): Promise<ControllerOutcome> {
    let target = await this.startingNode(options.node);
    let cursor = options.from ?? null;
    const entries: unknown[] = [];
    let pages = 0;
    for (let hop = 0; ; ) {
      const reply = await this.exchange(target, this.message('RETRIEVE', { value: cursor === null ? null : { from: cursor } }));
      if (!reply) return this.noReply(target, 'RETRIEVE');
      const { request, value, next } = reply.message;
      if (request === 'RETRIEVE' && Array.isArray(value)) {
        entries.push(...value);
        pages++;
        // Page on only while `next` moves forward: a bounded loop even against a confused node.
        if (typeof next === 'number' && next > (cursor ?? 0) && pages < MAX_PAGES) {
          cursor = next;
          continue;
        }
        const { next: _done, ...merged } = reply.message;
        return { kind: 'reply', reply: { ...reply, message: { ...merged, value: entries } }, pages };
      }
      const redirected = hop++ < MAX_REDIRECTS ? await this.redirect(reply, target) : null;
      if (!redirected) return { kind: 'reply', reply };
      target = redirected;
    }
  }

  /** One request, one reply (LEADER_INFO, STATUS, or anything else to a named node). */
  async ask(nodeId: string, request: string, fields: { key?: unknown; value?: unknown } = {}): Promise<ControllerOutcome> {
    const target = this.requireNode(nodeId);
    const reply = await this.exchange(target, this.message(request, fields));
    return reply ? { kind: 'reply', reply } : this.noReply(target, request);
  }

  /** Sends a request that has no reply (TIMEOUT, SHUTDOWN, CONVERT_FOLLOWER). */
  async fire(nodeId: string, request: string): Promise<ControllerOutcome> {
    const target = this.requireNode(nodeId);
    const message = this.message(request);
    try {
      await this.send(target, message);
    } catch (err) {
      return { kind: 'no_reply', node: target.id, detail: `cannot send to ${target.id} (${target.host}:${target.port}): ${errorMessage(err)}` };
    }
    return { kind: 'sent', node: target.id, message };
  }

  /** Closes the socket; pending waits end with no reply. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of [...this.waiters]) this.settle(waiter, null);
    this.socket.close();
  }

  /** The node id, or an Error naming the known nodes. */
  requireNode(id: string): ControllerTarget {
    const target = this.node(id);
    if (!target) throw new Error(`unknown node "${id}"; known nodes: ${this.nodes.map((n) => n.id).join(', ')}`);
    return target;
  }

  private async startingNode(id: string | undefined): Promise<ControllerTarget> {
    if (id) return this.requireNode(id);
    return (await this.findLeader()) ?? this.firstNode;
  }

  /**
   * Where a reply sends us next: the leader a LEADER_INFO (or a STORE not_leader error) names,
   * or, when no leader is known yet, whoever the nodes name after a short pause. Null: final.
   */
  private async redirect(reply: ControllerReply, current: ControllerTarget): Promise<ControllerTarget | null> {
    const { request, error } = reply.message;
    const redirectable = request === 'LEADER_INFO' || (request === 'STORE' && (error === 'not_leader' || error === 'no_leader' || error === 'unavailable'));
    if (!redirectable) return null;
    const named = request === 'LEADER_INFO' ? reply.message.value : reply.message.leader;
    const leader = typeof named === 'string' ? this.node(named) : null;
    if (leader && leader.id !== current.id) return leader;
    await sleep(NO_LEADER_RETRY_MS);
    return (await this.findLeader()) ?? current;
  }

  private noReply(target: ControllerTarget, request: string): ControllerOutcome {
    return { kind: 'no_reply', node: target.id, detail: `no reply to ${request} from ${target.id} (${target.host}:${target.port})` };
  }

  private resolve(target: ControllerTarget): Promise<string> {
    let address = this.addresses.get(target.id);
    if (!address) {
      address = isIP(target.host) === 4 ? Promise.resolve(target.host) : lookup(target.host, { family: 4 }).then((r) => r.address);
      address.then((ip) => this.sources.set(`${ip}:${target.port}`, target.id)).catch(() => this.addresses.delete(target.id));
      this.addresses.set(target.id, address);
    }
    return address;
  }

  /** The node a datagram came from: by source address, else by its sender_name. */
  private attribute(from: RemoteInfo, message: ControllerMessage): string | null {
    const bySource = this.sources.get(`${from.address}:${from.port}`);
    if (bySource) return bySource;
    const named = typeof message.sender_name === 'string' ? this.node(message.sender_name) : null;
    return named && named.port === from.port ? named.id : null;
  }

  private onDatagram(data: Buffer, from: RemoteInfo): void {
    let message: ControllerMessage;
    try {
      const parsed: unknown = JSON.parse(data.toString('utf8'));
      message = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as ControllerMessage) : { value: parsed };
    } catch {
      message = { request: null, value: data.toString('utf8') };
    }
    const reply: ControllerReply = { message, node: this.attribute(from, message), from: { address: from.address, port: from.port }, bytes: data.byteLength };
    for (const listener of this.listeners) listener(reply);
    const waiter = [...this.waiters].find((w) => w.node === reply.node);
    if (waiter) this.settle(waiter, reply);
  }

  private settle(waiter: Waiter, reply: ControllerReply | null): void {
    if (!this.waiters.delete(waiter)) return;
    waiter.resolve(reply);
  }
}
