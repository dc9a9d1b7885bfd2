import { readFileSync, statSync } from 'node:fs';
import { CidrError, DEFAULT_CONTROLLER_ALLOW, parseCidr } from '../controller/cidr.js';
import { MAX_PUBLIC_URL_LENGTH, MAX_PUBLIC_URLS } from '../transport/handshake.js';
import { errorCode, errorMessage } from '../narrow.js';

/** A user mistake in flags or environment: printed as one line, exit code 2, no stack trace. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'bad_config';
}

export interface HostPort {
  host: string;
  port: number;
}

/** Validated configuration of one node (SPEC §1 flags and RAFTQUOTES_* variables). */
export interface NodeConfig {
  id: string;
  peers: Record<string, HostPort>;
  dataDir: string;
  http: HostPort;
  raft: HostPort;
  controller: HostPort;
  /** Address other nodes and browsers use to reach this node's HTTP API. */
  advertiseHttp: string;
  clusterId: string;
  /**
   * Whether --cluster-id (RAFTQUOTES_CLUSTER_ID) was given. Without it, a data dir's identity
   * marker names the cluster (e.g. one made by `restore`), and "raftquotes" otherwise.
   */
  clusterIdGiven: boolean;
  /**
   * Shared peer secret (SPEC §7), from RAFTQUOTES_SECRET or --secret-file, never from argv
   * (it would show in `ps` and in cluster.json). Null only with TLS or --insecure.
   */
  secret: string | null;
  /** The file the secret was read from (re-read on SIGHUP), or null when it came from the environment. */
  secretFile: string | null;
  /** --insecure: peers are not authenticated. Only for experiments; the node warns loudly. */
  insecure: boolean;
  /** Mutual TLS for peer traffic (--tls-cert/--tls-key/--tls-ca), or null. Paths, re-read on SIGHUP. */
  tls: TlsFiles | null;
  /** HTTPS for the API and pages (--http-tls-cert/--http-tls-key, optional --http-client-ca), or null. */
  httpTls: HttpTlsFiles | null;
  /** Bearer token for admin actions, from RAFTQUOTES_ADMIN_TOKEN or --admin-token-file. */
  adminToken: string | null;
  /** The file the admin token was read from (re-read on SIGHUP), or null. */
  adminTokenFile: string | null;
  /** Browser origins whose pages may call this node's API (CORS); the advertised HTTP URL is always one. */
  publicUrls: string[];
  /** Size quota of the state machine in bytes (--quota-bytes, SPEC §5); writes past it get quota_exceeded. */
  quotaBytes: number;
  /**
   * --init: this is a new node, so an empty data dir may be initialized. Without it, a data
   * dir with no identity is refused (a lost database must never restart empty, SPEC §5).
   */
  init: boolean;
  /** False when --peers was not given: the configuration is in the data dir (or comes from --join). */
  peersGiven: boolean;
  /** --join URL: on an empty data dir, ask the cluster there to add this node (SPEC §9). */
  join: string | null;
  /** --learner: stay a learner after joining (not promoted). */
  learner: boolean;
  /**
   * --force-new-cluster (SPEC §10, etcd's flag): before starting, rewrite this surviving
   * member's data dir into a one-voter cluster of itself (src/storage/force-new-cluster.ts).
   */
  forceNewCluster: boolean;
  controllerAllow: string[];
  tickMs: number;
  heartbeatMs: number;
  electionMs: number;
  snapshotEvery: number;
  logFormat: 'json' | 'pretty';
  logLevel: string;
  rateLimitPerSecond: number;
  unsafeLocalReads: boolean;
  /** SPEC §11 event ring for the dashboard's timeline (on by default; `--event-ring off` for A/B benchmarks). */
  eventRing: boolean;
}

/** Certificate files for mutual TLS between peers (PEM paths). */
export interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
}

/** Certificate files for HTTPS (PEM paths); clientCa also requires client certificates. */
export interface HttpTlsFiles {
  cert: string;
  key: string;
  clientCa: string | null;
}

/** Default state quota (SPEC §5): 2 GiB, like etcd's default backend quota. */
export const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;
/** A secret shorter than this is refused: it would be guessable. */
export const MIN_SECRET_BYTES = 16;
/** Secret and token files are small; a larger file is a mistake (or not the file meant). */
const MAX_SECRET_FILE_BYTES = 4096;

/** Flag name, environment variable, and description of each node setting. */
const NODE_SETTINGS = {
  id: ['--id', 'RAFTQUOTES_ID'],
  peers: ['--peers', 'RAFTQUOTES_PEERS'],
  dataDir: ['--data-dir', 'RAFTQUOTES_DATA_DIR'],
  http: ['--http', 'RAFTQUOTES_HTTP'],
  raft: ['--raft', 'RAFTQUOTES_RAFT'],
  controller: ['--controller', 'RAFTQUOTES_CONTROLLER'],
  advertiseHttp: ['--advertise-http', 'RAFTQUOTES_ADVERTISE_HTTP'],
  clusterId: ['--cluster-id', 'RAFTQUOTES_CLUSTER_ID'],
  secret: ['--secret-file', 'RAFTQUOTES_SECRET'],
  insecure: ['--insecure', 'RAFTQUOTES_INSECURE'],
  tlsCert: ['--tls-cert', 'RAFTQUOTES_TLS_CERT'],
  tlsKey: ['--tls-key', 'RAFTQUOTES_TLS_KEY'],
  tlsCa: ['--tls-ca', 'RAFTQUOTES_TLS_CA'],
  httpTlsCert: ['--http-tls-cert', 'RAFTQUOTES_HTTP_TLS_CERT'],
  httpTlsKey: ['--http-tls-key', 'RAFTQUOTES_HTTP_TLS_KEY'],
  httpClientCa: ['--http-client-ca', 'RAFTQUOTES_HTTP_CLIENT_CA'],
  adminToken: ['--admin-token-file', 'RAFTQUOTES_ADMIN_TOKEN'],
  publicUrl: ['--public-url', 'RAFTQUOTES_PUBLIC_URL'],
  quotaBytes: ['--quota-bytes', 'RAFTQUOTES_QUOTA_BYTES'],
  init: ['--init', 'RAFTQUOTES_INIT'],
  join: ['--join', 'RAFTQUOTES_JOIN'],
  learner: ['--learner', 'RAFTQUOTES_LEARNER'],
  forceNewCluster: ['--force-new-cluster', 'RAFTQUOTES_FORCE_NEW_CLUSTER'],
  controllerAllow: ['--controller-allow', 'RAFTQUOTES_CONTROLLER_ALLOW'],
  tickMs: ['--tick-ms', 'RAFTQUOTES_TICK_MS'],
  heartbeatMs: ['--heartbeat-ms', 'RAFTQUOTES_HEARTBEAT_MS'],
  electionMs: ['--election-ms', 'RAFTQUOTES_ELECTION_MS'],
  snapshotEvery: ['--snapshot-every', 'RAFTQUOTES_SNAPSHOT_EVERY'],
  logFormat: ['--log-format', 'RAFTQUOTES_LOG_FORMAT'],
  logLevel: ['--log-level', 'RAFTQUOTES_LOG_LEVEL'],
  rateLimit: ['--rate-limit', 'RAFTQUOTES_RATE_LIMIT'],
  unsafeLocalReads: ['--unsafe-local-reads', 'RAFTQUOTES_UNSAFE_LOCAL_READS'],
  eventRing: ['--event-ring', 'RAFTQUOTES_EVENT_RING'],
} as const;

export type NodeSettingName = keyof typeof NODE_SETTINGS;

/** Settings given as a bare flag (`--insecure`), true when present. */
export const BOOLEAN_SETTINGS: ReadonlySet<NodeSettingName> = new Set<NodeSettingName>(['insecure', 'init', 'unsafeLocalReads', 'learner', 'forceNewCluster']);

/**
 * Settings whose flag names a file holding the value while the environment variable holds
 * the value itself: a secret passed in argv would show in `ps` and in cluster.json.
 */
const FILE_FLAG_SETTINGS: ReadonlySet<NodeSettingName> = new Set<NodeSettingName>(['secret', 'adminToken']);

/** The flags `raftquotes node` accepts, for commander and for help text. */
export function nodeFlags(): Array<{ key: NodeSettingName; flag: string; env: string }> {
  return Object.entries(NODE_SETTINGS).map(([key, [flag, env]]) => ({ key: key as NodeSettingName, flag, env }));
}

const ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** parseHostPort of a flag that may be unset or empty (null then). */
function optionalHostPort(value: string | undefined, what: string): HostPort | null {
  return value ? parseHostPort(value, what) : null;
}

/** Parses "host:port" (IPv6 as "[::1]:port"); `what` names the flag in errors. */
export function parseHostPort(value: string, what: string): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value.trim());
  const host = match?.[1] ?? match?.[2];
  const port = match ? Number(match[3]) : NaN;
  if (host === undefined || !(port >= 0 && port <= 65535)) throw new ConfigError(`${what}: expected host:port, got "${value}"`);
  return { host, port };
}

/** Parses "Node1=h:p,Node2=h:p,...". */
export function parsePeers(value: string, what: string): Record<string, HostPort> {
  const peers: Record<string, HostPort> = {};
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    const id = eq > 0 ? part.slice(0, eq) : '';
    if (!ID_PATTERN.test(id)) throw new ConfigError(`${what}: expected Name=host:port entries, got "${part}"`);
    if (peers[id]) throw new ConfigError(`${what}: ${id} is listed twice`);
    peers[id] = parseHostPort(part.slice(eq + 1), `${what} (${id})`);
  }
  if (Object.keys(peers).length === 0) throw new ConfigError(`${what}: no peers given`);
  return peers;
}

function intIn(value: string, what: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${what}: expected an integer in [${min}, ${max}], got "${value}"`);
  return n;
}

function parseBool(value: string, what: string): boolean {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off|)$/i.test(value)) return false;
  throw new ConfigError(`${what}: expected true or false, got "${value}"`);
}

/**
 * Builds the node configuration from flags (winning) and environment variables, validating
 * everything in one place. Throws ConfigError naming the flag and the allowed values.
 */
export function parseNodeConfig(flags: Partial<Record<NodeSettingName, string | boolean>>, env: NodeJS.ProcessEnv): NodeConfig {
  const get = (key: NodeSettingName): string | undefined => {
    const flag = flags[key];
    if (flag !== undefined && !FILE_FLAG_SETTINGS.has(key)) return String(flag);
    return env[NODE_SETTINGS[key][1]];
  };
  const name = (key: NodeSettingName): string => `${NODE_SETTINGS[key][0]} (${NODE_SETTINGS[key][1]})`;
  /** A secret: the flag names a file (which wins), the environment variable holds the value. */
  const secretOf = (key: NodeSettingName): { value: string | null; file: string | null } => {
    const file = flags[key];
    if (typeof file === 'string' && file !== '') return { value: readSecretFile(file, name(key)), file };
    return { value: env[NODE_SETTINGS[key][1]] || null, file: null };
  };
  const required = (key: NodeSettingName): string => {
    const value = get(key);
    if (value === undefined || value === '') throw new ConfigError(`${name(key)} is required`);
    return value;
  };
  const id = required('id');
  if (!ID_PATTERN.test(id)) throw new ConfigError(`${name('id')}: expected a name like Node3, got "${id}"`);
  // Without --peers (a node that joined, SPEC §9) the configuration comes from the data dir
  // or, on first start, from the cluster at --join; --raft is then required.
  const peersGiven = get('peers') !== undefined && get('peers') !== '';
  const peers = peersGiven ? parsePeers(required('peers'), name('peers')) : { [id]: parseHostPort(required('raft'), name('raft')) };
  const ownPeer = peers[id];
  if (!ownPeer) throw new ConfigError(`${name('peers')} must include this node (${id})`);
  if (Object.keys(peers).length > 9) throw new ConfigError(`${name('peers')}: at most 9 voters are supported`);
  const raft = optionalHostPort(get('raft'), name('raft')) ?? ownPeer;
  const http = parseHostPort(get('http') ?? '127.0.0.1:8080', name('http'));
  const controller = parseHostPort(get('controller') ?? '127.0.0.1:5555', name('controller'));
  const tickMs = intIn(get('tickMs') ?? '10', name('tickMs'), 1, 1000);
  const heartbeatMs = intIn(get('heartbeatMs') ?? '50', name('heartbeatMs'), tickMs, 60_000);
  const electionMs = intIn(get('electionMs') ?? '300', name('electionMs'), heartbeatMs * 2, 600_000);
  const allow = (get('controllerAllow') ?? DEFAULT_CONTROLLER_ALLOW.join(',')).split(',').map((c) => c.trim()).filter(Boolean);
  for (const cidr of allow) checkCidr(name('controllerAllow'), cidr);
  const logFormat = get('logFormat') ?? 'json';
  if (logFormat !== 'json' && logFormat !== 'pretty') throw new ConfigError(`${name('logFormat')}: expected json or pretty, got "${logFormat}"`);
  const logLevel = get('logLevel') ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) throw new ConfigError(`${name('logLevel')}: expected one of error, warn, info, debug`);
  const security = parseSecurity(get, name, secretOf);
  const advertiseHost = http.host === '0.0.0.0' || http.host === '::' ? raft.host === '0.0.0.0' ? '127.0.0.1' : ownPeer.host : http.host;
  const advertiseHttp = get('advertiseHttp') ?? `${security.httpTls ? 'https' : 'http'}://${advertiseHost}:${http.port}`;
  checkUrl(name('advertiseHttp'), advertiseHttp);
  const publicUrls = (get('publicUrl') ?? '').split(',').map((u) => u.trim()).filter(Boolean);
  checkPublicUrls(name('publicUrl'), publicUrls);
  return {
    id,
    peers,
    dataDir: required('dataDir'),
    http,
    raft,
    controller,
    advertiseHttp,
    clusterId: get('clusterId') || 'raftquotes',
    clusterIdGiven: Boolean(get('clusterId')),
    ...security,
    publicUrls: [...new Set([advertiseHttp.replace(/\/+$/, ''), ...publicUrls.map((u) => u.replace(/\/+$/, ''))])],
    quotaBytes: intIn(get('quotaBytes') ?? String(DEFAULT_QUOTA_BYTES), name('quotaBytes'), 1024 * 1024, Number.MAX_SAFE_INTEGER),
    init: parseBool(get('init') ?? 'false', name('init')),
    peersGiven,
    ...joinSettings(get, name),
    controllerAllow: allow,
    tickMs,
    heartbeatMs,
    electionMs,
    snapshotEvery: intIn(get('snapshotEvery') ?? '10000', name('snapshotEvery'), 10, 100_000_000),
    logFormat,
    logLevel,
    rateLimitPerSecond: intIn(get('rateLimit') ?? '50', name('rateLimit'), 0, 1_000_000),
    unsafeLocalReads: parseBool(get('unsafeLocalReads') ?? 'false', name('unsafeLocalReads')),
    eventRing: parseBool(get('eventRing') ?? 'on', name('eventRing')),
  };
}

/** --join and --learner (SPEC §9), and --force-new-cluster, which rewrites a member's own data: joining makes a new one, so not both. */
function joinSettings(get: Getter, name: Namer): Pick<NodeConfig, 'join' | 'learner' | 'forceNewCluster'> {
  const forceNewCluster = parseBool(get('forceNewCluster') ?? 'false', name('forceNewCluster'));
  if (forceNewCluster && get('join')) throw new ConfigError(`${name('forceNewCluster')} restarts a surviving member from its data dir; it cannot be combined with ${name('join')}`);
  return { join: joinUrl(get('join'), name('join')), learner: parseBool(get('learner') ?? 'false', name('learner')), forceNewCluster };
}

function joinUrl(value: string | undefined, what: string): string | null {
  if (value === undefined || value === '') return null;
  checkUrl(what, value);
  return value.replace(/\/+$/, '');
}

/** The same parser the controller uses, so a list that starts a node is one the controller accepts. */
function checkCidr(flag: string, cidr: string): void {
  try {
    parseCidr(cidr);
  } catch (err) {
    if (err instanceof CidrError) throw new ConfigError(`${flag}: ${err.message}`);
    throw err;
  }
}

type Getter = (key: NodeSettingName) => string | undefined;
type Namer = (key: NodeSettingName) => string;
type SecretReader = (key: NodeSettingName) => { value: string | null; file: string | null };

/**
 * Peer authentication, TLS and the admin token (SPEC §7). A node must authenticate its
 * peers: with a shared secret, with mutual TLS, or only when --insecure says so.
 */
function parseSecurity(get: Getter, name: Namer, secretOf: SecretReader): Pick<NodeConfig, 'secret' | 'secretFile' | 'insecure' | 'tls' | 'httpTls' | 'adminToken' | 'adminTokenFile'> {
  const secret = secretOf('secret');
  if (secret.value !== null && Buffer.byteLength(secret.value, 'utf8') < MIN_SECRET_BYTES) {
    throw new ConfigError(`${name('secret')}: the secret must be at least ${MIN_SECRET_BYTES} bytes`);
  }
  const tls = fileGroup(get, name, ['tlsCert', 'tlsKey', 'tlsCa']);
  const httpTls = fileGroup(get, name, ['httpTlsCert', 'httpTlsKey']);
  const clientCa = get('httpClientCa') || null;
  if (clientCa !== null && httpTls === null) throw new ConfigError(`${name('httpClientCa')} needs --http-tls-cert and --http-tls-key`);
  if (clientCa !== null) checkReadable(clientCa, name('httpClientCa'));
  const insecure = parseBool(get('insecure') ?? 'false', name('insecure'));
  const adminToken = secretOf('adminToken');
  if (secret.value === null && tls === null && !insecure) {
    throw new ConfigError('peers must be authenticated: set RAFTQUOTES_SECRET or --secret-file, or --tls-cert/--tls-key/--tls-ca for mutual TLS (or --insecure for an unauthenticated experiment)');
  }
  return {
    secret: secret.value,
    secretFile: secret.file,
    insecure: insecure && secret.value === null && tls === null,
    tls: tls ? { cert: tls.tlsCert, key: tls.tlsKey, ca: tls.tlsCa } : null,
    httpTls: httpTls ? { cert: httpTls.httpTlsCert, key: httpTls.httpTlsKey, clientCa } : null,
    adminToken: adminToken.value,
    adminTokenFile: adminToken.file,
  };
}

/** All of a group of file flags, or none; each file must be readable. */
/** A group of file settings given all together or not at all: each one's path, or null when none is set. */
function fileGroup<K extends NodeSettingName>(get: Getter, name: Namer, keys: readonly K[]): Record<K, string> | null {
  const given = keys.map((k) => [k, get(k) || null] as const);
  if (given.every(([, v]) => v === null)) return null;
  const missing = given.filter(([, v]) => v === null).map(([k]) => k);
  if (missing.length > 0) throw new ConfigError(`${missing.map(name).join(', ')} must be set together with ${keys.filter((k) => !missing.includes(k)).map(name).join(', ')}`);
  const paths: Partial<Record<K, string>> = {};
  for (const [key, path] of given) {
    if (path === null) continue; // none is: `missing` above is empty
    checkReadable(path, name(key));
    paths[key] = path;
  }
  // Every key of `keys` was given a path just above.
  return paths as Record<K, string>;
}

function checkReadable(path: string, what: string): void {
  try {
    if (!statSync(path).isFile()) throw new Error('not a file');
    readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${what}: cannot read ${path} (${errorCode(err) ?? errorMessage(err)})`);
  }
}

/** Reads a secret from a file (trailing newline dropped), refusing files others can read. */
export function readSecretFile(path: string, what: string): string {
  let text: string;
  try {
    const stat = statSync(path);
    if (!stat.isFile() || stat.size > MAX_SECRET_FILE_BYTES) throw new Error(`not a file of at most ${MAX_SECRET_FILE_BYTES} bytes`);
    if ((stat.mode & 0o077) !== 0) throw new Error(`mode ${(stat.mode & 0o777).toString(8)} lets others read it; chmod 600 it`);
    text = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new ConfigError(`${what}: cannot use ${path}: ${errorCode(err) ?? errorMessage(err)}`);
  }
  if (text === '') throw new ConfigError(`${what}: ${path} is empty`);
  return text;
}

/** --public-url: peers learn these in the handshake, which bounds them (transport/handshake.ts). */
function checkPublicUrls(what: string, urls: string[]): void {
  if (urls.length > MAX_PUBLIC_URLS) throw new ConfigError(`${what}: at most ${MAX_PUBLIC_URLS} URLs, got ${urls.length}`);
  for (const url of urls) {
    if (url.length > MAX_PUBLIC_URL_LENGTH) throw new ConfigError(`${what}: a URL is at most ${MAX_PUBLIC_URL_LENGTH} characters, got one of ${url.length}`);
    checkUrl(what, url);
  }
}

function checkUrl(what: string, value: string): void {
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new ConfigError(`${what}: expected an http(s) URL, got "${value}"`);
  }
}
