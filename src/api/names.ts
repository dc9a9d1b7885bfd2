/**
 * Who a request may come from and through (SPEC §7): the Host of every request must name this
 * node or a member, and the Origin, when a browser sends one, must be a member's public URL.
 * This stops DNS rebinding (a page on evil.example whose name now resolves to 127.0.0.1 sends
 * `Host: evil.example`) and cross-site requests (a page elsewhere sends its own Origin). The
 * same list of member origins is the CORS allow list (SPEC §3 "Other nodes' pages").
 *
 * Names are compared as lower-case `host:port` authorities, with the default port of the
 * scheme filled in, so `Host: localhost` on port 80 and `localhost:80` are the same name.
 */
import type { RaftNodeHandle } from '../node/types.js';

/**
 * How long the name sets are trusted before the inputs are looked at again. Rebuilding the
 * member URL lists on every request cost ~2 % of a node's CPU under reads. A name not in the
 * sets is always looked up afresh, so a member just added is accepted at once; a member just
 * removed stays accepted for at most this long.
 */
const NAMES_FRESH_MS = 1000;
/** Distinct Host headers whose parsed authority is remembered (all of them are dropped when full). */
const MAX_CACHED_HOSTS = 64;

/** The loopback names a local browser or tool uses for a node on this machine. */
const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

/** Whether a host name (without port, IPv6 in brackets) is a loopback name. */
function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.includes(host) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** `scheme://host:port` parts of a URL, lower-cased, with the default port; null if not http(s). */
export function urlAuthority(url: string): { scheme: 'http' | 'https'; host: string; port: number } | null {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return null;
    const scheme = parsed.protocol === 'https:' ? 'https' : 'http';
    const port = parsed.port ? Number(parsed.port) : scheme === 'https' ? 443 : 80;
    return { scheme, host: parsed.hostname.toLowerCase(), port };
  } catch {
    return null;
  }
}

/** A Host header as `host:port` (lower case, default port filled in), or null if malformed. */
export function hostAuthority(host: string, scheme: 'http' | 'https'): string | null {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(host.trim());
  const name = match?.[1];
  if (match === null || name === undefined) return null;
  const port = match[2] !== undefined ? Number(match[2]) : scheme === 'https' ? 443 : 80;
  return `${name.toLowerCase().replace(/\.$/, '')}:${port}`;
}

/** The origins one URL stands for: itself, and for a loopback host every loopback name on its port. */
function originsOf(url: string): string[] {
  const parts = urlAuthority(url);
  if (!parts) return [];
  const hosts = isLoopbackHost(parts.host) ? [parts.host, ...LOOPBACK_HOSTS] : [parts.host];
  const defaultPort = parts.scheme === 'https' ? 443 : 80;
  return hosts.flatMap((host) => {
    const origin = `${parts.scheme}://${host}:${parts.port}`;
    // Browsers omit the default port in Origin.
    return parts.port === defaultPort ? [origin, `${parts.scheme}://${host}`] : [origin];
  });
}

/** Where this node's own names come from. */
export interface NodeNamesOptions {
  node: Pick<RaftNodeHandle, 'id' | 'voters' | 'peerHttpUrl'>;
  /** `http` or `https`: the scheme this node serves. */
  scheme: 'http' | 'https';
  /** This node's public URLs (the advertised HTTP URL plus --public-url values). */
  publicUrls: readonly string[];
  /** A peer's --public-url values, learned in its authenticated handshake (none if absent). */
  peerPublicUrls?: ((id: string) => readonly string[]) | undefined;
  /** The bound address, once listening (its port is the node's port for loopback names). */
  bound: () => { host: string; port: number } | null;
}

interface NameSets {
  /** Authorities (`host:port`) a Host header may name. */
  hosts: Set<string>;
  /** Origins of this node itself (admin actions accept only these). */
  ownOrigins: Set<string>;
  /** Origins of every member, this node included (CORS, and any non-admin request). */
  memberOrigins: Set<string>;
}

/**
 * This node's names and its members' (see the file comment). Members' URLs are learned as
 * peers connect, so the sets are rebuilt when that list changes, not on every request.
 */
export class NodeNames {
  private key = '';
  private sets: NameSets = { hosts: new Set(), ownOrigins: new Set(), memberOrigins: new Set() };
  private checkedAt = Number.NEGATIVE_INFINITY;
  private readonly hostCache = new Map<string, string | null>();

  constructor(
    private readonly options: NodeNamesOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a Host header names this node or a member. A request without Host (HTTP/1.0) cannot come from a browser, so it passes. */
  hostAllowed(host: string | undefined): boolean {
    if (host === undefined) return true;
    const authority = this.authorityOf(host);
    return authority !== null && this.has((sets) => sets.hosts.has(authority));
  }

  /** Whether `origin` is a member's public URL (this node's included). */
  memberOrigin(origin: string): boolean {
    const lower = origin.toLowerCase();
    return this.has((sets) => sets.memberOrigins.has(lower));
  }

  /** Whether `origin` is one of this node's own URLs. */
  ownOrigin(origin: string): boolean {
    const lower = origin.toLowerCase();
    return this.has((sets) => sets.ownOrigins.has(lower));
  }

  /** `test` on the sets, looked at afresh when they are stale or `test` fails on them. */
  private has(test: (sets: NameSets) => boolean): boolean {
    const fresh = this.now() - this.checkedAt < NAMES_FRESH_MS;
    if (fresh && test(this.sets)) return true;
    return test(this.current());
  }

  private authorityOf(host: string): string | null {
    let authority = this.hostCache.get(host);
    if (authority === undefined) {
      if (this.hostCache.size >= MAX_CACHED_HOSTS) this.hostCache.clear();
      authority = hostAuthority(host, this.options.scheme);
      this.hostCache.set(host, authority);
    }
    return authority;
  }

  private ownUrls(): string[] {
    const { scheme, publicUrls, bound } = this.options;
    const address = bound();
    const urls = [...publicUrls];
    if (address) {
      urls.push(`${scheme}://localhost:${address.port}`);
      const host = address.host.includes(':') ? `[${address.host}]` : address.host;
      if (address.host !== '0.0.0.0' && address.host !== '::') urls.push(`${scheme}://${host}:${address.port}`);
    }
    return urls;
  }

  private memberUrls(): string[] {
    const { node } = this.options;
    const urls: string[] = [];
    for (const id of node.voters) {
      if (id === node.id) continue;
      const url = node.peerHttpUrl(id);
      if (url) urls.push(url);
      // A page served by a peer's public URL (the Docker layout's published port) may fail over here.
      urls.push(...(this.options.peerPublicUrls?.(id) ?? []));
    }
    return urls;
  }

  /** The sets for the inputs as they are now, rebuilt only if the inputs changed. */
  private current(): NameSets {
    const own = this.ownUrls();
    const members = this.memberUrls();
    const key = `${own.join(' ')}|${members.join(' ')}`;
    if (key !== this.key) {
      this.key = key;
      this.sets = build(own, members);
    }
    this.checkedAt = this.now();
    return this.sets;
  }
}

function build(own: string[], members: string[]): NameSets {
  const ownOrigins = new Set(own.flatMap(originsOf));
  const memberOrigins = new Set([...ownOrigins, ...members.flatMap(originsOf)]);
  const hosts = new Set<string>();
  for (const origin of memberOrigins) {
    const parts = urlAuthority(origin);
    // URL.hostname keeps IPv6 in brackets, as a Host header has it.
    if (parts) hosts.add(`${parts.host}:${parts.port}`);
  }
  return { hosts, ownOrigins, memberOrigins };
}
