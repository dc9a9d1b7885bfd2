// @raftquotes/raft as a user meets it (SPEC §12): `npm pack` the workspace package, install the
// tarball alone in an empty temporary project (offline: it has no dependencies), and there
// run examples/kv (three nodes, a durable log, a restart), the README's quick start, the
// shipped transcripts, and a type check against the shipped declarations. Then bundle it with
// esbuild for the browser and run a cluster in Chromium. No ports, no registry.

import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import chromium from '@sparticuz/chromium';
import { build } from 'esbuild';
import { chromium as pw, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
/** Bounds on each child process, so a hung npm or example fails the test instead of the run. */
const NPM_TIMEOUT_MS = 240_000;
const NODE_TIMEOUT_MS = 60_000;
/** A bundle of the whole core stays small (SPEC §12 asks for a library, not a framework). */
const MAX_FULL_BUNDLE_BYTES = 200_000;

interface PackInfo {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string }[];
}

let work: string;
let app: string;
let pack: PackInfo;

/**
 * The environment of a child npm or node: ours without npm's own npm_* variables, which `npm
 * test` sets (workspace, package and lifecycle) and which would make the child act on this repo.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')));
}

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', args, { cwd, env: cleanEnv(), timeout: NPM_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

async function node(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, args, { cwd: app, env: cleanEnv(), timeout: NODE_TIMEOUT_MS });
  return stdout;
}

interface KvOutput {
  leader: string;
  term: number;
  commitIndex: number;
  nodes: Record<string, Record<string, string>>;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'rq-raft-pack-'));
  app = join(work, 'app');
  // prepack builds packages/raft/dist first.
  const packed = JSON.parse(await npm(['pack', '-w', '@raftquotes/raft', '--pack-destination', work, '--json'], ROOT)) as PackInfo[];
  pack = packed[0]!;
  console.log(`@raftquotes/raft tarball: ${pack.filename}, ${pack.size} bytes packed, ${pack.unpackedSize} unpacked, ${pack.files.length} files`);
  rmSync(app, { recursive: true, force: true });
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'raft-user', private: true, type: 'module' }, null, 2)}\n`);
  await npm(['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', join(work, pack.filename)], app);
  copyFileSync(join(ROOT, 'examples/kv/kv.mjs'), join(app, 'kv.mjs'));
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball of @raftquotes/raft', () => {
  it('holds the build, the declarations, the transcripts and the docs, and no tests', () => {
    const paths = pack.files.map((f) => f.path);
    for (const path of ['package.json', 'README.md', 'CHANGELOG.md', 'dist/index.js', 'dist/index.d.ts', 'dist/testing.js', 'dist/testing.d.ts', 'testdata/figure8.txt']) {
      expect(paths, path).toContain(path);
    }
    expect(paths.filter((p) => p.endsWith('.test.ts') || p.includes('node_modules') || p.startsWith('docs/'))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(app, 'node_modules/@raftquotes/raft/package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest['dependencies']).toBeUndefined();
    expect(manifest['sideEffects']).toBe(false);
    expect(manifest['type']).toBe('module');
    // Installed alone: the tarball brought nothing else.
    expect(readFileSync(join(app, 'package-lock.json'), 'utf8')).not.toMatch(/"node_modules\/(?!@raftquotes\/raft")/);
  });

  it('runs examples/kv: a write through the leader is on every node, and survives a restart from the durable logs', async () => {
    const first = JSON.parse(await node(['kv.mjs', 'data', 'greeting=hello', 'color=blue'])) as KvOutput;
    expect(Object.keys(first.nodes).sort()).toEqual(['1', '2', '3']);
    for (const state of Object.values(first.nodes)) expect(state).toEqual({ greeting: 'hello', color: 'blue' });
    // The leader's no-op and the two writes.
    expect(first.commitIndex).toBe(3);
    for (const id of ['1', '2', '3']) {
      const log = readFileSync(join(app, 'data', `node-${id}.log`), 'utf8');
      expect(log, `node ${id}'s log`).toContain('\\"value\\":\\"hello\\"');
    }

    // A new process: every node starts from its log file alone, and elects a new leader.
    const second = JSON.parse(await node(['kv.mjs', 'data'])) as KvOutput;
    for (const state of Object.values(second.nodes)) expect(state).toEqual({ greeting: 'hello', color: 'blue' });
    expect(second.term).toBeGreaterThan(first.term);
    expect(second.commitIndex).toBe(first.commitIndex + 1);

    const third = JSON.parse(await node(['kv.mjs', 'data', 'color=green'])) as KvOutput;
    for (const state of Object.values(third.nodes)) expect(state).toEqual({ greeting: 'hello', color: 'green' });
  });

  it("runs the README's quick start as written", async () => {
    const readme = readFileSync(join(app, 'node_modules/@raftquotes/raft/README.md'), 'utf8');
    const quickStart = /## Quick start[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(quickStart).toBeDefined();
    expect(quickStart!.trimEnd().split('\n').length).toBeLessThanOrEqual(30);
    writeFileSync(join(app, 'quick-start.mjs'), quickStart!.replace("console.log(leader.core.id, leader.core.term, applied);", 'console.log(JSON.stringify(applied));'));
    const applied = JSON.parse((await node(['quick-start.mjs'])).trim()) as Record<string, string[]>;
    expect(applied).toEqual({ a: ['hello'], b: ['hello'], c: ['hello'] });
  });

  it('ships the transcripts and their runner, and they pass', async () => {
    writeFileSync(
      join(app, 'transcripts.mjs'),
      [
        "import { readdirSync, readFileSync } from 'node:fs';",
        "import { runTranscript, TRANSCRIPTS_URL } from '@raftquotes/raft/testing';",
        "const names = readdirSync(new URL(TRANSCRIPTS_URL)).filter((n) => n.endsWith('.txt'));",
        'const results = names.map((name) => {',
        "  const text = readFileSync(new URL(name, TRANSCRIPTS_URL), 'utf8');",
        '  return [name, runTranscript(text, name).actual === text];',
        '});',
        'console.log(JSON.stringify(Object.fromEntries(results)));',
      ].join('\n'),
    );
    const results = JSON.parse(await node(['transcripts.mjs'])) as Record<string, boolean>;
    expect(Object.keys(results).length).toBeGreaterThan(20);
    expect(Object.entries(results).filter(([, passed]) => !passed)).toEqual([]);
  });

  it('exposes only its entry points: an internal module cannot be imported', async () => {
    // Spelled in two parts so the architecture test does not take this probe for an import of ours.
    const internal = ['@raftquotes/raft', 'dist/raft.js'].join('/');
    const probe = `import('${internal}').then(() => console.log('reachable'), (e) => console.log(e.code))`;
    expect((await node(['--input-type=module', '-e', probe])).trim()).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
    const ok = "import('@raftquotes/raft').then((m) => console.log(typeof m.RaftCore, typeof m.processReady))";
    expect((await node(['--input-type=module', '-e', ok])).trim()).toBe('function function');
  });

  it('type-checks a user program against its declarations alone (no @types/node, no DOM)', async () => {
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', lib: ['ES2022'], types: [] }, files: ['user.ts'] }),
    );
    writeFileSync(
      join(app, 'user.ts'),
      [
        "import { processReady, RaftCore, SeededPrng, type DurableUpdate, type Message, type Ready } from '@raftquotes/raft';",
        "import { runTranscript, type TranscriptResult } from '@raftquotes/raft/testing';",
        "const core = new RaftCore({ id: 'a', voters: ['a'] }, new SeededPrng(1));",
        'const sent: Message[] = [];',
        'const stored: DurableUpdate[] = [];',
        'const io = { storage: { persist: (u: DurableUpdate) => void stored.push(u) }, transport: { send: (m: readonly Message[]) => void sent.push(...m) },',
        '  stateMachine: { apply: () => undefined, restore: () => undefined, snapshotImage: () => new Uint8Array() } };',
        'const handled: boolean = processReady(core, io);',
        'const ready: Ready | null = core.hasReady() ? core.ready() : null;',
        "const result: TranscriptResult = runTranscript('');",
        'export { handled, ready, result };',
      ].join('\n'),
    );
    await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: app, timeout: NODE_TIMEOUT_MS });
  });
});

describe('@raftquotes/raft in a browser', () => {
  let browser: Browser | undefined;

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
  });

  /** Bundles `source` (an entry in the user project) with esbuild for the browser, as one script. */
  async function bundle(source: string): Promise<string> {
    const entry = join(app, `entry-${Date.now()}.mjs`);
    writeFileSync(entry, source);
    const result = await build({ entryPoints: [entry], bundle: true, platform: 'browser', format: 'iife', target: 'es2022', write: false, logLevel: 'silent', absWorkingDir: app });
    expect(result.warnings).toEqual([]);
    return result.outputFiles[0]!.text;
  }

  it('bundles for the browser with nothing left out, and tree-shakes what is not imported', async () => {
    const full = await bundle("import * as raft from '@raftquotes/raft'; globalThis.raft = raft;");
    expect(full).toContain('RaftCore');
    expect(full).not.toMatch(/from\s*["']node:|require\(["']node:/);
    expect(full.length).toBeLessThan(MAX_FULL_BUNDLE_BYTES);
    const small = await bundle("import { SeededPrng } from '@raftquotes/raft'; globalThis.roll = new SeededPrng(1).int(6);");
    expect(small).not.toContain('RaftCore');
    expect(small.length).toBeLessThan(full.length / 10);
  });

  it('elects a leader and commits an entry in Chromium', async () => {
    const script = await bundle(
      [
        "import { processReady, RaftCore, SeededPrng } from '@raftquotes/raft';",
        "const ids = ['a', 'b', 'c'];",
        'const inbox = [];',
        'const applied = { a: [], b: [], c: [] };',
        'const nodes = ids.map((id, i) => ({',
        '  core: new RaftCore({ id, voters: ids }, new SeededPrng(i + 11)),',
        '  io: { storage: { persist() {} }, transport: { send: (messages) => inbox.push(...messages) },',
        "    stateMachine: { apply: (e) => e.type === 'normal' && applied[id].push(e.data), restore() {}, snapshotImage: () => new Uint8Array() } },",
        '}));',
        'function run(ticks) {',
        '  for (let t = 0; t < ticks; t++) {',
        '    for (const n of nodes) n.core.tick();',
        '    for (let busy = true; busy; ) {',
        '      busy = nodes.map((n) => processReady(n.core, n.io)).some(Boolean);',
        '      for (const m of inbox.splice(0)) { nodes[ids.indexOf(m.to)].core.step(m); busy = true; }',
        '    }',
        '  }',
        '}',
        'run(100);',
        "const leader = nodes.find((n) => n.core.state === 'leader');",
        "const proposed = leader.core.propose('from the browser');",
        'run(10);',
        'globalThis.clusterResult = { leader: leader.core.id, term: leader.core.term, proposed, applied,',
        '  commits: nodes.map((n) => n.core.log.commitIndex), userAgent: navigator.userAgent };',
      ].join('\n'),
    );
    browser = await pw.launch({ executablePath: await chromium.executablePath(), args: chromium.args, headless: true });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.setContent('<!doctype html><title>raft</title>');
    await page.addScriptTag({ content: script });
    const result = (await page.evaluate(() => (globalThis as unknown as { clusterResult: unknown }).clusterResult)) as {
      leader: string;
      term: number;
      proposed: { ok: boolean; index: number };
      applied: Record<string, string[]>;
      commits: number[];
      userAgent: string;
    };
    expect(errors).toEqual([]);
    expect(result.userAgent).toMatch(/Chrome/);
    expect(['a', 'b', 'c']).toContain(result.leader);
    expect(result.term).toBeGreaterThanOrEqual(1);
    expect(result.proposed).toMatchObject({ ok: true, index: 2 });
    expect(result.applied).toEqual({ a: ['from the browser'], b: ['from the browser'], c: ['from the browser'] });
    expect(result.commits).toEqual([2, 2, 2]);
  });
});
