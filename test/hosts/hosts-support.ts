import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT, sleep } from '../support/cluster.js';
import { rawRequest } from '../support/raw-http.js';
import type { HostNetwork } from './netns.js';

/** What the tests need from the hosts: HTTP by host name (as in the containers), processes, port maps. */

export const MAIN_JS = join(REPO_ROOT, 'dist/cli/main.js');

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/**
 * JSON over HTTP to `http://<name>:<port>` as a client on the network would send it: the Host
 * header names the host (the nodes check it, SPEC §7), while the connection goes to the
 * address the hosts files give that name (the test process itself runs outside the namespaces).
 */
export async function httpTo(net: HostNetwork, url: string, method = 'GET', body?: unknown, headers: Record<string, string> = {}, timeoutMs = 3_000): Promise<HttpAnswer> {
  const target = new URL(url);
  const address = net.hosts.find((h) => h.name.toLowerCase() === target.hostname.toLowerCase())?.address ?? target.hostname;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const answer = await rawRequest(method, `${target.protocol}//${address}:${target.port}${target.pathname}${target.search}`, {
    headers: { host: target.host, ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: payload,
    timeoutMs,
  });
  // JSON where it is JSON, the text otherwise (html), null when empty.
  return { status: answer.status, headers: answer.headers, body: answer.text === '' ? null : answer.json !== undefined ? answer.json : answer.text };
}

/** A process in a namespace, with its output kept (tail) for failure messages. */
export interface HostProcess {
  name: string;
  child: ChildProcess;
  output: string;
  exited: Promise<number | null>;
}

/**
 * Starts `argv` inside a host's namespace. `ip netns exec` execs the command in place, so the
 * child's pid is the program's own: kill -9 reaches it.
 */
export function startIn(hosts: HostNetwork, name: string, argv: string[], env: NodeJS.ProcessEnv): HostProcess {
  const [command, ...args] = [...hosts.exec(name), ...argv] as [string, ...string[]];
  const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc: HostProcess = { name, child, output: '', exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
  const keep = (chunk: Buffer): void => {
    proc.output += chunk.toString();
    if (proc.output.length > 400_000) proc.output = proc.output.slice(-200_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return proc;
}

/** SIGKILL by pid and wait (bounded) for the exit. */
export async function killHard(proc: HostProcess): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGKILL');
  await Promise.race([proc.exited, sleep(5_000)]);
}

/**
 * Docker's port publishing ("8081:8080"), for the browser on the host: a TCP forwarder on
 * 127.0.0.1 to a host's address. Returns a close function.
 */
export async function publishPort(localPort: number, address: string, port: number): Promise<() => Promise<void>> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: address, port });
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(localPort, '127.0.0.1', () => resolve()));
  return () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}
