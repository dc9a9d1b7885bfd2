/**
 * A hostile cluster member for tests (issue 15): it holds the shared secret, passes the peer
 * handshake under a member's identity, and then writes whatever it is given.
 *
 * ADAPT HERE when src/transport changes: this file is the only place the tests and the fault
 * harness touch the peer protocol. `ForgerPeer` goes through the transport's public API
 * (`TcpTransport.send` does not validate what it sends); `openRawPeerSocket` runs the
 * dialer's side of the handshake by hand (raw-peer.ts) so that raw bytes, or frames sealed
 * with the session's per-frame MAC, can be written after it.
 */
import net from 'node:net';
import type { Message, NodeId } from '@raftquotes/raft';
import { TcpTransport } from '../../src/transport/tcp-transport.js';
import { RawPeer } from './raw-peer.js';
import { becomesTrue } from './wait.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface ForgerPeerOptions {
  /** The member this connection claims to be (the handshake's `from`). */
  as: NodeId;
  /** The node it connects to, and that node's Raft address. */
  target: NodeId;
  address: HostPort;
  clusterId: string;
  /** The cluster's shared secret; undefined or a wrong one to be refused. */
  secret: string | undefined;
  /**
   * The HTTP URL told in the handshake. Pass the impersonated member's real one: this helper
   * forges Raft messages, not the advertised URL (a separate attack with its own fix).
   */
  http: string;
}

/** One recorded line of the forger's own transport log. */
export interface ForgerLogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  text: string;
}


/**
 * A one-link TcpTransport posing as `as`, dialing only `target`. Note what connecting does to
 * the real member: the target keeps one inbound connection per peer, so this one replaces
 * the real member's link to the target until one of the two redials. Keep it short-lived.
 */
export class ForgerPeer {
  readonly log: ForgerLogLine[] = [];
  private readonly transport: TcpTransport;

  private constructor(readonly options: ForgerPeerOptions) {
    const record = (level: ForgerLogLine['level']) => (_fields: object, text: string): void => void this.log.push({ level, text });
    this.transport = new TcpTransport({
      selfId: options.as,
      clusterId: options.clusterId,
      listen: { host: '127.0.0.1', port: 0 },
      peers: { [options.target]: options.address },
      secret: options.secret,
      // No secret: an unauthenticated dialer (which the nodes must refuse).
      insecure: options.secret === undefined,
      advertise: { http: options.http },
      logger: { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') },
    });
  }

  /**
   * Starts dialing and returns at once. Messages sent before the handshake is done are
   * queued and written the moment it is: send right after start, because the real member,
   * whose link this connection replaced, redials within tens of milliseconds and replaces it
   * back (the queue of a link that drops is discarded, as in any TcpTransport).
   */
  static async start(options: ForgerPeerOptions): Promise<ForgerPeer> {
    const peer = new ForgerPeer(options);
    await peer.transport.start();
    return peer;
  }

  /** Waits for the handshake to succeed; false after timeoutMs (refused, or nobody answers). */
  waitConnected(timeoutMs = 5_000): Promise<boolean> {
    return becomesTrue(() => this.connected, timeoutMs, 20);
  }

  get connected(): boolean {
    return this.transport.stats()[0]?.connected ?? false;
  }

  /** Messages written to the socket so far. */
  get sent(): number {
    return this.transport.stats()[0]?.sentMessages ?? 0;
  }

  /** Queues a message for the target (anything: it is msgpack-encoded as it is, never checked). */
  send(message: unknown): void {
    this.transport.send(this.options.target, message as Message);
  }

  /** Waits until `count` messages in all were written (or timeoutMs); returns whether they were. */
  waitSent(count: number, timeoutMs = 5_000): Promise<boolean> {
    return becomesTrue(() => this.sent >= count, timeoutMs, 20);
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}

// ---------------------------------------------------------------- raw frames (fuzzing)

/** A socket past the handshake: write raw bytes with `socket.write`, or sealed frames made by `seal`. */
export interface RawPeerSocket {
  socket: net.Socket;
  /** Resolves when the node closes the connection (or it errors). */
  closed: Promise<void>;
  /**
   * A frame around any payload bytes with a valid per-frame MAC, the next in this
   * connection's sequence: seal in the order the frames will be written.
   */
  seal(payload: Buffer): Buffer;
}

/** A frame as the transport frames it, without the per-frame MAC (so the node closes the connection on it). */
export function rawFrame(payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length, 0);
  return Buffer.concat([header, payload]);
}

/**
 * Dials `address` and runs the dialer's side of the secret-mode handshake by hand
 * (test/support/raw-peer.ts), so a test can write raw bytes, or sealed frames of any
 * payload, on an authenticated connection. Rejects if the node refuses or does not answer.
 */
export async function openRawPeerSocket(options: ForgerPeerOptions, timeoutMs = 5_000): Promise<RawPeerSocket> {
  const peer = await RawPeer.connect(options.address.port, undefined, options.address.host);
  const closed = new Promise<void>((done) => (peer.isClosed ? done() : peer.socket.once('close', () => done())));
  let answer: Record<string, unknown>;
  try {
    answer = await peer.handshake(options.secret ?? '', { clusterId: options.clusterId, from: options.as, to: options.target }, timeoutMs);
  } catch (err) {
    peer.destroy();
    throw new Error(`raw handshake as ${options.as} with ${options.target}: ${(err as Error).message}`);
  }
  if (answer.kind !== 'welcome') {
    peer.destroy();
    throw new Error(`raw handshake as ${options.as} with ${options.target}: ${String(answer.kind)}`);
  }
  return { socket: peer.socket, closed, seal: (payload) => peer.sealedPayload(payload) };
}
