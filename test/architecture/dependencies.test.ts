import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => (m[1] ?? m[2]) as string);
}

/** The module (top-level folder under src/) an import resolves to, or the package name. */
function targetModule(file: string, spec: string): string {
  if (!spec.startsWith('.')) return `pkg:${spec}`;
  return relative(SRC, resolve(dirname(file), spec)).split('/')[0] as string;
}

/** STYLE.md: dependencies point one way, cli -> node/api/controller -> raft/storage/transport/state. */
const ALLOWED: Record<string, string[]> = {
  raft: ['raft'],
  // The simulator builds real nodes (node/, state/, storage/, transport/ types) and checks their histories (checker/).
  sim: ['sim', 'raft', 'storage', 'state', 'node', 'transport', 'checker', 'log'],
  /** The linearizability checker: a leaf, used by the simulator and the fault harness. */
  checker: ['checker'],
  /** The logger interface and the log budget: a leaf, used by every module but the core. */
  log: ['log'],
  state: ['state', 'raft', 'log'],
  storage: ['storage', 'raft', 'state', 'log'],
  transport: ['transport', 'raft', 'log'],
  node: ['node', 'raft', 'state', 'storage', 'transport', 'log'],
  api: ['api', 'node', 'raft', 'state', 'log'],
  controller: ['controller', 'node', 'raft', 'state', 'log'],
  cli: ['cli', 'node', 'api', 'controller', 'raft', 'state', 'storage', 'transport', 'log'],
};

describe('architecture', () => {
  it('keeps the Raft core pure: no node: modules, no packages, no clock, no Math.random', () => {
    for (const file of sourceFiles(join(SRC, 'raft'))) {
      for (const spec of imports(file)) {
        expect(spec.startsWith('.'), `${relative(SRC, file)} imports ${spec}`).toBe(true);
        expect(targetModule(file, spec), `${relative(SRC, file)} imports ${spec}`).toBe('raft');
      }
      const text = readFileSync(file, 'utf8');
      expect(/Date\.now\(|Math\.random\(|setTimeout\(|setInterval\(|process\./.test(text), `${relative(SRC, file)} uses a clock or I/O`).toBe(false);
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
