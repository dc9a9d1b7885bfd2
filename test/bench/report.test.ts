import { describe, expect, it } from 'vitest';
import type { BenchRecord } from '../../bench/benchmarks.js';
import { summarize, writesTable } from '../../bench/report.js';

const records: BenchRecord[] = [
  { bench: 'writes', system: 'raftquotes', placement: 'leader', clients: 64, opsPerSec: 6000, p99Ms: 20 },
  { bench: 'writes', system: 'etcd', placement: 'leader', clients: 64, opsPerSec: 4000, p99Ms: 30 },
  { bench: 'paired', system: 'raftquotes', kind: 'write', clients: 64, rounds: 6, opsPerSec: 5000, p99Ms: 40, minOpsPerSec: 4000, maxOpsPerSec: 5500, errors: 0 },
  { bench: 'paired', system: 'etcd', kind: 'write', clients: 64, rounds: 6, opsPerSec: 2000, p99Ms: 35, minOpsPerSec: 1900, maxOpsPerSec: 2100, errors: 0 },
  { bench: 'paired', system: 'raftquotes', kind: 'linearizable-read', clients: 64, rounds: 6, opsPerSec: 9000, p99Ms: 9, minOpsPerSec: 8000, maxOpsPerSec: 9500, errors: 0 },
  { bench: 'memory', system: 'raftquotes', phase: 'after-writes', writes: 100000, maxRssMb: 98.5, maxPrivateMb: 54.3 },
];

describe('bench report: the summary rows and their target checks', () => {
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
