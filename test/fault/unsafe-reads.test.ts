import { describe, expect, it } from 'vitest';
import { runStaleReadScenario } from './scenario-stale-read.js';

/**
 * Issue 7, "a deliberately broken build is caught by the checker". The debug-only switch
 * RAFTQUOTES_UNSAFE_LOCAL_READS=1 makes every node answer linearizable reads from its
 * local state, without ReadIndex (src/node/raft-node.ts readBarrier). The same arranged
 * partition scenario runs against the broken build and the real one: the checker must
 * flag the first and pass the second, so the verdict comes from the switch, not from the
 * scenario. Ports 19400-19599 (HTTP 19400+i, Raft 19450+i, controller 19500+i); no other
 * test uses them.
 */
const PORTS = { httpBase: 19400, raftBase: 19450, controllerBase: 19500 };
const SCENARIO_TIMEOUT_MS = 120_000;

describe('the checker catches a broken build (followers serving reads without ReadIndex)', () => {
  it('reports the stale read of a minority follower as not linearizable when the unsafe switch is on', async () => {
    const run = await runStaleReadScenario(PORTS, { RAFTQUOTES_UNSAFE_LOCAL_READS: '1' });
    const context = `${run.log.join('\n')}\n${run.report.sections.map((s) => `${s.name}: ${s.ok}`).join('\n')}`;
    // The broken follower answered at once from its own state: the value before the partition.
    expect(run.minorityRead?.outcome, context).toBe('ok');
    expect(run.minorityRead?.output, context).toBe('v1');
    expect(run.report.linearizable, context).toBe(false);
    expect(run.report.ok).toBe(false);
    expect(run.report.failure?.key).toBe('k');
    // The explanation names the stale read and the write it should have seen.
    expect(run.report.failure?.ops.map((op) => op.id)).toContain(run.minorityRead?.id);
    expect(run.report.failure?.explanation, context).toMatch(/v2|stale/);
    // Everything else holds: only the read path is broken.
    expect(run.report.lostWrites).toBe(0);
    const others = run.report.sections.filter((s) => !s.name.startsWith('linearizability') && !s.name.startsWith('no lost'));
    expect(others.filter((s) => s.ok !== true).map((s) => `${s.name}: ${s.problems.join('; ')}`)).toEqual([]);
  }, SCENARIO_TIMEOUT_MS);

  it('passes the same scenario on the real build: the minority follower cannot confirm the read', async () => {
    const run = await runStaleReadScenario(PORTS, {});
    const context = `${run.log.join('\n')}\n${run.report.sections.map((s) => `${s.name}: ${s.ok} ${s.problems.join('; ')}`).join('\n')}`;
    // No stale value: the read timed out (504) or was refused (503), never "v1".
    expect(run.minorityRead?.outcome === 'ok' ? run.minorityRead.output : 'no answer', context).not.toBe('v1');
    expect(run.report.linearizable, context).toBe(true);
    expect(run.report.ok, context).toBe(true);
  }, SCENARIO_TIMEOUT_MS);
});
