import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_V8_FLAGS } from '../../src/cli/cluster.js';
import { REPO_ROOT, sleep } from '../support/cluster.js';
import { httpCall, type CallResult } from './http-client.js';
import { FaultNetwork } from './network.js';

/**
 * The node build to run. RAFTQUOTES_FAULT_DIST may name a frozen copy of dist/ (long
 * campaigns in a shared working tree should not pick up someone's rebuild half-way).
 */
/** The peer secret every harness node gets through its environment (never argv); the forger nemesis holds it too. */
export const HARNESS_SECRET = 'fault-harness-secret-0123456789';
/** The cluster id every harness node gets (--cluster-id); the forger nemesis needs it for the handshake. */
export const HARNESS_CLUSTER_ID = 'raftquotes-fault-harness';
const MAIN_JS = join(process.env.RAFTQUOTES_FAULT_DIST ?? join(REPO_ROOT, 'dist'), 'cli/main.js');
/** How long a (re)started node may take to answer /healthz. */
const START_TIMEOUT_MS = 30_000;
/** How long a SIGTERM'd node may take to exit before it is killed (the node forces itself out after 5 s). */
const TERM_TIMEOUT_MS = 10_000;
/** How long to wait for the exit event after SIGKILL. */
const KILL_WAIT_MS = 5_000;
/** Deadline of the POST that adds a spare (it answers once the change committed, SPEC §9). */
const ADD_TIMEOUT_MS = 10_000;

/** Port bases: node i (1-based) uses base + i. Proxies take ephemeral ports. */
export interface PortBases {
  httpBase: number;
  raftBase: number;
  controllerBase: number;
}

/** Where a node is in its life, as the harness drove it. */
export type ProcessState = 'running' | 'paused' | 'stopped';

/** One node process and its addresses. */
export interface HarnessNode {
  id: string;
  http: string;
  raftPort: number;
  controllerPort: number;
  dataDir: string;
  logFile: string;
  argv: string[];
  state: ProcessState;
  child: ChildProcess | null;
  /** Times this node was started (1 = first start). */
  starts: number;
  /** The harness signalled it to stop (kill, terminate): its next exit is not a crash. */
  exitExpected: boolean;
  /** Starting with --join: a refused or unreachable join exits the node (code 2), which is not a crash. */
  joining: boolean;
  /**
   * In the configuration as far as the harness knows: the first nodes, and spares from their
   * join until their removal. Faults and heals leave the others alone (they are not running).
   */
  member: boolean;
}

export interface ProcessClusterOptions {
  nodes?: number;
  ports: PortBases;
  /** A fresh directory for data dirs and node logs; the caller removes it. */
  workDir: string;
  /** Extra environment for every node (e.g. the unsafe-reads debug switch). */
  env?: NodeJS.ProcessEnv;
  /** Extra flags for every node. */
  nodeArgs?: string[];
  /**
   * Spare nodes (Node6, ...) for the member nemesis: not started; joinSpare adds one at its
   * FaultNetwork entrance and starts it with --join, so its links go through the same faults
   * as the first nodes'.
   */
  spares?: number;
}

/** Every live child of every ProcessCluster in this process, killed on exit so nothing leaks. */
const liveChildren = new Set<ChildProcess>();
/** Work dirs of clusters not closed yet: removed on exit (e.g. a SIGTERM'd `npm run fault`). */
const openWorkDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveChildren) {
      try {
        if (child.pid) process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of openWorkDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/**
 * Five `raftquotes node` processes on loopback whose peer links all go through a
 * FaultNetwork: every node's --peers names each node's entrance (its own too: that is the
 * address the configuration records; it listens on --raft). The harness starts,
 * kills (-9), pauses (SIGSTOP/SIGCONT), stops (SIGTERM) and restarts them by pid; each
 * node runs in its own process group and is only ever signalled by its own pid.
 * Node output goes to <workDir>/logs/<id>.log (appended across restarts).
 */
export class ProcessCluster {
  readonly nodes: HarnessNode[];
  /**
   * Exits the harness did not cause ("Node3 exited with code 70 at ..."). A crashed node would
   * otherwise go unnoticed: the heal starts every stopped node again.
   */
  readonly unexpectedExits: string[] = [];

  private constructor(readonly network: FaultNetwork, nodes: HarnessNode[], private readonly env: NodeJS.ProcessEnv, private readonly workDir: string, private readonly nodeArgs: string[] = []) {
    this.nodes = nodes;
    openWorkDirs.add(workDir);
  }

  /** Starts the proxies, then every node; resolves once every node answers /healthz. */
  static async start(options: ProcessClusterOptions): Promise<ProcessCluster> {
    if (!existsSync(MAIN_JS)) throw new Error('dist/ is missing: run "npm run build" first (npm test and npm run fault do)');
    installExitHook();
    const count = options.nodes ?? 5;
    const ids = Array.from({ length: count }, (_, i) => `Node${i + 1}`);
    // Spares too: the Raft address recorded for a spare when it joins is its entrance, so it is behind the same faults.
    const everyId = Array.from({ length: count + (options.spares ?? 0) }, (_, i) => `Node${i + 1}`);
    const network = await FaultNetwork.start(everyId.map((id, i) => ({ id, raft: { host: '127.0.0.1', port: options.ports.raftBase + i + 1 } })));
    mkdirSync(join(options.workDir, 'logs'), { recursive: true });
    const nodes = ids.map((id, i): HarnessNode => {
      const httpPort = options.ports.httpBase + i + 1;
      const raftPort = options.ports.raftBase + i + 1;
      const controllerPort = options.ports.controllerBase + i + 1;
      const dataDir = join(options.workDir, 'data', id);
      // The production V8 flags (heap caps included), so faults hit nodes as `cluster` runs them.
      const argv = [
        ...NODE_V8_FLAGS, MAIN_JS, 'node', '--id', id, '--peers', network.peersFlag(id, ids),
        '--http', `127.0.0.1:${httpPort}`, '--raft', `127.0.0.1:${raftPort}`, '--controller', `127.0.0.1:${controllerPort}`,
        '--data-dir', dataDir, '--cluster-id', HARNESS_CLUSTER_ID, '--rate-limit', '0', ...(options.nodeArgs ?? []),
      ];
      return { id, http: `http://127.0.0.1:${httpPort}`, raftPort, controllerPort, dataDir, logFile: join(options.workDir, 'logs', `${id}.log`), argv, state: 'stopped', child: null, starts: 0, exitExpected: false, joining: false, member: true };
    });
    for (let i = count; i < count + (options.spares ?? 0); i++) {
      const id = `Node${i + 1}`;
      const p = { http: options.ports.httpBase + i + 1, raft: options.ports.raftBase + i + 1, controller: options.ports.controllerBase + i + 1 };
      nodes.push({ id, http: `http://127.0.0.1:${p.http}`, raftPort: p.raft, controllerPort: p.controller, dataDir: join(options.workDir, 'data', id), logFile: join(options.workDir, 'logs', `${id}.log`), argv: [], state: 'stopped', child: null, starts: 0, exitExpected: false, joining: false, member: false });
    }
    const cluster = new ProcessCluster(network, nodes, { ...process.env, RAFTQUOTES_SECRET: HARNESS_SECRET, ...options.env }, options.workDir, options.nodeArgs);
    try {
      await Promise.all(nodes.filter((n) => n.member).map((node) => cluster.startNode(node.id)));
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  get ids(): string[] {
    return this.nodes.map((n) => n.id);
  }

  node(id: string): HarnessNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`ProcessCluster: unknown node ${id}`);
    return node;
  }

  /** Spawns the node from its argv and waits for /healthz (bounded). */
  async startNode(id: string): Promise<void> {
    const node = this.node(id);
    if (node.child) throw new Error(`${id} is already running (pid ${node.child.pid})`);
    const fd = openSync(node.logFile, 'a');
    // The first start initializes the empty data dir (SPEC §5); a restart must find its data,
    // so a node whose database went missing is refused rather than started empty.
    const argv = node.starts === 0 ? [...node.argv, '--init'] : node.argv;
    const child = spawn(process.execPath, argv, { cwd: REPO_ROOT, detached: true, stdio: ['ignore', fd, fd], env: this.env });
    closeSync(fd);
    liveChildren.add(child);
    node.child = child;
    node.state = 'running';
    node.starts++;
    node.exitExpected = false;
    child.once('exit', (code, signalName) => {
      liveChildren.delete(child);
      if (!node.exitExpected && !node.joining) this.unexpectedExits.push(`${id} (pid ${child.pid}) exited by itself with ${signalName ?? `code ${code}`} at ${new Date().toISOString()}`);
      if (node.child === child) {
        node.child = null;
        node.state = 'stopped';
      }
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (node.child !== child) throw new Error(`${id} exited during start (exit code ${child.exitCode}); its log ends:\n${logTail(node.logFile)}`);
      const result = await httpCall({ method: 'GET', url: `${node.http}/healthz`, timeoutMs: 500 });
      if (result.kind === 'response' && result.status === 200) return;
      await sleep(100);
    }
    throw new Error(`${id} did not answer /healthz within ${START_TIMEOUT_MS} ms; its log ends:\n${logTail(node.logFile)}`);
  }

  /** kill -9 and wait for the exit. */
  async kill(id: string): Promise<void> {
    const node = this.node(id);
    const child = node.child;
    if (!child?.pid) return;
    node.exitExpected = true;
    const exited = waitExit(child, KILL_WAIT_MS);
    signal(child, 'SIGKILL');
    await exited;
  }

  /** SIGSTOP: the process keeps its sockets and answers nothing. */
  pause(id: string): void {
    const node = this.node(id);
    if (!node.child || node.state !== 'running') return;
    signal(node.child, 'SIGSTOP');
    node.state = 'paused';
  }

  /** SIGCONT after a pause. */
  resume(id: string): void {
    const node = this.node(id);
    if (!node.child || node.state !== 'paused') return;
    signal(node.child, 'SIGCONT');
    node.state = 'running';
  }

  /** Graceful stop: SIGTERM (the leader transfers leadership first), wait for exit, SIGKILL if it hangs. */
  async terminate(id: string): Promise<void> {
    const node = this.node(id);
    const child = node.child;
    if (!child?.pid) return;
    if (node.state === 'paused') this.resume(id);
    node.exitExpected = true;
    const exited = waitExit(child, TERM_TIMEOUT_MS);
    signal(child, 'SIGTERM');
    if (!(await exited)) await this.kill(id);
  }

  /** Ends every fault: links healed, paused nodes continued, stopped members started again. */
  async healEverything(): Promise<void> {
    this.network.healAll();
    for (const node of this.nodes) if (node.state === 'paused') this.resume(node.id);
    await Promise.all(this.nodes.filter((n) => !n.child && n.member).map((n) => this.startNode(n.id)));
  }

  /** Spares: nodes out of the configuration, stopped, with no data (joinSpare may start them). */
  spareIds(): string[] {
    return this.nodes.filter((n) => !n.member && !n.child).map((n) => n.id);
  }

  /**
   * POST add-learner to `via`. A leader just elected refuses a membership change until it has
   * committed an entry of its own term (409 precondition_failed, by design: a change is safe
   * only once the term has a commit, the fix to single-server changes); as an operator would, this asks again
   * until that first commit, within ADD_TIMEOUT_MS. Any other answer is returned as it is.
   */
  private async addLearner(id: string, via: string): Promise<CallResult> {
    const deadline = Date.now() + ADD_TIMEOUT_MS;
    for (;;) {
      const add = await httpCall({ method: 'POST', url: `${via}/api/members`, body: { changes: [{ op: 'add-learner', id, raft: this.network.entranceOf(id), http: this.node(id).http }] }, timeoutMs: ADD_TIMEOUT_MS });
      const firstCommitPending = add.kind === 'response' && add.status === 409 && /not committed an entry of its own term/.test(String(add.body?.message));
      if (!firstCommitPending || Date.now() > deadline) return add;
      await sleep(20);
    }
  }

  /**
   * The `member add` + `node --join` runbook (SPEC §9) for a spare: the cluster at `via` adds
   * it as a learner recorded at its FaultNetwork entrance (so every link to it is faultable),
   * then it starts on an empty data dir with `--join via --learner`, finds itself added, and
   * answers /healthz (startNode waits). Restarts (kill, heal) reuse the argv: --join is
   * ignored once the data dir holds a configuration.
   */
  async joinSpare(id: string, via: string): Promise<void> {
    const node = this.node(id);
    if (node.member || node.child) throw new Error(`${id} is not a spare`);
    rmSync(node.dataDir, { recursive: true, force: true });
    const add = await this.addLearner(id, via);
    if (add.kind === 'error') throw new Error(`add ${id}: ${add.error} (${add.message})`);
    if (add.status !== 200) throw new Error(`add ${id}: HTTP ${add.status} ${JSON.stringify(add.body).slice(0, 200)}`);
    node.argv = [
      ...NODE_V8_FLAGS, MAIN_JS, 'node', '--id', id, '--join', via, '--learner',
      '--http', `127.0.0.1:${node.http.split(':').pop()}`, '--raft', `127.0.0.1:${node.raftPort}`, '--controller', `127.0.0.1:${node.controllerPort}`,
      '--data-dir', node.dataDir, '--cluster-id', HARNESS_CLUSTER_ID, '--rate-limit', '0', ...this.nodeArgs,
    ];
    node.starts = 0;
    node.member = true;
    node.joining = true;
    try {
      await this.startNode(id);
    } catch (err) {
      // Not joined (the cluster was unreachable or refused): a spare again, unless the add committed
      // anyway (the end phase then finds it in the configuration and reports it).
      node.member = false;
      await this.kill(id);
      rmSync(node.dataDir, { recursive: true, force: true });
      throw err;
    } finally {
      node.joining = false;
    }
  }

  /** A node removed from the configuration: stopped (SIGTERM) and its data wiped, a spare again. */
  async retire(id: string): Promise<void> {
    const node = this.node(id);
    node.member = false;
    await this.terminate(id);
    rmSync(node.dataDir, { recursive: true, force: true });
  }

  /** Kills every node (continuing paused ones first is not needed: SIGKILL ends a stopped process) and closes the proxies. */
  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill(n.id)));
    await this.network.close();
    openWorkDirs.delete(this.workDir); // the caller still reads its logs, then removes it
  }
}

/** The last lines of a node log, for errors (the work dir is removed after the run). */
function logTail(file: string, bytes = 2_000): string {
  try {
    return readFileSync(file, 'utf8').slice(-bytes);
  } catch {
    return '(no log)';
  }
}

function signal(child: ChildProcess, name: NodeJS.Signals): void {
  try {
    if (child.pid) process.kill(child.pid, name);
  } catch {
    // already gone
  }
}

/** Resolves true on exit, false after timeoutMs. */
function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export { sleep };
