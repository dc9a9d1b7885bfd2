/**
 * A small cluster of real node processes for the HTTP attack tests (issue 15), each started
 * as `node dist/cli/main.js node ...` on 127.0.0.1 in the 24000-24999 range, with the secret
 * in the environment. Every process is started detached and stopped by its process group id.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, sleep, waitFor } from '../support/cluster.js';

const MAIN_JS = join(REPO_ROOT, 'dist/cli/main.js');
export const TEST_SECRET = 'http-security-test-secret-0123456789';

export interface HttpNode {
  id: string;
  http: string;
  port: number;
  child: ChildProcess;
}

export interface HttpClusterOptions {
  /** Port base: node i uses base+i (HTTP), base+100+i (Raft), base+200+i (controller). */
  base: number;
  nodes?: number;
  /** Extra flags per node id. */
  args?: (id: string) => string[];
  env?: NodeJS.ProcessEnv;
  /** Scheme of the HTTP API (https when the args serve it over TLS). */
  scheme?: 'http' | 'https';
}

/** Starts the nodes and waits for a leader. */
export class HttpCluster {
  readonly dataDir = mkdtempSync(join(tmpdir(), 'raftquotes-httpsec-'));
  readonly nodes: HttpNode[] = [];
  output = '';

  constructor(private readonly options: HttpClusterOptions) {}

  async start(): Promise<void> {
    if (!existsSync(MAIN_JS)) throw new Error('dist/ is missing: run "npm run build" first');
    const { base, nodes = 3, scheme = 'http' } = this.options;
    const ids = Array.from({ length: nodes }, (_, i) => `Node${i + 1}`);
    const peers = ids.map((id, i) => `${id}=127.0.0.1:${base + 100 + i + 1}`).join(',');
    for (const [i, id] of ids.entries()) {
      const port = base + i + 1;
      const args = [
        MAIN_JS, 'node', '--id', id, '--peers', peers, '--data-dir', join(this.dataDir, id), '--init',
        '--http', `127.0.0.1:${port}`, '--raft', `127.0.0.1:${base + 100 + i + 1}`, '--controller', `127.0.0.1:${base + 200 + i + 1}`,
        ...(this.options.args?.(id) ?? []),
      ];
      const child = spawn(process.execPath, args, { cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RAFTQUOTES_SECRET: TEST_SECRET, ...this.options.env } });
      const collect = (chunk: Buffer): void => {
        this.output += `${id} | ${chunk.toString()}`;
        if (this.output.length > 4_000_000) this.output = this.output.slice(-2_000_000);
      };
      child.stdout?.on('data', collect);
      child.stderr?.on('data', collect);
      this.nodes.push({ id, http: `${scheme}://127.0.0.1:${port}`, port, child });
    }
  }

  node(id: string): HttpNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  /** The id every node agrees is the leader (bounded wait). */
  async leader(get: (url: string) => Promise<{ status: number; json: any }>, timeoutMs = 45_000): Promise<string> {
    let last: unknown[] = [];
    return waitFor('a leader', async () => {
      const statuses = await Promise.all(this.nodes.map((n) => get(`${n.http}/api/status`).then((r) => r.json, (err: Error) => ({ error: err.message }))));
      last = statuses.map((st) => ({ leader: st?.leader, state: st?.state, error: st?.error }));
      const leaders = new Set(statuses.map((s) => (s?.error ? null : s?.leader)));
      if (leaders.size !== 1) return undefined;
      const [leader] = leaders;
      return typeof leader === 'string' ? leader : undefined;
    }, timeoutMs, 100).catch((err: Error) => {
      // What each node answered last, and the end of their logs: the wait itself says too little.
      throw new Error(`${err.message}; last answers ${JSON.stringify(last)}; log tail:\n${this.output.slice(-3_000)}`);
    });
  }

  alive(): boolean {
    return this.nodes.every((n) => n.child.exitCode === null);
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) {
      const pid = node.child.pid;
      if (pid === undefined || node.child.exitCode !== null) continue;
      const exited = new Promise((resolve) => node.child.once('exit', resolve));
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await Promise.race([exited, sleep(3_000)]);
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Open file descriptors of a process. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Resident set size of a process, in MB. */
export function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

export { rawRequest, type Answer, type RawOptions } from '../support/raw-http.js';
