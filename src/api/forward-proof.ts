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
 * With mutual TLS and no secret, the proof is the connection itself: the forwarding node
 * presents its certificate (signed by the cluster CA, naming its id) and sends
 * `X-Raft-Forwarded: tls <sender>`; the receiver checks that the certificate of that TLS
 * connection was issued by the cluster CA and names the sender.
 *
 * Without either (--insecure), a forward cannot be proven: nothing is trusted.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual, X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { NodeId } from '@raftquotes/raft';
import { MAX_FORWARD_NONCES, MAX_FORWARD_SKEW_MS } from './limits.js';

const VERSION = 'v1';
const DOMAIN = 'raftquotes-forward-v1';
const TLS_PREFIX = 'tls ';
const EMPTY_BODY_HASH = createHash('sha256').digest('base64url');

/** A proven forward: who sent it and the hash of the body it covers (null: the TLS connection covers it). */
export interface ForwardProof {
  sender: NodeId;
  bodyHash: string | null;
}

/** Why a forward header was not accepted (for the log). */
export type ProofRefusal = 'malformed' | 'no_secret' | 'unknown_sender' | 'stale' | 'bad_mac' | 'replayed' | 'bad_certificate';

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
    for (const [oldest, at] of this.seen) {
      if (this.seen.size <= this.maxEntries) break;
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

  /**
   * `clusterCa`: with HTTPS between nodes and no secret, the CA whose certificates identify
   * nodes (the forwarder presents its own; see the file comment). Null otherwise.
   */
  constructor(
    private readonly secret: string | null,
    private readonly selfId: NodeId,
    private readonly now: () => number = Date.now,
    private readonly clusterCa: X509Certificate | null = null,
  ) {}

  /** Whether this node's forwards carry a proof the other nodes accept. */
  get enabled(): boolean {
    return this.secret !== null || this.clusterCa !== null;
  }

  /** The header value for a forward of (method, path, body) from this node; `overTls`: to an https:// peer. */
  sign(method: string, path: string, body: Buffer | null | undefined, overTls = false): string | null {
    if (this.secret === null) return this.clusterCa !== null && overTls ? `${TLS_PREFIX}${this.selfId}` : null;
    const timestamp = String(this.now());
    const nonce = randomBytes(16).toString('base64url');
    const bodyHash = bodyHashOf(body);
    const digest = mac(this.secret, method, path, bodyHash, this.selfId, timestamp, nonce).toString('base64url');
    return `${VERSION} ${this.selfId} ${timestamp} ${nonce} ${bodyHash} ${digest}`;
  }

  /** Checks a forward header of a request to (method, path) on `socket` against the configured `voters`. */
  verify(header: string, method: string, path: string, voters: readonly NodeId[], socket?: Socket): ForwardProof | ProofRefusal {
    if (header.startsWith(TLS_PREFIX)) return this.verifyTls(header.slice(TLS_PREFIX.length), voters, socket);
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

  /** The sender's certificate on this very connection: issued by the cluster CA, naming the sender. */
  private verifyTls(sender: string, voters: readonly NodeId[], socket: Socket | undefined): ForwardProof | ProofRefusal {
    if (this.clusterCa === null) return 'no_secret';
    if (sender === this.selfId || !voters.includes(sender)) return 'unknown_sender';
    if (!(socket instanceof TLSSocket) || !socket.authorized) return 'bad_certificate';
    const raw = socket.getPeerCertificate().raw as Buffer | undefined;
    if (!raw) return 'bad_certificate';
    try {
      const cert = new X509Certificate(raw);
      const fromCa = cert.checkIssued(this.clusterCa) && cert.verify(this.clusterCa.publicKey);
      const names = cert.checkHost(sender) !== undefined || cert.subject.split('\n').includes(`CN=${sender}`);
      return fromCa && names ? { sender, bodyHash: null } : 'bad_certificate';
    } catch {
      return 'bad_certificate';
    }
  }
}

/** Whether `body` is the one the proof was made for. */
export function bodyMatches(proof: ForwardProof, body: Buffer | null): boolean {
  return proof.bodyHash === null || bodyHashOf(body) === proof.bodyHash;
}
