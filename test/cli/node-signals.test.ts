import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { NodeConfig } from '../../src/cli/config.js';
import { reloadOnSighup, type SignalLogger } from '../../src/cli/node-signals.js';
import { REPO_ROOT, http, waitFor } from '../support/cluster.js';

/**
 * A node's process-level handlers, on a real single-node process (ports 25010-25039): a crash
 * is one fatal log line with the stack and exit 70, and SIGHUP never stops the node.
 */
const MAIN_JS = join(REPO_ROOT, 'dist/cli/main.js');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Starts one node; `inject` is run in the process (via --import) before main. */
function startNode(base: number, inject: string | null): { child: ReturnType<typeof spawn>; output: () => string; exited: Promise<number | null> } {
  const dir = mkdtempSync(join(tmpdir(), 'rq-signals-'));
  dirs.push(dir);
  const pre = inject ? ['--import', `data:text/javascript,${encodeURIComponent(inject)}`] : [];
  const args = [...pre, MAIN_JS, 'node', '--id', 'Node1', '--peers', `Node1=127.0.0.1:${base}`, '--data-dir', join(dir, 'Node1'), '--init'];
  args.push('--http', `127.0.0.1:${base + 1}`, '--controller', `127.0.0.1:${base + 2}`);
  const child = spawn(process.execPath, args, { env: { ...process.env, RAFTQUOTES_SECRET: 'a-test-secret-of-32-bytes-length' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr.on('data', (c: Buffer) => (text += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => text, exited };
}

/** Runs `body` in the node process once the node has installed its handlers (no timing guess). */
const onceStarted = (body: string): string =>
  `const t = setInterval(() => { if (process.listenerCount('uncaughtException') > 0) { clearInterval(t); setTimeout(() => { ${body} }, 100); } }, 50);`;

async function expectCrashLogged(base: number, inject: string, kind: string): Promise<void> {
  const node = startNode(base, inject);
  try {
    const code = await Promise.race([node.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 15_000))]);
    expect(code).toBe(70);
    const fatal = node.output().split('\n').filter((l) => l.includes(kind));
    expect(fatal).toHaveLength(1);
    const record = JSON.parse(fatal[0] as string) as { level: number; msg: string; err: { stack: string } };
    expect(record.level).toBe(60);
    expect(record.msg).toMatch(new RegExp(`${kind}, exiting 70: Error: injected .* \\| at `));
    expect(record.err.stack).toContain('injected');
  } finally {
    node.child.kill('SIGKILL');
  }
}

describe('node process handlers', () => {
  it('logs an uncaught exception as one fatal line with the stack, then exits 70', async () => {
    await expectCrashLogged(25010, onceStarted('throw new Error("injected crash")'), 'uncaught exception');
  }, 30_000);

  it('logs an unhandled rejection the same way', async () => {
    await expectCrashLogged(25020, onceStarted('Promise.reject(new Error("injected rejection"))'), 'unhandled rejection');
  }, 30_000);

  it('keeps running on SIGHUP and logs what it reloaded', async () => {
    const node = startNode(25030, null);
    try {
      await waitFor('healthz', async () => (await http('GET', 'http://127.0.0.1:25031/healthz', undefined, {}, 500)).status === 200, 15_000, 100);
      node.child.kill('SIGHUP');
      await waitFor('SIGHUP logged', () => node.output().includes('SIGHUP'), 5_000);
      expect((await http('GET', 'http://127.0.0.1:25031/healthz')).status).toBe(200);
      expect(node.child.exitCode).toBeNull();
    } finally {
      node.child.kill('SIGKILL');
    }
  }, 30_000);
});

describe('reloadOnSighup', () => {
  const logger = (): SignalLogger & { lines: string[] } => {
    const lines: string[] = [];
    const push = (level: string) => (_o: object, msg: string): void => void lines.push(`${level} ${msg}`);
    return { lines, fatal: push('fatal'), error: push('error'), warn: push('warn'), info: push('info') };
  };
  const config = { tls: { cert: 'c', key: 'k', ca: 'a' }, httpTls: { cert: 'c', key: 'k', clientCa: null }, secretFile: null, adminTokenFile: null } as unknown as NodeConfig;

  it('reloads each part, and a failing one is logged while the others still reload', async () => {
    const log = logger();
    let apiReloads = 0;
    await reloadOnSighup(config, { transport: { reloadTls: () => { throw new Error('ca.crt: no PEM certificate'); } }, api: { reloadTls: () => void apiReloads++ } }, log);
    expect(apiReloads).toBe(1);
    expect(log.lines).toEqual(['error SIGHUP: could not reload peer TLS certificates, keeping the current one: ca.crt: no PEM certificate', 'info SIGHUP: reloaded HTTPS certificates']);
  });

  it('says so when the running build cannot reload certificates', async () => {
    const log = logger();
    await reloadOnSighup(config, { transport: {}, api: {} }, log);
    expect(log.lines).toEqual(['warn SIGHUP: this build cannot reload certificates in place; restart the node to use new ones']);
  });
});
