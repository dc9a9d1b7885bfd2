import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NODE_MALLOC_ENV, NODE_V8_FLAGS, nodeEnvironment } from '../../src/cli/cluster.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/raftquotes');
const dir = mkdtempSync(join(tmpdir(), 'rq-launch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What a process started through bin/raftquotes was given: its V8 flags and malloc settings. */
function launchedWith(env: NodeJS.ProcessEnv): { execArgv: string[]; malloc: Record<string, string | undefined> } {
  const probe = join(dir, 'probe.mjs');
  const out = join(dir, 'probe.json');
  const names = JSON.stringify(Object.keys(NODE_MALLOC_ENV));
  writeFileSync(probe, `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(out)}, JSON.stringify({ execArgv: process.execArgv, malloc: Object.fromEntries(${names}.map((k) => [k, process.env[k]])) }));\n`);
  const r = spawnSync(BIN, ['--help'], { encoding: 'utf8', timeout: 20_000, env: { ...env, NODE_OPTIONS: `--import=${probe}` } });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(readFileSync(out, 'utf8')) as { execArgv: string[]; malloc: Record<string, string | undefined> };
}

describe('every way of starting a node gets the same memory settings', () => {
  it('bin/raftquotes (raftquotes node, the Docker entry point) runs node with NODE_V8_FLAGS and NODE_MALLOC_ENV', () => {
    const { execArgv, malloc } = launchedWith(process.env);
    expect(execArgv.slice(0, NODE_V8_FLAGS.length)).toEqual(NODE_V8_FLAGS);
    expect(malloc).toEqual(NODE_MALLOC_ENV);
  });

  it('cluster gives its nodes NODE_MALLOC_ENV unless the user set a value, and never the secret', () => {
    expect(nodeEnvironment({ PATH: '/bin', RAFTQUOTES_SECRET: 's'.repeat(32) })).toEqual({ ...NODE_MALLOC_ENV, PATH: '/bin' });
    expect(nodeEnvironment({ MALLOC_ARENA_MAX: '8' }).MALLOC_ARENA_MAX).toBe('8');
  });

  it('the Docker image starts nodes through bin/raftquotes', () => {
    const entrypoint = /^ENTRYPOINT (.*)$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1];
    expect(JSON.parse(entrypoint ?? 'null')).toEqual(['/app/bin/raftquotes']);
  });
});
