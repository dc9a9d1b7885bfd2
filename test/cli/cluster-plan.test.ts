import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { NODE_V8_FLAGS, planCluster } from '../../src/cli/cluster.js';

const OPTIONS = { nodes: 3, dataDir: '/tmp/plan', host: '127.0.0.1', httpBase: 8080, raftBase: 7000, controllerBase: 5554, nodeArgs: ['--snapshot-every', '100'] };

describe('planCluster: the argv that starts (and restarts) each node', () => {
  it('runs every node with the V8 memory flags, then the CLI, then the node flags', () => {
    const plan = planCluster(OPTIONS, 'rq-test', '/tmp/plan/secret');
    expect(plan.map((n) => n.id)).toEqual(['Node1', 'Node2', 'Node3']);
    for (const node of plan) {
      expect(node.argv[0]).toBe(process.execPath);
      expect(node.argv.slice(1, 1 + NODE_V8_FLAGS.length)).toEqual(NODE_V8_FLAGS);
      expect(node.argv[1 + NODE_V8_FLAGS.length]).toMatch(/main\.js$/);
      expect(node.argv.slice(-2)).toEqual(['--snapshot-every', '100']);
    }
    expect(plan[1]!.argv).toContain('127.0.0.1:7002');
  });

  it('uses flags this node binary accepts (a bad V8 flag would stop every node at start)', () => {
    const r = spawnSync(process.execPath, [...NODE_V8_FLAGS, '-e', 'process.exit(0)'], { encoding: 'utf8', timeout: 10_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
