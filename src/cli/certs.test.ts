import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeCa, makeNodeCert, positiveSerialHex, writeClusterCerts } from './certs.js';

describe('certs: a CA and node certificates for mutual TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rq-certs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('draws serial numbers that DER encodes minimally and as positive (OpenSSL refuses the rest)', () => {
    // The old serial, '0' + 30 hex digits, became a leading 0x00 byte in front of a random
    // byte: whenever that byte was below 0x80 the certificate failed to load with "illegal
    // padding", so about one node in a few hundred could not start.
    for (let i = 0; i < 20_000; i++) {
      const hex = positiveSerialHex();
      expect(hex).toMatch(/^[4-7][0-9a-f]{31}$/);
    }
    const ca = makeCa();
    for (let i = 0; i < 8; i++) {
      const pair = makeNodeCert(ca, `Node${i}`, ['127.0.0.1']);
      const cert = new X509Certificate(pair.cert);
      expect(cert.serialNumber).toMatch(/^[4-7][0-9A-F]{31}$/);
      expect(cert.verify(new X509Certificate(ca.cert).publicKey)).toBe(true);
    }
  });

  it('signs node certificates that name the node id and its hosts, verified by the CA', () => {
    const ca = makeCa();
    const node = makeNodeCert(ca, 'Node3', ['127.0.0.1', 'localhost']);
    const caCert = new X509Certificate(ca.cert);
    const cert = new X509Certificate(node.cert);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(caCert.ca).toBe(true);
    expect(cert.subject).toBe('CN=Node3');
    expect(cert.subjectAltName).toBe('DNS:Node3, IP Address:127.0.0.1, DNS:localhost');
    expect(cert.checkPrivateKey(createPrivateKey(node.key))).toBe(true);
    expect(cert.verify(new X509Certificate(makeCa().cert).publicKey)).toBe(false);
  });

  it('writes ca.crt, ca.key and one pair per node, keys mode 0600', () => {
    writeClusterCerts(dir, ['Node1', 'Node2'], ['127.0.0.1']);
    for (const name of ['ca.key', 'Node1.key', 'Node2.key']) expect(statSync(join(dir, name)).mode & 0o777).toBe(0o600);
    expect(new X509Certificate(readFileSync(join(dir, 'Node2.crt'))).subject).toBe('CN=Node2');
  });
});
