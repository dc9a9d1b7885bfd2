import { CidrError, DEFAULT_CONTROLLER_ALLOW, parseCidr } from '../controller/cidr.js';

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
  secret: string | null;
  adminToken: string | null;
  controllerAllow: string[];
  tickMs: number;
  heartbeatMs: number;
  electionMs: number;
  snapshotEvery: number;
  logFormat: 'json' | 'pretty';
  logLevel: string;
  rateLimitPerSecond: number;
  unsafeLocalReads: boolean;
}

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
  secret: ['--secret', 'RAFTQUOTES_SECRET'],
  adminToken: ['--admin-token', 'RAFTQUOTES_ADMIN_TOKEN'],
  controllerAllow: ['--controller-allow', 'RAFTQUOTES_CONTROLLER_ALLOW'],
  tickMs: ['--tick-ms', 'RAFTQUOTES_TICK_MS'],
  heartbeatMs: ['--heartbeat-ms', 'RAFTQUOTES_HEARTBEAT_MS'],
  electionMs: ['--election-ms', 'RAFTQUOTES_ELECTION_MS'],
  snapshotEvery: ['--snapshot-every', 'RAFTQUOTES_SNAPSHOT_EVERY'],
  logFormat: ['--log-format', 'RAFTQUOTES_LOG_FORMAT'],
  logLevel: ['--log-level', 'RAFTQUOTES_LOG_LEVEL'],
  rateLimit: ['--rate-limit', 'RAFTQUOTES_RATE_LIMIT'],
  unsafeLocalReads: ['--unsafe-local-reads', 'RAFTQUOTES_UNSAFE_LOCAL_READS'],
} as const;

export type NodeSettingName = keyof typeof NODE_SETTINGS;

/** The flags `raftquotes node` accepts, for commander and for help text. */
export function nodeFlags(): Array<{ key: NodeSettingName; flag: string; env: string }> {
  return Object.entries(NODE_SETTINGS).map(([key, [flag, env]]) => ({ key: key as NodeSettingName, flag, env }));
}

const ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** Parses "host:port" (IPv6 as "[::1]:port"); `what` names the flag in errors. */
export function parseHostPort(value: string, what: string): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || !(port >= 0 && port <= 65535)) throw new ConfigError(`${what}: expected host:port, got "${value}"`);
  return { host: (match[1] ?? match[2]) as string, port };
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
    if (flag !== undefined) return String(flag);
    return env[NODE_SETTINGS[key][1]];
  };
  const name = (key: NodeSettingName): string => `${NODE_SETTINGS[key][0]} (${NODE_SETTINGS[key][1]})`;
  const required = (key: NodeSettingName): string => {
    const value = get(key);
    if (value === undefined || value === '') throw new ConfigError(`${name(key)} is required`);
    return value;
  };
  const id = required('id');
  if (!ID_PATTERN.test(id)) throw new ConfigError(`${name('id')}: expected a name like Node3, got "${id}"`);
  const peers = parsePeers(required('peers'), name('peers'));
  if (!peers[id]) throw new ConfigError(`${name('peers')} must include this node (${id})`);
  if (Object.keys(peers).length > 9) throw new ConfigError(`${name('peers')}: at most 9 voters are supported`);
  const raft = get('raft') ? parseHostPort(get('raft') as string, name('raft')) : (peers[id] as HostPort);
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
  const advertiseHost = http.host === '0.0.0.0' || http.host === '::' ? raft.host === '0.0.0.0' ? '127.0.0.1' : (peers[id] as HostPort).host : http.host;
  return {
    id,
    peers,
    dataDir: required('dataDir'),
    http,
    raft,
    controller,
    advertiseHttp: get('advertiseHttp') ?? `http://${advertiseHost}:${http.port}`,
    clusterId: get('clusterId') ?? 'raftquotes',
    secret: get('secret') || null,
    adminToken: get('adminToken') || null,
    controllerAllow: allow,
    tickMs,
    heartbeatMs,
    electionMs,
    snapshotEvery: intIn(get('snapshotEvery') ?? '10000', name('snapshotEvery'), 10, 100_000_000),
    logFormat,
    logLevel,
    rateLimitPerSecond: intIn(get('rateLimit') ?? '50', name('rateLimit'), 0, 1_000_000),
    unsafeLocalReads: parseBool(get('unsafeLocalReads') ?? 'false', name('unsafeLocalReads')),
  };
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
