import { allMembers, allVoterIds, type Configuration, parseRaftAddress } from '@raftquotes/raft';
import type { RaftStorage } from '../storage/types.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createApiServer } from '../api/server.js';
import { ControllerServer } from '../controller/server.js';
import { createDebugControls } from '../node/debug-controls.js';
import { createLogger } from '../node/logger.js';
import { NodeMetrics } from '../node/metrics.js';
import { RaftNode } from '../node/raft-node.js';
import { writeTraceFromEnv } from '../node/write-trace.js';
import { readIdentityMarker } from '../storage/identity.js';
import { forceNewCluster } from '../storage/force-new-cluster.js';
import { DATABASE_FILE, openNodeDatabase } from '../storage/sqlite-storage.js';
import { TcpTransport } from '../transport/tcp-transport.js';
import { ConfigError, type NodeConfig } from './config.js';
import { startHeapTrim } from './heap-trim.js';
import { installCorruptionStop, installCrashHandlers, installReloadHandler, type Reloadable } from './node-signals.js';
import { errorCode, errorMessage } from '../narrow.js';

const WEB_DIR = fileURLToPath(new URL('../../web', import.meta.url));
/** Default deadline for a client write or read before answering 504 timeout. */
const CLIENT_TIMEOUT_MS = 5_000;

function ensureWritableDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 }); // a new data dir is the node's alone (SPEC §7)
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new ConfigError(`--data-dir (RAFTQUOTES_DATA_DIR): ${dir} is not a writable directory (${errorCode(err) ?? errorMessage(err)})`);
  }
}

/** Turns a listen failure into one clear line naming the flag. */
function listenError(err: unknown, flag: string, address: string): never {
  const code = errorCode(err);
  if (code === 'EADDRINUSE') throw new ConfigError(`${flag}: ${address} is already in use`);
  if (code === 'EADDRNOTAVAIL' || code === 'EACCES') throw new ConfigError(`${flag}: cannot listen on ${address} (${code})`);
  throw err;
}

/**
 * `raftquotes node`: opens the data dir, binds every port (so a mistake stops the process
 * before it joins the cluster), then starts Raft, the HTTP API and the UDP controller.
 */
export async function runNode(given: NodeConfig): Promise<void> {
  // A node made by `restore` (or any explicit init) keeps its cluster id in the identity
  // marker, so it starts with no flag for it (SPEC §10).
  const config = given.clusterIdGiven ? given : { ...given, clusterId: readIdentityMarker(given.dataDir)?.clusterId ?? given.clusterId };
  const logger = createLogger(config.id, config.logFormat, config.logLevel);
  installCrashHandlers(logger);
  installCorruptionStop(logger);
  ensureWritableDir(config.dataDir);
  // --join on an empty data dir is the explicit step that makes this node (SPEC §5, §9); only then is join.js loaded.
  const fresh = freshDataDir(config);
  const joined = config.join !== null && fresh ? await (await import('./join.js')).joinCluster(config, logger) : null;
  // Without --init an empty data dir is refused: a node whose database was lost must not start empty (SPEC §5).
  const { storage, stateMachine } = openNodeDatabase(config.dataDir, { clusterId: config.clusterId, nodeId: config.id }, { init: config.init || joined !== null });
  // The configuration it joined with, as the base of its log (index 0), so a restart needs no --join.
  if (joined) storage.saveSnapshot({ meta: { index: 0, term: 0, voters: allVoterIds(joined), config: joined }, data: null });
  const forced = config.forceNewCluster ? forceOneVoter(config, storage, logger) : null;
  const configuration = forced ?? joined ?? (config.peersGiven ? seedFromPeers(config.peers) : storedConfiguration(storage));
  const metrics = new NodeMetrics(config.id);
  const peers = configuration ? transportPeers(configuration, config.id) : {};
  const transport = new TcpTransport({
    selfId: config.id,
    clusterId: config.clusterId,
    listen: config.raft,
    peers,
    secret: config.secret ?? undefined,
    tls: config.tls ?? undefined,
    insecure: config.insecure,
    // Peers learn our --public-url values (SPEC §3 "Other nodes' pages") and our Raft address in the handshake.
    advertise: { http: config.advertiseHttp, publicUrls: explicitPublicUrls(config), raft: advertisedRaft(configuration, config) },
    logger: logger.child({ component: 'transport' }),
  });
  // SPEC §11: the dashboard's hold/step/drop of messages, clock and event ring sit around the transport and the tick timer.
  const debug = createDebugControls(transport, { events: config.eventRing });
  const ticksPer = (ms: number): number => Math.max(1, Math.round(ms / config.tickMs));
  const trace = writeTraceFromEnv(process.env, logger); // the timeline of one write (bench/timeline.ts)
  const node = new RaftNode(
    {
      id: config.id,
      voters: Object.keys(config.peers),
      // --peers seeds the first configuration of a new cluster (SPEC §2); the log's replace it.
      ...(configuration ? { initialConfiguration: configuration } : {}),
      httpUrl: config.advertiseHttp,
      tickMs: config.tickMs,
      snapshotEvery: config.snapshotEvery,
      defaultTimeoutMs: CLIENT_TIMEOUT_MS,
      raft: {
        heartbeatTicks: ticksPer(config.heartbeatMs),
        electionTicks: ticksPer(config.electionMs),
        compactionTrailingEntries: trailingEntriesFor(config.snapshotEvery),
      },
      unsafeLocalReads: config.unsafeLocalReads,
      quotaBytes: config.quotaBytes,
    },
    { storage, stateMachine, transport: debug.transport, logger, metrics, ticker: debug.controls.clock, observeReady: (rd, snapshotIndex) => debug.controls.recorder.observeReady(rd, snapshotIndex), ...(trace ? { trace } : {}) },
  );
  const api = createApiServer({
    node,
    logger: logger.child({ component: 'api' }),
    webDir: WEB_DIR,
    adminToken: config.adminToken ?? undefined,
    metricsRegistry: metrics.registry,
    rateLimit: config.rateLimitPerSecond > 0 ? { perSecond: config.rateLimitPerSecond, burst: config.rateLimitPerSecond * 4 } : null,
    quotaBytes: config.quotaBytes,
    // Forwards between nodes are signed with the secret; with none (TLS-only or --insecure) no forward is trusted.
    secret: config.secret,
    publicUrls: config.publicUrls,
    memberPublicUrls: { own: explicitPublicUrls(config), peer: (id) => transport.peerPublicUrls(id) },
    tls: config.httpTls,
    peerCa: config.tls?.ca ?? null,
    debug: debug.controls,
  });
  const controller = new ControllerServer({ node, host: config.controller.host, port: config.controller.port, allow: config.controllerAllow, logger: logger.child({ component: 'controller' }), metricsRegistry: metrics.registry, quotaBytes: config.quotaBytes });
  await api.listen(config.http.host, config.http.port).catch((err: unknown) => listenError(err, '--http', `${config.http.host}:${config.http.port}`));
  await controller.start().catch((err: unknown) => listenError(err, '--controller', `${config.controller.host}:${config.controller.port}`));
  await node.start().catch((err: unknown) => listenError(err, '--raft', `${config.raft.host}:${config.raft.port}`));
  if (joined && !config.learner) void import('./join.js').then((m) => m.promoteWhenCaughtUp(config, logger));
  startHeapTrim(() => node.activity() + api.requestsAnswered, (before, after) => logger.debug({ before, after }, `heap trimmed after load: ${Math.round(before / 1048576)} -> ${Math.round(after / 1048576)} MB committed`));
  logger.info(`${config.id} up: http=${config.advertiseHttp} raft=${config.raft.host}:${config.raft.port} controller=udp:${config.controller.host}:${config.controller.port} data=${config.dataDir}`);
  if (config.insecure) {
    logger.warn('INSECURE (--insecure): peers are NOT authenticated. Anyone who can reach the Raft port can pose as a member, move the term, or forge leader messages. Use RAFTQUOTES_SECRET, --secret-file or mutual TLS.');
  }
  if (config.unsafeLocalReads) {
    // Debug-only mutation for the fault harness (test/fault/unsafe-reads.test.ts): it breaks SPEC §2 "Reads" on purpose.
    logger.warn('UNSAFE DEBUG SWITCH ON (--unsafe-local-reads / RAFTQUOTES_UNSAFE_LOCAL_READS): linearizable reads skip ReadIndex and are served from local state, so they can be stale. Never use this outside tests.');
  }
  // Optional methods: the TLS transport and HTTPS server add them (SPEC §7 SIGHUP reload).
  installReloadHandler(config, { transport: transport as Reloadable, api: api as Reloadable }, logger);
  installSignalHandlers(async () => {
    await node.stop();
    await Promise.allSettled([api.close(), controller.close()]);
  }, logger);
}

function installSignalHandlers(stop: () => Promise<void>, logger: { info(msg: string): void; error(msg: string): void }): void {
  let stopping = false;
  const onSignal = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: stopping (leadership transfer first if leader)`);
    const force = setTimeout(() => process.exit(1), 5_000);
    force.unref();
    stop()
      .then(() => process.exit(0))
      .catch((err: Error) => {
        logger.error(`stop failed: ${err.message}`);
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}


/**
 * Entries kept behind a snapshot, so a briefly lagging follower catches up from the log
 * instead of a whole image (etcd keeps 5,000). Never more than half the snapshot interval: a
 * small --snapshot-every would otherwise never compact anything a follower could miss.
 */
export function trailingEntriesFor(snapshotEvery: number): number {
  return Math.max(1, Math.min(5_000, Math.floor(snapshotEvery / 2)));
}

/**
 * The seed configuration from --peers: every peer a voter at its Raft address. Peers' HTTP
 * URLs are not in --peers; each learns them from the handshake (and the API fills them in).
 */
function seedFromPeers(peers: Record<string, { host: string; port: number }>): Configuration {
  const voters = Object.entries(peers).map(([id, address]) => ({ id, raft: `${address.host}:${address.port}`, http: '' }));
  return { voters, learners: [], outgoing: null };
}

/** Whether the data dir holds no database yet; --force-new-cluster needs one (one clear line). */
function freshDataDir(config: NodeConfig): boolean {
  const fresh = !existsSync(join(config.dataDir, DATABASE_FILE));
  if (config.forceNewCluster && fresh) {
    throw new ConfigError(`--force-new-cluster (RAFTQUOTES_FORCE_NEW_CLUSTER): ${config.dataDir} holds no node data (no ${DATABASE_FILE}); it restarts a surviving member from its own data dir and cannot make a new one`);
  }
  return fresh;
}

/**
 * --force-new-cluster (SPEC §10): this survivor's data dir becomes a one-voter cluster of
 * itself, durably, before anything starts; the configuration is then the log's own.
 */
function forceOneVoter(config: NodeConfig, storage: RaftStorage, logger: { warn(msg: string): void; info(msg: string): void }): Configuration {
  const self = config.peers[config.id] ?? config.raft;
  const result = forceNewCluster(storage, { id: config.id, raft: `${self.host}:${self.port}`, http: config.advertiseHttp });
  const was = result.previousVoters.length > 0 ? result.previousVoters : Object.keys(config.peers);
  if (!result.rewritten) {
    logger.info(`--force-new-cluster: already a one-voter cluster of ${config.id} (configuration entry ${result.index}); nothing rewritten. Remove the flag for later restarts.`);
  } else {
    logger.warn(
      `--force-new-cluster: ${config.id} is now the only voter (configuration entry ${result.index}, term ${result.term}; was ${was.join(',')}), keeping its whole log including ${result.uncommittedKept} entries past its known commit index. ` +
        'Add members back with `raftquotes member add` / `node --join` on EMPTY data dirs, and remove this flag for later restarts.',
    );
  }
  return result.configuration;
}

/** Without --peers: the configuration this data dir holds (joined nodes); refused when it holds none. */
function storedConfiguration(storage: RaftStorage): Configuration | undefined {
  const recovered = storage.recover();
  const base = recovered.snapshot?.meta.config;
  if (base === undefined && !recovered.entries.some((e) => e.type === 'config')) {
    throw new ConfigError('--peers (RAFTQUOTES_PEERS) is required: this data dir holds no configuration (only a node that joined with --join can start without it)');
  }
  return base;
}

/** Our Raft address as the configuration records it (what --join asked for), else the listen address. */
function advertisedRaft(configuration: Configuration | undefined, config: NodeConfig): string {
  const recorded = configuration ? allMembers(configuration).find((m) => m.id === config.id)?.raft : undefined;
  return recorded || `${config.raft.host}:${config.raft.port}`;
}

/** The transport's first peer links: every other member with a Raft address (RaftNode keeps them in step). */
function transportPeers(configuration: Configuration, selfId: string): Record<string, { host: string; port: number }> {
  const peers: Record<string, { host: string; port: number }> = {};
  for (const m of allMembers(configuration)) {
    const address = m.id === selfId ? null : parseRaftAddress(m.raft);
    if (address) peers[m.id] = address;
  }
  return peers;
}

/** The --public-url values given beyond the advertised URL (config.publicUrls starts with that one). */
function explicitPublicUrls(config: NodeConfig): string[] {
  const advertised = config.advertiseHttp.replace(/\/+$/, '');
  return config.publicUrls.filter((url) => url !== advertised);
}
