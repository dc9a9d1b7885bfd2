import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { NodeId } from '@raftquotes/raft';
import { errorMessage } from '../narrow.js';

/** PEM files of this node's peer certificate, its key, and the cluster CA (SPEC §7). */
export interface PeerTlsFiles {
  cert: string;
  key: string;
  ca: string;
}

/** Oldest TLS version peers accept. */
export const MIN_PEER_TLS_VERSION: tls.SecureVersion = 'TLSv1.2';

/** A certificate or key file that cannot be used; the previous context stays in force. */
export class TlsConfigError extends Error {
  override readonly name = 'TlsConfigError';
  readonly code = 'tls_config';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** What a node needs to speak TLS to peers: the context, and the CA to check dialers against. */
export interface PeerTls {
  context: tls.SecureContext;
  ca: X509Certificate;
}

/** Reads the files and builds the context both sides of a peer connection use. Throws TlsConfigError. */
export function loadPeerTls(files: PeerTlsFiles): PeerTls {
  let pem: { cert: Buffer; key: Buffer; ca: Buffer };
  try {
    pem = { cert: readFileSync(files.cert), key: readFileSync(files.key), ca: readFileSync(files.ca) };
  } catch (err) {
    throw new TlsConfigError(`cannot read peer TLS files: ${errorMessage(err)}`, { cause: err });
  }
  try {
    return { context: tls.createSecureContext({ ...pem, minVersion: MIN_PEER_TLS_VERSION }), ca: new X509Certificate(pem.ca) };
  } catch (err) {
    throw new TlsConfigError(`unusable peer TLS files (${files.cert}, ${files.key}, ${files.ca}): ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * The node ids a certificate can stand for: its DNS subject alternative names and its
 * common name (makeNodeCert puts the id in both). IP SANs are not ids.
 */
export function certificateNames(cert: tls.PeerCertificate | null | undefined): string[] {
  if (!cert || typeof cert !== 'object') return [];
  const names: string[] = [];
  for (const part of (cert.subjectaltname ?? '').split(',')) {
    const trimmed = part.trim();
    if (trimmed.startsWith('DNS:')) names.push(trimmed.slice(4));
  }
  const cn = cert.subject?.CN;
  if (typeof cn === 'string' && !names.includes(cn)) names.push(cn);
  return names;
}

/**
 * A checkServerIdentity for tls.connect: the acceptor's certificate must name the peer we
 * meant to dial (not the host we dialed: peers are configured by id, reached by address).
 */
export function expectPeerIdentity(peer: NodeId): (host: string, cert: tls.PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const names = certificateNames(cert);
    if (names.includes(peer)) return undefined;
    const err = new Error(`certificate names ${JSON.stringify(names.slice(0, 4))}, not ${peer}`) as NodeJS.ErrnoException;
    err.code = 'ERR_PEER_IDENTITY';
    return err;
  };
}

/**
 * Checks a dialer's certificate against the cluster CA (what rejectUnauthorized does for a
 * tls.Server; an accepted socket wrapped by hand must do it itself): issued and signed by
 * the CA, and within its validity period. The CA signs node certificates directly (SPEC §7,
 * `raftquotes certs`); intermediate CAs are not supported. Returns null or the problem.
 */
export function verifyPeerCertificate(cert: X509Certificate | undefined, ca: X509Certificate, now = Date.now()): string | null {
  if (!cert) return 'no client certificate';
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return `certificate of ${JSON.stringify(cert.subject.slice(0, 80))} is not signed by the cluster CA`;
  if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) return `certificate outside its validity (${cert.validFrom} .. ${cert.validTo})`;
  return null;
}
