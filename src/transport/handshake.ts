import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NodeId } from '../raft/types.js';

/**
 * The peer handshake, sent as ordinary frames before any Raft message.
 *
 *   dialer → acceptor   hello     {clusterId, from, to, http, nonce, auth}
 *   acceptor → dialer   challenge {nonce}                  (only with a shared secret)
 *   dialer → acceptor   auth      {mac}                    (only with a shared secret)
 *   acceptor → dialer   welcome   {clusterId, from, http, mac} | refused {reason}
 *
 * With a secret, each side proves it knows the secret by an HMAC over both nonces and
 * everything it claims, so the secret never travels, an answer cannot be replayed on
 * another connection (fresh nonces), and a dialer cannot be fooled by an impostor
 * acceptor advertising a bogus HTTP URL (the welcome is authenticated too).
 */
export const HANDSHAKE_VERSION = 1;

/** Handshake frames are small; a tight limit makes a stray HTTP request or garbage fail fast. */
export const MAX_HANDSHAKE_FRAME_BYTES = 8 * 1024;

/** Random bytes each side contributes to the MAC, so every connection's proof is fresh. */
export const NONCE_BYTES = 32;

/** HMAC-SHA256 output length. */
const MAC_BYTES = 32;

/** Bounds on strings a peer tells us before it has authenticated (they end up in logs). */
const MAX_ID_LENGTH = 128;
const MAX_HTTP_URL_LENGTH = 2048;
const MAX_REASON_LENGTH = 512;

export interface Hello {
  kind: 'hello';
  version: number;
  clusterId: string;
  from: NodeId;
  /** Who the dialer believes it is calling: catches a peers list that points at the wrong node. */
  to: NodeId;
  http: string;
  nonce: Uint8Array;
  /** Whether the dialer has a shared secret; both sides must agree. */
  auth: boolean;
}

export interface Challenge {
  kind: 'challenge';
  nonce: Uint8Array;
}

export interface Auth {
  kind: 'auth';
  mac: Uint8Array;
}

export interface Welcome {
  kind: 'welcome';
  clusterId: string;
  from: NodeId;
  http: string;
  mac: Uint8Array | null;
}

export interface Refused {
  kind: 'refused';
  reason: string;
}

export type HandshakeFrame = Hello | Challenge | Auth | Welcome | Refused;

/** What both MACs of one connection cover. */
export interface Transcript {
  clusterId: string;
  dialer: NodeId;
  acceptor: NodeId;
  dialerNonce: Uint8Array;
  acceptorNonce: Uint8Array;
}

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/**
 * HMAC-SHA256(secret, role | clusterId | sender | receiver | senderHttp | dialerNonce | acceptorNonce).
 * The role keeps the dialer's proof from being reflected back as the acceptor's; every
 * field is length-prefixed so no two different transcripts hash the same bytes.
 */
export function handshakeMac(secret: Buffer, role: 'dialer' | 'acceptor', transcript: Transcript, senderHttp: string): Buffer {
  const [sender, receiver] = role === 'dialer' ? [transcript.dialer, transcript.acceptor] : [transcript.acceptor, transcript.dialer];
  const hmac = createHmac('sha256', secret);
  const fields: Array<string | Uint8Array> = [role, transcript.clusterId, sender, receiver, senderHttp, transcript.dialerNonce, transcript.acceptorNonce];
  for (const field of fields) {
    const bytes = typeof field === 'string' ? Buffer.from(field, 'utf8') : field;
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(bytes.length, 0);
    hmac.update(length).update(bytes);
  }
  return hmac.digest();
}

/** Constant-time MAC comparison (a length mismatch is not secret: MACs have a fixed size). */
export function macMatches(expected: Buffer, received: Uint8Array | null): boolean {
  return received !== null && received.length === expected.length && timingSafeEqual(expected, received);
}

type Parsed<T> = { frame: T } | { reason: string };

/** Parses an untrusted handshake frame of the expected kinds; never throws. */
export function parseHandshake<K extends HandshakeFrame['kind']>(value: unknown, kinds: readonly K[]): Parsed<Extract<HandshakeFrame, { kind: K }>> {
  if (typeof value !== 'object' || value === null) return { reason: 'handshake frame is not an object' };
  const fields = value as Record<string, unknown>;
  const kind = fields.kind;
  if (typeof kind !== 'string' || !(kinds as readonly string[]).includes(kind)) {
    return { reason: `expected a ${kinds.join(' or ')} handshake frame` };
  }
  const problem = FIELD_CHECKS[kind as HandshakeFrame['kind']](fields);
  return problem === null ? { frame: value as Extract<HandshakeFrame, { kind: K }> } : { reason: `bad ${kind}: ${problem}` };
}

const FIELD_CHECKS: Record<HandshakeFrame['kind'], (fields: Record<string, unknown>) => string | null> = {
  hello: (f) =>
    f.version !== HANDSHAKE_VERSION
      ? `protocol version ${typeof f.version === 'number' ? f.version : '?'}, expected ${HANDSHAKE_VERSION}`
      : (checkId('clusterId', f.clusterId) ?? checkId('from', f.from) ?? checkId('to', f.to) ?? checkHttp(f.http) ?? checkBytes('nonce', f.nonce, NONCE_BYTES) ?? (typeof f.auth === 'boolean' ? null : 'auth must be a boolean')),
  challenge: (f) => checkBytes('nonce', f.nonce, NONCE_BYTES),
  auth: (f) => checkBytes('mac', f.mac, MAC_BYTES),
  welcome: (f) => checkId('clusterId', f.clusterId) ?? checkId('from', f.from) ?? checkHttp(f.http) ?? (f.mac === null ? null : checkBytes('mac', f.mac, MAC_BYTES)),
  refused: (f) => (typeof f.reason === 'string' && f.reason.length <= MAX_REASON_LENGTH ? null : 'reason must be a short string'),
};

function checkId(name: string, value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH ? null : `${name} must be a non-empty string of at most ${MAX_ID_LENGTH} characters`;
}

function checkBytes(name: string, value: unknown, length: number): string | null {
  return value instanceof Uint8Array && value.length === length ? null : `${name} must be ${length} bytes`;
}

function checkHttp(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > MAX_HTTP_URL_LENGTH) return 'http must be a URL string';
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? null : 'http must be an http(s) URL';
  } catch {
    return 'http must be a URL';
  }
}

/** Keeps a reason we send to an unauthenticated peer within the size it will accept. */
export function clipReason(reason: string): string {
  return reason.length <= MAX_REASON_LENGTH ? reason : `${reason.slice(0, MAX_REASON_LENGTH - 1)}…`;
}
