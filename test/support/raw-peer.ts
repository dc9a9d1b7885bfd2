import net from 'node:net';
import tls from 'node:tls';
import { decodePayload, encodeFrame, FrameDecoder } from '../../src/transport/frame-codec.js';
import { HANDSHAKE_VERSION, handshakeMac, newNonce, sessionKey, type AuthMode, type Transcript } from '../../src/transport/handshake.js';
import { FrameSealer } from '../../src/transport/session-mac.js';

/**
 * A hand-driven peer that speaks the peer protocol (rightly or wrongly on purpose): for
 * transport unit tests and process-level attack tests. Every wait is bounded.
 */
export class RawPeer {
  readonly received: Array<Record<string, unknown>> = [];
  /** Every byte the acceptor sent, to check what a refusal reveals. */
  readonly bytes: Buffer[] = [];
  private closed = false;
  private sealer: FrameSealer | null = null;
  private readonly decoder = new FrameDecoder(1 << 24);
  nonce = newNonce();

  private constructor(readonly socket: net.Socket) {
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      this.bytes.push(chunk);
      try {
        for (const payload of this.decoder.push(chunk)) this.received.push(decodePayload(payload) as Record<string, unknown>);
      } catch {
        /* not frames: kept in bytes */
      }
    });
    socket.on('close', () => (this.closed = true));
  }

  /** Connects (over TLS when tlsOptions are given) and resolves once the stream is usable. */
  static async connect(port: number, tlsOptions?: tls.ConnectionOptions, host = '127.0.0.1'): Promise<RawPeer> {
    const socket = tlsOptions ? tls.connect({ host, port, ...tlsOptions }) : net.connect({ host, port });
    const peer = new RawPeer(socket);
    await new Promise<void>((resolve) => {
      socket.once(tlsOptions ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', () => resolve());
      socket.once('close', () => resolve());
    });
    return peer;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  allBytes(): Buffer {
    return Buffer.concat(this.bytes);
  }

  sendHello(fields: { clusterId: string; from: string; to: string; mode?: AuthMode; [k: string]: unknown }): void {
    this.socket.write(encodeFrame({ kind: 'hello', version: HANDSHAKE_VERSION, mode: 'secret', nonce: this.nonce, ...fields }));
  }

  /** Runs the secret-mode handshake as `from`; resolves with the welcome or refusal frame. */
  async handshake(secret: string, ids: { clusterId: string; from: string; to: string }, timeoutMs = 5_000): Promise<Record<string, unknown>> {
    this.sendHello(ids);
    const challenge = await this.next(0, timeoutMs);
    if (challenge.kind !== 'challenge') return challenge;
    const key = Buffer.from(secret, 'utf8');
    const transcript: Transcript = { clusterId: ids.clusterId, dialer: ids.from, acceptor: ids.to, dialerNonce: this.nonce, acceptorNonce: challenge.nonce as Uint8Array };
    this.socket.write(encodeFrame({ kind: 'auth', mac: handshakeMac(key, 'dialer', transcript) }));
    const answer = await this.next(1, timeoutMs);
    if (answer.kind === 'welcome') this.sealer = new FrameSealer(sessionKey(key, transcript));
    return answer;
  }

  /** Sends one message with a valid frame MAC (after a successful handshake). */
  sendSealed(value: unknown): void {
    this.socket.write(this.sealed(value));
  }

  /** The bytes sendSealed would write (to corrupt or split them). */
  sealed(value: unknown): Buffer {
    if (!this.sealer) throw new Error('no session key: handshake first');
    const frame = encodeFrame(value);
    const tag = this.sealer.seal(frame);
    return Buffer.concat([frame, tag]);
  }

  /** A sealed frame around arbitrary payload bytes (e.g. invalid msgpack from a holder of the secret). */
  sealedPayload(payload: Buffer): Buffer {
    if (!this.sealer) throw new Error('no session key: handshake first');
    const frame = Buffer.alloc(4 + payload.length);
    frame.writeUInt32BE(payload.length, 0);
    payload.copy(frame, 4);
    return Buffer.concat([frame, this.sealer.seal(frame)]);
  }

  /** Waits for the n-th received frame (0-based), or a closed connection (then {kind:'closed'}). */
  async next(n: number, timeoutMs = 5_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length <= n) {
      if (this.closed) return { kind: 'closed' };
      if (Date.now() > deadline) throw new Error(`no frame ${n} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return this.received[n] as Record<string, unknown>;
  }

  /** Resolves true once the acceptor closed the connection, false after timeoutMs. */
  async waitClosed(timeoutMs = 5_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
