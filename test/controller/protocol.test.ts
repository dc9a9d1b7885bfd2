import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CidrAllowList, parseAddress, parseCidr } from '../../src/controller/cidr.js';
import { canonicalRequest, jsonBytes, MAX_REPLY_BYTES, parseDatagram, retrieveReply, statusReply, type RetrieveEntry } from '../../src/controller/protocol.js';
import type { CommittedClientEntry } from '../../src/state/types.js';
import { FakeRaftNode } from './fake-raft-node.js';

const datagram = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

describe('parseDatagram', () => {
  it('maps the seed aliases to the course requests', () => {
    expect(canonicalRequest('FOLLOW')).toBe('CONVERT_FOLLOWER');
    expect(canonicalRequest('TRYLEAD')).toBe('TIMEOUT');
    expect(canonicalRequest('PLAYDEAD')).toBe('SHUTDOWN');
    expect(canonicalRequest('RETRIEVE')).toBe('RETRIEVE');
    expect(canonicalRequest('NOPE')).toBeNull();
  });

  it('accepts the course template with extra fields', () => {
    expect(parseDatagram(datagram({ sender_name: 'Controller', request: 'STORE', term: 3, key: 'k', value: null, extra: [1] }))).toEqual({ request: 'STORE', key: 'k', value: null, ack: false });
    expect(parseDatagram(datagram({ request: 'RETRIEVE', value: { from: 17 } }))).toEqual({ request: 'RETRIEVE', from: 17 });
    expect(parseDatagram(datagram({ request: 'TRYLEAD' }))).toEqual({ request: 'TIMEOUT' });
  });
});

describe('retrieveReply', () => {
  const entries = (sizes: number[]): CommittedClientEntry[] => sizes.map((size, i) => ({ index: i * 2 + 1, term: 1, command: { op: 'put', key: `k${i}`, value: 'v'.repeat(size) } }));
  const sourceOf = (all: CommittedClientEntry[]) => (from: number, limit: number) => all.filter((e) => e.index >= from).slice(0, limit);

  it('pages any log into replies under the limit, in order, with nothing lost or repeated', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3_000 }), { maxLength: 400 }), fc.integer({ min: 2_000, max: MAX_REPLY_BYTES }), (sizes, limit) => {
        const all = entries(sizes);
        const seen: RetrieveEntry[] = [];
        let from = 1;
        for (let pages = 0; pages <= all.length + 1; pages++) {
          const reply = retrieveReply('Node1', sourceOf(all), from, limit);
          expect(jsonBytes(reply)).toBeLessThanOrEqual(limit);
          seen.push(...(reply.value as RetrieveEntry[]));
          if (reply.next === undefined) break;
          expect(reply.next).toBeGreaterThan(from);
          from = reply.next as number;
        }
        expect(seen.map((e) => e.Key)).toEqual(all.map((e) => (e.command as { key: string }).key));
        // Only entries that cannot fit even alone are truncated.
        for (const e of seen) if (e.Truncated) expect(jsonBytes({ ...e, Value: 'v'.repeat(sizes[Number(e.Key.slice(1))]!), Truncated: undefined })).toBeGreaterThan(limit - 150);
      }),
      { numRuns: 200 },
    );
  });

  it('truncates a single entry larger than a whole reply instead of stalling', () => {
    const reply = retrieveReply('Node1', sourceOf(entries([70_000, 10])), 1);
    expect(reply.value).toEqual([{ Term: 1, Key: 'k0', Value: null, Truncated: true }, { Term: 1, Key: 'k1', Value: 'v'.repeat(10) }]);
    expect(reply.next).toBeUndefined();
  });

  it('keeps STATUS whole when it fits', () => {
    const status = new FakeRaftNode('Node1', ['Node1', 'Node2']).status();
    expect(statusReply('Node1', status).value).toEqual(status);
  });
});

describe('CIDR allow list', () => {
  const defaults = new CidrAllowList(['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']);

  it('accepts loopback and the private ranges Docker uses, in IPv4 and IPv4-mapped IPv6 form', () => {
    for (const address of ['127.0.0.1', '127.255.0.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.65.1', '::1', '::ffff:172.18.0.5', '::FFFF:7f00:1']) {
      expect(defaults.allows(address), address).toBe(true);
    }
  });

  it('refuses public addresses, neighbours of the ranges, and non-addresses', () => {
    for (const address of ['8.8.8.8', '172.32.0.1', '172.15.255.255', '192.169.0.1', '11.0.0.1', '::2', '::ffff:8.8.8.8', '2001:db8::1', 'localhost', '']) {
      expect(defaults.allows(address), address).toBe(false);
    }
  });

  it('parses IPv6 ranges, bare hosts and mapped ranges', () => {
    const list = new CidrAllowList(['2001:db8::/32', '203.0.113.7', '::ffff:198.51.100.0/120', 'fe80::/10']);
    expect(list.allows('2001:db8:ffff::1')).toBe(true);
    expect(list.allows('2001:db9::1')).toBe(false);
    expect(list.allows('203.0.113.7')).toBe(true);
    expect(list.allows('203.0.113.8')).toBe(false);
    expect(list.allows('198.51.100.200')).toBe(true);
    expect(list.allows('fe80::1%eth0')).toBe(true);
    expect(new CidrAllowList(['0.0.0.0/0']).allows('1.2.3.4')).toBe(true);
  });

  it('names the entry that is not a CIDR', () => {
    expect(() => parseCidr('10.0.0.0/33')).toThrow(/"10.0.0.0\/33": prefix length must be 0..32/);
    expect(() => parseCidr('10.0.0/8')).toThrow(/not a CIDR/);
    expect(() => parseCidr('10.0.0.0/8/1')).toThrow(/not a CIDR/);
    expect(() => parseCidr('::ffff:1.2.3.4/64')).toThrow(/at least 96/);
    expect(() => parseCidr('10.0.0.0/')).toThrow(/prefix length/);
    expect(parseAddress('::ffff:10.0.0.1')).toEqual({ family: 4, value: 0x0a000001n });
  });
});
