import { Packr, RESERVE_START_SPACE } from 'msgpackr';
import { errorMessage } from '../narrow.js';
import { defined } from '@raftquotes/raft';

/** Every frame starts with its payload length as a 4-byte big-endian unsigned integer. */
export const FRAME_HEADER_BYTES = 4;

/**
 * Largest payload a peer may send. Raft messages stay under ~512 KiB (the core's append
 * and snapshot-chunk byte limits) plus overhead; 16 MiB leaves room without letting a
 * garbage length make us buffer gigabytes.
 */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

/**
 * First payload byte of a bulk frame: 0xc1 is the one byte msgpack never uses (msgpackr only
 * with its bundleStrings option, which this codec does not set), so no msgpack frame starts
 * with it.
 */
export const BULK_FRAME_MARKER = 0xc1;
/** Marker byte plus the header's length (uint32 big-endian). */
export const BULK_PREFIX_BYTES = 5;
/**
 * Largest msgpack header of a bulk frame: an InstallSnapshot without its chunk (the metadata
 * names at most MAX_VOTERS ids of MAX_NODE_ID_CHARS, ~9 KiB). A larger one is refused before
 * it is decoded.
 */
export const MAX_BULK_HEADER_BYTES = 64 * 1024;
/** The one field a bulk frame carries raw, after its header, and the message type that has it. */
export const BULK_FIELD = 'chunk';
export const BULK_MESSAGE_TYPE = 'InstallSnapshot';

/** A framing or decoding failure: the connection that produced it must be closed. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(
    readonly code: 'frame_too_large' | 'frame_empty' | 'undecodable' | 'bad_bulk_frame',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * One codec for the whole process. `useRecords` writes each object shape once per message
 * and then only values (smaller and faster to decode than plain maps, since an
 * AppendEntries repeats one entry shape many times); every message still carries its own record definitions, so a
 * decoder never depends on an earlier message. `copyBuffers` makes decoded Uint8Arrays own
 * their bytes instead of pinning the socket's read buffer.
 */
const packr = new Packr({ useRecords: true, mapsAsObjects: true, copyBuffers: true, int64AsType: 'number' });

/**
 * Encodes one value as a complete frame (header + msgpack payload) without an extra copy:
 * msgpackr reserves the header bytes in front of the payload. The returned buffer is owned
 * by the caller (msgpackr never writes over a buffer it has returned).
 */
export function encodeFrame(value: unknown): Buffer {
  const frame = packr.pack(value, RESERVE_START_SPACE | FRAME_HEADER_BYTES);
  frame.writeUInt32BE(frame.length - FRAME_HEADER_BYTES, 0);
  return frame;
}

/**
 * A frame whose bulk bytes are not copied: `head` is the frame header, the bulk marker, the
 * header length and the msgpack header; `body` (the snapshot chunk, a view of the leader's
 * image) follows it on the wire as it is. The payload length in `head` covers both.
 */
export interface BulkFrame {
  head: Buffer;
  body: Uint8Array;
}

/** What a peer link queues: an encoded frame, or a bulk frame in its two parts. */
export type OutboundFrame = Buffer | BulkFrame;

/** Bytes an outbound frame puts on the wire (before its MAC tag). */
export function outboundFrameBytes(frame: OutboundFrame): number {
  return Buffer.isBuffer(frame) ? frame.length : frame.head.length + frame.body.length;
}

/**
 * An InstallSnapshot as a bulk frame: its chunk travels raw after a msgpack header holding
 * every other field. msgpack would copy the chunk into the frame (and the receiver copy it out
 * again); here the sender writes the image's own bytes (writev) and the receiver hands the
 * core a view of the frame it read.
 */
export function encodeBulkFrame(message: Record<string, unknown> & { type: string }): BulkFrame {
  const body = message[BULK_FIELD];
  if (message.type !== BULK_MESSAGE_TYPE || !(body instanceof Uint8Array)) throw new TypeError(`only ${BULK_MESSAGE_TYPE} with a ${BULK_FIELD} travels as a bulk frame`);
  const { [BULK_FIELD]: _omitted, ...rest } = message;
  const head = packr.pack(rest, RESERVE_START_SPACE | (FRAME_HEADER_BYTES + BULK_PREFIX_BYTES));
  const headerBytes = head.length - FRAME_HEADER_BYTES - BULK_PREFIX_BYTES;
  head.writeUInt32BE(head.length - FRAME_HEADER_BYTES + body.length, 0);
  head[FRAME_HEADER_BYTES] = BULK_FRAME_MARKER;
  head.writeUInt32BE(headerBytes, FRAME_HEADER_BYTES + 1);
  return { head, body };
}

/**
 * Decodes one frame payload: a single msgpack value, or a bulk frame's header with its raw
 * field put back. Throws FrameError for anything else. A bulk frame must carry an
 * InstallSnapshot header without the raw field of its own; the field's bytes are a view of
 * `payload`, copied only when they would pin a much larger buffer (a socket read holding
 * several frames), since the core keeps chunks until the last one arrives.
 */
export function decodePayload(payload: Buffer): unknown {
  if (payload.length > 0 && payload[0] === BULK_FRAME_MARKER) return decodeBulkPayload(payload);
  try {
    return packr.unpack(payload);
  } catch (err) {
    throw new FrameError('undecodable', `undecodable frame payload (${errorMessage(err)})`, { cause: err });
  }
}

function decodeBulkPayload(payload: Buffer): unknown {
  if (payload.length < BULK_PREFIX_BYTES) throw new FrameError('bad_bulk_frame', `undecodable bulk frame: ${payload.length} bytes, shorter than its prefix`);
  const headerBytes = payload.readUInt32BE(1);
  if (headerBytes === 0 || headerBytes > MAX_BULK_HEADER_BYTES) throw new FrameError('bad_bulk_frame', `undecodable bulk frame: header of ${headerBytes} bytes (limit ${MAX_BULK_HEADER_BYTES})`);
  if (BULK_PREFIX_BYTES + headerBytes > payload.length) throw new FrameError('bad_bulk_frame', `undecodable bulk frame: header of ${headerBytes} bytes overruns the ${payload.length}-byte payload`);
  let header: unknown;
  try {
    header = packr.unpack(payload.subarray(BULK_PREFIX_BYTES, BULK_PREFIX_BYTES + headerBytes));
  } catch (err) {
    throw new FrameError('bad_bulk_frame', `undecodable bulk frame: bad header (${(err as Error).message})`, { cause: err });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header) || header instanceof Uint8Array) throw new FrameError('bad_bulk_frame', 'undecodable bulk frame: its header is not a message');
  const fields = header as Record<string, unknown>;
  if (fields.type !== BULK_MESSAGE_TYPE) throw new FrameError('bad_bulk_frame', `undecodable bulk frame: carries a message that is not ${BULK_MESSAGE_TYPE}`);
  if (Object.hasOwn(fields, BULK_FIELD)) throw new FrameError('bad_bulk_frame', `undecodable bulk frame: its header has its own ${BULK_FIELD}`);
  const view = payload.subarray(BULK_PREFIX_BYTES + headerBytes);
  fields[BULK_FIELD] = view.length * 2 < view.buffer.byteLength ? new Uint8Array(view) : view;
  return fields;
}

/**
 * Splits a TCP byte stream into frame payloads. Buffers at most one partial frame, and
 * rejects a header announcing more than `maxFrameBytes` before buffering any of it.
 */
export class FrameDecoder {
  private readonly chunks: Buffer[] = [];
  private bufferedBytes = 0;
  /** Payload length of the frame being read, or null while waiting for its header. */
  private expectedBytes: number | null = null;

  constructor(private maxFrameBytes: number) {}

  /** Changes the limit for the frames that follow (the handshake uses a smaller one). */
  setMaxFrameBytes(maxFrameBytes: number): void {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes held for an incomplete frame. */
  get buffered(): number {
    return this.bufferedBytes;
  }

  /** Adds received bytes; returns every payload now complete, in order. Throws FrameError. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
    const payloads: Buffer[] = [];
    for (;;) {
      if (this.expectedBytes === null) {
        if (this.bufferedBytes < FRAME_HEADER_BYTES) break;
        this.expectedBytes = this.readLength();
      }
      if (this.bufferedBytes < this.expectedBytes) break;
      payloads.push(this.take(this.expectedBytes));
      this.expectedBytes = null;
    }
    return payloads;
  }

  private readLength(): number {
    const length = this.take(FRAME_HEADER_BYTES).readUInt32BE(0);
    if (length === 0) throw new FrameError('frame_empty', 'empty frame');
    if (length > this.maxFrameBytes) {
      throw new FrameError('frame_too_large', `frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`);
    }
    return length;
  }

  /** Removes the next n buffered bytes (n <= bufferedBytes); zero-copy when one chunk holds them. */
  private take(n: number): Buffer {
    const first = defined(this.chunks[0], () => `taking ${n} bytes of ${this.bufferedBytes} buffered`);
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.bufferedBytes -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = defined(this.chunks[0], () => `taking ${n} bytes of ${this.bufferedBytes} buffered`);
      const used = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, used);
      filled += used;
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    this.bufferedBytes -= n;
    return out;
  }
}
