/**
 * Proof that a request was forwarded by another node of the cluster (SPEC §7): a client that
 * merely sets `X-Raft-Forwarded` must not skip the rate limit or act as an admin.
 *
 * The forwarding node sends `X-Raft-Forwarded: v1 <sender> <timestamp ms> <nonce> <body hash> <mac>`, where
 * mac = HMAC-SHA256(secret, "raftquotes-forward-v1\n" + method + path + sha256(body) + sender +
 * timestamp + nonce, one per line). The receiver checks the MAC in constant time, that the
 * sender is another configured voter, that the timestamp is within MAX_FORWARD_SKEW_MS of its
 * clock, and that the nonce was not seen before (a bounded replay cache, see NonceCache). The
 * MAC covers the body's hash as claimed; the body itself is checked once read (`checkBody`).
 *
 * Without a secret (--insecure without TLS), a forward cannot be proven: nothing is trusted.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NodeId } from '../raft/types.js';
import { MAX_FORWARD_NONCES, MAX_FORWARD_SKEW_MS } from './limits.js';

const VERSION = 'v1';
const DOMAIN = 'raftquotes-forward-v1';
const EMPTY_BODY_HASH = createHash('sha256').digest('base64url');

/** A proven forward: who sent it and the hash of the body it covers. */
export interface ForwardProof {
  sender: NodeId;
  bodyHash: string;
}

/** Why a forward header was not accepted (for the log). */
export type ProofRefusal = 'malformed' | 'no_secret' | 'unknown_sender' | 'stale' | 'bad_mac' | 'replayed';

function bodyHashOf(body: Buffer | null | undefined): string {
  return body && body.length > 0 ? createHash('sha256').update(body).digest('base64url') : EMPTY_BODY_HASH;
}

function mac(secret: string, method: string, path: string, bodyHash: string, sender: string, timestamp: string, nonce: string): Buffer {
  return createHmac('sha256', secret).update([DOMAIN, method, path, bodyHash, sender, timestamp, nonce].join('\n')).digest();
}

/**
 * Nonces seen within the skew window. Bounded: past MAX_FORWARD_NONCES the oldest entries are
 * dropped, and `floor` rises to the newest timestamp dropped, so any proof at or below the
 * floor is refused: a replay of a dropped nonce can then never pass.
 */
export class NonceCache {
  private readonly seen = new Map<string, number>();
  private floor = -Infinity;

  constructor(private readonly maxEntries = MAX_FORWARD_NONCES, private readonly skewMs = MAX_FORWARD_SKEW_MS) {}

  /** Records `nonce`; false if it was seen before or is too old to tell. */
  admit(nonce: string, timestamp: number, now: number): boolean {
    if (timestamp <= this.floor || this.seen.has(nonce)) return false;
    this.expire(now);
    this.seen.set(nonce, timestamp);
    while (this.seen.size > this.maxEntries) {
      const [oldest, at] = this.seen.entries().next().value as [string, number];
      this.seen.delete(oldest);
      this.floor = Math.max(this.floor, at);
    }
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  /** Entries are in arrival order, so expired ones are found at the front. */
  private expire(now: number): void {
    for (const [nonce, at] of this.seen) {
      if (at >= now - this.skewMs) break;
      this.seen.delete(nonce);
    }
  }
}

/** Signs and checks forward proofs with the cluster secret (see the file comment). */
export class ForwardAuth {
  private readonly nonces = new NonceCache();

  constructor(private readonly secret: string | null, private readonly selfId: NodeId, private readonly now: () => number = Date.now) {}

  /** Whether forwards can be proven at all. */
  get enabled(): boolean {
    return this.secret !== null;
  }

  /** The header value for a forward of (method, path, body) from this node. */
  sign(method: string, path: string, body: Buffer | null | undefined): string | null {
    if (this.secret === null) return null;
    const timestamp = String(this.now());
    const nonce = randomBytes(16).toString('base64url');
    const bodyHash = bodyHashOf(body);
    const digest = mac(this.secret, method, path, bodyHash, this.selfId, timestamp, nonce).toString('base64url');
    return `${VERSION} ${this.selfId} ${timestamp} ${nonce} ${bodyHash} ${digest}`;
  }

  /** Checks a forward header of a request to (method, path) against the configured `voters`. */
  verify(header: string, method: string, path: string, voters: readonly NodeId[]): ForwardProof | ProofRefusal {
    if (this.secret === null) return 'no_secret';
    const parts = header.split(' ');
    if (parts.length !== 6 || parts[0] !== VERSION) return 'malformed';
    const [, sender, timestamp, nonce, bodyHash, digest] = parts as [string, string, string, string, string, string];
    if (!/^\d{1,16}$/.test(timestamp) || !/^[A-Za-z0-9_-]{16,64}$/.test(nonce) || !/^[A-Za-z0-9_-]{43}$/.test(bodyHash)) return 'malformed';
    if (sender === this.selfId || !voters.includes(sender)) return 'unknown_sender';
    const given = Buffer.from(digest, 'base64url');
    const expected = mac(this.secret, method, path, bodyHash, sender, timestamp, nonce);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad_mac';
    const now = this.now();
    const at = Number(timestamp);
    if (Math.abs(now - at) > MAX_FORWARD_SKEW_MS) return 'stale';
    if (!this.nonces.admit(`${sender} ${nonce}`, at, now)) return 'replayed';
    return { sender, bodyHash };
  }
}

/** Whether `body` is the one the proof was made for. */
export function bodyMatches(proof: ForwardProof, body: Buffer | null): boolean {
  return bodyHashOf(body) === proof.bodyHash;
}
