import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { REPO_ROOT, sleep, waitFor } from '../support/cluster.js';

/**
 * Hand-started `raftquotes node` processes on 127.0.0.1 for the operations tests (backup and
 * restore, force-new-cluster): one port block per test file, the CLI run as a user runs it.
 */

export const MAIN_JS = join(REPO_ROOT, 'dist/cli/main.js');

/** Kept-alive connections, so a load of many small writes does not pay a TCP handshake each. */
export const agent = new Agent({ keepAlive: true, maxSockets: 512 });

export interface Answer {
  status: number;
  body: any;
  raw: Buffer;
}

/** One JSON request over a kept-alive connection. */
export function call(method: string, url: string, body?: unknown, timeoutMs = 10_000): Promise<Answer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent, timeout: timeoutMs, headers: payload === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        let parsed: unknown = null;
        try {
          parsed = JSON.parse(raw.toString('utf8'));
        } catch {
          // binary (a backup)
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, raw });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(payload);
  });
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The CLI, to completion (bounded). */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const started = Date.now();
  const r = spawnSync(process.execPath, [MAIN_JS, ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 180_000, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - started };
}

/** The CLI without blocking the event loop (a load goes on meanwhile); bounded. */
export function cliAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN_JS, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.once('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, ms: Date.now() - started });
    });
  });
}

interface Proc {
  child: ChildProcess;
  output: string;
}

/**
 * N nodes: node i (1-based in `ids`) serves HTTP on base+i, Raft on base+10+i and the
 * controller on base+20+i (so at most 9 nodes per block of 30 ports).
 */
export class NodeProcs {
  readonly procs = new Map<string, Proc>();
  constructor(
    readonly dir: string,
    private readonly base: number,
    private readonly secret: string,
    readonly ids: string[],
  ) {}

  private slot(id: string): number {
    const i = this.ids.indexOf(id);
    if (i < 0) throw new Error(`unknown node ${id}`);
    return i + 1;
  }

  http(id: string): string {
    return `http://127.0.0.1:${this.base + this.slot(id)}`;
  }

  raft(id: string): string {
    return `127.0.0.1:${this.base + 10 + this.slot(id)}`;
  }

  peers(ids = this.ids): string {
    return ids.map((id) => `${id}=${this.raft(id)}`).join(',');
  }

  dataDir(id: string): string {
    return join(this.dir, id);
  }

  /** The argv of node `id` (after `node main.js`): its addresses, data dir and `extra`. */
  argv(id: string, extra: string[]): string[] {
    const slot = this.slot(id);
    return ['node', '--id', id, '--data-dir', this.dataDir(id), '--http', `127.0.0.1:${this.base + slot}`, '--raft', this.raft(id), '--controller', `127.0.0.1:${this.base + 20 + slot}`, ...extra];
  }

  /** Starts node `id` (the peer secret in its environment, as a deployment would give it). */
  start(id: string, extra: string[]): void {
    const child = spawn(process.execPath, [MAIN_JS, ...this.argv(id, extra)], { cwd: REPO_ROOT, env: { ...process.env, RAFTQUOTES_SECRET: this.secret }, stdio: ['ignore', 'pipe', 'pipe'] });
    const proc: Proc = { child, output: '' };
    const keep = (c: Buffer): void => {
      proc.output = (proc.output + c.toString()).slice(-100_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.procs.set(id, proc);
  }

  /** Every node with the seed configuration of all `ids` (a new cluster: `extra` carries --init). */
  startAll(extra: (id: string) => string[] = () => []): void {
    for (const id of this.ids) this.start(id, ['--peers', this.peers(), ...extra(id)]);
  }

  output(id: string): string {
    return this.procs.get(id)?.output ?? '';
  }

  /** The last lines of every node's output, for a failure message. */
  outputs(): string {
    return [...this.procs.entries()].map(([id, p]) => `--- ${id}\n${p.output.slice(-1500)}`).join('\n');
  }

  async leader(among = this.ids, timeoutMs = 30_000): Promise<string> {
    return waitFor(
      'a leader',
      async () => {
        for (const id of among) {
          const s = await call('GET', `${this.http(id)}/api/status`, undefined, 1_000).catch(() => null);
          if (s?.body?.state === 'leader') return id;
        }
        return null;
      },
      timeoutMs,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${this.outputs()}`);
    });
  }

  /** kill -9 by pid, and wait (bounded) for the exit. */
  async kill(id: string): Promise<void> {
    const child = this.procs.get(id)?.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await Promise.race([new Promise((r) => child.once('exit', r)), sleep(5_000)]);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.procs.keys()].map((id) => this.kill(id)));
  }
}
