/**
 * A hostile cluster member for tests (issue 15): it holds the shared secret, passes the peer
 * handshake under a member's identity, and then writes whatever it is given.
 *
 * ADAPT HERE when src/transport changes: this file is the only place the tests and the fault
 * harness touch the peer protocol. `ForgerPeer` goes through the transport's public API
 * (`TcpTransport.send` does not validate what it sends); `openRawPeerSocket` re-implements the
 * dialer's side of the handshake with handshake.ts and frame-codec.ts so that raw bytes can be
 * written after it, and must follow any change to the handshake or to the framing (per-frame
 * MACs, for instance, would need a MAC on every frame written with `rawFrame`).
 */
import net from 'node:net';
import type { Message, NodeId } from '../../src/raft/types.js';
import { decodePayload, encodeFrame, FrameDecoder } from '../../src/transport/frame-codec.js';
import { HANDSHAKE_VERSION, handshakeMac, MAX_HANDSHAKE_FRAME_BYTES, newNonce, parseHandshake, type Transcript } from '../../src/transport/handshake.js';
import { TcpTransport } from '../../src/transport/tcp-transport.js';

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

/** Polls `check` every 20 ms until it holds or `timeoutMs` passes; returns whether it held. */
async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
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
    return until(() => this.connected, timeoutMs);
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
    return until(() => this.sent >= count, timeoutMs);
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}

// ---------------------------------------------------------------- raw frames (fuzzing)

/** A socket past the handshake: write raw bytes with `socket.write`, or frames with `rawFrame`. */
export interface RawPeerSocket {
  socket: net.Socket;
  /** Resolves when the node closes the connection (or it errors). */
  closed: Promise<void>;
}

/** A frame as the transport writes it: 4-byte big-endian payload length, then the payload. */
export function rawFrame(payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length, 0);
  return Buffer.concat([header, payload]);
}

/**
 * Dials `address` and runs the dialer's side of the peer handshake by hand (hello → challenge
 * → auth → welcome, see src/transport/handshake.ts), so a test can write raw bytes on an
 * authenticated connection. Rejects if the node refuses or does not answer in timeoutMs.
 */
export function openRawPeerSocket(options: ForgerPeerOptions, timeoutMs = 5_000): Promise<RawPeerSocket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: options.address.host, port: options.address.port, noDelay: true });
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    const decoder = new FrameDecoder(MAX_HANDSHAKE_FRAME_BYTES);
    const dialerNonce = newNonce();
    let acceptorNonce: Uint8Array | null = null;
    let open = false;
    const fail = (why: string): void => {
      if (open) return;
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(`raw handshake as ${options.as} with ${options.target}: ${why}`));
    };
    const timer = setTimeout(() => fail('timed out'), timeoutMs);
    socket.on('error', (err) => {
      fail(err.message);
      socket.destroy();
    });
    socket.once('close', () => fail('closed during the handshake'));
    socket.on('connect', () => {
      socket.write(encodeFrame({ kind: 'hello', version: HANDSHAKE_VERSION, clusterId: options.clusterId, from: options.as, to: options.target, http: options.http, nonce: dialerNonce, auth: options.secret !== undefined }));
    });
    const onData = (chunk: Buffer): void => {
      let payloads: Buffer[];
      try {
        payloads = decoder.push(chunk);
      } catch (err) {
        return fail((err as Error).message);
      }
      for (const payload of payloads) {
        if (open) return;
        let value: unknown;
        try {
          value = decodePayload(payload);
        } catch (err) {
          return fail((err as Error).message);
        }
        const parsed = parseHandshake(value, ['challenge', 'welcome', 'refused'] as const);
        if ('reason' in parsed) return fail(parsed.reason);
        const frame = parsed.frame;
        if (frame.kind === 'refused') return fail(`refused: ${frame.reason}`);
        if (frame.kind === 'challenge') {
          acceptorNonce = frame.nonce;
          const transcript: Transcript = { clusterId: options.clusterId, dialer: options.as, acceptor: options.target, dialerNonce, acceptorNonce };
          socket.write(encodeFrame({ kind: 'auth', mac: handshakeMac(Buffer.from(options.secret ?? '', 'utf8'), 'dialer', transcript, options.http) }));
          continue;
        }
        // Welcome: the connection is open; anything the node sends later is ignored.
        open = true;
        clearTimeout(timer);
        resolve({ socket, closed });
        return;
      }
    };
    socket.on('data', onData);
  });
}
