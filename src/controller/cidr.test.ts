import { isIPv6 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CidrAllowList, isIPv6Address, parseAddress, parseCidr } from './cidr.js';

/** A small seeded generator (mulberry32), so every run checks the same inputs. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every string of length 0..maxLength over `alphabet`. */
function* allStrings(alphabet: string, maxLength: number): Generator<string> {
  let level = [''];
  for (let length = 0; length <= maxLength; length++) {
    yield* level;
    level = level.flatMap((s) => [...alphabet].map((c) => s + c));
  }
}

const HEX_GROUPS = ['0', '1', 'f', 'F', 'ab', 'fff', 'ffff', 'FfFf', '12345', '', 'g', 'x1', ' 1'];
const OCTETS = ['0', '00', '01', '1', '9', '10', '99', '100', '199', '200', '249', '250', '255', '256', '300', '1a', ''];
const ZONES = ['eth0', '1', 'a.b', 'en0:1', 'x-y', '', '%', 'e th', 'é', '_'];

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

/** An address-like string: groups, maybe "::" (or two), maybe an IPv4 tail and a zone, maybe a mutated character. */
function addressLike(random: () => number): string {
  const groups = Array.from({ length: Math.floor(random() * 10) }, () => (random() < 0.9 ? pick(random, HEX_GROUPS.slice(0, 8)) : pick(random, HEX_GROUPS)));
  let text = groups.join(':');
  for (let gaps = random() < 0.8 ? 1 : 2; gaps > 0 && random() < 0.7; gaps--) {
    const at = Math.floor(random() * (text.length + 1));
    text = `${text.slice(0, at)}::${text.slice(at)}`;
  }
  if (random() < 0.35) text += `${random() < 0.8 ? ':' : ''}${Array.from({ length: random() < 0.8 ? 4 : 3 + Math.floor(random() * 3) }, () => pick(random, OCTETS)).join('.')}`;
  if (random() < 0.2) text += `%${pick(random, ZONES)}`;
  if (random() < 0.2) {
    const at = Math.floor(random() * (text.length + 1));
    const edit = pick(random, ['', ':', '.', '%', '0', 'g', '\n']);
    text = `${text.slice(0, at)}${edit}${text.slice(at + (random() < 0.5 ? 1 : 0))}`;
  }
  return text;
}

describe('isIPv6Address', () => {
  it('accepts and refuses the usual shapes', () => {
    for (const good of ['::', '::1', '1::', '::ffff:10.0.0.1', 'fe80::1%eth0', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1:2:3:4:5:6:1.2.3.4', '1::1.2.3.4', 'FFFF::abcd']) {
      expect(isIPv6Address(good), good).toBe(true);
    }
    for (const bad of ['', ':', ':::', '1:::2', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', '1:2:3:4:5:6::1.2.3.4', '::1.2.3', '::01.2.3.4', '12345::', 'g::', '::1%', '::1%a%b', '1.2.3.4', '1.2.3.4::', ' ::1', '::1\n']) {
      expect(isIPv6Address(bad), JSON.stringify(bad)).toBe(false);
    }
  });

  it('agrees with net.isIPv6 on every short string over the characters that matter', () => {
    let checked = 0;
    for (const s of allStrings(':1f.%g', 6)) {
      if (isIPv6Address(s) !== isIPv6(s)) expect.fail(`disagrees with net.isIPv6 on ${JSON.stringify(s)}`);
      checked++;
    }
    expect(checked).toBeGreaterThan(50_000);
  });

  it('agrees with net.isIPv6 on 100,000 generated address-like strings', () => {
    const random = prng(19);
    let accepted = 0;
    for (let i = 0; i < 100_000; i++) {
      const s = addressLike(random);
      const expected = isIPv6(s);
      if (isIPv6Address(s) !== expected) expect.fail(`disagrees with net.isIPv6 on ${JSON.stringify(s)}`);
      if (expected) accepted++;
    }
    // The generator must reach both answers often, or the comparison proves little.
    expect(accepted).toBeGreaterThan(10_000);
    expect(accepted).toBeLessThan(90_000);
  });
});

describe('CIDR allow list', () => {
  it('parses IPv4, IPv6 and IPv4-mapped ranges and matches sources', () => {
    expect(parseCidr('::1/128')).toEqual({ family: 6, value: 1n, prefix: 128 });
    expect(parseCidr('::ffff:10.0.0.0/104')).toEqual({ family: 4, value: 0x0a000000n, prefix: 8 });
    expect(parseAddress('fe80::1%eth0')).toEqual({ family: 6, value: 0xfe80n << 112n | 1n });
    expect(parseAddress('1.2.3')).toBeNull();
    const allow = new CidrAllowList(['127.0.0.0/8', '::1/128', 'fd00::/8']);
    expect(['127.0.0.1', '::1', '::ffff:127.0.0.2', 'fd12::5'].map((a) => allow.allows(a))).toEqual([true, true, true, true]);
    expect(['10.0.0.1', '::2', 'fe80::1', 'not an address'].map((a) => allow.allows(a))).toEqual([false, false, false, false]);
    expect(() => parseCidr('::1::2/128')).toThrow(/not a CIDR/);
    expect(() => parseCidr('::ffff:10.0.0.0/95')).toThrow(/at least 96/);
  });
});
