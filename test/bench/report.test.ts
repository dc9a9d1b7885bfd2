import { describe, expect, it } from 'vitest';
import type { BenchRecord } from '../../bench/benchmarks.js';
import { cpuBudgetTable, cpuTable, floorTable, floorText, pairedTable, pairedTarget, summarize, summaryRows, writesTable } from '../../bench/report.js';

const records: BenchRecord[] = [
  { bench: 'writes', system: 'raftquotes', placement: 'leader', clients: 64, opsPerSec: 6000, p99Ms: 20 },
  { bench: 'writes', system: 'etcd', placement: 'leader', clients: 64, opsPerSec: 4000, p99Ms: 30 },
  { bench: 'paired', system: 'raftquotes', kind: 'write', clients: 64, rounds: 6, opsPerSec: 5000, p99Ms: 40, minOpsPerSec: 4000, maxOpsPerSec: 5500, errors: 0 },
  { bench: 'paired', system: 'etcd', kind: 'write', clients: 64, rounds: 6, opsPerSec: 2000, p99Ms: 35, minOpsPerSec: 1900, maxOpsPerSec: 2100, errors: 0 },
  { bench: 'paired', system: 'raftquotes', kind: 'linearizable-read', clients: 64, rounds: 6, opsPerSec: 9000, p99Ms: 9, minOpsPerSec: 8000, maxOpsPerSec: 9500, errors: 0 },
  { bench: 'memory', system: 'raftquotes', phase: 'after-writes', writes: 100000, maxRssMb: 98.5, maxPrivateMb: 54.3 },
];

describe('bench report: the summary rows and their target checks', () => {
  it('shows every catch-up and fan-out row with its own target, and the catch-up on the other benchmarks\' state without one', () => {
    const rows = summarize([
      { bench: 'catch-up', system: 'raftquotes', via: 'snapshot', cluster: 'after-other-benchmarks', entriesBehind: 100000, ms: 5339, imageBytes: 62_766_695, leaderSnapshotIndex: 389853 },
      { bench: 'catch-up', system: 'raftquotes', via: 'snapshot', cluster: 'fresh', entriesBehind: 100000, ms: 2105, targetMs: 2500 },
      { bench: 'catch-up', system: 'raftquotes', via: 'log', cluster: 'fresh', entriesBehind: 100000, ms: 2004 },
      { bench: 'fanout', system: 'raftquotes', subscribers: 1000, placement: 'spread', nodes: 5, missing: 0, p50Ms: 16, p99Ms: 36.5 },
      { bench: 'fanout', system: 'raftquotes', subscribers: 10000, placement: 'spread', nodes: 5, missing: 0, p50Ms: 123, p99Ms: 258.8, targetP99Ms: 250 },
      { bench: 'fanout', system: 'raftquotes', subscribers: 10000, placement: 'one-node', nodes: 1, missing: 0, p50Ms: 87, p99Ms: 200.1, targetP99Ms: 250 },
    ]);
    expect(rows.map((r) => [r.metric, r.target, r.met])).toEqual([
      ['catch-up ms, 100,000 entries behind, via InstallSnapshot, on the state the other benchmarks left, a 62.8 MB image of log index 389,853', '–', null],
      ['catch-up ms, 100,000 entries behind, via InstallSnapshot', '≤ 2,500', true],
      ['catch-up ms, 100,000 entries behind, via the log', '≤ 5,000', true],
      ['fan-out p99 ms, 1,000 subscribers spread over 5 nodes (p50 16.0)', '≤ 100', true],
      ['fan-out p99 ms, 10,000 subscribers spread over 5 nodes (p50 123.0)', '≤ 250', false],
      ['fan-out p99 ms, 10,000 subscribers all on one node (p50 87.0)', '≤ 250', true],
    ]);
  });

  it('compares each system block and the paired medians with etcd, against the 2x and p99 targets', () => {
    const rows = summarize(records);
    const row = (prefix: string) => rows.find((r) => r.metric.startsWith(prefix));
    expect(row('writes/s, 64 clients (leader), one block')).toMatchObject({ raftquotes: '6,000', etcd: '4,000', ratio: '1.50×', met: false });
    expect(row('write p99 ms, 64 clients')).toMatchObject({ ratio: '0.67×', met: true });
    expect(row('writes/s, 64 clients, paired')).toMatchObject({ metric: 'writes/s, 64 clients, paired: median of 6 alternating rounds', ratio: '2.50×', met: true });
    expect(row('write p99 ms, 64 clients, paired')).toMatchObject({ raftquotes: '40.0', etcd: '35.0', met: false });
    // A paired kind without its etcd side gives no row rather than a ratio against nothing.
    expect(row('linearizable reads/s, 64 clients, paired')).toBeUndefined();
    expect(row('max RSS per node MB')).toMatchObject({ raftquotes: '98.5', met: false });
  });

  it('lists the paired medians with their range in the detail table', () => {
    const table = writesTable(records);
    expect(table).toContainEqual(['raftquotes', 'write, leader, paired: median of 6 (4,000–5,500)', '64', '5,000', '–', '40.0', '–', '0']);
  });
});

const cpu = (leader: number) => ({ leader, followers: [40, 41, 39, 42], loadGenerator: 30, total: leader + 192 });
const spreadRecords: BenchRecord[] = [
  { bench: 'paired', system: 'raftquotes', kind: 'write', placement: 'leader', clients: 1, rounds: 4, opsPerSec: 900, p50Ms: 1, p99Ms: 2, minOpsPerSec: 850, maxOpsPerSec: 950, errors: 0, cpuUsPerOp: cpu(300) },
  { bench: 'paired', system: 'etcd', kind: 'write', placement: 'leader', clients: 1, rounds: 4, opsPerSec: 700, p50Ms: 1.3, p99Ms: 2.5, minOpsPerSec: 650, maxOpsPerSec: 720, errors: 0, cpuUsPerOp: cpu(500) },
  { bench: 'paired', system: 'raftquotes', kind: 'write', placement: 'spread', clients: 16, rounds: 4, opsPerSec: 1900, p50Ms: 8, p99Ms: 16.5, minOpsPerSec: 1800, maxOpsPerSec: 2000, errors: 0 },
  { bench: 'paired', system: 'etcd', kind: 'write', placement: 'spread', clients: 16, rounds: 4, opsPerSec: 2433, p50Ms: 6, p99Ms: 13.3, minOpsPerSec: 2300, maxOpsPerSec: 2500, errors: 0 },
  { bench: 'paired', system: 'raftquotes', kind: 'write', placement: 'leader', clients: 16, rounds: 4, opsPerSec: 3000, p50Ms: 5, p99Ms: 9, minOpsPerSec: 2900, maxOpsPerSec: 3100, errors: 0 },
  { bench: 'paired', system: 'etcd', kind: 'write', placement: 'leader', clients: 16, rounds: 4, opsPerSec: 2000, p50Ms: 7, p99Ms: 12, minOpsPerSec: 1900, maxOpsPerSec: 2100, errors: 0 },
];

describe('bench report: the paired rows of issue 19 (spread and leader, 1 to 256 clients)', () => {
  it('knows each row\'s target', () => {
    expect(pairedTarget('write', 'leader', 1)).toEqual({ minRatio: 1.5, p99AtMostEtcd: true });
    expect(pairedTarget('write', 'spread', 1)).toEqual({ minRatio: 1.5, p99AtMostEtcd: true });
    expect(pairedTarget('write', 'spread', 64)).toEqual({ minRatio: 2, p99AtMostEtcd: false });
    expect(pairedTarget('write', 'leader', 256)).toEqual({ minRatio: 2, p99AtMostEtcd: true });
    expect(pairedTarget('write', 'leader', 16)).toEqual({ minRatio: null, p99AtMostEtcd: false });
    expect(pairedTarget('linearizable-read', 'spread', 64)).toEqual({ minRatio: 2, p99AtMostEtcd: false });
  });

  it('prints every row with its target and whether it is met; a row below etcd says so', () => {
    const table = pairedTable(spreadRecords);
    expect(table[0]).toEqual(['load', 'etcd ops/s (p99 ms)', 'raftquotes ops/s (p99 ms)', 'raftquotes/etcd', 'target', 'met']);
    expect(table).toContainEqual(['1 client, on the leader', '700 (2.5)', '900 (2.0)', '1.29×', '≥ 1.5× etcd, p99 ≤ etcd', 'NO']);
    expect(table).toContainEqual(['16 clients, spread over all nodes', '2,433 (13.3)', '1,900 (16.5)', '**0.78×** (below etcd)', '≥ 2× etcd', 'NO']);
    expect(table).toContainEqual(['16 clients, on the leader', '2,000 (12.0)', '3,000 (9.0)', '1.50×', '–', '–']);
  });

  it('puts the targeted paired rows in the summary, with p99 rows where p99 is a target', () => {
    const rows = summaryRows(summarize(spreadRecords));
    expect(rows).toContainEqual(['writes/s, 1 client, paired: median of 4 alternating rounds', '900', '700', '1.29×', '≥ 1.5× etcd', 'NO']);
    expect(rows).toContainEqual(['write p99 ms, 1 client, paired (median)', '2.0', '2.5', '0.80×', '≤ etcd', 'yes']);
    expect(rows).toContainEqual(['writes/s, 16 clients spread, paired: median of 4 alternating rounds', '1,900', '2,433', '**0.78×**', '≥ 2× etcd', 'NO (below etcd)']);
    expect(rows.some((r) => r[0]?.startsWith('writes/s, 16 clients, paired'))).toBe(false);
  });

  it('lists CPU per operation by role for both systems, and the spread rows in the detail table', () => {
    expect(cpuTable(spreadRecords)).toContainEqual(['1 client, write, leader', 'raftquotes', '300', '40 / 41 / 39 / 42', '30', '492']);
    expect(cpuTable(spreadRecords)).toContainEqual(['1 client, write, leader', 'etcd', '500', '40 / 41 / 39 / 42', '30', '692']);
    expect(writesTable(spreadRecords)).toContainEqual(['raftquotes', 'write, spread, paired: median of 4 (1,800–2,000)', '16', '1,900', '8.0', '16.5', '–', '0']);
  });
});

describe('bench report: the CPU a target needs at the measured CPU per operation', () => {
  const rq = (kind: string, placement: string, opsPerSec: number, leader: number, total: number): BenchRecord =>
    ({ bench: 'paired', system: 'raftquotes', kind, placement, clients: 64, rounds: 4, opsPerSec, p50Ms: 1, p99Ms: 2, minOpsPerSec: opsPerSec, maxOpsPerSec: opsPerSec, errors: 0, cpuUsPerOp: { leader, followers: [1, 1, 1, 1], loadGenerator: 1, total } });
  const etcd = (kind: string, placement: string, opsPerSec: number): BenchRecord =>
    ({ bench: 'paired', system: 'etcd', kind, placement, clients: 64, rounds: 4, opsPerSec, p50Ms: 1, p99Ms: 2, minOpsPerSec: opsPerSec, maxOpsPerSec: opsPerSec, errors: 0 });

  it('gives each targeted row the cores its target needs, and says whether the machine or one leader thread has them', () => {
    const table = cpuBudgetTable([
      rq('write', 'spread', 1773, 162, 821), etcd('write', 'spread', 1748),
      rq('linearizable-read', 'leader', 11113, 82, 135), etcd('linearizable-read', 'leader', 6222),
      ...spreadRecords,
    ], 2);
    expect(table[0]).toEqual(['load', 'target ops/s', 'raftquotes all µs/op', 'cores the target needs', 'µs/op the target allows', "leader's thread at the target", 'reachable at this CPU per op']);
    // 2 x 1,748 = 3,496 ops/s x 821 µs = 2.87 cores.
    expect(table).toContainEqual(['64 clients, write, spread', '3,496', '821', '2.87', '572', '0.57 cores', 'no: 2.87 cores, 2.00 there']);
    // 2 x 6,222 = 12,444 reads/s: 1.68 cores in all, but 1.02 on the leader.
    expect(table).toContainEqual(['64 clients, linearizable read, leader', '12,444', '135', '1.68', '161', '1.02 cores', 'not on one leader thread (1.02 cores)']);
    // 1.5 x 700 = 1,050 ops/s x 492 µs = 0.52 cores.
    expect(table).toContainEqual(['1 client, write, leader', '1,050', '492', '0.52', '1,905', '0.32 cores', 'yes']);
    // No target (16 on the leader) or no CPU measured (16 spread): no row.
    expect(table).toHaveLength(4);
  });

  it("counts the idle cluster's CPU once per second, not per operation, and leaves out what the idle etcd takes", () => {
    const idle: BenchRecord[] = [{ bench: 'idle-cpu', system: 'raftquotes', cores: 0.13 }, { bench: 'idle-cpu', system: 'etcd', cores: 0.06 }];
    const table = cpuBudgetTable([...idle, rq('write', 'leader', 2369, 198, 556), etcd('write', 'leader', 1832)], 2);
    // 556 µs/op at 2,369 ops/s holds 0.13e6 / 2,369 = 55 µs of idle cost: 0.13 + 3,664 x 501 µs = 1.97
    // cores, where 2 - 0.06 are there; 3,664 ops/s allow (1.94 - 0.13) / 3,664 + 55 = 549 µs/op.
    expect(table[1]).toEqual(['64 clients, write, leader', '3,664', '556', '1.97', '549', '0.73 cores', 'no: 1.97 cores, 1.94 there']);
  });
});

describe('bench report: the floor of one write', () => {
  const floor: BenchRecord = { bench: 'floor', system: 'machine', httpRttMs: 0.05, quorumMs: 1.1, quorumMeanMs: 1.5, commitAloneMs: 0.35, floorMs: 1.15, floorMeanMs: 1.55 };
  const etcd: BenchRecord = { bench: 'paired', system: 'etcd', kind: 'write', placement: 'leader', clients: 1, opsPerSec: 400, p50Ms: 2.2, p99Ms: 8 };

  it('sets the measured floor beside the mean latency that 1.5x etcd at one client needs', () => {
    const text = floorText([etcd, floor]).join('\n');
    expect(text).toContain('**1.15 ms p50, 1.55 ms mean**');
    // 1000 / (1.5 x 400 ops/s) = 1.67 ms.
    expect(text).toContain('400 ops/s on the leader, so 1.5× needs a mean latency of 1.67 ms per write');
  });

  it('says nothing when the run measured no floor, and no need without etcd', () => {
    expect(floorText([etcd])).toEqual([]);
    expect(floorText([floor]).join('\n')).not.toContain('needs a mean');
  });
});

describe('bench report: the floor pipelines against etcd in the same rounds', () => {
  const row = (system: string, kind: string, placement: string, clients: number, opsPerSec: number): BenchRecord =>
    ({ bench: 'paired', system, kind, placement, clients, rounds: 4, opsPerSec, p50Ms: 1, p99Ms: 2, minOpsPerSec: opsPerSec, maxOpsPerSec: opsPerSec, errors: 0 });

  it('says, row by row, whether even the SPEC floor reaches the target, with raftquotes as a share of it', () => {
    const table = floorTable([
      row('raftquotes', 'write', 'leader', 1, 240), row('etcd', 'write', 'leader', 1, 300), row('floor-spec', 'write', 'leader', 1, 420), row('floor-file', 'write', 'leader', 1, 700),
      row('raftquotes', 'write', 'spread', 64, 1800), row('etcd', 'write', 'spread', 64, 1700), row('floor-spec', 'write', 'spread', 64, 3600), row('floor-file', 'write', 'spread', 64, 6000),
      row('raftquotes', 'linearizable-read', 'leader', 64, 12000), row('etcd', 'linearizable-read', 'leader', 64, 5000),
    ]);
    expect(table[0]).toEqual(['load', 'etcd ops/s', 'SPEC floor ops/s', 'file floor ops/s', 'raftquotes ops/s', 'target', 'reachable within the SPEC floor']);
    // 420 / 300 = 1.40x < 1.5x: not even the floor; raftquotes is 240 / 420 = 57 % of it.
    expect(table).toContainEqual(['1 client, write, leader', '300', '420 (1.40×)', '700 (2.33×)', '240 (0.80×) (57 % of the SPEC floor)', '≥ 1.5× etcd, p99 ≤ etcd', '**no**: the floor itself reaches 1.40×']);
    expect(table).toContainEqual(['64 clients, write, spread', '1,700', '3,600 (2.12×)', '6,000 (3.53×)', '1,800 (1.06×) (50 % of the SPEC floor)', '≥ 2× etcd', 'yes']);
    // A row the floors did not run is left out.
    expect(table).toHaveLength(3);
  });

  it('is empty of rows when the run had no floor', () => {
    expect(floorTable([row('raftquotes', 'write', 'leader', 1, 240), row('etcd', 'write', 'leader', 1, 300)])).toHaveLength(1);
  });
});
