import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agreedLeader, http, REPO_ROOT, sleep, waitFor } from '../support/cluster.js';

/**
 * Real `raftquotes node` processes for the transport attack tests, started one by one so a
 * test can kill -9, restart or signal any of them. Ports come from the transport
 * engineer's range (23000-23999), 127.0.0.1 only.
 */

const MAIN_JS = join(REPO_ROOT, 'dist/cli/main.js');
export const CLUSTER_ID = 'rq-transport-sec';
export const SECRET = 'transport-attack-secret-0123456789';

export interface ProcNode {
  id: string;
  http: string;
  raftPort: number;
  child: ChildProcess | null;
  log: string;
  /** Started once already: restarts must not pass --init (the node refuses to re-init real data). */
  started: boolean;
}

export interface ProcClusterOptions {
  /** First port of this cluster's block (needs 3 per node: http, raft, controller). */
  basePort: number;
  nodes?: number;
  /** Extra node flags (e.g. TLS files per node). */
  flagsFor?: (id: string) => string[];
  /** Environment (RAFTQUOTES_SECRET by default). */
  env?: NodeJS.ProcessEnv;
  /** Where the OTHER nodes dial a node (default: its own Raft port); lets a test put a proxy in between. */
  dialPort?: (id: string, raftPort: number) => number;
}

export class ProcCluster {
  readonly nodes: ProcNode[];
  readonly dataDir = mkdtempSync(join(tmpdir(), 'rq-transport-sec-'));
  private readonly peers: string;

  constructor(private readonly options: ProcClusterOptions) {
    const n = options.nodes ?? 3;
    this.nodes = Array.from({ length: n }, (_, i) => ({ id: `Node${i + 1}`, http: `http://127.0.0.1:${options.basePort + i}`, raftPort: options.basePort + 100 + i, child: null, log: '', started: false }));
    this.peers = this.nodes.map((node) => `${node.id}=127.0.0.1:${options.dialPort?.(node.id, node.raftPort) ?? node.raftPort}`).join(',');
  }

  node(id: string): ProcNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no ${id}`);
    return node;
  }

  async startAll(): Promise<void> {
    for (const node of this.nodes) this.spawn(node);
    await Promise.all(this.nodes.map((node) => this.waitHealthy(node)));
  }

  spawn(node: ProcNode): void {
    const i = this.nodes.indexOf(node);
    const args = [
      MAIN_JS, 'node', '--id', node.id, '--peers', this.peers, '--cluster-id', CLUSTER_ID,
      '--data-dir', join(this.dataDir, node.id), '--http', `127.0.0.1:${this.options.basePort + i}`,
      '--raft', `127.0.0.1:${node.raftPort}`, '--controller', `127.0.0.1:${this.options.basePort + 200 + i}`,
      '--log-format', 'json', '--rate-limit', '0', ...(node.started ? [] : ['--init']), ...(this.options.flagsFor?.(node.id) ?? []),
    ];
    const env = { ...process.env, ...(this.options.env ?? { RAFTQUOTES_SECRET: SECRET }) };
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
    const collect = (chunk: Buffer): void => {
      node.log += chunk.toString();
      if (node.log.length > 4_000_000) node.log = node.log.slice(-2_000_000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    node.child = child;
    node.started = true;
  }

  async waitHealthy(node: ProcNode): Promise<void> {
    await waitFor(`${node.id} healthz`, async () => {
      if (node.child && node.child.exitCode !== null) throw new Error(`${node.id} exited with ${node.child.exitCode}:\n${node.log.slice(-3000)}`);
      return (await http('GET', `${node.http}/healthz`, undefined, {}, 500).catch(() => ({ status: 0 }))).status === 200;
    }, 20_000, 100);
  }

  async status(id: string): Promise<any> {
    return (await http('GET', `${this.node(id).http}/api/status`, undefined, {}, 1_000)).body;
  }

  /** Waits until the live nodes agree on one leader; returns its id. */
  async waitForLeader(among: string[] = this.live(), timeoutMs = 15_000): Promise<string> {
    return waitFor('a leader', async () => agreedLeader(await Promise.all(among.map((id) => this.status(id).catch(() => null))), this.nodes.length), timeoutMs, 50);
  }

  live(): string[] {
    return this.nodes.filter((n) => n.child && n.child.exitCode === null && n.child.signalCode === null).map((n) => n.id);
  }

  async put(id: string, key: string, value: string): Promise<number> {
    return (await http('PUT', `${this.node(id).http}/api/kv/${encodeURIComponent(key)}`, { value }, {}, 5_000)).status;
  }

  /** kill -9, and waits for the exit. */
  async kill9(id: string): Promise<void> {
    const child = this.node(id).child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await Promise.race([exited, sleep(5_000)]);
  }

  /** Every node still running (none exited on its own). */
  exited(): string[] {
    return this.nodes.filter((n) => n.child && n.child.exitCode !== null).map((n) => `${n.id} exited ${n.child?.exitCode}`);
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) await this.kill9(node.id);
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/**
 * Runs `clients` concurrent PUT loops against `url` for `ms`; returns completed writes per
 * second (2xx only) and the number of failures.
 */
export async function writeBenchmark(url: string, clients: number, ms: number): Promise<{ opsPerSecond: number; failures: number }> {
  let ok = 0;
  let failures = 0;
  const deadline = Date.now() + ms;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; Date.now() < deadline; i++) {
        const res = await http('PUT', `${url}/api/kv/bench-${c}-${i % 50}`, { value: `v${i}` }, {}, 5_000).catch(() => ({ status: 0 }));
        if (res.status >= 200 && res.status < 300) ok++;
        else failures++;
      }
    }),
  );
  return { opsPerSecond: Math.round((ok * 1000) / (Date.now() - started)), failures };
}
