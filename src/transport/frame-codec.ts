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

/** A framing or decoding failure: the connection that produced it must be closed. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(
    readonly code: 'frame_too_large' | 'frame_empty' | 'undecodable',
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

/** Decodes one frame payload; throws FrameError when it is not a single msgpack value. */
export function decodePayload(payload: Buffer): unknown {
  try {
    return packr.unpack(payload);
  } catch (err) {
    throw new FrameError('undecodable', `undecodable frame payload (${errorMessage(err)})`, { cause: err });
  }
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
