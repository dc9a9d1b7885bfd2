/**
 * A bare UDP socket for tests: send raw datagrams, read replies one by one with a deadline,
 * and read them the way course graders do (recvfrom into a 1024-byte buffer).
 */
import { createSocket, type Socket } from 'node:dgram';

export const COURSE_RECV_BYTES = 1024;

/** A parsed reply; tests check it field by field. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JsonReply = any;

export interface Datagram {
  data: Buffer;
  from: { address: string; port: number };
}

export class UdpProbe {
  private readonly queue: Datagram[] = [];
  private waiting: ((d: Datagram) => void) | null = null;

  private constructor(private readonly socket: Socket) {
    socket.on('message', (data, from) => {
      const datagram = { data, from: { address: from.address, port: from.port } };
      if (this.waiting) {
        const resolve = this.waiting;
        this.waiting = null;
        resolve(datagram);
      } else this.queue.push(datagram);
    });
  }

  /** A probe bound to `host` (any 127.x.y.z works on Linux loopback: a second source address). */
  static async open(host = '127.0.0.1'): Promise<UdpProbe> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, host, resolve));
    return new UdpProbe(socket);
  }

  send(port: number, message: unknown, host = '127.0.0.1'): Promise<void> {
    const data = Buffer.isBuffer(message) ? message : Buffer.from(typeof message === 'string' ? message : JSON.stringify(message), 'utf8');
    return new Promise((resolve, reject) => this.socket.send(data, port, host, (err) => (err ? reject(err) : resolve())));
  }

  /** The next datagram, or null after `timeoutMs`. */
  next(timeoutMs = 2_000): Promise<Datagram | null> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        resolve(null);
      }, timeoutMs);
      this.waiting = (d) => {
        clearTimeout(timer);
        resolve(d);
      };
    });
  }

  /** The next reply parsed as JSON (throws on timeout). */
  async json(timeoutMs = 2_000): Promise<JsonReply> {
    const d = await this.next(timeoutMs);
    if (!d) throw new Error(`no reply within ${timeoutMs} ms`);
    return JSON.parse(d.data.toString('utf8'));
  }

  /**
   * The next reply as a course grader sees it: only the first 1024 bytes are read (Python's
   * sock.recvfrom(1024) silently drops the rest), then parsed. Throws if the reply was longer.
   */
  async courseJson(timeoutMs = 2_000): Promise<JsonReply> {
    const d = await this.next(timeoutMs);
    if (!d) throw new Error(`no reply within ${timeoutMs} ms`);
    if (d.data.byteLength > COURSE_RECV_BYTES) throw new Error(`reply of ${d.data.byteLength} bytes would be cut at ${COURSE_RECV_BYTES}`);
    return JSON.parse(d.data.subarray(0, COURSE_RECV_BYTES).toString('utf8'));
  }

  /**
   * Sends `message` to `port` and returns the first reply from that port (earlier strays from
   * other ports are dropped), read whole or, with `course`, as a 1024-byte grader would.
   */
  async exchange(port: number, message: unknown, options: { timeoutMs?: number; course?: boolean } = {}): Promise<JsonReply | null> {
    this.queue.length = 0;
    await this.send(port, message);
    const deadline = Date.now() + (options.timeoutMs ?? 2_000);
    for (;;) {
      const left = deadline - Date.now();
      const d = left > 0 ? await this.next(left) : null;
      if (!d) return null;
      if (d.from.port !== port) continue;
      if (options.course && d.data.byteLength > COURSE_RECV_BYTES) throw new Error(`reply of ${d.data.byteLength} bytes would be cut at ${COURSE_RECV_BYTES}`);
      return JSON.parse(d.data.toString('utf8'));
    }
  }

  /** Everything that arrives within `ms`. */
  async drain(ms: number): Promise<Datagram[]> {
    const out: Datagram[] = [];
    const deadline = Date.now() + ms;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return out;
      const d = await this.next(left);
      if (!d) return out;
      out.push(d);
    }
  }

  close(): void {
    this.socket.close();
  }
}
