/**
 * A small CIDR allow list for controller datagrams (SPEC §7): IPv4, IPv6, and IPv4-mapped
 * IPv6 (`::ffff:10.0.0.1`, what a dual-stack socket reports for an IPv4 peer), which is
 * matched as the IPv4 address it carries.
 */
import { isIPv4 } from 'node:net';

/** An address as a number of its family's width. */
interface ParsedAddress {
  family: 4 | 6;
  value: bigint;
}

interface CidrRange extends ParsedAddress {
  prefix: number;
}

/** A CIDR that does not parse; the message names it. */
export class CidrError extends Error {
  override readonly name = 'CidrError';
  readonly code = 'bad_cidr';
}

/**
 * SPEC §7 default for --controller-allow: loopback only. A reply can be far larger than its
 * request and UDP sources are spoofable, so open ranges would make the node an amplifier;
 * docker-compose.yml sets its network's range explicitly. (IPv4-mapped sources match too.)
 */
export const DEFAULT_CONTROLLER_ALLOW: readonly string[] = ['127.0.0.0/8', '::1/128'];

const IPV4_MAPPED_PREFIX = 0xffffn << 32n;

function ipv4ToBigInt(address: string): bigint {
  return address.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

/** Expands an IPv6 address (with "::" and an optional dotted IPv4 tail) to 128 bits. */
function ipv6ToBigInt(address: string): bigint {
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  const tail4 = dotted?.[1];
  if (dotted && tail4 !== undefined) {
    const v4 = ipv4ToBigInt(tail4);
    text = `${text.slice(0, dotted.index)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : new Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  return [...headGroups, ...zeros, ...tailGroups].reduce((acc, group) => (acc << 16n) | BigInt(parseInt(group, 16)), 0n);
}

/** Hex groups in a full IPv6 address (RFC 4291 §2.2). */
const IPV6_GROUPS = 8;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
/** A dotted-quad octet as node's isIPv4 takes it: 0..255, no leading zero. */
const DECIMAL_OCTET = /^(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])$/;
/** A zone id after "%", in the characters node's isIPv6 allows. */
const ZONE_ID = /^[0-9a-zA-Z.:-]+$/;

function isDottedQuad(text: string): boolean {
  const octets = text.split('.');
  return octets.length === 4 && octets.every((octet) => DECIMAL_OCTET.test(octet));
}

/** How many of the 8 groups a run of colon-separated groups fills (a dotted IPv4 tail fills 2), or null if one is malformed. */
function groupsFilled(run: string): number | null {
  if (run === '') return 0;
  const groups = run.split(':');
  const last = groups.pop() as string;
  if (!groups.every((group) => HEX_GROUP.test(group))) return null;
  if (HEX_GROUP.test(last)) return groups.length + 1;
  return isDottedQuad(last) ? groups.length + 2 : null;
}

/**
 * Exactly the inputs node's net.isIPv6 accepts (its big regular expression, which costs
 * 10-25 ms to compile on first use, on the path of every node start): 8 groups, or fewer
 * around one "::" standing for at least one zero group, the last two groups optionally a
 * dotted IPv4 address, then an optional "%zone". src/controller/cidr.test.ts checks it
 * against net.isIPv6 input for input.
 */
export function isIPv6Address(address: string): boolean {
  const percent = address.indexOf('%');
  if (percent !== -1 && !ZONE_ID.test(address.slice(percent + 1))) return false;
  const body = percent === -1 ? address : address.slice(0, percent);
  const gap = body.indexOf('::');
  if (gap === -1) return groupsFilled(body) === IPV6_GROUPS;
  const head = body.slice(0, gap);
  // The head never ends in a dotted IPv4 address: that comes last.
  if (head.includes('.')) return false;
  const before = groupsFilled(head);
  const after = groupsFilled(body.slice(gap + 2));
  return before !== null && after !== null && before + after < IPV6_GROUPS;
}

/** Parses an address; IPv4-mapped IPv6 becomes IPv4. Null when it is not an IP address. */
export function parseAddress(address: string): ParsedAddress | null {
  const bare = address.replace(/%.*$/, ''); // drop an IPv6 zone id ("fe80::1%eth0")
  if (isIPv4(bare)) return { family: 4, value: ipv4ToBigInt(bare) };
  if (!isIPv6Address(bare)) return null;
  const value = ipv6ToBigInt(bare);
  if (value >> 32n === IPV4_MAPPED_PREFIX >> 32n) return { family: 4, value: value & 0xffffffffn };
  return { family: 6, value };
}

/** Parses "a.b.c.d/n" or "v6/n" (a bare address means a single host). */
export function parseCidr(cidr: string): CidrRange {
  const [addressPart = '', prefixPart, extra] = cidr.trim().split('/');
  const address = parseAddress(addressPart);
  if (!address || extra !== undefined) throw new CidrError(`"${cidr}" is not a CIDR like 10.0.0.0/8`);
  const mapped = isIPv6Address(addressPart) && address.family === 4;
  const width = address.family === 4 ? 32 : 128;
  let prefix = prefixPart === undefined ? (mapped ? 128 : width) : Number(prefixPart);
  if (!/^\d{1,3}$/.test(prefixPart ?? '0') || !Number.isInteger(prefix) || prefix > (mapped ? 128 : width)) {
    throw new CidrError(`"${cidr}": prefix length must be 0..${mapped ? 128 : width}`);
  }
  if (mapped) {
    if (prefix < 96) throw new CidrError(`"${cidr}": an IPv4-mapped range needs a prefix of at least 96`);
    prefix -= 96;
  }
  return { ...address, prefix };
}

function inRange(address: ParsedAddress, range: CidrRange): boolean {
  if (address.family !== range.family) return false;
  const shift = BigInt((range.family === 4 ? 32 : 128) - range.prefix);
  return address.value >> shift === range.value >> shift;
}

/** An allow list of CIDRs; `allows(address)` for each datagram's source. */
export class CidrAllowList {
  private readonly ranges: CidrRange[];

  /** Throws CidrError naming the first entry that does not parse. */
  constructor(readonly cidrs: readonly string[]) {
    this.ranges = cidrs.map(parseCidr);
  }

  /** True when the address (IPv4, IPv6, or IPv4-mapped IPv6) falls in one of the ranges. */
  allows(address: string): boolean {
    const parsed = parseAddress(address);
    return parsed !== null && this.ranges.some((range) => inRange(parsed, range));
  }
}
