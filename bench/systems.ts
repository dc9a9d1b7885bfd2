/**
 * The two systems under test, behind one small interface so every benchmark drives them the
 * same way: a 5-node raftquotes cluster (dist/cli/main.js cluster) and a 5-member etcd, both
 * on loopback, in temp data dirs, on port ranges of their own. Every process is started here
 * and stopped here by pid, never by name.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { jsonCall, type PreparedRequest, type Target } from './load.js';
import { sleep, waitFor } from '../test/support/wait.js';

export const REPO_ROOT = resolve(import.meta.dirname, '..');
/** RAFTQUOTES_BENCH_MAIN points at another build's main.js (A/B runs of an optimisation). */
const MAIN_JS = process.env.RAFTQUOTES_BENCH_MAIN ?? join(REPO_ROOT, 'dist/cli/main.js');

/** What the benchmarks need from a system. Node numbers are 0-based. */
export interface BenchSystem {
  readonly name: 'raftquotes' | 'etcd' | 'floor-spec' | 'floor-file';
  readonly size: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  target(node: number): Target;
  /** The leader's node number, once a majority agrees (throws after timeoutMs). */
  leader(timeoutMs?: number): Promise<number>;
  put(key: string, value: string): PreparedRequest;
  get(key: string, stale: boolean): PreparedRequest;
  kill9(node: number): void;
  /** Kills every process of this system at once (SIGINT or the run's overall deadline). */
  abort(): void;
  /** Restarts a killed node from its data dir and waits until it answers. */
  restart(node: number): Promise<void>;
  pid(node: number): number | null;
}

function target(url: string): Target {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port), tls: u.protocol === 'https:' };
}

function killPid(pid: number | null | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!pid) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Waits for a child to exit (bounded). */
async function waitExit(child: ChildProcess | undefined, ms: number): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await Promise.race([new Promise((r) => child.once('exit', r)), sleep(ms)]);
}

/** Port bases of the benchmark cluster, away from the SPEC defaults and the tests'. */
/**
 * RAFTQUOTES_BENCH_PORT_BASE=B moves the raftquotes cluster to B+80.., B+0.., B+554.. (so two
 * engineers' runs on one machine do not collide); unset, the defaults below.
 */
const PORT_BASE = Number(process.env.RAFTQUOTES_BENCH_PORT_BASE ?? NaN);
export const RQ_PORTS = Number.isInteger(PORT_BASE) && PORT_BASE >= 1024 && PORT_BASE <= 64_000 ? { http: PORT_BASE + 80, raft: PORT_BASE, controller: PORT_BASE + 554 } : { http: 28080, raft: 27000, controller: 25554 };
export const ETCD_PORTS = { client: 22380, peer: 22480 };

interface ClusterJsonNode {
  id: string;
  pid: number;
  http: string;
  argv: string[];
}

/** A raftquotes cluster started with `raftquotes cluster` in a temp data dir. */
export class RaftquotesSystem implements BenchSystem {
  readonly name = 'raftquotes' as const;
  readonly dataDir: string;
  nodes: ClusterJsonNode[] = [];
  private clusterProcess: ChildProcess | null = null;
  private readonly restarted = new Map<number, ChildProcess>();
  private readonly killed = new Map<number, number>();
  private readonly log: WriteStream;
  private readonly putHeaders = { 'content-type': 'application/json' };

  constructor(
    readonly size = 5,
    private readonly nodeArgs: string[] = [],
    private readonly env: NodeJS.ProcessEnv = {},
    private readonly ports = RQ_PORTS,
    private readonly mainJs = MAIN_JS,
    /** Extra flags for `raftquotes cluster` itself (e.g. --tls). */
    private readonly clusterArgs: string[] = [],
  ) {
    this.dataDir = mkdtempSync(join(tmpdir(), 'raftquotes-bench-'));
    this.log = createWriteStream(join(this.dataDir, 'cluster.log'));
  }

  async start(): Promise<void> {
    if (!existsSync(this.mainJs)) throw new Error('dist/ is missing: run "npm run build" first (npm run bench does)');
    const args = [this.mainJs, 'cluster', '--nodes', String(this.size), '--data-dir', this.dataDir, ...this.clusterArgs];
    args.push('--http-base', String(this.ports.http), '--raft-base', String(this.ports.raft), '--controller-base', String(this.ports.controller));
    args.push('--node-args', ['--log-format', 'json', '--rate-limit', '0', ...this.nodeArgs].join(' '));
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.env } });
    this.clusterProcess = child;
    child.stdout?.pipe(this.log, { end: false });
    child.stderr?.pipe(this.log, { end: false });
    const file = join(this.dataDir, 'cluster.json');
    await waitFor('cluster.json', async () => {
      if (child.exitCode !== null) throw new Error(`cluster exited with ${child.exitCode}; see ${this.dataDir}/cluster.log`);
      return existsSync(file);
    }, 45_000, 100);
    this.nodes = (JSON.parse(readFileSync(file, 'utf8')) as { nodes: ClusterJsonNode[] }).nodes;
    await this.leader(20_000);
  }

  async stop(): Promise<void> {
    for (const child of this.restarted.values()) killPid(child.pid);
    const cp = this.clusterProcess;
    if (cp?.pid && cp.exitCode === null) {
      try {
        process.kill(-cp.pid, 'SIGKILL');
      } catch {
        // gone
      }
      await waitExit(cp, 3_000);
    }
    for (const node of this.nodes) killPid(node.pid);
    await Promise.all([...this.restarted.values()].map((c) => waitExit(c, 2_000)));
    this.log.end();
    // RAFTQUOTES_BENCH_KEEP=1 keeps the data dirs and cluster.log for a post-mortem.
    if (process.env.RAFTQUOTES_BENCH_KEEP) process.stderr.write(`# kept ${this.dataDir}\n`);
    else rmSync(this.dataDir, { recursive: true, force: true });
  }

  abort(): void {
    for (const child of this.restarted.values()) killPid(child.pid);
    if (this.clusterProcess?.pid) killPid(-this.clusterProcess.pid);
    for (const node of this.nodes) killPid(node.pid);
  }

  target(node: number): Target {
    return target(this.url(node));
  }

  url(node: number): string {
    return (this.nodes[node] as ClusterJsonNode).http;
  }

  pid(node: number): number | null {
    const restarted = this.restarted.get(node);
    if (restarted) return restarted.exitCode === null ? (restarted.pid ?? null) : null;
    return (this.nodes[node] as ClusterJsonNode).pid;
  }

 
  async status(node: number, timeoutMs = 1_000): Promise<any> {
    return (await jsonCall(`${this.url(node)}/api/status`, 'GET', undefined, timeoutMs)).body;
  }

  async leader(timeoutMs = 15_000): Promise<number> {
    return waitFor('a raftquotes leader', async () => {
      const statuses = await Promise.all(this.nodes.map((_, i) => this.status(i, 500).catch(() => null)));
      const leaders = statuses.filter((s) => s?.state === 'leader');
      if (leaders.length !== 1) return null;
      const agree = statuses.filter((s) => s && s.leader === leaders[0].id && s.term === leaders[0].term).length;
      return agree > this.size / 2 ? this.nodes.findIndex((n) => n.id === leaders[0].id) : null;
    }, timeoutMs, 25);
  }

  put(key: string, value: string): PreparedRequest {
    const body = Buffer.from(JSON.stringify({ value }));
    return { method: 'PUT', path: `/api/kv/${encodeURIComponent(key)}`, headers: { ...this.putHeaders, 'content-length': body.length }, body };
  }

  get(key: string, stale: boolean): PreparedRequest {
    return { method: 'GET', path: `/api/kv/${encodeURIComponent(key)}${stale ? '?consistency=stale' : ''}`, headers: {}, body: null };
  }

  kill9(node: number): void {
    const pid = this.pid(node);
    killPid(pid);
    if (pid) this.killed.set(node, pid);
    this.restarted.delete(node);
  }

  async restart(node: number): Promise<void> {
    await this.spawnNode(node);
    await waitFor(`node ${node + 1} healthz`, async () => (await jsonCall(`${this.url(node)}/healthz`, 'GET', undefined, 500)).status === 200, 20_000, 25);
  }

  /** Starts a killed node again from its argv (does not wait); `execArgv` e.g. ['--cpu-prof']. */
  async spawnNode(node: number, execArgv: string[] = []): Promise<ChildProcess> {
    const info = this.nodes[node] as ClusterJsonNode;
    // The old process must be gone before its ports and database are reused.
    const old = this.killed.get(node);
    if (old) await waitFor(`old ${info.id} gone`, async () => !isRunning(old), 5_000, 10).catch(() => undefined);
    const [cmd, ...args] = info.argv as [string, ...string[]];
    const child = spawn(cmd, [...execArgv, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.env } });
    child.stdout?.pipe(this.log, { end: false });
    child.stderr?.pipe(this.log, { end: false });
    this.restarted.set(node, child);
    return child;
  }
}

/** A 5-member etcd (Debian etcd-server) on loopback. */
export class EtcdSystem implements BenchSystem {
  readonly name = 'etcd' as const;
  readonly dataDir: string;
  private readonly procs = new Map<number, ChildProcess>();
  private readonly log: WriteStream;
  private readonly token = `bench-${process.pid}-${Date.now()}`;

  constructor(readonly size = 5) {
    this.dataDir = mkdtempSync(join(tmpdir(), 'etcd-bench-'));
    this.log = createWriteStream(join(this.dataDir, 'etcd.log'));
  }

  /** The etcd binary and its version, or null when it is not installed. */
  static version(): string | null {
    const r = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
    if (r.status !== 0) return null;
    return /etcd Version: (\S+)/.exec(r.stdout)?.[1] ?? 'unknown';
  }

  /** Installs etcd-server from Debian if missing (needs apt and root); returns its version. */
  static ensureInstalled(say: (msg: string) => void): string | null {
    const have = EtcdSystem.version();
    if (have) return have;
    say('etcd not found: apt-get install -y etcd-server');
    const r = spawnSync('apt-get', ['install', '-y', 'etcd-server'], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
    if (r.status !== 0) {
      say(`apt-get failed (${(r.stderr ?? '').trim().split('\n').pop()}); trying apt-get update first`);
      spawnSync('apt-get', ['update'], { stdio: 'ignore', timeout: 300_000 });
      spawnSync('apt-get', ['install', '-y', 'etcd-server'], { stdio: 'ignore', timeout: 300_000 });
    }
    return EtcdSystem.version();
  }

  private name_(i: number): string {
    return `e${i + 1}`;
  }

  private clientUrl(i: number): string {
    return `http://127.0.0.1:${ETCD_PORTS.client + i + 1}`;
  }

  private peerUrl(i: number): string {
    return `http://127.0.0.1:${ETCD_PORTS.peer + i + 1}`;
  }

  private spawnMember(i: number): void {
    const initialCluster = Array.from({ length: this.size }, (_, j) => `${this.name_(j)}=${this.peerUrl(j)}`).join(',');
    const dir = join(this.dataDir, this.name_(i));
    mkdirSync(dir, { recursive: true });
    const args = [
      '--name', this.name_(i),
      '--data-dir', dir,
      '--listen-client-urls', this.clientUrl(i),
      '--advertise-client-urls', this.clientUrl(i),
      '--listen-peer-urls', this.peerUrl(i),
      '--initial-advertise-peer-urls', this.peerUrl(i),
      '--initial-cluster', initialCluster,
      '--initial-cluster-token', this.token,
      '--initial-cluster-state', 'new',
      '--logger', 'zap',
      '--log-level', 'warn',
    ];
    const child = spawn('etcd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(this.log, { end: false });
    child.stderr?.pipe(this.log, { end: false });
    this.procs.set(i, child);
  }

  async start(): Promise<void> {
    for (let i = 0; i < this.size; i++) this.spawnMember(i);
    await this.leader(30_000);
  }

  async stop(): Promise<void> {
    for (const child of this.procs.values()) killPid(child.pid);
    await Promise.all([...this.procs.values()].map((c) => waitExit(c, 3_000)));
    this.log.end();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  abort(): void {
    for (const child of this.procs.values()) killPid(child.pid);
  }

  target(node: number): Target {
    return target(this.clientUrl(node));
  }

  pid(node: number): number | null {
    const child = this.procs.get(node);
    return child && child.exitCode === null ? (child.pid ?? null) : null;
  }

  async leader(timeoutMs = 15_000): Promise<number> {
    return waitFor('an etcd leader', async () => {
      const statuses = await Promise.all(
        Array.from({ length: this.size }, (_, i) => jsonCall(`${this.clientUrl(i)}/v3/maintenance/status`, 'POST', {}, 500).then((r) => (r.status === 200 ? r.body : null)).catch(() => null)),
      );
      const leaderIds = new Set(statuses.filter(Boolean).map((s) => String(s.leader)));
      if (leaderIds.size !== 1) return null;
      const leaderId = [...leaderIds][0];
      const index = statuses.findIndex((s) => s && String(s.header?.member_id) === leaderId);
      const answering = statuses.filter(Boolean).length;
      return index >= 0 && answering > this.size / 2 ? index : null;
    }, timeoutMs, 25);
  }

  put(key: string, value: string): PreparedRequest {
    const body = Buffer.from(JSON.stringify({ key: Buffer.from(key).toString('base64'), value: Buffer.from(value).toString('base64') }));
    return { method: 'POST', path: '/v3/kv/put', headers: { 'content-type': 'application/json', 'content-length': body.length }, body };
  }

  get(key: string, stale: boolean): PreparedRequest {
    const body = Buffer.from(JSON.stringify(stale ? { key: Buffer.from(key).toString('base64'), serializable: true } : { key: Buffer.from(key).toString('base64') }));
    return { method: 'POST', path: '/v3/kv/range', headers: { 'content-type': 'application/json', 'content-length': body.length }, body };
  }

  kill9(node: number): void {
    killPid(this.pid(node));
  }

  async restart(node: number): Promise<void> {
    const old = this.procs.get(node);
    await waitExit(old, 3_000);
    this.spawnMember(node);
    await waitFor(`etcd member ${node + 1} health`, async () => (await jsonCall(`${this.clientUrl(node)}/health`, 'GET', undefined, 500)).status === 200, 30_000, 50);
  }
}

/** True while a process exists and is not a zombie. */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** Resident set size and its peak, in MB, of a process (Linux /proc). */
export function rssOf(pid: number | null): { rssMb: number; peakMb: number; privateMb: number; pssMb: number } | null {
  if (!pid) return null;
  try {
    const mb = (text: string, field: string): number => Math.round(Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(text)?.[1] ?? NaN) / 102.4) / 10;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    // RSS counts the pages shared with the other nodes (the node binary's 41 MB of text) in
    // full; private (USS) is what this node alone costs, PSS its fair share of the shared.
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return { rssMb: mb(status, 'VmRSS'), peakMb: mb(status, 'VmHWM'), privateMb: Math.round((mb(rollup, 'Private_Clean') + mb(rollup, 'Private_Dirty')) * 10) / 10, pssMb: mb(rollup, 'Pss') };
  } catch {
    return null;
  }
}
