/**
 * WebSocket frames for /api/live, built once and written as the same bytes to every subscriber.
 *
 * A server-to-client frame is never masked (RFC 6455 §5.1), so a text frame's bytes depend on
 * its payload alone: the frame of a quote or a status event is identical for every client.
 * `ws` would build (and allocate) a header for each `send` and write header and payload apart;
 * here the whole frame is one Buffer, made once, and a run of frames can be one write.
 */

/** RFC 6455 §5.2: FIN set, opcode 0x1 (text). */
const FIN_TEXT = 0x81;
/** Payload lengths up to this fit the 7-bit length field. */
const MAX_SHORT_PAYLOAD = 125;
/** Payload lengths up to this use the 16-bit extended length (marker 126). */
const MAX_MEDIUM_PAYLOAD = 0xffff;
const LENGTH_16 = 126;
const LENGTH_64 = 127;
const TWO_TO_32 = 2 ** 32;

/** The complete unmasked text frame (header and payload in one Buffer) carrying `payload`, which must be UTF-8. */
export function textFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const headerLength = length <= MAX_SHORT_PAYLOAD ? 2 : length <= MAX_MEDIUM_PAYLOAD ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = FIN_TEXT;
  if (length <= MAX_SHORT_PAYLOAD) {
    frame[1] = length;
  } else if (length <= MAX_MEDIUM_PAYLOAD) {
    frame[1] = LENGTH_16;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = LENGTH_64;
    frame.writeUInt32BE(Math.floor(length / TWO_TO_32), 2);
    frame.writeUInt32BE(length % TWO_TO_32, 6);
  }
  payload.copy(frame, headerLength);
  return frame;
}

/** The text frame of a JSON value. */
export function jsonFrame(value: unknown): Buffer {
  return textFrame(Buffer.from(JSON.stringify(value)));
}
