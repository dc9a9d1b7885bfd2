import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** A node as listed in cluster.json (SPEC §6): the type `raftquotes cluster` writes. */
export type { ClusterNodeInfo as ClusterNode } from '../../src/cli/cluster.js';
import type { ClusterNodeInfo as ClusterNode } from '../../src/cli/cluster.js';
import { sleep, waitFor } from './wait.js';

// Re-exported: most tests import their waits with the cluster helpers.
export { sleep, waitFor };

export interface StartOptions {
  nodes?: number;
  /** Port bases (node i uses base + i); defaults are the SPEC's 8080/7000/5554. */
  httpBase?: number;
  raftBase?: number;
  controllerBase?: number;
  /** Extra flags for every node, e.g. ['--snapshot-every', '200']. */
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** Echo the cluster's output (debugging). */
  verbose?: boolean;
}

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
const MAIN_JS = join(REPO_ROOT, 'dist/cli/main.js');


/** Whether a process we started is still running (signal 0 checks without touching it). */
/**
 * The leader that a majority of `clusterSize` agrees on (one node says it leads, and more than
 * half the cluster name it in its term), from their /api/status answers (null: no answer).
 */
export function agreedLeader(statuses: ReadonlyArray<{ id: string; state: string; leader: string | null; term: number } | null>, clusterSize: number): string | undefined {
  const live = statuses.filter((s) => s !== null);
  const leaders = live.filter((s) => s.state === 'leader');
  const [leader] = leaders;
  if (leaders.length !== 1 || leader === undefined) return undefined;
  const agreeing = live.filter((s) => s.leader === leader.id && s.term === leader.term).length;
  return agreeing > clusterSize / 2 ? leader.id : undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}


/** JSON over HTTP with a timeout; returns status, headers and parsed body. */
export async function http(method: string, url: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs = 5_000): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON (html, metrics)
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/**
 * A real cluster started with `raftquotes cluster` in a temp data dir. Every process it
 * starts is stopped by pid / process group in stop(), never by name.
 */
export class TestCluster {
  readonly dataDir: string;
  nodes: ClusterNode[] = [];
  private clusterProcess: ChildProcess | null = null;
  /** Nodes restarted by the test itself (outside the cluster process). */
  private readonly restarted = new Map<string, ChildProcess>();
  output = '';

  constructor(private readonly options: StartOptions = {}) {
    this.dataDir = mkdtempSync(join(tmpdir(), 'raftquotes-test-'));
  }

  static async start(options: StartOptions = {}): Promise<TestCluster> {
    const cluster = new TestCluster(options);
    await cluster.launch();
    return cluster;
  }

  async launch(): Promise<void> {
    if (!existsSync(MAIN_JS)) throw new Error('dist/ is missing: run "npm run build" first (npm test does)');
    const o = this.options;
    const args = [MAIN_JS, 'cluster', '--nodes', String(o.nodes ?? 5), '--data-dir', this.dataDir];
    if (o.httpBase) args.push('--http-base', String(o.httpBase));
    if (o.raftBase) args.push('--raft-base', String(o.raftBase));
    if (o.controllerBase) args.push('--controller-base', String(o.controllerBase));
    if (o.nodeArgs?.length) args.push('--node-args', o.nodeArgs.join(' '));
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
    this.clusterProcess = child;
    const collect = (chunk: Buffer): void => {
      this.output += chunk.toString();
      if (this.output.length > 2_000_000) this.output = this.output.slice(-1_000_000);
      if (o.verbose) process.stdout.write(chunk);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const file = join(this.dataDir, 'cluster.json');
    await waitFor('cluster.json', () => {
      if (child.exitCode !== null) throw new Error(`cluster exited with ${child.exitCode}:\n${this.output.slice(-3000)}`);
      return existsSync(file);
    }, 45_000, 100);
    this.nodes = (JSON.parse(readFileSync(file, 'utf8')) as { nodes: ClusterNode[] }).nodes;
  }

  node(id: string): ClusterNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  async status(id: string): Promise<any> {
    return (await http('GET', `${this.node(id).http}/api/status`, undefined, {}, 1_000)).body;
  }

  /** Waits until all `among` nodes that answer agree on one leader; returns its id. */
  async waitForLeader(among: string[] = this.nodes.map((n) => n.id), timeoutMs = 15_000): Promise<string> {
    return waitFor('a leader', async () => agreedLeader(await Promise.all(among.map((id) => this.status(id).catch(() => null))), among.length), timeoutMs, 50);
  }

  /** kill -9 a node (by pid). */
  kill9(id: string): void {
    const node = this.node(id);
    const restarted = this.restarted.get(id);
    try {
      process.kill(restarted?.pid ?? node.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    this.restarted.delete(id);
  }

  /** Restarts a node from its argv in cluster.json, from the repo root (its working dir). */
  async restart(id: string, extraEnv: NodeJS.ProcessEnv = {}, editArgv: (argv: string[]) => string[] = (a) => a): Promise<void> {
    const node = this.node(id);
    const [cmd, ...args] = editArgv([...node.argv]) as [string, ...string[]];
    const env = { ...process.env, ...this.options.env, ...extraEnv };
    const child = spawn(cmd, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
    child.stdout?.on('data', (c: Buffer) => (this.output += `${id} (restarted) | ${c.toString()}`));
    child.stderr?.on('data', (c: Buffer) => (this.output += `${id} (restarted) | ${c.toString()}`));
    this.restarted.set(id, child);
    await waitFor(`${id} healthz`, async () => {
      if (child.exitCode !== null) throw new Error(`${id} exited with ${child.exitCode}`);
      return (await http('GET', `${node.http}/healthz`, undefined, {}, 500)).status === 200;
    }, 20_000, 100);
  }

  /** Stops everything this cluster started and removes the data dir. */
  async stop(): Promise<void> {
    for (const child of this.restarted.values()) if (child.exitCode === null) child.kill('SIGKILL');
    const cp = this.clusterProcess;
    if (cp?.pid && cp.exitCode === null) {
      const exited = new Promise((r) => cp.once('exit', r));
      try {
        process.kill(-cp.pid, 'SIGKILL');
      } catch {
        // gone
      }
      await Promise.race([exited, sleep(3_000)]);
    }
    for (const node of this.nodes) {
      try {
        process.kill(node.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
