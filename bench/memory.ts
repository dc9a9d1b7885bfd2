/**
 * SPEC §8 "resident memory per node, after 100,000 writes" (issue 19: ≤ 80 MB per node).
 * Measures every node idle, after fillCount writes, and after the next snapshot, each with the
 * split of its RSS into anonymous memory (heap, SQLite cache, malloc) and file-backed pages
 * (the node binary, shared by all nodes), so a regression shows where it comes from.
 *
 *   npx tsx bench/memory.ts [--fill 100000]     (standalone: its own 5-node cluster)
 */
import { readFileSync } from 'node:fs';
import { fill, runIfMain, VALUE_100 } from './load.js';
import { sleep } from '../test/support/wait.js';
import { HEAP_TRIM_QUIET_MS } from '../src/cli/heap-trim.js';
import type { BenchPlan, Emit } from './benchmarks.js';
import { rssOf, RaftquotesSystem } from './systems.js';

/** The issue-19 target: RSS of each node after 100,000 writes. */
export const MEMORY_TARGET_MB = 80;
/**
 * Quiet time before each reading: what a node holds once a burst is over, not in its last
 * millisecond (a node gives its dead heap back after HEAP_TRIM_QUIET_MS of quiet, one minute:
 * src/cli/heap-trim.ts). The peak during the writes is reported beside it (peakMb, the
 * kernel's high-water mark).
 */
export const MEMORY_SETTLE_MS = HEAP_TRIM_QUIET_MS + 5_000;
/** Bound on the 100,000 writes: a loaded 2-core machine has taken over 300 s. */
const FILL_DEADLINE_MS = 900_000;


interface NodeMemory {
  node: number;
  rssMb: number;
  peakMb: number;
  privateMb: number;
  pssMb: number;
  anonMb: number;
  fileMb: number;
  /** V8's committed heap, its live part and external memory (the node's /metrics); the rest of anonMb is malloc, stacks and code. */
  heapTotalMb?: number;
  heapUsedMb?: number;
  externalMb?: number;
}

/** RssAnon / RssFile of a process from /proc (Linux); NaN elsewhere. */
function rssSplit(pid: number): { anonMb: number; fileMb: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const mb = (field: string): number => Math.round(Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 102.4) / 10;
    return { anonMb: mb('RssAnon'), fileMb: mb('RssFile') };
  } catch {
    return { anonMb: NaN, fileMb: NaN };
  }
}

/** The V8 heap figures of a node's /metrics, in MB; none when it does not answer in time. */
async function heapOf(system: RaftquotesSystem, node: number): Promise<Pick<NodeMemory, 'heapTotalMb' | 'heapUsedMb' | 'externalMb'>> {
  try {
    const res = await fetch(`${system.url(node)}/metrics`, { signal: AbortSignal.timeout(2_000) });
    const text = await res.text();
    const mb = (name: string): number => Math.round(Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 104_857.6) / 10;
    return { heapTotalMb: mb('nodejs_heap_size_total_bytes'), heapUsedMb: mb('nodejs_heap_size_used_bytes'), externalMb: mb('nodejs_external_memory_bytes') };
  } catch {
    return {};
  }
}

/** RSS of every node first (the reading itself allocates in the node), then its heap figures. */
async function memoryOfAll(system: RaftquotesSystem): Promise<Array<NodeMemory | null>> {
  const rss = Array.from({ length: system.size }, (_, i) => {
    const pid = system.pid(i);
    const r = rssOf(pid);
    return r && pid ? { node: i + 1, ...r, ...rssSplit(pid) } : null;
  });
  return Promise.all(rss.map(async (r, i) => (r ? { ...r, ...(await heapOf(system, i)) } : null)));
}

function summary(nodes: Array<NodeMemory | null>): Record<string, number | boolean> {
  const maxRssMb = Math.max(...nodes.map((r) => r?.rssMb ?? 0));
  return { maxRssMb, maxPrivateMb: Math.max(...nodes.map((r) => r?.privateMb ?? 0)), maxAnonMb: Math.max(...nodes.map((r) => r?.anonMb ?? 0)), targetMb: MEMORY_TARGET_MB, met: maxRssMb <= MEMORY_TARGET_MB };
}

/** RSS of every node idle, after fillCount writes (distinct keys), and after the next snapshot. */
export async function memory(system: RaftquotesSystem, plan: BenchPlan, emit: Emit): Promise<void> {
  const leader = await system.leader();
  await sleep(MEMORY_SETTLE_MS);
  const idle = await memoryOfAll(system);
  emit({ bench: 'memory', system: system.name, phase: 'idle', ...summary(idle), nodes: idle });
  const filled = await fill({ clients: 256, count: plan.fillCount, targetOf: () => system.target(leader), requestOf: (n) => system.put(`m${n}`, VALUE_100), deadlineMs: FILL_DEADLINE_MS });
  await sleep(MEMORY_SETTLE_MS);
  const after = await memoryOfAll(system);
  emit({ bench: 'memory', system: system.name, phase: 'after-writes', writes: filled.done, errors: filled.errors, fillSeconds: filled.seconds, ...summary(after), nodes: after });
  const before = await Promise.all(system.nodes.map((_, i) => system.status(i, 5_000).then((s) => s.snapshotIndex as number)));
  let extra = 0;
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    const now = await Promise.all(system.nodes.map((_, i) => system.status(i).then((s) => s.snapshotIndex as number).catch(() => 0)));
    if (now.every((s, i) => s > (before[i] as number))) break;
    const r = await fill({ clients: 64, count: 1000, targetOf: () => system.target(leader), requestOf: (n) => system.put(`m${plan.fillCount + extra + n}`, VALUE_100), deadlineMs: 30_000 });
    extra += r.done;
  }
  await sleep(MEMORY_SETTLE_MS);
  const snap = await memoryOfAll(system);
  emit({ bench: 'memory', system: system.name, phase: 'after-snapshot', extraWrites: extra, ...summary(snap), nodes: snap });
}

async function standalone(): Promise<void> {
  const fillAt = process.argv.indexOf('--fill');
  const fillCount = fillAt > 0 ? Number(process.argv[fillAt + 1]) : 100_000;
  const { planFor } = await import('./benchmarks.js');
  const plan = { ...planFor(true), fillCount };
  const rq = new RaftquotesSystem();
  try {
    await rq.start();
    await memory(rq, plan, (r) => process.stdout.write(`${JSON.stringify(r)}\n`));
  } finally {
    await rq.stop();
  }
}

runIfMain(import.meta.url, standalone);
