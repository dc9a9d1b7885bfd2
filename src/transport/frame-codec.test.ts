import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BULK_FRAME_MARKER, BULK_PREFIX_BYTES, decodePayload, encodeBulkFrame, encodeFrame, FRAME_HEADER_BYTES, FrameDecoder, FrameError, MAX_BULK_HEADER_BYTES, type BulkFrame } from './frame-codec.js';
import { HANDSHAKE_VERSION, handshakeMac, macMatches, MAX_PUBLIC_URL_LENGTH, MAX_PUBLIC_URLS, newNonce, parseHandshake, sessionKey, welcomeAssertions, type Transcript } from './handshake.js';
import { backoffDelay, resolveLimits } from './limits.js';
import { limitKey, RepeatLimiter } from './log.js';
import { checkMessage, MAX_ENTRIES_PER_MESSAGE, MAX_INDEX, MAX_SNAPSHOT_CHUNK_BYTES, MAX_TERM } from './message-shape.js';
import { FRAME_TAG_BYTES, FrameOpener, FrameSealer } from './session-mac.js';
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
    // 0xc1 ("never used" in msgpack) starts a bulk frame, and one byte is not a whole one.
    expect(() => decodePayload(Buffer.from([0xc1]))).toThrow(FrameError);
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
    ['a term above MAX_TERM', { ...appendEntries, term: MAX_TERM + 1 }],
    ['a term of 2^53-1', { ...appendEntries, term: Number.MAX_SAFE_INTEGER }],
    ['a fractional index', { ...appendEntries, prevLogIndex: 1.5 }],
    ['a commit above MAX_INDEX', { ...appendEntries, commit: MAX_INDEX + 1 }],
    ['entries that are not an array', { ...appendEntries, entries: 'x' }],
    ['too many entries', { ...appendEntries, entries: new Array(MAX_ENTRIES_PER_MESSAGE + 1).fill(0) }],
    ['an entry of an unknown type', { ...appendEntries, entries: [{ index: 6, term: 2, type: 'exec', data: '' }] }],
    ['an entry without data', { ...appendEntries, entries: [{ index: 6, term: 2, type: 'normal' }] }],
    ['an entry newer than the leader term', { ...appendEntries, entries: [{ index: 6, term: 3, type: 'normal', data: '' }] }],
    ['a missing field', { type: 'RequestVote', from: 'Node1', to: 'Node2', term: 1, lastLogIndex: 0, lastLogTerm: 0 }],
    ['a boolean as a number', { type: 'PreVoteResponse', from: 'Node1', to: 'Node2', term: 1, granted: 1 }],
    ['a long request id', { type: 'ReadIndex', from: 'Node1', to: 'Node2', term: 1, requestId: 'r'.repeat(10_000) }],
    ['snapshot voters that are not ids', { type: 'InstallSnapshot', from: 'Node1', to: 'Node2', term: 2, meta: { index: 1, term: 1, voters: [1] }, offset: 0, chunk: new Uint8Array(1), done: false }],
    ['a snapshot chunk that is not bytes', { type: 'InstallSnapshot', from: 'Node1', to: 'Node2', term: 2, meta: { index: 1, term: 1, voters: ['Node1'] }, offset: 0, chunk: 'abc', done: false }],
    ['a prototype key as type', { ...appendEntries, type: 'constructor' }],
  ])('rejects %s', (_name, value) => {
    expect(checkMessage(value, 'Node1', 'Node2')).toHaveProperty('reason');
  });
});

describe('handshake', () => {
  const transcript: Transcript = { clusterId: 'c', dialer: 'Node1', acceptor: 'Node2', dialerNonce: newNonce(), acceptorNonce: newNonce() };
  const secret = Buffer.from('s3cret');

  it('binds the MAC to the role, the secret and the transcript', () => {
    const dialerMac = handshakeMac(secret, 'dialer', transcript);
    expect(macMatches(dialerMac, handshakeMac(secret, 'dialer', transcript))).toBe(true);
    expect(macMatches(dialerMac, handshakeMac(secret, 'acceptor', transcript))).toBe(false);
    expect(macMatches(dialerMac, handshakeMac(Buffer.from('other'), 'dialer', transcript))).toBe(false);
    expect(macMatches(dialerMac, handshakeMac(secret, 'dialer', { ...transcript, acceptorNonce: newNonce() }))).toBe(false);
    expect(macMatches(dialerMac, handshakeMac(secret, 'dialer', { ...transcript, clusterId: 'd' }))).toBe(false);
    const welcomeMac = handshakeMac(secret, 'acceptor', transcript, 'http://127.0.0.1:8081');
    expect(macMatches(welcomeMac, handshakeMac(secret, 'acceptor', transcript, 'http://evil:1'))).toBe(false);
    expect(macMatches(dialerMac, dialerMac.subarray(0, 16))).toBe(false);
    expect(macMatches(dialerMac, null)).toBe(false);
  });

  it('parses only the expected kinds with well-formed fields', () => {
    const hello = { kind: 'hello', version: HANDSHAKE_VERSION, mode: 'secret', clusterId: 'c', from: 'Node1', to: 'Node2', nonce: newNonce() };
    expect(parseHandshake(hello, ['hello'])).toHaveProperty('frame');
    expect(parseHandshake(hello, ['welcome'])).toHaveProperty('reason');
    expect(parseHandshake({ ...hello, version: 1 }, ['hello'])).toHaveProperty('reason');
    expect(parseHandshake({ ...hello, mode: 'none' }, ['hello'])).toHaveProperty('reason');
    expect(parseHandshake({ ...hello, nonce: new Uint8Array(3) }, ['hello'])).toHaveProperty('reason');
    expect(parseHandshake({ ...hello, from: 'x'.repeat(1000) }, ['hello'])).toHaveProperty('reason');
    expect(parseHandshake({ kind: 'welcome', from: 'Node2', http: 'javascript:alert(1)', mac: null }, ['welcome'])).toHaveProperty('reason');
    expect(parseHandshake(null, ['hello'])).toHaveProperty('reason');
  });

  it("checks a welcome's public URLs: absent or a short list of bounded http(s) URLs, covered by the acceptor's MAC", () => {
    const welcome = { kind: 'welcome', from: 'Node2', http: 'http://Node2:8080', mac: null };
    expect(parseHandshake(welcome, ['welcome'])).toHaveProperty('frame');
    expect(parseHandshake({ ...welcome, public: ['http://localhost:8082', 'https://board.example'] }, ['welcome'])).toHaveProperty('frame');
    const bad: unknown[] = ['http://x', [1], ['javascript:alert(1)'], ['not a url'], [`http://h/${'x'.repeat(MAX_PUBLIC_URL_LENGTH)}`], Array.from({ length: MAX_PUBLIC_URLS + 1 }, (_, i) => `http://h${i}`), { length: 1, 0: 'http://h' }, null];
    for (const value of bad) expect(parseHandshake({ ...welcome, public: value }, ['welcome']), JSON.stringify(value)).toHaveProperty('reason');
    // The MAC covers each URL in its place: adding, changing or moving one breaks it.
    const mac = handshakeMac(secret, 'acceptor', transcript, welcomeAssertions({ http: 'http://Node2:8080', public: ['http://localhost:8082'] }));
    expect(macMatches(mac, handshakeMac(secret, 'acceptor', transcript, ['http://Node2:8080', 'http://localhost:8082']))).toBe(true);
    for (const forged of [[], ['http://evil:1'], ['http://localhost:8082', 'http://evil:1']]) {
      expect(macMatches(mac, handshakeMac(secret, 'acceptor', transcript, welcomeAssertions({ http: 'http://Node2:8080', public: forged }))), JSON.stringify(forged)).toBe(false);
    }
    expect(macMatches(mac, handshakeMac(secret, 'acceptor', transcript, ['http://Node2:8080http://localhost:8082']))).toBe(false);
    // No public URL: the same MAC as a welcome from before public URLs (older nodes interoperate).
    expect(macMatches(handshakeMac(secret, 'acceptor', transcript, welcomeAssertions({ http: 'http://a:1' })), handshakeMac(secret, 'acceptor', transcript, 'http://a:1'))).toBe(true);
  });
});

/** A snapshot chunk message as the core sends it. */
function snapshotChunk(chunk: Uint8Array, offset = 0): { type: 'InstallSnapshot'; from: string; to: string; term: number; meta: { index: number; term: number; voters: string[] }; offset: number; chunk: Uint8Array; done: boolean } {
  return { type: 'InstallSnapshot', from: 'Node1', to: 'Node2', term: 4, meta: { index: 50, term: 4, voters: ['Node1', 'Node2'] }, offset, chunk, done: false };
}

/** A bulk frame's bytes as they go on the wire (no MAC). */
function joined(frame: BulkFrame): Buffer {
  return Buffer.concat([frame.head, frame.body]);
}

/** A bulk payload (what the decoder hands over) with the given header bytes and body. */
function bulkPayload(header: Buffer, body: Buffer = Buffer.alloc(0), declaredHeaderBytes = header.length): Buffer {
  const prefix = Buffer.alloc(BULK_PREFIX_BYTES);
  prefix[0] = BULK_FRAME_MARKER;
  prefix.writeUInt32BE(declaredHeaderBytes, 1);
  return Buffer.concat([prefix, header, body]);
}

const packed = (value: unknown): Buffer => encodeFrame(value).subarray(FRAME_HEADER_BYTES);

describe('bulk frames (InstallSnapshot chunks outside msgpack)', () => {
  it('round-trip the message; the body is the chunk itself, not a copy', () => {
    const image = Buffer.alloc(3 * 1024 * 1024).map((_, i) => (i * 31) % 251);
    const chunk = image.subarray(1024 * 1024, 2 * 1024 * 1024);
    const message = snapshotChunk(chunk, 1024 * 1024);
    const frame = encodeBulkFrame(message);
    expect(frame.body).toBe(chunk);
    expect(frame.head.readUInt32BE(0)).toBe(frame.head.length + frame.body.length - FRAME_HEADER_BYTES);
    const [payload] = new FrameDecoder(16 * 1024 * 1024).push(joined(frame));
    const decoded = decodePayload(payload as Buffer) as typeof message;
    expect(Buffer.from(decoded.chunk).equals(chunk)).toBe(true);
    expect({ ...decoded, chunk: null }).toEqual({ ...message, chunk: null });
    expect(decoded.chunk.buffer).toBe((payload as Buffer).buffer); // a view of the frame read, no copy
  });

  it('an empty or small chunk is copied out of a larger read buffer, so the core does not pin it', () => {
    const frames = [encodeBulkFrame(snapshotChunk(new Uint8Array(0))), encodeBulkFrame(snapshotChunk(new Uint8Array([1, 2, 3]), 7))];
    const stream = Buffer.concat([...frames.map(joined), encodeFrame(appendEntries)]);
    const payloads = new FrameDecoder(1024).push(stream);
    const [empty, small] = payloads.slice(0, 2).map((p) => decodePayload(p) as ReturnType<typeof snapshotChunk>);
    expect(empty?.chunk.length).toBe(0);
    expect([...(small?.chunk ?? [])]).toEqual([1, 2, 3]);
    expect(small?.chunk.buffer.byteLength).toBe(3);
    expect(decodePayload(payloads[2] as Buffer)).toMatchObject({ type: 'AppendEntries', commit: 9 });
  });

  it('the MAC of a frame sealed in parts equals that of the joined frame', () => {
    const transcript: Transcript = { clusterId: 'c', dialer: 'Node1', acceptor: 'Node2', dialerNonce: newNonce(), acceptorNonce: newNonce() };
    const key = sessionKey(Buffer.from('s3cret-s3cret-s3cret'), transcript);
    const sealer = new FrameSealer(key);
    const opener = new FrameOpener(key);
    const first = encodeFrame(appendEntries);
    const bulk = encodeBulkFrame(snapshotChunk(Buffer.alloc(70_000, 5)));
    const stream = Buffer.concat([first, sealer.seal(first), bulk.head, bulk.body, sealer.sealParts(bulk.head, bulk.body)]);
    const payloads = new FrameDecoder(1024 * 1024).push(stream);
    expect(decodePayload(opener.open(payloads[0] as Buffer) as Buffer)).toMatchObject({ type: 'AppendEntries' });
    const opened = opener.open(payloads[1] as Buffer);
    expect(opened).not.toBeNull();
    expect(Buffer.from((decodePayload(opened as Buffer) as { chunk: Uint8Array }).chunk).equals(Buffer.alloc(70_000, 5))).toBe(true);
  });

  it('refuses only InstallSnapshot with a byte chunk as a bulk frame', () => {
    expect(() => encodeBulkFrame({ ...appendEntries })).toThrow(TypeError);
    expect(() => encodeBulkFrame({ ...snapshotChunk(new Uint8Array(1)), chunk: 'text' as unknown as Uint8Array })).toThrow(TypeError);
  });

  it.each<[string, Buffer, RegExp]>([
    ['a bare marker', Buffer.from([BULK_FRAME_MARKER]), /shorter than its prefix/],
    ['an empty header', bulkPayload(Buffer.alloc(0)), /header of 0 bytes/],
    ['a header over the limit', bulkPayload(Buffer.alloc(8), Buffer.alloc(8), MAX_BULK_HEADER_BYTES + 1), /limit/],
    ['a header overrunning the payload', bulkPayload(packed({ type: 'InstallSnapshot' }), Buffer.alloc(0), 4000), /overruns/],
    ['an undecodable header', bulkPayload(Buffer.from([0xc1, 0xc1])), /bad header/],
    ['a header that is not a message', bulkPayload(packed([1, 2])), /not a message/],
    ['a header that is a byte string', bulkPayload(packed(new Uint8Array(4))), /not a message/],
    ['another message type', bulkPayload(packed({ ...appendEntries })), /not InstallSnapshot/],
    ['a header with its own chunk', bulkPayload(packed({ ...snapshotChunk(new Uint8Array(2)) }), Buffer.alloc(9)), /its own chunk/],
  ])('refuses %s with a FrameError', (_name, payload, reason) => {
    expect(() => decodePayload(payload)).toThrow(FrameError);
    expect(() => decodePayload(payload)).toThrow(reason);
  });

  it('a decoded bulk header still goes through the message checks (hostile fields are refused)', () => {
    const { chunk: _chunk, ...header } = snapshotChunk(new Uint8Array(0));
    const check = (fields: Record<string, unknown>, body = Buffer.alloc(4)) => checkMessage(decodePayload(bulkPayload(packed(fields), body)), 'Node1', 'Node2');
    expect(check(header)).toHaveProperty('message');
    expect(check({ ...header, meta: null })).toMatchObject({ reason: expect.stringMatching(/meta must be an object/) });
    expect(check({ ...header, offset: -1 })).toMatchObject({ reason: expect.stringMatching(/offset must be/) });
    expect(check({ ...header, from: 'Node3' })).toMatchObject({ reason: expect.stringMatching(/on the connection of Node1/) });
    expect(check(header, Buffer.alloc(MAX_SNAPSHOT_CHUNK_BYTES + 1))).toMatchObject({ reason: expect.stringMatching(/chunk must be at most/) });
  });

  it('random bytes after the marker give a FrameError or a value for the message checks, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, plausibleLength) => {
        const payload = Buffer.concat([Buffer.from([BULK_FRAME_MARKER]), Buffer.from(bytes)]);
        if (plausibleLength && payload.length >= BULK_PREFIX_BYTES) payload.writeUInt32BE(Math.min(payload.length - BULK_PREFIX_BYTES, bytes[0] ?? 0), 1);
        let value: unknown;
        try {
          value = decodePayload(payload);
        } catch (err) {
          expect(err).toBeInstanceOf(FrameError);
          return;
        }
        expect(() => checkMessage(value, 'Node1', 'Node2')).not.toThrow();
      }),
      { seed: 19, numRuns: 3000 },
    );
  });
});

describe('per-frame MAC', () => {
  const transcript: Transcript = { clusterId: 'c', dialer: 'Node1', acceptor: 'Node2', dialerNonce: newNonce(), acceptorNonce: newNonce() };
  const key = sessionKey(Buffer.from('s3cret-s3cret-s3cret'), transcript);
  /** Seals frames and returns the payload+tag the decoder would hand to the opener. */
  const sealedPayloads = (sealer: FrameSealer, values: unknown[]): Buffer[] =>
    values.map((value) => {
      const frame = encodeFrame(value);
      return Buffer.concat([frame.subarray(FRAME_HEADER_BYTES), sealer.seal(frame)]);
    });

  it('derives a key per connection: other nonces or ids give another key', () => {
    expect(key.equals(sessionKey(Buffer.from('s3cret-s3cret-s3cret'), transcript))).toBe(true);
    expect(key.equals(sessionKey(Buffer.from('s3cret-s3cret-s3cret'), { ...transcript, dialerNonce: newNonce() }))).toBe(false);
    expect(key.equals(sessionKey(Buffer.from('s3cret-s3cret-s3cret'), { ...transcript, dialer: 'Node3' }))).toBe(false);
  });

  it('opens frames in order and refuses altered, replayed, reordered or foreign frames', () => {
    const [a, b, c] = sealedPayloads(new FrameSealer(key), [{ n: 1 }, { n: 2 }, { n: 3 }]) as [Buffer, Buffer, Buffer];
    expect(a.length).toBe(encodeFrame({ n: 1 }).length - FRAME_HEADER_BYTES + FRAME_TAG_BYTES);
    const opener = new FrameOpener(key);
    expect(decodePayload(opener.open(a) as Buffer)).toEqual({ n: 1 });
    expect(opener.open(a)).toBeNull(); // replay
    expect(opener.open(c)).toBeNull(); // reorder (b skipped)
    const flipped = Buffer.from(b);
    flipped[0] = (flipped[0] as number) ^ 1;
    expect(opener.open(flipped)).toBeNull();
    expect(decodePayload(opener.open(b) as Buffer)).toEqual({ n: 2 }); // failures consumed nothing
    const foreign = sealedPayloads(new FrameSealer(sessionKey(Buffer.from('s3cret-s3cret-s3cret'), { ...transcript, acceptorNonce: newNonce() })), [{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(opener.open(foreign[2] as Buffer)).toBeNull(); // right position, other connection
    expect(opener.open(Buffer.alloc(FRAME_TAG_BYTES))).toBeNull();
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
      for (const frame of queue.takeBatch(61).frames) expect((frame as Buffer)[0]).toBe(expectedNext++ % 256);
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

  it('stays bounded under a flood of distinct keys, and still limits them (overflow key per category)', () => {
    let now = 0;
    const limiter = new RepeatLimiter(1000, () => now, 16);
    const admitted = Array.from({ length: 10_000 }, (_, i) => limiter.admit(limitKey('refused-auth', `10.0.${i >> 8}.${i & 255}`))).filter((r) => r !== null);
    expect(limiter.size).toBeLessThanOrEqual(16);
    expect(admitted.length).toBe(17); // 16 distinct keys, then one line for the whole overflow
    expect(limiter.admit(limitKey('flood', '10.9.9.9'))).toBe(0); // another category still gets its line
    expect(limiter.admit(limitKey('flood', '10.9.9.10'))).toBeNull(); // ...and then its overflow is limited too
    now = 1000; // once the interval has passed, old keys make room again
    expect(limiter.admit(limitKey('refused-auth', '10.0.0.1'))).toBe(0);
    expect(limiter.size).toBeLessThanOrEqual(16);
  });
});
