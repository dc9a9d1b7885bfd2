import { assert, defined } from './assert.js';
import type { NodeId } from './types.js';

/**
 * Cluster membership (Raft thesis chapter 4): who votes, who only receives the log, and, while
 * a change of several voters is under way, the joint configuration of §4.3. A configuration is
 * stored in the log as an entry of type `config` (its `data` is `encodeConfiguration`) and in
 * snapshot metadata, so a node knows it at every index after a restart or an InstallSnapshot.
 *
 * Addresses travel with the ids so the runtime can dial a member that joined later; the core
 * never reads them.
 */

/** One member: its id, its Raft peer address (host:port) and its HTTP URL. */
export interface Member {
  id: NodeId;
  raft: string;
  http: string;
}

/**
 * A configuration. `voters` is the (incoming) voter set and `learners` the non-voting members.
 * While joint (§4.3), `outgoing` holds the voters of the configuration being left: elections,
 * commitment and ReadIndex then need a majority of `voters` and a majority of `outgoing`.
 * A member may be in `outgoing` and in `learners` at once (a voter being demoted).
 */
export interface Configuration {
  voters: Member[];
  learners: Member[];
  outgoing: Member[] | null;
}

/** Members of one configuration (voters + learners + outgoing voters, without repeats). */
export const MAX_MEMBERS = 64;
/** Characters of a node id in a configuration. */
export const MAX_MEMBER_ID_CHARS = 128;
/** Characters of a member's Raft address or HTTP URL. */
export const MAX_MEMBER_ADDRESS_CHARS = 512;
/** Bytes of an encoded configuration entry (64 members with long addresses fit easily). */
export const MAX_CONFIGURATION_CHARS = 256 * 1024;

/** A configuration of voters with no addresses: the seed of the core's unit tests and simulator. */
export function seedConfiguration(voters: readonly NodeId[]): Configuration {
  return { voters: voters.map((id) => ({ id, raft: '', http: '' })), learners: [], outgoing: null };
}

/** True while the configuration is joint (C_old,new, thesis §4.3): `outgoing` is set. */
export function isJoint(config: Configuration): boolean {
  return config.outgoing !== null;
}

/** True when `id` votes in either half of the configuration. */
export function isVoter(config: Configuration, id: NodeId): boolean {
  return config.voters.some((m) => m.id === id) || (config.outgoing?.some((m) => m.id === id) ?? false);
}

/** True when `id` is a learner: it receives the log but neither votes nor counts for commit. */
export function isLearner(config: Configuration, id: NodeId): boolean {
  return config.learners.some((m) => m.id === id);
}

/** True when `id` is a voter (of either half) or a learner. */
export function isMember(config: Configuration, id: NodeId): boolean {
  return findMember(config, id) !== undefined;
}

/** The member `id` (with its addresses), or undefined. */
export function findMember(config: Configuration, id: NodeId): Member | undefined {
  return config.voters.find((m) => m.id === id) ?? config.learners.find((m) => m.id === id) ?? config.outgoing?.find((m) => m.id === id);
}

/** Every member, once each, voters first: who the leader replicates to. */
export function allMembers(config: Configuration): Member[] {
  const seen = new Map<NodeId, Member>();
  for (const m of [...config.voters, ...(config.outgoing ?? []), ...config.learners]) if (!seen.has(m.id)) seen.set(m.id, m);
  return [...seen.values()];
}

/** The voter sets whose majorities a decision needs: one, or two while joint. */
export function voterSets(config: Configuration): NodeId[][] {
  const incoming = config.voters.map((m) => m.id);
  return config.outgoing === null ? [incoming] : [incoming, config.outgoing.map((m) => m.id)];
}

/** Every voter of either half, once each. */
export function allVoterIds(config: Configuration): NodeId[] {
  return [...new Set(voterSets(config).flat())];
}

/** True when both configurations hold the same members in the same roles. */
export function sameConfiguration(a: Configuration, b: Configuration): boolean {
  return encodeConfiguration(a) === encodeConfiguration(b);
}

/** The `data` of a config entry. Stable key order, so equal configurations encode equally. */
export function encodeConfiguration(config: Configuration): string {
  const members = (list: Member[]): Member[] => list.map((m) => ({ id: m.id, raft: m.raft, http: m.http }));
  return JSON.stringify({ voters: members(config.voters), learners: members(config.learners), outgoing: config.outgoing === null ? null : members(config.outgoing) });
}

/**
 * Decodes and validates a configuration from untrusted input (a peer's entry or snapshot
 * metadata, a stored row). Returns the configuration, or the reason it is refused. Never throws.
 */
export function decodeConfiguration(value: unknown): Configuration | string {
  if (typeof value === 'string') {
    if (value.length > MAX_CONFIGURATION_CHARS) return `configuration longer than ${MAX_CONFIGURATION_CHARS} characters`;
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      return 'configuration is not JSON';
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'configuration must be an object';
  const fields: { voters?: unknown; learners?: unknown; outgoing?: unknown } = value;
  const voters = decodeMembers(fields.voters, 'voters');
  if (typeof voters === 'string') return voters;
  const learners = decodeMembers(fields.learners, 'learners');
  if (typeof learners === 'string') return learners;
  const outgoing = fields.outgoing === null || fields.outgoing === undefined ? null : decodeMembers(fields.outgoing, 'outgoing');
  if (typeof outgoing === 'string') return outgoing;
  const config: Configuration = { voters, learners, outgoing };
  return validateConfiguration(config) ?? config;
}

function decodeMembers(value: unknown, field: string): Member[] | string {
  if (!Array.isArray(value) || value.length > MAX_MEMBERS) return `${field} must be an array of at most ${MAX_MEMBERS} members`;
  const members: Member[] = [];
  const list: readonly unknown[] = value;
  for (const [i, m] of list.entries()) {
    if (typeof m !== 'object' || m === null) return `${field}[${i}] must be an object`;
    const { id, raft, http }: { id?: unknown; raft?: unknown; http?: unknown } = m;
    if (!isMemberId(id)) return `${field}[${i}].id must be 1..${MAX_MEMBER_ID_CHARS} printable characters`;
    if (!isAddress(raft) || !isAddress(http)) return `${field}[${i}] addresses must be strings of at most ${MAX_MEMBER_ADDRESS_CHARS} printable characters`;
    members.push({ id, raft, http });
  }
  return members;
}

/** The structural rules of a configuration; returns the broken one, or null. */
export function validateConfiguration(config: Configuration): string | null {
  if (config.voters.length === 0) return 'a configuration needs at least one voter';
  const ids = [...config.voters, ...config.learners].map((m) => m.id);
  if (new Set(ids).size !== ids.length) return 'a member is listed twice among voters and learners';
  if (config.outgoing !== null) {
    if (config.outgoing.length === 0) return 'a joint configuration needs outgoing voters';
    if (new Set(config.outgoing.map((m) => m.id)).size !== config.outgoing.length) return 'an outgoing voter is listed twice';
  }
  if (allMembers(config).length > MAX_MEMBERS) return `more than ${MAX_MEMBERS} members`;
  return null;
}

/**
 * Parses a member's Raft address, "host:port" (an IPv6 host in brackets or bare); null when it
 * is not one. The runtime dials it; the API refuses a change whose address does not parse.
 */
export function parseRaftAddress(text: string): { host: string; port: number } | null {
  if (text.length === 0 || text.length > MAX_MEMBER_ADDRESS_CHARS) return null;
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return null;
  let host = text.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const portText = text.slice(colon + 1);
  const port = Number(portText);
  if (!/^[0-9]{1,5}$/.test(portText) || port < 1 || port > 65535 || host.length === 0 || /[\s/@]/.test(host)) return null;
  return { host, port };
}

export function isMemberId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_MEMBER_ID_CHARS && isPrintable(value);
}

function isAddress(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_MEMBER_ADDRESS_CHARS && isPrintable(value);
}

function isPrintable(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return false;
  }
  return true;
}

// ---------------------------------------------------------------- the configuration at each index

interface ConfigPoint {
  index: number;
  term: number;
  config: Configuration;
}

/**
 * The configurations of the log (thesis §4.1: a server uses the latest configuration in its
 * log, committed or not). A base (from the snapshot, or the seed at index 0) and the config
 * entries after it, oldest first. When entries are truncated, the configurations they carried
 * are dropped and the node reverts to the previous one; compaction folds old points into the
 * base.
 */
export class ConfigHistory {
  private points: ConfigPoint[];

  constructor(baseIndex: number, baseTerm: number, base: Configuration) {
    this.points = [{ index: baseIndex, term: baseTerm, config: base }];
  }

  /** The configuration in effect: the latest in the log. */
  latest(): ConfigPoint {
    return defined(this.points[this.points.length - 1], 'the history always holds its base');
  }

  /** The configuration in effect at `index`, or undefined below the base. */
  at(index: number): ConfigPoint | undefined {
    for (let i = this.points.length - 1; i >= 0; i--) {
      const point = this.points[i];
      if (point !== undefined && point.index <= index) return point;
    }
    return undefined;
  }

  push(index: number, term: number, config: Configuration): void {
    assert(index > this.latest().index, () => `config entry ${index} is not after ${this.latest().index}`);
    this.points.push({ index, term, config });
  }

  /**
   * Drops the points whose entries are no longer in the log (truncated by a new leader, §4.1:
   * the node falls back to the previous configuration). `termAt` is the log's term lookup.
   * Returns true when the latest configuration changed.
   */
  dropTruncated(lastIndex: number, termAt: (index: number) => number | undefined): boolean {
    let dropped = false;
    while (this.points.length > 1) {
      const last = this.latest();
      if (last.index <= lastIndex && termAt(last.index) === last.term) break;
      this.points.pop();
      dropped = true;
    }
    return dropped;
  }

  /** Folds every point at or below `index` into the base (the log was compacted through it). */
  compactTo(index: number): void {
    for (let next = this.points[1]; next !== undefined && next.index <= index; next = this.points[1]) this.points.shift();
  }

  /** Replaces everything (a snapshot was installed). */
  reset(index: number, term: number, config: Configuration): void {
    this.points = [{ index, term, config }];
  }

  /**
   * Every member named in any configuration still held, with the address the latest of them
   * gives: the peers a node must stay reachable from (see knownIds).
   */
  knownMembers(): Member[] {
    const members = new Map<NodeId, Member>();
    for (const point of this.points) for (const m of allMembers(point.config)) members.set(m.id, m);
    return [...members.values()];
  }

  /** Every node named in any configuration still held: who may legitimately talk to us. */
  knownIds(): Set<NodeId> {
    const ids = new Set<NodeId>();
    for (const point of this.points) for (const m of allMembers(point.config)) ids.add(m.id);
    return ids;
  }
}
