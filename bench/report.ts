/**
 * Turning benchmark records into the summary table (targets and raftquotes/etcd ratios), the
 * SVG chart, and the README's benchmark section.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { BenchRecord } from './benchmarks.js';

/** One row of the summary: a measured value, etcd's if measured, and the target check. */
export interface SummaryRow {
  metric: string;
  raftquotes: string;
  etcd: string;
  ratio: string;
  target: string;
  met: boolean | null;
  /** A throughput below etcd's (ratio < 1): said so in the table, never left out. */
  belowEtcd?: boolean;
}

/**
 * Issue 19's target for a paired row: the ratio to etcd's ops/s it must reach (null: none)
 * and whether its p99 must be at most etcd's.
 */
export interface PairedTarget {
  minRatio: number | null;
  p99AtMostEtcd: boolean;
}

export function pairedTarget(kind: string, placement: string, clients: number): PairedTarget {
  if (kind === 'linearizable-read') return { minRatio: 2, p99AtMostEtcd: false };
  if (clients === 1) return { minRatio: 1.5, p99AtMostEtcd: true };
  if (placement === 'spread') return { minRatio: 2, p99AtMostEtcd: false };
  if (clients >= 64) return { minRatio: 2, p99AtMostEtcd: true };
  return { minRatio: null, p99AtMostEtcd: false };
}

/** Old results files have paired records without placement: they were 64 clients on the leader. */
const placementOf = (r: Rec): string => (r.placement as string | undefined) ?? 'leader';
const clientsOf = (r: Rec): number => (r.clients as number | undefined) ?? 64;
const plural = (clients: number): string => `${clients} client${clients === 1 ? '' : 's'}`;

/** The paired medians of both systems, row by row, in the order they ran. */
function pairedPairs(records: BenchRecord[]): Array<{ rq: Rec; etcd: Rec }> {
  const out: Array<{ rq: Rec; etcd: Rec }> = [];
  for (const rq of records.filter((r) => r.bench === 'paired' && r.system === 'raftquotes') as Rec[]) {
    const etcd = (records as Rec[]).find((r) => r.bench === 'paired' && r.system === 'etcd' && r.kind === rq.kind && placementOf(r) === placementOf(rq) && clientsOf(r) === clientsOf(rq));
    if (etcd) out.push({ rq, etcd });
  }
  return out;
}

const ratioText = (r: number | undefined): string => (r === undefined ? '–' : r < 1 ? `**${r.toFixed(2)}×** (below etcd)` : `${r.toFixed(2)}×`);

function targetText(t: PairedTarget): string {
  if (t.minRatio === null) return '–';
  return `≥ ${t.minRatio}× etcd${t.p99AtMostEtcd ? ', p99 ≤ etcd' : ''}`;
}

/**
 * The headline table (README): every paired row with both systems' median ops/s and p99, the
 * ratio, the row's target and whether it is met. A row below etcd says so.
 */
export function pairedTable(records: BenchRecord[]): string[][] {
  const rows: string[][] = [['load', 'etcd ops/s (p99 ms)', 'raftquotes ops/s (p99 ms)', 'raftquotes/etcd', 'target', 'met']];
  for (const { rq, etcd } of pairedPairs(records)) {
    const clients = clientsOf(rq);
    const placement = placementOf(rq) === 'spread' ? 'spread over all nodes' : 'on the leader';
    const load = `${plural(clients)}, ${rq.kind === 'write' ? '' : 'linearizable reads, '}${placement}`;
    const ratio = etcd.opsPerSec ? rq.opsPerSec / etcd.opsPerSec : undefined;
    const target = pairedTarget(rq.kind, placementOf(rq), clients);
    const met = target.minRatio === null || ratio === undefined ? null : ratio >= target.minRatio && (!target.p99AtMostEtcd || rq.p99Ms <= etcd.p99Ms);
    rows.push([load, `${fmt(etcd.opsPerSec)} (${fmt(etcd.p99Ms, 1)})`, `${fmt(rq.opsPerSec)} (${fmt(rq.p99Ms, 1)})`, ratioText(ratio), targetText(target), met === null ? '–' : met ? 'yes' : 'NO']);
  }
  return rows;
}

/**
 * The floor of one write at one client (bench/floor.ts) beside what the 1-client target needs:
 * one closed-loop client's ops/s is 1000 / its mean latency in ms, so 1.5x etcd's ops/s needs
 * a mean of 1000 / (1.5 x etcd's ops/s). Empty when the run measured no floor.
 */
export function floorText(records: BenchRecord[]): string[] {
  const floor = find(records, { bench: 'floor' });
  if (!floor || floor.floorMeanMs === undefined) return [];
  const etcd = (records as Rec[]).find((r) => r.bench === 'paired' && r.system === 'etcd' && r.kind === 'write' && clientsOf(r) === 1 && placementOf(r) === 'leader');
  const need = etcd?.opsPerSec ? ` etcd's 1-client rows ran ${fmt(etcd.opsPerSec)} ops/s on the leader, so 1.5× needs a mean latency of ${fmt(1000 / (1.5 * etcd.opsPerSec), 2)} ms per write.` : '';
  return [
    `Floor of one write at 1 client on this machine, same run (\`bench/floor.ts\`: no Raft, no parsing, no apply): an HTTP round trip to a server that does nothing (${fmt(floor.httpRttMs, 2)} ms) plus a frame to 4 processes and an fsynced SQLite commit on 3 of the 5 (p50 ${fmt(floor.quorumMs, 2)} ms, mean ${fmt(floor.quorumMeanMs, 2)} ms; one commit alone ${fmt(floor.commitAloneMs, 2)} ms): **${fmt(floor.floorMs, 2)} ms p50, ${fmt(floor.floorMeanMs, 2)} ms mean**.${need}`,
    '',
  ];
}

/**
 * What the floor pipeline (bench/floor-pipeline.ts) reaches against etcd in the same rounds, row
 * by row, beside raftquotes: a target the SPEC floor cannot reach cannot be met by any Raft
 * implementation that keeps SPEC.md's storage and peer rules on this machine; one that only the
 * file floor reaches needs a storage design the SPEC does not allow. Empty without floor rows.
 */
export function floorTable(records: BenchRecord[]): string[][] {
  const rows: string[][] = [['load', 'etcd ops/s', 'SPEC floor ops/s', 'file floor ops/s', 'raftquotes ops/s', 'target', 'reachable within the SPEC floor']];
  const paired = (system: string, like: Rec): Rec | undefined =>
    (records as Rec[]).find((r) => r.bench === 'paired' && r.system === system && r.kind === like.kind && placementOf(r) === placementOf(like) && clientsOf(r) === clientsOf(like));
  for (const etcd of (records as Rec[]).filter((r) => r.bench === 'paired' && r.system === 'etcd')) {
    const spec = paired('floor-spec', etcd);
    const file = paired('floor-file', etcd);
    const rq = paired('raftquotes', etcd);
    if (!spec || !etcd.opsPerSec) continue;
    const times = (r: Rec | undefined): string => (r ? `${fmt(r.opsPerSec)} (${(r.opsPerSec / etcd.opsPerSec).toFixed(2)}×)` : '–');
    const target = pairedTarget(etcd.kind, placementOf(etcd), clientsOf(etcd));
    const specRatio = spec.opsPerSec / etcd.opsPerSec;
    const verdict = target.minRatio === null ? '–' : specRatio >= target.minRatio ? 'yes' : `**no**: the floor itself reaches ${specRatio.toFixed(2)}×`;
    const ofFloor = rq ? ` (${Math.round((100 * rq.opsPerSec) / spec.opsPerSec)} % of the SPEC floor)` : '';
    rows.push([loadOf(etcd), fmt(etcd.opsPerSec), times(spec), times(file), rq ? `${times(rq)}${ofFloor}` : '–', targetText(target), verdict]);
  }
  return rows;
}

/** A paired row's load as the CPU tables name it: "64 clients, write, spread". */
const loadOf = (r: Rec): string => `${plural(clientsOf(r))}, ${r.kind === 'write' ? 'write' : 'linearizable read'}, ${placementOf(r)}`;

/** CPU per operation by role in the paired rounds (median over rounds), both systems. */
export function cpuTable(records: BenchRecord[]): string[][] {
  const rows: string[][] = [['load', 'system', 'leader µs/op', 'followers µs/op', 'load generator µs/op', 'all µs/op']];
  for (const r of records.filter((x) => x.bench === 'paired' && x.cpuUsPerOp) as Rec[]) {
    const cpu = r.cpuUsPerOp as { leader: number | null; followers: Array<number | null>; loadGenerator: number; total: number };
    rows.push([loadOf(r), r.system, fmt(cpu.leader), cpu.followers.map((f) => fmt(f)).join(' / '), fmt(cpu.loadGenerator), fmt(cpu.total)]);
  }
  return rows;
}


/**
 * What each targeted paired row's target costs in CPU, at the CPU per operation this run
 * measured for raftquotes (issue 19's "the floor it implies"): ops/s can never exceed the
 * cores there are divided by the CPU one operation takes, summed over every process (nodes and
 * load generator), nor the leader's one JavaScript thread divided by the leader's share.
 * With the paired rounds' idle measurement (bench 'idle-cpu'), a row's CPU per operation is
 * split into raftquotes' idle cost per second (ticks and heartbeats, which do not grow with
 * the load) and the rest, which does; and the idle etcd cluster, up through every round, is
 * taken off the machine's cores. A target that needs more cores than are left cannot be met
 * without first taking that much CPU out of every operation, whatever the scheduling; one
 * that needs more than one core on the leader cannot be met while its work runs on one thread.
 */
export function cpuBudgetTable(records: BenchRecord[], machineCores: number): string[][] {
  const idle = (system: string): number => ((records as Rec[]).find((r) => r.bench === 'idle-cpu' && r.system === system)?.cores as number | undefined) ?? 0;
  const cores = machineCores - idle('etcd');
  const rows: string[][] = [['load', 'target ops/s', 'raftquotes all µs/op', 'cores the target needs', 'µs/op the target allows', "leader's thread at the target", 'reachable at this CPU per op']];
  for (const { rq, etcd } of pairedPairs(records)) {
    const target = pairedTarget(rq.kind, placementOf(rq), clientsOf(rq));
    const cpu = rq.cpuUsPerOp as { leader: number | null; total: number } | undefined;
    if (target.minRatio === null || !cpu || !etcd.opsPerSec || !rq.opsPerSec) continue;
    const targetOps = target.minRatio * etcd.opsPerSec;
    const idleUsPerOp = (idle('raftquotes') * 1e6) / rq.opsPerSec;
    const needed = idle('raftquotes') + (targetOps * (cpu.total - idleUsPerOp)) / 1e6;
    const leaderCores = cpu.leader === null ? null : (targetOps * cpu.leader) / 1e6;
    const verdict = needed > cores ? `no: ${fmt(needed, 2)} cores, ${fmt(cores, 2)} there` : leaderCores !== null && leaderCores > 1 ? `not on one leader thread (${fmt(leaderCores, 2)} cores)` : 'yes';
    const allowed = ((cores - idle('raftquotes')) * 1e6) / targetOps + idleUsPerOp;
    rows.push([loadOf(rq), fmt(targetOps), fmt(cpu.total), fmt(needed, 2), fmt(allowed), leaderCores === null ? '–' : `${fmt(leaderCores, 2)} cores`, verdict]);
  }
  return rows;
}

type Rec = BenchRecord & Record<string, any>;

/** SPEC §8's catch-up time, for a row that has no target of its own (issue 19's is the row's targetMs). */
const CATCHUP_SPEC_TARGET_MS = 5_000;
/** Fan-out p99 target of the 1,000-subscriber row (the 10,000 rows carry issue 19's). */
const FANOUT_1K_TARGET_P99_MS = 100;

/** A catch-up row: the one on the cluster the other benchmarks left is shown without a target (see catchup.ts). */
function catchUpRow(c: Rec): SummaryRow {
  const via = c.via === 'log' ? 'the log' : 'InstallSnapshot';
  if (c.cluster === 'after-other-benchmarks') {
    const image = c.imageBytes ? `, a ${fmt(c.imageBytes / 1e6, 1)} MB image of log index ${fmt(c.leaderSnapshotIndex)}` : '';
    return { metric: `catch-up ms, ${fmt(c.entriesBehind)} entries behind, via ${via}, on the state the other benchmarks left${image}`, raftquotes: fmt(c.ms), etcd: '', ratio: '', target: '–', met: null };
  }
  const target = (c.targetMs as number | undefined) ?? CATCHUP_SPEC_TARGET_MS;
  return { metric: `catch-up ms, ${fmt(c.entriesBehind)} entries behind, via ${via}`, raftquotes: fmt(c.ms), etcd: '', ratio: '', target: `≤ ${fmt(target)}`, met: c.ms <= target };
}

function find(records: BenchRecord[], where: Record<string, unknown>): Rec | undefined {
  return records.find((r) => Object.entries(where).every(([k, v]) => r[k] === v)) as Rec | undefined;
}

const fmt = (n: number | null | undefined, digits = 0): string => (n === undefined || n === null || Number.isNaN(n) ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));

/** The rows of the summary table; `etcdNote` explains an empty etcd column. */
export function summarize(records: BenchRecord[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const ratio = (a?: number, b?: number): number | undefined => (a !== undefined && b ? a / b : undefined);
  /** A throughput row against the 2× target, or a p99 row against "no worse than etcd". */
  const versusEtcd = (metric: string, ours: number, theirs: number | undefined, kind: 'throughput' | 'p99', minRatio = 2): SummaryRow => {
    const r = ratio(ours, theirs);
    const digits = kind === 'p99' ? 1 : 0;
    const row: SummaryRow = { metric, raftquotes: fmt(ours, digits), etcd: fmt(theirs, digits), ratio: r ? `${r.toFixed(2)}×` : '–', target: kind === 'p99' ? '≤ etcd' : `≥ ${minRatio}× etcd`, met: r === undefined ? null : kind === 'p99' ? r <= 1 : r >= minRatio };
    if (kind === 'throughput' && r !== undefined && r < 1) row.belowEtcd = true;
    return row;
  };
  const w64 = find(records, { bench: 'writes', system: 'raftquotes', placement: 'leader', clients: 64 });
  const e64 = find(records, { bench: 'writes', system: 'etcd', placement: 'leader', clients: 64 });
  if (w64) {
    rows.push(versusEtcd('writes/s, 64 clients (leader), one block per system', w64.opsPerSec, e64?.opsPerSec, 'throughput'));
    rows.push(versusEtcd('write p99 ms, 64 clients', w64.p99Ms, e64?.p99Ms, 'p99'));
  }
  const lr = find(records, { bench: 'reads', system: 'raftquotes', consistency: 'linearizable', placement: 'leader' });
  const le = find(records, { bench: 'reads', system: 'etcd', consistency: 'linearizable', placement: 'leader' });
  if (lr) rows.push(versusEtcd('linearizable reads/s, 64 clients, one block per system', lr.opsPerSec, le?.opsPerSec, 'throughput'));
  for (const { rq: pr, etcd: pe } of pairedPairs(records)) {
    const target = pairedTarget(pr.kind, placementOf(pr), clientsOf(pr));
    if (target.minRatio === null) continue;
    const what = pr.kind === 'write' ? 'writes/s' : 'linearizable reads/s';
    const where = `${plural(clientsOf(pr))}${placementOf(pr) === 'spread' ? ' spread' : ''}`;
    rows.push(versusEtcd(`${what}, ${where}, paired: median of ${pr.rounds} alternating rounds`, pr.opsPerSec, pe.opsPerSec, 'throughput', target.minRatio));
    if (target.p99AtMostEtcd) rows.push(versusEtcd(`${pr.kind === 'write' ? 'write' : 'read'} p99 ms, ${where}, paired (median)`, pr.p99Ms, pe.p99Ms, 'p99'));
  }
  const fr = find(records, { bench: 'failover', system: 'raftquotes' });
  const fe = find(records, { bench: 'failover', system: 'etcd' });
  if (fr) {
    rows.push({ metric: `failover p50 ms (${fr.trials} × kill -9)`, raftquotes: fmt(fr.p50Ms), etcd: fmt(fe?.p50Ms), ratio: fe ? `${(fr.p50Ms / fe.p50Ms).toFixed(2)}×` : '–', target: '≤ 500', met: fr.p50Ms <= 500 });
    rows.push({ metric: 'failover max ms', raftquotes: fmt(fr.maxMs), etcd: fmt(fe?.maxMs), ratio: fe ? `${(fr.maxMs / fe.maxMs).toFixed(2)}×` : '–', target: '≤ 800', met: fr.maxMs <= 800 });
  }
  const soak = find(records, { bench: 'soak', system: 'raftquotes' });
  if (soak) rows.push({ metric: `leader changes in ${soak.seconds} s loaded run`, raftquotes: String(soak.leaderChanges), etcd: '', ratio: '', target: '0', met: soak.leaderChanges === 0 });
  for (const phase of ['after-writes', 'after-snapshot']) {
    const m = find(records, { bench: 'memory', system: 'raftquotes', phase });
    if (m) rows.push({ metric: `max RSS per node MB (private ${fmt(m.maxPrivateMb, 1)}), ${phase === 'after-writes' ? `after ${fmt(m.writes)} writes` : 'after a snapshot'}`, raftquotes: fmt(m.maxRssMb, 1), etcd: '', ratio: '', target: '≤ 80', met: m.maxRssMb <= 80 });
  }
  for (const c of records.filter((r) => r.bench === 'catch-up' && r.system === 'raftquotes') as Rec[]) rows.push(catchUpRow(c));
  for (const fo of records.filter((r) => r.bench === 'fanout' && r.system === 'raftquotes') as Rec[]) {
    const target = (fo.targetP99Ms as number | undefined) ?? FANOUT_1K_TARGET_P99_MS;
    const where = fo.placement === 'one-node' ? 'all on one node' : `spread over ${fmt(fo.nodes)} nodes`;
    rows.push({ metric: `fan-out p99 ms, ${fmt(fo.subscribers)} subscribers ${where} (p50 ${fmt(fo.p50Ms, 1)})`, raftquotes: fmt(fo.p99Ms, 1), etcd: '', ratio: '', target: `≤ ${fmt(target)}`, met: fo.missing === 0 && fo.p99Ms <= target });
  }
  return rows;
}

/** The write-throughput table (all concurrencies and placements). */
export function writesTable(records: BenchRecord[]): string[][] {
  const rows: string[][] = [['system', 'placement', 'clients', 'ops/s', 'p50 ms', 'p99 ms', 'max ms', 'errors']];
  for (const r of records.filter((x) => x.bench === 'writes' || x.bench === 'reads') as Rec[]) {
    const placement = r.bench === 'reads' ? `${r.consistency} read, ${r.placement}` : `write, ${r.placement}`;
    rows.push([r.system, placement, String(r.clients), fmt(r.opsPerSec), fmt(r.p50Ms, 1), fmt(r.p99Ms, 1), fmt(r.maxMs, 1), String(r.errors)]);
  }
  for (const r of records.filter((x) => x.bench === 'paired') as Rec[]) {
    const placement = `${r.kind === 'write' ? 'write' : 'linearizable read'}, ${placementOf(r)}, paired: median of ${r.rounds} (${fmt(r.minOpsPerSec)}–${fmt(r.maxOpsPerSec)})`;
    rows.push([r.system, placement, String(clientsOf(r)), fmt(r.opsPerSec), r.p50Ms === undefined ? '–' : fmt(r.p50Ms, 1), fmt(r.p99Ms, 1), '–', String(r.errors)]);
  }
  return rows;
}

/** A plain-text table for the terminal. */
export function textTable(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ')).join('\n');
}

/** A Markdown table. */
export function markdownTable(rows: string[][]): string {
  const [head, ...body] = rows;
  if (!head) return '';
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function summaryRows(rows: SummaryRow[]): string[][] {
  const met = (r: SummaryRow): string => (r.met === null ? (r.target === '–' ? '–' : '(no etcd)') : r.met ? 'yes' : r.belowEtcd ? 'NO (below etcd)' : 'NO');
  return [['metric', 'raftquotes', 'etcd', 'raftquotes/etcd', 'target', 'met'], ...rows.map((r) => [r.metric, r.raftquotes, r.etcd, r.belowEtcd ? `**${r.ratio}**` : r.ratio, r.target, met(r)])];
}

// ------------------------------------------------------------------------------------ SVG

const COLORS: Record<string, string> = { 'raftquotes leader': '#1f77b4', 'raftquotes spread': '#6baed6', 'etcd leader': '#d62728', 'etcd spread': '#ff9896' };

/** Throughput vs concurrency and p99 latency vs concurrency, two panels, log-x axes. */
export function chartSvg(records: BenchRecord[], title: string): string {
  const series = new Map<string, Array<{ clients: number; ops: number; p99: number; p50: number }>>();
  for (const r of records.filter((x) => x.bench === 'writes') as Rec[]) {
    const name = `${r.system} ${r.placement}`;
    if (!series.has(name)) series.set(name, []);
    // A level with no completed request (e.g. a stall through the whole window) has no latency to draw.
    if (!Number.isFinite(r.p99Ms) || !Number.isFinite(r.opsPerSec) || r.ops === 0) continue;
    series.get(name)?.push({ clients: r.clients, ops: r.opsPerSec, p99: r.p99Ms, p50: r.p50Ms });
  }
  const W = 900;
  const H = 380;
  const panelW = 380;
  const panelH = 260;
  const top = 60;
  const lefts = [70, 530];
  const allClients = [...new Set([...series.values()].flat().map((p) => p.clients))].sort((a, b) => a - b);
  const maxOps = Math.max(1, ...[...series.values()].flat().map((p) => p.ops));
  const maxLat = Math.max(1, ...[...series.values()].flat().map((p) => p.p99));
  const xOf = (left: number, clients: number): number => {
    const i = allClients.indexOf(clients);
    return left + (allClients.length <= 1 ? panelW / 2 : (i / (allClients.length - 1)) * panelW);
  };
  const niceMax = (v: number): number => {
    const p = 10 ** Math.floor(Math.log10(v));
    return Math.ceil(v / p) * p;
  };
  const opsTop = niceMax(maxOps);
  const latTop = niceMax(maxLat);
  const yOf = (value: number, topValue: number): number => top + panelH - (value / topValue) * panelH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`);
  const panels = [
    { left: lefts[0] as number, label: 'writes/s (PUT, 100-byte values)', topValue: opsTop, pick: (p: { ops: number }) => p.ops },
    { left: lefts[1] as number, label: 'p99 latency, ms', topValue: latTop, pick: (p: { p99: number }) => p.p99 },
  ];
  for (const panel of panels) {
    out.push(`<text x="${panel.left + panelW / 2}" y="${top - 12}" text-anchor="middle" font-weight="bold">${panel.label}</text>`);
    for (let g = 0; g <= 4; g++) {
      const v = (panel.topValue * g) / 4;
      const y = yOf(v, panel.topValue);
      out.push(`<line x1="${panel.left}" x2="${panel.left + panelW}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
      out.push(`<text x="${panel.left - 6}" y="${y + 4}" text-anchor="end">${fmt(v)}</text>`);
    }
    for (const c of allClients) out.push(`<text x="${xOf(panel.left, c)}" y="${top + panelH + 16}" text-anchor="middle">${c}</text>`);
    out.push(`<text x="${panel.left + panelW / 2}" y="${top + panelH + 34}" text-anchor="middle">concurrent clients</text>`);
    for (const [name, points] of series) {
      const color = COLORS[name] ?? '#555';
      const sorted = [...points].sort((a, b) => a.clients - b.clients);
      const d = sorted.map((p, i) => `${i === 0 ? 'M' : 'L'}${xOf(panel.left, p.clients).toFixed(1)},${yOf(panel.pick(p), panel.topValue).toFixed(1)}`).join(' ');
      const dash = name.endsWith('spread') ? ' stroke-dasharray="5,4"' : '';
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
      for (const p of sorted) out.push(`<circle cx="${xOf(panel.left, p.clients).toFixed(1)}" cy="${yOf(panel.pick(p), panel.topValue).toFixed(1)}" r="3" fill="${color}"/>`);
    }
  }
  let lx = 70;
  for (const name of series.keys()) {
    const color = COLORS[name] ?? '#555';
    const dash = name.endsWith('spread') ? ' stroke-dasharray="5,4"' : '';
    out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${H - 14}" y2="${H - 14}" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${lx + 30}" y="${H - 10}">${escapeXml(name)}</text>`);
    lx += 190;
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// ------------------------------------------------------------------------------------ README

/** Replaces the body of README's "### Benchmarks" section (up to the next heading of level ≤ 3). */
export function updateReadme(path: string, body: string): void {
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf('\n### Benchmarks\n');
  if (start < 0) throw new Error(`${path}: no "### Benchmarks" section`);
  const bodyStart = start + '\n### Benchmarks\n'.length;
  const rest = text.slice(bodyStart);
  const next = rest.search(/\n#{1,3} /);
  const end = next < 0 ? text.length : bodyStart + next;
  writeFileSync(path, `${text.slice(0, bodyStart)}\n${body.trim()}\n${text.slice(end)}`);
}
