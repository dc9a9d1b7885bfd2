import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src');
/** The Raft core, published as @raftquotes/raft (SPEC §12). */
const RAFT_PACKAGE = join(ROOT, 'packages/raft');
const RAFT_SRC = join(RAFT_PACKAGE, 'src');
const RAFT_NAME = '@raftquotes/raft';

/** Source files under `dir`: .ts (and .js/.mjs when `withJs`), without tests unless `withTests`. */
function sourceFiles(dir: string, options: { withTests?: boolean; withJs?: boolean } = {}): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'dist') return [];
    if (statSync(path).isDirectory()) return sourceFiles(path, options);
    const source = /\.ts$/.test(name) || (options.withJs === true && /\.m?js$/.test(name) && !name.endsWith('.bundle.js'));
    return source && !name.endsWith('.d.ts') && (options.withTests === true || !/\.test\.ts$/.test(name)) ? [path] : [];
  });
}

function imports(file: string): string[] {
  // Without block comments: a usage example in a doc comment imports nothing.
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  return [...text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => (m[1] ?? m[2]) as string);
}

/** The module (top-level folder under src/, or `raft` for @raftquotes/raft) an import resolves to, or the package name. */
function targetModule(file: string, spec: string): string {
  if (spec === RAFT_NAME || spec.startsWith(`${RAFT_NAME}/`)) return 'raft';
  if (!spec.startsWith('.')) return `pkg:${spec}`;
  return relative(SRC, resolve(dirname(file), spec)).split('/')[0] as string;
}

/** src/narrow.ts: type narrowing of unknown values (errors, records), a leaf file any module may use. */
const NARROW = 'narrow.js';

/** STYLE.md: dependencies point one way, cli -> node/api/controller -> raft/storage/transport/state. */
const ALLOWED: Record<string, string[]> = {
  // The simulator builds real nodes (node/, state/, storage/, transport/ types) and checks their histories (checker/).
  sim: ['sim', 'raft', 'storage', 'state', 'node', 'transport', 'checker', 'log'],
  /** The linearizability checker: a leaf, used by the simulator and the fault harness. */
  checker: ['checker'],
  /** The logger interface and the log budget: a leaf, used by every module but the core. */
  log: ['log'],
  /** The Prometheus registry and exposition: a leaf, used by the runtime, the API and the controller. */
  metrics: ['metrics'],
  state: ['state', 'raft', 'log', NARROW],
  storage: ['storage', 'raft', 'state', 'log', NARROW],
  transport: ['transport', 'raft', 'log', NARROW],
  node: ['node', 'raft', 'state', 'storage', 'transport', 'log', 'metrics', NARROW],
  api: ['api', 'node', 'raft', 'state', 'log', 'metrics', NARROW],
  controller: ['controller', 'node', 'raft', 'state', 'log', 'metrics', NARROW],
  cli: ['cli', 'node', 'api', 'controller', 'raft', 'state', 'storage', 'transport', 'log', 'metrics', NARROW],
};

describe('architecture', () => {
  it('keeps the Raft core pure: no node: modules, no packages, no clock, no Math.random', () => {
    const files = sourceFiles(RAFT_SRC);
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      const where = relative(ROOT, file);
      for (const spec of imports(file)) {
        expect(spec.startsWith('.'), `${where} imports ${spec}`).toBe(true);
        expect(relative(RAFT_SRC, resolve(dirname(file), spec)).startsWith('..'), `${where} imports ${spec}`).toBe(false);
      }
      const text = readFileSync(file, 'utf8');
      expect(/Date\.now\(|Math\.random\(|setTimeout\(|setInterval\(|process\./.test(text), `${where} uses a clock or I/O`).toBe(false);
    }
  });

  it('gives @raftquotes/raft no runtime dependency', () => {
    const manifest = JSON.parse(readFileSync(join(RAFT_PACKAGE, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest['name']).toBe(RAFT_NAME);
    for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies', 'bundleDependencies', 'bundledDependencies']) {
      expect(manifest[field], `packages/raft/package.json has ${field}`).toBeUndefined();
    }
  });

  it('imports the core only as @raftquotes/raft or one of its exports, never by a path into packages/raft', () => {
    const manifest = JSON.parse(readFileSync(join(RAFT_PACKAGE, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    const entryPoints = new Set(Object.keys(manifest.exports).map((key) => key.replace(/^\./, RAFT_NAME)));
    const dirs = ['src', 'test', 'bench', 'scripts', 'web', 'examples'].map((dir) => join(ROOT, dir));
    const files = dirs.flatMap((dir) => (existsSync(dir) ? sourceFiles(dir, { withTests: true, withJs: true }) : []));
    expect(files.length).toBeGreaterThan(100);
    for (const file of files) {
      for (const spec of imports(file)) {
        const where = `${relative(ROOT, file)} imports ${spec}`;
        if (spec.startsWith('.')) {
          const target = resolve(dirname(file), spec);
          expect(relative(RAFT_PACKAGE, target).startsWith('..'), where).toBe(true);
          // A path that resolves to nothing (e.g. the old src/raft) is caught here, not only by tsc.
          expect(existsSync(target) || existsSync(target.replace(/\.js$/, '.ts')), `${where}: no such file`).toBe(true);
        }
        if (spec === RAFT_NAME || spec.startsWith(`${RAFT_NAME}/`)) expect(entryPoints.has(spec), where).toBe(true);
        expect(spec.includes('packages/raft'), where).toBe(false);
      }
    }
  });

  it('points dependencies one way between modules', () => {
    for (const file of sourceFiles(SRC)) {
      const module = relative(SRC, file).split('/')[0] as string;
      const allowed = ALLOWED[module];
      if (!allowed) continue;
      for (const spec of imports(file)) {
        const target = targetModule(file, spec);
        if (target.startsWith('pkg:')) continue;
        expect(allowed, `${relative(SRC, file)} (${module}) must not import ${spec} (${target})`).toContain(target);
      }
    }
  });
});
