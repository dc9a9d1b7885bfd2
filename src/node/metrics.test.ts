import { describe, expect, it } from 'vitest';
import { RaftCore, SeededPrng } from '@raftquotes/raft';
import { NodeMetrics } from './metrics.js';

/** The value of an unlabelled-but-for-node sample in Prometheus text. */
function sample(text: string, name: string): number {
  const match = new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text);
  if (!match?.[1]) throw new Error(`no ${name} in:\n${text}`);
  return Number(match[1]);
}

describe('NodeMetrics core gauges', () => {
  it('show the core as it is when scraped, with no update after each Ready', async () => {
    const metrics = new NodeMetrics('a', { processMetrics: false });
    const core = new RaftCore({ id: 'a', voters: ['a'], electionTicks: 10, heartbeatTicks: 1 }, new SeededPrng(1));
    let applied = 0;
    metrics.watchCore(core, () => applied);
    const before = await metrics.registry.metrics();
    expect(sample(before, 'raft_is_leader')).toBe(0);
    expect(sample(before, 'raft_term')).toBe(0);

    core.campaign(false);
    const { index } = core.propose('{"op":"put","key":"k","value":1}') as { index: number };
    applied = index;
    const after = await metrics.registry.metrics();
    expect(sample(after, 'raft_is_leader')).toBe(1);
    expect(sample(after, 'raft_term')).toBe(core.term);
    expect(sample(after, 'raft_last_index')).toBe(index);
    expect(sample(after, 'raft_applied_index')).toBe(index);
  });
});
