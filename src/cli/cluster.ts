import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fsyncDirectory, writeFileDurably } from '../storage/identity.js';
import { initDataDir } from '../storage/sqlite-storage.js';
import { CertsError, ensureClusterCerts, nodeTlsPaths } from './certs.js';
import { ConfigError } from './config.js';
import { httpGet } from './http-get.js';
import { errorMessage } from '../narrow.js';

/** Options of `raftquotes cluster`. */
export interface ClusterOptions {
  nodes: number;
  dataDir: string;
  host: string;
  httpBase: number;
  raftBase: number;
  controllerBase: number;
  /** Extra flags passed to every node (e.g. --snapshot-every 100 in tests). */
  nodeArgs: string[];
  /** --tls: mutual TLS between peers and HTTPS for clients, certificates under <data-dir>/tls (SPEC §7). */
  tls?: boolean;
}

/** One node as written to cluster.json (SPEC §6). */
export interface ClusterNodeInfo {
  id: string;
  pid: number;
  http: string;
  raft: string;
  controller: string;
  dataDir: string;
  argv: string[];
}

export interface ClusterFile {
  clusterId: string;
  nodes: ClusterNodeInfo[];
}

/** How long `cluster` waits for every node's /healthz before giving up. */
const STARTUP_TIMEOUT_MS = 30_000;
/** How long a graceful stop may take before the nodes are killed. */
const STOP_TIMEOUT_MS = 5_000;

const MAIN_JS = fileURLToPath(new URL('./main.js', import.meta.url));
/**
 * V8 flags every node runs with. A node's live heap is ~13 MB (heap snapshots after 100k
 * writes), but under load V8 grows each young-generation semi-space to 16 MB (32 MB of RSS)
 * and, on a machine with this much memory, lets the old generation grow 4x past what survived
 * the last full GC before collecting again. Smaller semi-spaces and a 1 GB old-space cap (which
 * lowers that growth factor to ~1.6) took RSS after 100k writes from 117-141 MB (leader) and
 * ~104 MB (followers) to ~98 and ~87 MB, at no measurable cost in A/B runs at 64 writers
 * (old-space cap: -0.5 % median writes/s; 4 MB semi-spaces vs 8: +4 %). 2 MB semi-spaces or a
 * capped growth percent cost 6-18 %. The cap bounds a node's heap, which is why an
 * InstallSnapshot image is restored a page of rows at a time (forEachImagePage); the image
 * bytes themselves live outside the heap.
 */
export const NODE_V8_FLAGS = ['--max-semi-space-size=4', '--max-old-space-size=1024'];

/**
 * glibc malloc settings every node runs with (read once, at process start; other C libraries
 * ignore them). By default glibc gives each thread that allocates its own arena (V8's GC and
 * compiler threads, libuv's pool), and each keeps the memory it once used; two arenas are
 * plenty for one JS thread. A fixed mmap threshold keeps buffers over 128 KiB (peer frames,
 * snapshot chunks) in their own mappings, returned to the OS when freed: glibc otherwise raises
 * the threshold to the largest buffer freed so far and carves the next ones out of an arena,
 * which never shrinks past the highest one still in use. Together, after 100,000 writes: ~4 MB
 * less anonymous memory per node (11.5 -> 7.5 MB outside the V8 heap) and a lower peak, at no
 * measured cost in write throughput.
 */
export const NODE_MALLOC_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' };

/**
 * The cluster id lives in the data dir so a restart reuses it (data dirs check it). Its file
 * also marks that the first start is over: until then the id sits in `cluster-id.pending`, so
 * a first start interrupted before every node's data dir was initialized is resumed with the
 * same id instead of leaving nodes that refuse to start (SPEC §5).
 */
function loadClusterId(dataDir: string): { clusterId: string; firstStart: boolean } {
  const file = join(dataDir, 'cluster-id');
  if (existsSync(file)) return { clusterId: readFileSync(file, 'utf8').trim(), firstStart: false };
  const pending = `${file}.pending`;
  if (existsSync(pending)) return { clusterId: readFileSync(pending, 'utf8').trim(), firstStart: true };
  const clusterId = `rq-${randomUUID()}`;
  writeFileDurably(pending, `${clusterId}\n`);
  return { clusterId, firstStart: true };
}

/**
 * The explicit init step of a new cluster (SPEC §5), done here rather than with --init in the
 * nodes' argv: cluster.json records that argv, and a node restarted from it after losing its
 * database must be refused, not re-initialized.
 */
function initNodes(dataDir: string, clusterId: string, plan: Array<{ id: string; dataDir: string }>): void {
  for (const node of plan) {
    try {
      initDataDir(node.dataDir, { clusterId, nodeId: node.id });
    } catch (err) {
      throw new ConfigError(`${node.id}: cannot initialize ${node.dataDir}: ${errorMessage(err)}`);
    }
  }
  const file = join(dataDir, 'cluster-id');
  renameSync(`${file}.pending`, file);
  fsyncDirectory(dataDir);
}

/**
 * The peer secret (SPEC §7) lives in `<data-dir>/secret`, mode 0600, made on the first start
 * (from RAFTQUOTES_SECRET when that is set, else 32 random bytes). Nodes read it through
 * --secret-file, so it never appears in argv, in `ps`, or in cluster.json.
 */
export function ensureSecretFile(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  const file = join(dataDir, 'secret');
  if (!existsSync(file)) {
    const secret = env.RAFTQUOTES_SECRET || randomBytes(32).toString('hex');
    writeFileSync(`${file}.tmp`, `${secret}\n`, { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }
  chmodSync(file, 0o600);
  return file;
}

/** The node ids of an N-node local cluster. */
export function clusterNodeIds(nodes: number): string[] {
  return Array.from({ length: nodes }, (_, i) => `Node${i + 1}`);
}

/** Where `cluster --tls` keeps the CA and node certificates (SPEC §7). */
export function tlsDirOf(dataDir: string): string {
  return join(dataDir, 'tls');
}

/**
 * Names each node certificate carries besides the node id (SPEC §7: --host and localhost); a
 * wildcard listen address is reached as 127.0.0.1, so that is named too.
 */
export function certHostsFor(host: string): string[] {
  const wildcard = host === '0.0.0.0' || host === '::';
  return [...new Set([...(wildcard ? ['127.0.0.1'] : [host]), 'localhost'])];
}

/**
 * Builds every node's addresses and the argv that starts it. The argv carries paths only
 * (the secret file, certificates), never a secret: it is saved in cluster.json and shows in `ps`.
 * With TLS the certificates are <data-dir>/tls/NodeK.{crt,key} and ca.crt, for peers (mutual
 * TLS) and for HTTPS; --secret-file stays, so node-to-node HTTP forwards can carry an HMAC.
 */
export function planCluster(options: ClusterOptions, clusterId: string, secretFile: string): Omit<ClusterNodeInfo, 'pid'>[] {
  const ids = clusterNodeIds(options.nodes);
  const raftOf = (i: number): string => `${options.host}:${options.raftBase + i}`;
  const peers = ids.map((id, i) => `${id}=${raftOf(i + 1)}`).join(',');
  return ids.map((id, i) => {
    const http = `${options.host}:${options.httpBase + i + 1}`;
    const controller = `${options.host}:${options.controllerBase + i + 1}`;
    const dataDir = join(options.dataDir, id);
    const argv = [process.execPath, ...NODE_V8_FLAGS, MAIN_JS, 'node', '--id', id, '--peers', peers, '--data-dir', dataDir];
    argv.push('--http', http, '--raft', raftOf(i + 1), '--controller', controller, '--cluster-id', clusterId, '--secret-file', secretFile);
    if (options.tls) {
      const tls = nodeTlsPaths(tlsDirOf(options.dataDir), id);
      argv.push('--tls-cert', tls.cert, '--tls-key', tls.key, '--tls-ca', tls.ca, '--http-tls-cert', tls.cert, '--http-tls-key', tls.key);
    }
    argv.push('--log-format', 'pretty', ...options.nodeArgs);
    return { id, http: `${options.tls ? 'https' : 'http'}://${http}`, raft: raftOf(i + 1), controller, dataDir, argv };
  });
}

function prefixOutput(child: ChildProcess, id: string): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${id.padEnd(5)} | ${line}\n`));
  }
}

async function waitHealthy(url: string, child: ChildProcess, deadline: number, ca: Buffer | undefined): Promise<void> {
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode} during startup`);
    try {
      const res = await httpGet(`${url}/healthz`, { ca, timeoutMs: 500 });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`did not answer ${url}/healthz within ${STARTUP_TIMEOUT_MS} ms`);
}

/** `raftquotes cluster`: starts N node processes, writes cluster.json, stops them on Ctrl-C. */
export async function runCluster(options: ClusterOptions): Promise<number> {
  if (!(options.nodes >= 1 && options.nodes <= 9)) throw new ConfigError(`--nodes: expected 1 to 9, got ${options.nodes}`);
  try {
    // 0700: it holds the peer secret, TLS keys and every node's database.
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    chmodSync(options.dataDir, 0o700);
  } catch (err) {
    throw new ConfigError(`--data-dir: cannot create ${options.dataDir}: ${errorMessage(err)}`);
  }
  const { clusterId, firstStart } = loadClusterId(options.dataDir);
  const secretFile = ensureSecretFile(options.dataDir);
  warnIfSecretDiffers(secretFile);
  const ca = options.tls ? makeTlsFiles(options) : undefined;
  const plan = planCluster(options, clusterId, secretFile);
  if (firstStart) initNodes(options.dataDir, clusterId, plan);
  const children = new Map<string, ChildProcess>();
  let stopping = false;
  const stopAll = async (): Promise<void> => {
    stopping = true;
    const exits = [...children.values()].filter((c) => c.exitCode === null).map((c) => new Promise((resolve) => c.once('exit', resolve)));
    for (const child of children.values()) if (child.exitCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')), STOP_TIMEOUT_MS);
    await Promise.all(exits);
    clearTimeout(timer);
  };
  const env = nodeEnvironment();
  for (const node of plan) {
    const [cmd, ...args] = node.argv as [string, ...string[]];
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    children.set(node.id, child);
    prefixOutput(child, node.id);
    child.on('exit', (code, signal) => {
      if (!stopping) console.log(`${node.id.padEnd(5)} | exited (${signal ?? `code ${code}`}); the other nodes keep running`);
    });
  }
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  try {
    await Promise.all(plan.map((node) => waitHealthy(node.http, children.get(node.id) as ChildProcess, deadline, ca).catch((err: Error) => {
      throw new Error(`${node.id} ${err.message}`);
    })));
  } catch (err) {
    console.error(`raftquotes cluster: ${errorMessage(err)}; stopping the other nodes`);
    await stopAll();
    return 1;
  }
  writeClusterFile(options.dataDir, { clusterId, nodes: plan.map((n) => ({ ...n, pid: children.get(n.id)?.pid ?? 0 })) });
  console.log(`raftquotes: ${plan.length} nodes running. Quote board: ${plan[0]?.http}/  Dashboard: ${plan[0]?.http}/dashboard  (Ctrl-C stops)`);
  return new Promise<number>((resolve) => {
    const onSignal = (): void => {
      if (stopping) return;
      console.log('raftquotes: stopping all nodes');
      void stopAll().then(() => resolve(0));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // A closed terminal: nodes now treat SIGHUP as "reload", so stop them here as before.
    process.on('SIGHUP', onSignal);
  });
}

/** cluster.json holds no secret (argv carries file paths only), so 0644 like any config. */
function writeClusterFile(dataDir: string, file: ClusterFile): void {
  const path = join(dataDir, 'cluster.json');
  writeFileSync(`${path}.tmp`, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o644 });
  chmodSync(`${path}.tmp`, 0o644);
  renameSync(`${path}.tmp`, path);
}

/**
 * The nodes' environment: cluster's own, without RAFTQUOTES_SECRET (the nodes read the secret
 * file, which is what a restart from cluster.json uses too), over NODE_MALLOC_ENV (a value the
 * user set wins). RAFTQUOTES_ADMIN_TOKEN is passed on this way, never in argv.
 */
export function nodeEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { RAFTQUOTES_SECRET: _secret, ...rest } = env;
  void _secret;
  return { ...NODE_MALLOC_ENV, ...rest };
}

/** The secret file wins over RAFTQUOTES_SECRET once made; say so (without either value) if they differ. */
function warnIfSecretDiffers(secretFile: string, env: NodeJS.ProcessEnv = process.env): void {
  const fromEnv = env.RAFTQUOTES_SECRET;
  if (!fromEnv) return;
  if (readFileSync(secretFile, 'utf8').replace(/\r?\n$/, '') !== fromEnv) {
    console.error(`raftquotes cluster: RAFTQUOTES_SECRET differs from ${secretFile}, which this cluster was made with; the file wins (delete it and every node's data to change the secret)`);
  }
}

/** `cluster --tls`: the CA and node certificates under <data-dir>/tls (made once); returns the CA to trust. */
function makeTlsFiles(options: ClusterOptions): Buffer {
  const dir = tlsDirOf(options.dataDir);
  try {
    const written = ensureClusterCerts(dir, clusterNodeIds(options.nodes), certHostsFor(options.host));
    if (written.length > 0) console.log(`raftquotes: made TLS certificates in ${dir} (CA: ${join(dir, 'ca.crt')})`);
    return readFileSync(join(dir, 'ca.crt'));
  } catch (err) {
    if (err instanceof CertsError) throw new ConfigError(err.message.replace(/^--hosts/, '--host'));
    throw new ConfigError(`--tls: cannot make certificates in ${dir}: ${errorMessage(err)}`);
  }
}

/** Reads cluster.json (SPEC §6). */
export function readClusterFile(path: string): ClusterFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new ConfigError(`cannot read ${path}: start a cluster with "raftquotes cluster" or pass --cluster-file`);
  }
  try {
    return JSON.parse(text) as ClusterFile;
  } catch {
    throw new ConfigError(`${path} is not valid JSON`);
  }
}
