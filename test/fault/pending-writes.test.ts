import { describe, expect, it } from 'vitest';
import { runGracefulStopScenario } from './scenario-graceful-stop.js';
import { runPendingWritesScenario } from './scenario-pending-writes.js';

/**
 * Found by the fault harness (campaign seed 105: two writes answered 503 `unavailable` were
 * read back later): a leader shut down (or stopped) with writes pending answered them 503,
 * "not applied", although they were in its log, on a follower, and committed by the next
 * leader. A client retrying such a 503 without an Idempotency-Key writes twice. The writes
 * must be answered 504 timeout ("may or may not have been applied", SPEC §3).
 * Ports 19550-19579 (HTTP 19550+i, Raft 19560+i, controller 19570+i).
 */
const PORTS = { httpBase: 19550, raftBase: 19560, controllerBase: 19570 };

describe('writes pending on a leader that is shut down', () => {
  it('are never answered "not applied" (503) when the next leader commits them', async () => {
    const run = await runPendingWritesScenario(PORTS);
    const context = run.log.join('\n');
    // The scenario happened: writes left pending on the old leader were committed by the new one.
    const pendingApplied = run.writes.filter((w) => w.status !== 200 && w.applied);
    expect(pendingApplied.length, context).toBeGreaterThan(0);
    // None of the applied writes was answered with a definite "not applied".
    expect(run.writes.filter((w) => w.applied && w.status === 503).map((w) => `${w.key}: 503 ${w.error}`), context).toEqual([]);
    // They were answered "outcome unknown" (or the client gave up waiting).
    for (const w of pendingApplied) expect([504, 'timeout', 'broken'], context).toContain(w.status);
  }, 120_000);

  it('are never answered 503 when the leader is stopped gracefully (SIGTERM) under write load', async () => {
    const run = await runGracefulStopScenario(PORTS);
    const context = run.log.join('\n');
    // The stop happened under load: some writes were cut off by it.
    expect(run.writes.filter((w) => w.status !== 200).length, context).toBeGreaterThan(0);
    expect(run.appliedDespite503.map((w) => `${w.key}: 503 ${w.error}`), context).toEqual([]);
  }, 120_000);
});
