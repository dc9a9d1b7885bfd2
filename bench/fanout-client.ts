/**
 * One process of fan-out subscribers (bench/fanout.ts starts several, so the load generator's
 * own CPU is spread and does not single-handedly limit what it measures). Talks to its parent
 * over IPC:
 *   parent → { kind: 'start', urls, count, localAddresses, prefix }   open `count` sockets
 *   child  → { kind: 'ready', opened } | { kind: 'failed', error }
 *   parent → { kind: 'mark' }                                         count status events from here
 *   parent → { kind: 'report' }                                       send what arrived
 *   child  → { kind: 'arrivals', arrivals: [quoteNumber, epochMs][], closed, duplicates, outOfOrder, statuses }
 *
 * The subscribers are plain TCP sockets that speak just enough RFC 6455 to be WebSocket clients:
 * the upgrade (with its Sec-WebSocket-Accept check) and the reading of unmasked server frames.
 * A general client (ws) costs about as much CPU per message as the server's write, and these
 * sockets share the server's two cores, so a heavy client would add its own delay to what is
 * measured. Here a chunk read from a socket is stamped once, on arrival, with the epoch in ms at
 * sub-ms precision (the parent compares it with the time it posted the quote); then its frames
 * are walked by their headers. Sockets read into one shared buffer (net's `onread`), so a read
 * allocates nothing and emits no stream event. A status event is counted by one byte compare; a quote event is
 * not decoded, only searched for the run's prefix and its number. A quote a socket receives
 * twice or after a later one is counted, not timed, so `arrivals` never hides a missing delivery.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

interface StartMessage {
  kind: 'start';
  urls: string[];
  count: number;
  localAddresses: string[];
  prefix: string;
  connectTimeoutMs: number;
}

/** RFC 6455 §1.3: the GUID appended to the key for Sec-WebSocket-Accept. */
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OPCODE_TEXT = 0x1;
const OPCODE_CLOSE = 0x8;
const OPCODE_PING = 0x9;
const OPCODE_PONG = 0xa;
/** Byte 9 of a live event's payload: the 'q' of {"type":"quote" (a status event has 's'). */
const QUOTE_MARK_AT = 9;
const QUOTE_MARK = 0x71;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
/** A handshake that takes longer is failed (and retried): beyond the kernel's SYN retries (about 127 s), since a starved node's listen queue overflows. */
const HANDSHAKE_TIMEOUT_MS = 130_000;
const MAX_HANDSHAKE_BYTES = 16 * 1024;
/** Connection attempts per subscriber: a node this busy may answer a handshake 408 or 503, as it would a browser, which retries. */
const CONNECT_ATTEMPTS = 5;
const RETRY_DELAY_MS = 500;
/** Handshakes in flight at once, so thousands do not all time out together on a busy machine. */
const WAVE = 100;
/** Every socket of the process reads into this buffer; what a read leaves unparsed is copied out. */
const READ_BUFFER = Buffer.alloc(256 * 1024);

const sockets: Socket[] = [];
const arrivals: number[] = [];
let closed = 0;
let duplicates = 0;
let outOfOrder = 0;
let statuses = 0;
let protocolErrors = 0;

function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Reads a subscriber's frames: quote numbers of the run's prefix, in the order they come. */
class FrameReader {
  private rest: Buffer | null = null;
  /** Highest quote number this socket received. */
  private last = -1;

  constructor(private readonly socket: Socket, private readonly prefix: Buffer) {}

  /**
   * Every whole frame in `chunk` (after what was left of the last one); stamps them `at`. The
   * chunk may be the shared read buffer, so an incomplete frame's bytes are copied out of it.
   */
  read(chunk: Buffer, at: number): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = null;
    let pos = 0;
    while (pos < buf.length) {
      const end = this.frame(buf, pos, at);
      if (end < 0) {
        this.rest = Buffer.from(buf.subarray(pos));
        return;
      }
      pos = end;
    }
  }

  /** Handles the frame at `pos`; returns where it ends, or -1 if it is not all there yet. */
  private frame(buf: Buffer, pos: number, at: number): number {
    if (buf.length - pos < 2) return -1;
    const b0 = buf[pos] as number;
    const b1 = buf[pos + 1] as number;
    let length = b1 & 0x7f;
    let header = 2;
    if (length === 126) {
      if (buf.length - pos < 4) return -1;
      length = buf.readUInt16BE(pos + 2);
      header = 4;
    } else if (length === 127) {
      if (buf.length - pos < 10) return -1;
      length = buf.readUInt32BE(pos + 2) * 2 ** 32 + buf.readUInt32BE(pos + 6);
      header = 10;
    }
    const start = pos + header;
    const end = start + length;
    if (end > buf.length) return -1;
    // A server's frames are never masked nor, from this server, fragmented (RFC 6455 §5.1).
    if ((b1 & 0x80) !== 0 || (b0 & 0x80) === 0) {
      protocolErrors++;
      this.socket.destroy();
      return buf.length;
    }
    const opcode = b0 & 0x0f;
    if (opcode === OPCODE_TEXT) this.text(buf, start, end, at);
    else if (opcode === OPCODE_PING) this.socket.write(maskedFrame(OPCODE_PONG, buf.subarray(start, end)));
    else if (opcode === OPCODE_CLOSE) this.socket.end(maskedFrame(OPCODE_CLOSE, buf.subarray(start, Math.min(end, start + 2))));
    return end;
  }

  private text(buf: Buffer, start: number, end: number, at: number): void {
    if (buf[start + QUOTE_MARK_AT] !== QUOTE_MARK) {
      statuses++;
      return;
    }
    const found = buf.indexOf(this.prefix, start);
    if (found < 0 || found >= end) return;
    let n = 0;
    let digits = 0;
    for (let i = found + this.prefix.length; i < end; i++, digits++) {
      const c = buf[i] as number;
      if (c < DIGIT_0 || c > DIGIT_9) break;
      n = n * 10 + (c - DIGIT_0);
    }
    if (digits === 0) return;
    if (n === this.last) duplicates++;
    else if (n < this.last) outOfOrder++;
    else {
      this.last = n;
      arrivals.push(n, at);
    }
  }
}

/** A client-to-server frame (masked, RFC 6455 §5.3) with a payload under 126 bytes. */
function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const frame = Buffer.alloc(6 + payload.length);
  frame[0] = 0x80 | opcode;
  frame[1] = 0x80 | payload.length;
  mask.copy(frame, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = (payload[i] as number) ^ (mask[i % 4] as number);
  return frame;
}

async function open(url: string, localAddress: string, prefix: Buffer): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await openOnce(url, localAddress, prefix);
      return;
    } catch (err) {
      if (attempt >= CONNECT_ATTEMPTS) throw err;
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS * attempt));
    }
  }
}

/** Connects and upgrades one subscriber; resolves once it is open and reading frames. */
function openOnce(url: string, localAddress: string, prefix: Buffer): Promise<void> {
  const target = new URL(url);
  const key = randomBytes(16).toString('base64');
  const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
  return new Promise((resolve, reject) => {
    let onBytes: (bytes: Buffer) => void = () => undefined;
    const socket = connect({
      host: target.hostname,
      port: Number(target.port),
      localAddress,
      onread: {
        buffer: READ_BUFFER,
        callback: (bytes: number, buffer: Uint8Array): boolean => {
          onBytes((buffer as Buffer).subarray(0, bytes));
          return true;
        },
      },
    });
    socket.setNoDelay(true);
    socket.setTimeout(HANDSHAKE_TIMEOUT_MS, () => socket.destroy(new Error(`no WebSocket handshake within ${HANDSHAKE_TIMEOUT_MS} ms`)));
    let opened = false;
    let head = Buffer.alloc(0);
    const reader = new FrameReader(socket, prefix);
    socket.once('connect', () => {
      socket.write(
        `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    onBytes = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const endAt = head.indexOf('\r\n\r\n');
      if (endAt < 0) {
        if (head.length > MAX_HANDSHAKE_BYTES) socket.destroy(new Error('handshake response too long'));
        return;
      }
      const lines = head.subarray(0, endAt).toString('latin1').split('\r\n');
      const acceptHeader = lines.find((line) => line.toLowerCase().startsWith('sec-websocket-accept:'));
      if (!lines[0]?.startsWith('HTTP/1.1 101') || acceptHeader?.slice(acceptHeader.indexOf(':') + 1).trim() !== accept) {
        socket.destroy(new Error(`upgrade refused: ${lines[0] ?? '(no status line)'}`));
        return;
      }
      opened = true;
      socket.setTimeout(0);
      onBytes = (data: Buffer): void => reader.read(data, now());
      sockets.push(socket);
      resolve();
      if (head.length > endAt + 4) reader.read(head.subarray(endAt + 4), now());
    };
    socket.on('error', (err) => {
      if (!opened) reject(err);
    });
    socket.on('close', () => {
      if (opened) closed++;
      else reject(new Error('closed during the handshake'));
    });
  });
}

async function start(message: StartMessage): Promise<void> {
  const { urls, count, localAddresses } = message;
  const prefix = Buffer.from(message.prefix);
  for (let from = 0; from < count; from += WAVE) {
    const wave: Array<Promise<void>> = [];
    for (let i = from; i < Math.min(count, from + WAVE); i++) {
      wave.push(open(urls[i % urls.length] as string, localAddresses[Math.floor(i / urls.length) % localAddresses.length] as string, prefix));
    }
    await Promise.all(wave);
  }
}

process.on('message', (message: { kind: string } & Partial<StartMessage>) => {
  if (message.kind === 'start') {
    const timer = setTimeout(() => process.send?.({ kind: 'failed', error: `not connected within ${message.connectTimeoutMs} ms` }), message.connectTimeoutMs);
    start(message as StartMessage).then(
      () => {
        clearTimeout(timer);
        process.send?.({ kind: 'ready', opened: sockets.length });
      },
      (err: Error) => {
        clearTimeout(timer);
        process.send?.({ kind: 'failed', error: err.message });
      },
    );
  } else if (message.kind === 'mark') {
    statuses = 0;
  } else if (message.kind === 'report') {
    const pairs: Array<[number, number]> = [];
    for (let i = 0; i < arrivals.length; i += 2) pairs.push([arrivals[i] as number, arrivals[i + 1] as number]);
    process.send?.({ kind: 'arrivals', arrivals: pairs, closed, duplicates, outOfOrder, statuses, protocolErrors });
  } else if (message.kind === 'stop') {
    for (const socket of sockets) socket.destroy();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
