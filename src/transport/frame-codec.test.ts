import { describe, expect, it } from 'vitest';
import { decodePayload, encodeFrame, FRAME_HEADER_BYTES, FrameDecoder, FrameError } from './frame-codec.js';
import { handshakeMac, macMatches, newNonce, parseHandshake, type Transcript } from './handshake.js';
import { backoffDelay, resolveLimits } from './limits.js';
import { RepeatLimiter } from './log.js';
import { checkMessage } from './message-shape.js';
import { SendQueue } from './send-queue.js';

const appendEntries = {
  type: 'AppendEntries',
  from: 'Node1',
  to: 'Node2',
  term: 3,
  prevLogIndex: 10,
  prevLogTerm: 2,
  entries: [
    { index: 11, term: 3, type: 'normal', data: '{"op":"put","key":"k","value":"ünïcødé ✓"}' },
    { index: 12, term: 3, type: 'noop', data: '' },
  ],
  commit: 9,
};

describe('frame codec', () => {
  it('round-trips a message, Uint8Array bytes included', () => {
    const chunk = new Uint8Array(1000).map((_, i) => (i * 7) % 256);
    const message = { type: 'InstallSnapshot', from: 'Node1', to: 'Node2', term: 4, meta: { index: 50, term: 4, voters: ['Node1', 'Node2'] }, offset: 0, chunk, done: false };
    const frame = encodeFrame(message);
    expect(frame.readUInt32BE(0)).toBe(frame.length - FRAME_HEADER_BYTES);
    const decoded = decodePayload(frame.subarray(FRAME_HEADER_BYTES)) as typeof message;
    expect(decoded.chunk).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(decoded.chunk).equals(Buffer.from(chunk))).toBe(true);
    expect({ ...decoded, chunk: null }).toEqual({ ...message, chunk: null });
  });

  it('keeps earlier frames intact while encoding later ones', () => {
    const frames = Array.from({ length: 3000 }, (_, i) => encodeFrame({ ...appendEntries, commit: i }));
    frames.forEach((frame, i) => expect((decodePayload(frame.subarray(FRAME_HEADER_BYTES)) as { commit: number }).commit).toBe(i));
  });

  it('splits a stream fed one byte at a time, and many frames per chunk', () => {
    const frames = [encodeFrame(appendEntries), encodeFrame({ ...appendEntries, commit: 10 }), encodeFrame({ ...appendEntries, commit: 11 })];
    const stream = Buffer.concat(frames);
    const bytewise = new FrameDecoder(1024);
    const payloads = [...stream].flatMap((byte) => bytewise.push(Buffer.from([byte])));
    expect(payloads.map((p) => (decodePayload(p) as { commit: number }).commit)).toEqual([9, 10, 11]);
    expect(bytewise.buffered).toBe(0);
    const whole = new FrameDecoder(1024);
    expect(whole.push(stream)).toHaveLength(3);
  });

  it('rejects an oversized or empty length before buffering the payload', () => {
    const decoder = new FrameDecoder(100);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(101, 0);
    expect(() => decoder.push(header)).toThrow(FrameError);
    expect(() => new FrameDecoder(100).push(Buffer.alloc(4))).toThrow(/empty frame/);
    expect(() => new FrameDecoder(100).push(Buffer.from('GET / HTTP/1.1\r\n'))).toThrow(/exceeds the limit/);
  });

  it('reports undecodable payloads as FrameError', () => {
    expect(() => decodePayload(Buffer.from('81a174', 'hex'))).toThrow(FrameError); // truncated map
    expect(() => decodePayload(Buffer.from('c0c0', 'hex'))).toThrow(FrameError); // trailing bytes
    // 0xc1 ("never used") decodes to a marker object, which the shape check then rejects.
    expect(checkMessage(decodePayload(Buffer.from([0xc1])), 'Node1', 'Node2')).toHaveProperty('reason');
  });
});

describe('message shape check', () => {
  it('accepts a well-formed message from the connection peer to us', () => {
    expect(checkMessage(appendEntries, 'Node1', 'Node2')).toEqual({ message: appendEntries });
  });

  it.each([
    ['not an object', 42],
    ['an array', [1, 2]],
    ['an unknown type', { ...appendEntries, type: 'Nope' }],
    ['a missing term', { ...appendEntries, term: undefined }],
    ['a negative term', { ...appendEntries, term: -1 }],
    ['a forged sender', { ...appendEntries, from: 'Node3' }],
    ['another recipient', { ...appendEntries, to: 'Node4' }],
    ['a hostile toString', { ...appendEntries, term: { toString: 1 } }],
  ])('rejects %s', (_name, value) => {
    expect(checkMessage(value, 'Node1', 'Node2')).toHaveProperty('reason');
  });
});

describe('handshake', () => {
  const transcript: Transcript = { clusterId: 'c', dialer: 'Node1', acceptor: 'Node2', dialerNonce: newNonce(), acceptorNonce: newNonce() };
  const secret = Buffer.from('s3cret');

  it('binds the MAC to the role, the secret and the transcript', () => {
    const dialerMac = handshakeMac(secret, 'dialer', transcript, 'http://127.0.0.1:8081');
    expect(macMatches(dialerMac, handshakeMac(secret, 'dialer', transcript, 'http://127.0.0.1:8081'))).toBe(true);
    expect(macMatches(dialerMac, handshakeMac(secret, 'acceptor', transcript, 'http://127.0.0.1:8081'))).toBe(false);
    expect(macMatches(dialerMac, handshakeMac(Buffer.from('other'), 'dialer', transcript, 'http://127.0.0.1:8081'))).toBe(false);
    expect(macMatches(dialerMac, handshakeMac(secret, 'dialer', { ...transcript, acceptorNonce: newNonce() }, 'http://127.0.0.1:8081'))).toBe(false);
    expect(macMatches(dialerMac, handshakeMac(secret, 'dialer', transcript, 'http://evil:1'))).toBe(false);
    expect(macMatches(dialerMac, dialerMac.subarray(0, 16))).toBe(false);
    expect(macMatches(dialerMac, null)).toBe(false);
  });

  it('parses only the expected kinds with well-formed fields', () => {
    const hello = { kind: 'hello', version: 1, clusterId: 'c', from: 'Node1', to: 'Node2', http: 'http://127.0.0.1:8081', nonce: newNonce(), auth: false };
    expect(parseHandshake(hello, ['hello'])).toHaveProperty('frame');
    expect(parseHandshake(hello, ['welcome'])).toHaveProperty('reason');
    expect(parseHandshake({ ...hello, version: 2 }, ['hello'])).toHaveProperty('reason');
    expect(parseHandshake({ ...hello, http: 'javascript:alert(1)' }, ['hello'])).toHaveProperty('reason');
    expect(parseHandshake({ ...hello, nonce: new Uint8Array(3) }, ['hello'])).toHaveProperty('reason');
    expect(parseHandshake({ ...hello, from: 'x'.repeat(1000) }, ['hello'])).toHaveProperty('reason');
    expect(parseHandshake(null, ['hello'])).toHaveProperty('reason');
  });
});

describe('send queue', () => {
  it('refuses frames beyond its message or byte limit and drains in batches', () => {
    const queue = new SendQueue({ maxMessages: 3, maxBytes: 25 });
    expect(queue.push(Buffer.alloc(10))).toBe(true);
    expect(queue.push(Buffer.alloc(10))).toBe(true);
    expect(queue.push(Buffer.alloc(10))).toBe(false); // 30 bytes > 25
    expect(queue.push(Buffer.alloc(5))).toBe(true);
    expect(queue.push(Buffer.alloc(1))).toBe(false); // 4 messages > 3
    expect(queue.isFull()).toBe(true);
    expect(queue.takeBatch(15)).toMatchObject({ bytes: 10 });
    expect(queue.takeBatch(1)).toMatchObject({ bytes: 10 }); // an oversized frame comes out alone
    expect(queue.takeBatch(100)).toMatchObject({ bytes: 5 });
    expect(queue.takeBatch(100)).toEqual({ frames: [], bytes: 0 });
    expect(queue.length).toBe(0);
    expect(queue.bytes).toBe(0);
  });

  it('stays consistent over many pushes and partial drains', () => {
    const queue = new SendQueue({ maxMessages: 5000, maxBytes: 1 << 20 });
    let expectedNext = 0;
    let pushed = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 97; i++) queue.push(Buffer.from([pushed++ % 256]));
      for (const frame of queue.takeBatch(61).frames) expect(frame[0]).toBe(expectedNext++ % 256);
    }
    expect(queue.length).toBe(pushed - expectedNext);
    expect(queue.bytes).toBe(pushed - expectedNext);
    expect(queue.clear()).toBe(pushed - expectedNext);
  });
});

describe('limits and logging', () => {
  it('backs off exponentially with jitter, within the bounds', () => {
    const limits = { backoffBaseMs: 50, backoffMaxMs: 1000 };
    expect(backoffDelay(1, limits, () => 0)).toBe(25);
    expect(backoffDelay(1, limits, () => 0.999)).toBeLessThanOrEqual(50);
    expect(backoffDelay(3, limits, () => 0)).toBe(100);
    expect(backoffDelay(100, limits, () => 0.999)).toBeLessThanOrEqual(1000);
    expect(backoffDelay(100, limits, () => 0)).toBe(500);
  });

  it('rejects limits that would disable a bound', () => {
    expect(() => resolveLimits({ maxQueuedBytes: 0 })).toThrow(RangeError);
    expect(() => resolveLimits({ backoffBaseMs: 10, backoffMaxMs: 5 })).toThrow(RangeError);
    expect(resolveLimits().maxQueuedMessages).toBe(4096);
  });

  it('rate-limits repeated lines and counts the suppressed ones', () => {
    let now = 0;
    const limiter = new RepeatLimiter(1000, () => now);
    expect(limiter.admit('a')).toBe(0);
    expect(limiter.admit('a')).toBeNull();
    expect(limiter.admit('b')).toBe(0);
    now = 1000;
    expect(limiter.admit('a')).toBe(1);
    limiter.reset('a');
    expect(limiter.admit('a')).toBe(0);
  });
});
