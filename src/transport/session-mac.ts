import { createHmac, timingSafeEqual } from 'node:crypto';
import { FRAME_HEADER_BYTES } from './frame-codec.js';

/**
 * Per-frame authentication after a secret-mode handshake (SPEC §7). Every frame's payload
 * is followed by a tag: the first 16 bytes of HMAC-SHA256(sessionKey, seq | payload), where
 * seq is the frame's 64-bit sequence number on this connection, counted by both sides and
 * never sent. The key is fresh per connection (handshake.ts sessionKey), so a frame cannot
 * be injected, altered, replayed, dropped, reordered or moved to another connection without
 * the next tag failing; a failure closes the connection.
 */

/** Truncated HMAC-SHA256: 128 bits is plenty against forgery online (NIST SP 800-107 allows it). */
export const FRAME_TAG_BYTES = 16;

function tag(key: Buffer, seq: bigint, payload: Uint8Array, more?: Uint8Array): Buffer {
  const seqBytes = Buffer.allocUnsafe(8);
  seqBytes.writeBigUInt64BE(seq, 0);
  const hmac = createHmac('sha256', key).update(seqBytes).update(payload);
  if (more) hmac.update(more);
  return hmac.digest().subarray(0, FRAME_TAG_BYTES);
}

/** The sending side: tags frames in the order they are written. */
export class FrameSealer {
  private seq = 0n;

  constructor(private readonly key: Buffer) {}

  /**
   * Seals one encoded frame (header + payload) in place and returns the tag to write right
   * after it: the header's length grows by the tag. The frame must be written exactly once,
   * in sealing order.
   */
  seal(frame: Buffer): Buffer {
    const payloadLength = frame.readUInt32BE(0);
    frame.writeUInt32BE(payloadLength + FRAME_TAG_BYTES, 0);
    return tag(this.key, this.seq++, frame.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + payloadLength));
  }

  /**
   * Seals a frame written in two parts (a bulk frame: `head` holds the frame header, `body`
   * the rest of the payload), without joining them: the tag is the same as for the joined frame.
   */
  sealParts(head: Buffer, body: Uint8Array): Buffer {
    const payloadLength = head.readUInt32BE(0);
    head.writeUInt32BE(payloadLength + FRAME_TAG_BYTES, 0);
    return tag(this.key, this.seq++, head.subarray(FRAME_HEADER_BYTES), body);
  }
}

/** The receiving side: checks and strips the tag of each payload, in order. */
export class FrameOpener {
  private seq = 0n;

  constructor(private readonly key: Buffer) {}

  /** The payload without its tag, or null when the tag is wrong (the connection must close). */
  open(sealed: Buffer): Buffer | null {
    if (sealed.length <= FRAME_TAG_BYTES) return null;
    const payload = sealed.subarray(0, sealed.length - FRAME_TAG_BYTES);
    const expected = tag(this.key, this.seq, payload);
    if (!timingSafeEqual(expected, sealed.subarray(sealed.length - FRAME_TAG_BYTES))) return null;
    this.seq++;
    return payload;
  }
}
