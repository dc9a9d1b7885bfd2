import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type forge from 'node-forge';

/**
 * Certificates for mutual TLS between peers and HTTPS for clients (SPEC §7), for tests and
 * small deployments: a CA, and per node a certificate whose CN and SANs name the node id
 * (what a peer checks against the id it claims) plus the hosts it is reached by. Real
 * deployments bring their own. Keys come from Node's native RSA generator (forge's pure-JS
 * one takes seconds); forge only builds and signs the X.509 structures.
 */

const requireCjs = createRequire(import.meta.url);
/**
 * node-forge, loaded on first use: only `certs` and `cluster --tls` make certificates, and
 * every node process imports this file (through cluster.js) for its paths alone; forge is
 * ~2-3 MB of heap a node would otherwise carry for nothing.
 */
function forgeLib(): typeof forge {
  return requireCjs('node-forge') as typeof forge;
}

/** A PEM certificate and its PEM (PKCS#8) private key. */
export interface CertPair {
  cert: string;
  key: string;
}

/** RSA key size: 2048 is what browsers and Node accept by default and is fast to make. */
const RSA_BITS = 2048;
/** A CA made here lasts ten years; node certificates 825 days (the browsers' maximum). */
const CA_DAYS = 3650;
const NODE_DAYS = 825;

function newKeys(): { privateKeyPem: string; publicKey: forge.pki.PublicKey; privateKey: forge.pki.rsa.PrivateKey } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: RSA_BITS, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const forgeKey = forgeLib().pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  return { privateKeyPem: privateKey, privateKey: forgeKey, publicKey: forgeLib().pki.setRsaPublicKey(forgeKey.n, forgeKey.e) };
}

/**
 * 16 random bytes as an even-length hex string whose first byte is 0x40..0x7f. DER encodes an
 * INTEGER in its fewest bytes: the first byte must not be 0x00 followed by a byte below 0x80
 * (OpenSSL refuses that as "illegal padding"), and a first byte of 0x80 or more would read as
 * negative. Forge writes the hex as given, so the hex itself must be minimal and positive.
 */
export function positiveSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return bytes.toString('hex');
}

function baseCertificate(publicKey: forge.pki.PublicKey, days: number): forge.pki.Certificate {
  const cert = forgeLib().pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = positiveSerialHex();
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60 * 60 * 1000); // an hour of slack for clock skew
  cert.validity.notAfter = new Date(now + days * 24 * 60 * 60 * 1000);
  return cert;
}

/** A new self-signed CA. */
export function makeCa(commonName = 'raftquotes CA'): CertPair {
  const keys = newKeys();
  const cert = baseCertificate(keys.publicKey, CA_DAYS);
  const subject = [{ name: 'commonName', value: commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forgeLib().md.sha256.create());
  return { cert: forgeLib().pki.certificateToPem(cert), key: keys.privateKeyPem };
}

/**
 * A certificate for node `id`, signed by `ca`: CN=id, SANs DNS:id plus each host (an IP
 * address as an IP SAN), usable as both TLS server and client (peers dial each other).
 */
export function makeNodeCert(ca: CertPair, id: string, hosts: readonly string[] = []): CertPair {
  const caCert = forgeLib().pki.certificateFromPem(ca.cert);
  const caKey = forgeLib().pki.privateKeyFromPem(ca.key) as forge.pki.rsa.PrivateKey;
  const keys = newKeys();
  const cert = baseCertificate(keys.publicKey, NODE_DAYS);
  cert.setSubject([{ name: 'commonName', value: id }]);
  cert.setIssuer(caCert.subject.attributes);
  const names = [...new Set([id, ...hosts])];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames: names.map((name) => (isIP(name) ? { type: 7, ip: name } : { type: 2, value: name })) },
  ]);
  cert.sign(caKey, forgeLib().md.sha256.create());
  return { cert: forgeLib().pki.certificateToPem(cert), key: keys.privateKeyPem };
}

/** A certificate request that cannot be made (a bad node id or host name); the message names it. */
export class CertsError extends Error {
  override readonly name = 'CertsError';
  readonly code = 'bad_certs_input';
}

/** Node ids as `--id` accepts them (config.ts), so a certificate names an id a node can claim. */
const NODE_ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
/** A DNS name (labels of letters, digits and hyphens), as a SAN can carry it. */
const HOST_NAME_PATTERN = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** More certificates than this in one call is a mistake (a cluster has at most 9 voters). */
const MAX_NODE_CERTS = 64;

/** Checks node ids and hosts before any key is made; throws CertsError naming the bad one. */
export function checkCertNames(nodeIds: readonly string[], hosts: readonly string[]): void {
  if (nodeIds.length === 0) throw new CertsError('--nodes: no node ids given');
  if (nodeIds.length > MAX_NODE_CERTS) throw new CertsError(`--nodes: at most ${MAX_NODE_CERTS} nodes, got ${nodeIds.length}`);
  for (const id of nodeIds) if (!NODE_ID_PATTERN.test(id)) throw new CertsError(`--nodes: "${id}" is not a node id like Node3`);
  if (new Set(nodeIds).size !== nodeIds.length) throw new CertsError('--nodes: a node id is listed twice');
  for (const host of hosts) {
    if (!isIP(host) && !HOST_NAME_PATTERN.test(host)) throw new CertsError(`--hosts: "${host}" is not an IP address or a host name`);
  }
}

/** Writes a file atomically; keys get mode 0600 (SPEC §7: files holding secrets). */
function writeAtomic(path: string, text: string, mode: number): void {
  writeFileSync(`${path}.tmp`, text, { mode });
  chmodSync(`${path}.tmp`, mode);
  renameSync(`${path}.tmp`, path);
}

/**
 * `raftquotes certs --out DIR`: DIR/ca.crt, DIR/ca.key, and DIR/<id>.crt, DIR/<id>.key per
 * node (SPEC §7). An existing CA in DIR is not reused: a new one is made each time.
 * Returns the paths written.
 */
export function writeClusterCerts(outDir: string, nodeIds: readonly string[], hosts: readonly string[]): string[] {
  checkCertNames(nodeIds, hosts);
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const ca = makeCa();
  const written: string[] = [];
  const write = (name: string, text: string, mode: number): void => {
    const path = join(outDir, name);
    writeAtomic(path, text, mode);
    written.push(path);
  };
  write('ca.crt', ca.cert, 0o644);
  write('ca.key', ca.key, 0o600);
  for (const id of nodeIds) {
    const pair = makeNodeCert(ca, id, hosts);
    write(`${id}.crt`, pair.cert, 0o644);
    write(`${id}.key`, pair.key, 0o600);
  }
  return written;
}

/** Paths of the files one node uses for TLS, in a directory written by writeClusterCerts. */
export interface NodeTlsPaths {
  ca: string;
  cert: string;
  key: string;
}

/** Where `<dir>` keeps node `id`'s certificate, key, and the CA certificate. */
export function nodeTlsPaths(dir: string, id: string): NodeTlsPaths {
  return { ca: join(dir, 'ca.crt'), cert: join(dir, `${id}.crt`), key: join(dir, `${id}.key`) };
}

/**
 * For `cluster --tls` (SPEC §7): makes the CA and the node certificates under `dir` on the first
 * start, and on later starts only what is missing (a node added with --nodes), signed by the
 * CA already there, so running nodes keep trusting each other. Keys are (re)set to mode 0600.
 * Returns the files it wrote (none when everything was there).
 */
export function ensureClusterCerts(dir: string, nodeIds: readonly string[], hosts: readonly string[]): string[] {
  checkCertNames(nodeIds, hosts);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const caCrt = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  if (!existsSync(caCrt) || !existsSync(caKey)) return writeClusterCerts(dir, nodeIds, hosts);
  const ca = { cert: readFileSync(caCrt, 'utf8'), key: readFileSync(caKey, 'utf8') };
  const written: string[] = [];
  for (const id of nodeIds) {
    const paths = nodeTlsPaths(dir, id);
    if (existsSync(paths.cert) && existsSync(paths.key)) continue;
    const pair = makeNodeCert(ca, id, hosts);
    writeAtomic(paths.cert, pair.cert, 0o644);
    writeAtomic(paths.key, pair.key, 0o600);
    written.push(paths.cert, paths.key);
  }
  for (const id of nodeIds) chmodSync(nodeTlsPaths(dir, id).key, 0o600);
  chmodSync(caKey, 0o600);
  return written;
}
