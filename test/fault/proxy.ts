import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** Bytes a delayed direction may hold before the proxy stops reading its source (backpressure). */
export const MAX_QUEUED_BYTES_PER_DIRECTION = 8 * 1024 * 1024;
/** Longest delay setDelay accepts: longer than any Raft timeout matters, short enough to notice a typo. */
export const MAX_DELAY_MS = 60_000;

/**
 * How a cut link treats connections.
 *
 * - `blackhole` (default): the closest model of a network partition that user space
 *   can build on loopback. Connections open at the time of the cut are reset (a
 *   long partition ends that way anyway, once the transport's timeouts fire, and it
 *   keeps stale bytes from being delivered after the heal). New connections are
 *   accepted but never read from nor forwarded: the dialer sees a connection that
 *   takes writes and never answers, as with dropped packets, so the transport's own
 *   handshake and liveness timeouts, and Raft's election timeout and check-quorum,
 *   have to detect the partition. On heal they are reset, so the dialer reconnects.
 * - `reset`: new connections are accepted and reset at once, like a host that is up
 *   but refuses the port. Faster to detect; exercises reconnect backoff.
 */
export type CutMode = 'blackhole' | 'reset';

/** Where a proxy listens and forwards to. */
export interface ProxyOptions {
  target: { host: string; port: number };
  /** Defaults to 127.0.0.1 and an ephemeral port. */
  listen?: { host?: string; port?: number };
  /** For messages, e.g. "Node1→Node2". */
  name?: string;
}

/** Counters for tests and fault logs. */
export interface ProxyStats {
  name: string;
  accepted: number;
  /** Connections forwarding now. */
  active: number;
  /** Connections held by a blackhole cut. */
  held: number;
  bytesToTarget: number;
  bytesFromTarget: number;
  cut: CutMode | null;
  delayMs: number;
}

/**
 * A TCP proxy for one directed link: listens on 127.0.0.1:port and forwards each
 * connection to the target, both ways. Controlled in-process by the fault harness:
 * cut/heal a partition, add latency. Everything it starts it stops in close().
 */
export class FaultProxy {
  private cutMode: CutMode | null = null;
  private delayMs = 0;
  private readonly active = new Set<ProxiedConnection>();
  private readonly held = new Set<net.Socket>();
  private readonly counters = { accepted: 0, bytesToTarget: 0, bytesFromTarget: 0 };

  /** Where the proxy listens; kept after close, for messages. */
  private bound = { host: '', port: 0 };

  private constructor(private readonly server: net.Server | null, private readonly options: ProxyOptions, readonly name: string) {}

  /**
   * A link without a listener of its own: another listener (FaultNetwork's entrance of a node,
   * which tells dialers apart by their hello) hands it connections with adopt(). Its address
   * is that listener's.
   */
  static detached(options: ProxyOptions & { address: { host: string; port: number } }): FaultProxy {
    const proxy = new FaultProxy(null, options, options.name ?? `proxy→${options.target.host}:${options.target.port}`);
    proxy.bound = { ...options.address };
    return proxy;
  }

  /**
   * Takes a connection accepted elsewhere, paused, whose first bytes (`head`) were already read:
   * forwarded after `head`, held or reset as the link's state says (a held one loses `head`,
   * as a partition loses packets).
   */
  adopt(client: net.Socket, head: Buffer): void {
    client.pause();
    this.accept(client, head);
  }

  /** Starts listening; resolves once the port is bound. */
  static async start(options: ProxyOptions): Promise<FaultProxy> {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
    const name = options.name ?? `proxy→${options.target.host}:${options.target.port}`;
    const proxy = new FaultProxy(server, options, name);
    server.on('connection', (socket) => proxy.accept(socket, Buffer.alloc(0)));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.listen?.port ?? 0, options.listen?.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        const bound = server.address() as net.AddressInfo;
        proxy.bound = { host: bound.address, port: bound.port };
        resolve();
      });
    });
    return proxy;
  }

  /** The port the proxy listens on. */
  get port(): number {
    return this.bound.port;
  }

  /** host:port to give a node in its --peers list. */
  get address(): string {
    return `${this.bound.host}:${this.bound.port}`;
  }

  /** Partitions the link: resets open connections; new ones are held (blackhole) or reset. */
  cut(mode: CutMode = 'blackhole'): void {
    this.cutMode = mode;
    for (const connection of [...this.active]) connection.destroy();
  }

  /** Ends the partition: held connections are reset so dialers reconnect through a working link. */
  heal(): void {
    this.cutMode = null;
    for (const socket of [...this.held]) socket.resetAndDestroy();
    this.held.clear();
  }

  /** True while cut. */
  isCut(): boolean {
    return this.cutMode !== null;
  }

  /**
   * Delays every forwarded chunk by ms, in both directions, keeping byte order (a
   * chunk never overtakes an earlier one, even when the delay shrinks). Applies to
   * chunks that arrive from now on.
   */
  setDelay(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0 || ms > MAX_DELAY_MS) throw new RangeError(`${this.name}: delay must be within [0, ${MAX_DELAY_MS}] ms, got ${ms}`);
    this.delayMs = ms;
  }

  stats(): ProxyStats {
    return { name: this.name, ...this.counters, active: this.active.size, held: this.held.size, cut: this.cutMode, delayMs: this.delayMs };
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    for (const connection of [...this.active]) connection.destroy();
    for (const socket of [...this.held]) socket.destroy();
    this.held.clear();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: net.Socket, head: Buffer): void {
    this.counters.accepted++;
    client.on('error', () => undefined); // a reset dialer is normal here
    if (this.cutMode === 'reset') client.resetAndDestroy();
    else if (this.cutMode === 'blackhole') this.hold(client);
    else this.forward(client, head);
  }

  private forward(client: net.Socket, head: Buffer): void {
    const connection = new ProxiedConnection(client, head, this.options.target, {
      delayMs: () => this.delayMs,
      counted: (direction, bytes) => (this.counters[direction] += bytes),
      closed: () => this.active.delete(connection),
    });
    this.active.add(connection);
  }

  /** Keeps the socket open and unread (paused since accept), like a peer behind a partition. */
  private hold(client: net.Socket): void {
    this.held.add(client);
    client.on('close', () => this.held.delete(client));
  }
}

interface ConnectionHooks {
  delayMs: () => number;
  counted: (direction: 'bytesToTarget' | 'bytesFromTarget', bytes: number) => void;
  closed: () => void;
}

/** One accepted connection and its upstream twin. */
class ProxiedConnection {
  private readonly upstream: net.Socket;
  private readonly pipes: DelayedPipe[] = [];
  private finished = false;

  constructor(private readonly client: net.Socket, private readonly head: Buffer, target: ProxyOptions['target'], private readonly hooks: ConnectionHooks) {
    this.upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    this.upstream.on('error', () => undefined);
    this.upstream.once('connect', () => this.startForwarding());
    for (const socket of [client, this.upstream]) {
      socket.on('close', (hadError) => this.onClose(hadError));
    }
  }

  private startForwarding(): void {
    const toTarget = new DelayedPipe(this.client, this.upstream, this.hooks.delayMs, (n) => this.hooks.counted('bytesToTarget', n));
    this.pipes.push(toTarget, new DelayedPipe(this.upstream, this.client, this.hooks.delayMs, (n) => this.hooks.counted('bytesFromTarget', n)));
    if (this.head.length > 0) toTarget.push(this.head);
    this.client.resume();
  }

  /**
   * A reset or error on one side resets the other, as a broken connection would. A
   * graceful close needs nothing: each side's FIN travels through its pipe, after the
   * delayed bytes. An upstream that never connected (target down) resets the dialer.
   */
  private onClose(hadError: boolean): void {
    const bothClosed = this.client.destroyed && this.upstream.destroyed;
    if (hadError || this.pipes.length === 0) this.destroy();
    else if (bothClosed) this.finish();
  }

  /** Drops the connection: both sockets reset, queued bytes discarded. */
  destroy(): void {
    for (const pipe of this.pipes) pipe.discard();
    if (!this.client.destroyed) this.client.resetAndDestroy();
    if (!this.upstream.destroyed) this.upstream.resetAndDestroy();
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.hooks.closed();
  }
}

interface Pending {
  due: number;
  chunk: Buffer | null; // null: the source ended (FIN)
}

/**
 * One direction of a connection, with an optional delay. Chunks are released in
 * arrival order at max(arrival + delay, previous release), so order is kept when the
 * delay changes. Reading pauses while too much is queued or the sink is full.
 */
class DelayedPipe {
  private readonly queue: Pending[] = [];
  private queuedBytes = 0;
  private lastDue = 0;
  private timer: NodeJS.Timeout | undefined;
  private sinkFull = false;

  constructor(private readonly source: net.Socket, private readonly sink: net.Socket, private readonly delayMs: () => number, private readonly counted: (bytes: number) => void) {
    source.on('data', (chunk: Buffer) => this.enqueue(chunk));
    source.on('end', () => this.enqueue(null));
    if (source.readableEnded) this.enqueue(null);
    sink.on('drain', () => {
      this.sinkFull = false;
      this.release();
    });
  }

  /** Bytes read from the source before this pipe existed (a hello read by the entrance), sent first. */
  push(chunk: Buffer): void {
    this.queue.unshift({ due: performance.now(), chunk });
    this.queuedBytes += chunk.length;
    this.release();
  }

  /** Stops everything; queued bytes are lost, as in a reset connection. */
  discard(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.queuedBytes = 0;
  }

  private enqueue(chunk: Buffer | null): void {
    this.lastDue = Math.max(performance.now() + this.delayMs(), this.lastDue);
    this.queue.push({ due: this.lastDue, chunk });
    this.queuedBytes += chunk?.length ?? 0;
    if (this.queuedBytes > MAX_QUEUED_BYTES_PER_DIRECTION) this.source.pause();
    this.release();
  }

  /** Writes every chunk that is due, in order; sets a timer for the next one. */
  private release(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0 && !this.sinkFull && !this.sink.destroyed) {
      const head = this.queue[0] as Pending;
      const wait = head.due - performance.now();
      if (wait > 0) {
        this.timer = setTimeout(() => this.release(), Math.ceil(wait));
        return;
      }
      this.queue.shift();
      if (head.chunk === null) {
        this.sink.end();
        continue;
      }
      this.queuedBytes -= head.chunk.length;
      this.counted(head.chunk.length);
      this.sinkFull = !this.sink.write(head.chunk);
    }
    if (this.queuedBytes <= MAX_QUEUED_BYTES_PER_DIRECTION / 2 && this.source.isPaused() && !this.sinkFull) this.source.resume();
  }
}
