import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { defined, type NodeId } from '@raftquotes/raft';

/**
 * The peer handshake, sent as ordinary frames before any Raft message.
 *
 *   dialer → acceptor   hello     {version, mode, clusterId, from, to, nonce}
 *   acceptor → dialer   challenge {nonce}                  (secret mode only)
 *   dialer → acceptor   auth      {mac}                    (secret mode only)
 *   acceptor → dialer   welcome   {from, http, public?, mac}  |  refused {}
 *
 * Secret mode: the acceptor answers every well-formed hello with a bare random nonce, and
 * checks nothing before the dialer has proved it knows the secret (an HMAC over the whole
 * transcript). So an unauthenticated dialer learns nothing: not the cluster id, not whether
 * the id it claimed is a member, not the acceptor's name or HTTP URL. Only then does the
 * acceptor prove itself (its welcome MAC covers its HTTP URL, which the dialer uses to
 * forward clients, and its public URLs, `--public-url`, which browsers use: SPEC §3 "Other
 * nodes' pages"; in the Docker layout the advertised URL is internal to the network). Both sides then derive a per-connection key (HKDF over the secret, both
 * nonces and the transcript) that authenticates every later frame (see session-mac.ts).
 *
 * TLS mode: the TLS layer has authenticated both certificates; the hello's `from` must be
 * the id the dialer's certificate names, and the dialer checked that the acceptor's
 * certificate names the peer it dialed. No MAC is needed (TLS gives integrity).
 *
 * Insecure mode (--insecure): nothing is authenticated.
 *
 * A refusal carries no reason at all: the acceptor logs the real reason, with the word
 * "refused", and the dialer's operator reads the acceptor's log.
 */
export const HANDSHAKE_VERSION = 2;

/** How peers authenticate each other; both sides of a connection must use the same. */
export type AuthMode = 'secret' | 'tls' | 'insecure';
const AUTH_MODES: readonly AuthMode[] = ['secret', 'tls', 'insecure'];

/**
 * Handshake frames are small; a tight limit makes a stray HTTP request or garbage fail fast.
 * The largest is a welcome: an id, an HTTP URL and up to MAX_PUBLIC_URLS public URLs.
 */
export const MAX_HANDSHAKE_FRAME_BYTES = 8 * 1024;

/** Random bytes each side contributes to the MAC, so every connection's proof is fresh. */
export const NONCE_BYTES = 32;

/** HMAC-SHA256 output length. */
const MAC_BYTES = 32;

/** Length of the per-connection frame key (HMAC-SHA256 key). */
export const SESSION_KEY_BYTES = 32;

/** Bounds on strings a peer tells us before it has authenticated (they end up in logs). */
const MAX_ID_LENGTH = 128;
const MAX_HTTP_URL_LENGTH = 2048;
const MAX_RAFT_ADDRESS_LENGTH = 512;

/** Most public URLs (`--public-url`) a node tells its peers; `node` refuses to start with more. */
export const MAX_PUBLIC_URLS = 4;
/** Longest public URL, in characters (checked at start and on every welcome). */
export const MAX_PUBLIC_URL_LENGTH = 512;

export interface Hello {
  kind: 'hello';
  version: number;
  mode: AuthMode;
  clusterId: string;
  from: NodeId;
  /** Who the dialer believes it is calling: catches a peers list that points at the wrong node. */
  to: NodeId;
  nonce: Uint8Array;
  /**
   * The dialer's own Raft address (optional; older dialers omit it). Used only to link back to
   * an authenticated dialer that is in no configuration the acceptor holds yet (a member added
   * later; TcpTransport admitStranger). Not covered by the MAC: altering it in flight only
   * misdirects that link back, whose own handshake then fails (a MITM can drop traffic anyway).
   */
  raft?: string;
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
  from: NodeId;
  http: string;
  /** The acceptor's --public-url values (absent from a node that has none, or an older one). */
  public?: string[];
  mac: Uint8Array | null;
}

/** A refusal: deliberately empty. */
export interface Refused {
  kind: 'refused';
}

export type HandshakeFrame = Hello | Challenge | Auth | Welcome | Refused;

/** The one refusal frame every refused dialer gets, whatever the reason. */
export const REFUSED_FRAME: Refused = Object.freeze({ kind: 'refused' }) as Refused;

/** What both MACs and the session key of one connection cover. */
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

/** Length-prefixes every field, so no two different transcripts give the same bytes. */
function encodeFields(fields: ReadonlyArray<string | Uint8Array>): Buffer {
  const parts: Buffer[] = [];
  for (const field of fields) {
    const bytes = typeof field === 'string' ? Buffer.from(field, 'utf8') : Buffer.from(field.buffer, field.byteOffset, field.byteLength);
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(bytes.length, 0);
    parts.push(length, bytes);
  }
  return Buffer.concat(parts);
}

function transcriptFields(transcript: Transcript): Array<string | Uint8Array> {
  return [`v${HANDSHAKE_VERSION}`, transcript.clusterId, transcript.dialer, transcript.acceptor, transcript.dialerNonce, transcript.acceptorNonce];
}

/** The shared secret of secret mode: TcpTransport refuses that mode without one, so null here is a bug. */
export function secretOf(secret: Buffer | null): Buffer {
  return defined(secret, 'secret mode without a secret');
}

/**
 * HMAC-SHA256(secret, role | version | clusterId | dialer | acceptor | dialerNonce | acceptorNonce | extra...).
 * The role keeps the dialer's proof from being reflected back as the acceptor's; `extra` is
 * what the sender asserts beyond the transcript (the acceptor's HTTP URL, then its public
 * URLs). Every field is length-prefixed, so a URL cannot be moved from one field to another;
 * with no public URL the bytes are those of a welcome before public URLs existed.
 */
export function handshakeMac(secret: Buffer, role: 'dialer' | 'acceptor', transcript: Transcript, extra: string | readonly string[] = ''): Buffer {
  const asserted = typeof extra === 'string' ? [extra] : extra;
  return createHmac('sha256', secret)
    .update(encodeFields([role, ...transcriptFields(transcript), ...asserted]))
    .digest();
}

/** What an acceptor's welcome MAC covers: its HTTP URL and its public URLs, in order. */
export function welcomeAssertions(welcome: Pick<Welcome, 'http' | 'public'>): string[] {
  return [welcome.http, ...(welcome.public ?? [])];
}

/**
 * The key that authenticates the dialer's frames on this connection (the acceptor sends
 * nothing after its welcome): HKDF-SHA256 with the secret as input key material, both
 * nonces as salt and the transcript as info, so it is fresh per connection and bound to
 * who is talking to whom.
 */
export function sessionKey(secret: Buffer, transcript: Transcript): Buffer {
  const salt = Buffer.concat([transcript.dialerNonce, transcript.acceptorNonce]);
  const info = encodeFields(['raftquotes peer frames dialer->acceptor', ...transcriptFields(transcript)]);
  return Buffer.from(hkdfSync('sha256', secret, salt, info, SESSION_KEY_BYTES));
}

/** Constant-time MAC comparison (a length mismatch is not secret: MACs have a fixed size). */
export function macMatches(expected: Buffer, received: Uint8Array | null): boolean {
  return received !== null && received.length === expected.length && timingSafeEqual(expected, received);
}

type Parsed<T> = { frame: T } | { reason: string };

/** Parses an untrusted handshake frame of the expected kinds; never throws. */
export function parseHandshake<K extends HandshakeFrame['kind']>(value: unknown, kinds: readonly K[]): Parsed<Extract<HandshakeFrame, { kind: K }>> {
  if (typeof value !== 'object' || value === null) return { reason: 'handshake frame is not an object' };
  const fields: Record<string, unknown> = { ...value };
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
      : ((AUTH_MODES as readonly unknown[]).includes(f.mode) ? null : 'mode must be secret, tls or insecure') ??
        checkId('clusterId', f.clusterId) ??
        checkId('from', f.from) ??
        checkId('to', f.to) ??
        checkBytes('nonce', f.nonce, NONCE_BYTES) ??
        (f.raft === undefined || (typeof f.raft === 'string' && f.raft.length > 0 && f.raft.length <= MAX_RAFT_ADDRESS_LENGTH) ? null : `raft must be a host:port of at most ${MAX_RAFT_ADDRESS_LENGTH} characters`),
  challenge: (f) => checkBytes('nonce', f.nonce, NONCE_BYTES),
  auth: (f) => checkBytes('mac', f.mac, MAC_BYTES),
  welcome: (f) => checkId('from', f.from) ?? checkHttp(f.http) ?? checkPublicUrls(f.public) ?? (f.mac === null ? null : checkBytes('mac', f.mac, MAC_BYTES)),
  refused: () => null,
};

function checkId(name: string, value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH ? null : `${name} must be a non-empty string of at most ${MAX_ID_LENGTH} characters`;
}

function checkBytes(name: string, value: unknown, length: number): string | null {
  return value instanceof Uint8Array && value.length === length ? null : `${name} must be ${length} bytes`;
}

function checkHttp(value: unknown, name = 'http', maxLength = MAX_HTTP_URL_LENGTH): string | null {
  if (typeof value !== 'string' || value.length > maxLength) return `${name} must be a URL string of at most ${maxLength} characters`;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? null : `${name} must be an http(s) URL`;
  } catch {
    return `${name} must be a URL`;
  }
}

/** Absent, or an array of at most MAX_PUBLIC_URLS http(s) URLs. */
export function checkPublicUrls(value: unknown): string | null {
  if (value === undefined) return null;
  if (!Array.isArray(value) || value.length > MAX_PUBLIC_URLS) return `public must be an array of at most ${MAX_PUBLIC_URLS} URLs`;
  for (const [i, url] of value.entries()) {
    const problem = checkHttp(url, `public[${i}]`, MAX_PUBLIC_URL_LENGTH);
    if (problem) return problem;
  }
  return null;
}

/** A short, log-safe rendering of an untrusted value (never calls its toString). */
export function describe(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : typeof value === 'number' || typeof value === 'boolean' ? String(value) : `(${value === null ? 'null' : typeof value})`;
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
}
