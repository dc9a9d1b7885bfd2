/**
 * `npm run bench [-- --only writes,reads --quick --with-etcd --out FILE]`: the benchmarks of
 * SPEC §8 on a 5-node raftquotes cluster (and, with --with-etcd, on a 5-member etcd driven by
 * the same load generator). Prints one JSON line per result, then a summary table; writes the
 * results to bench/results/<date>.json, a chart to docs/bench.svg and the README's table.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { failover, paired, planFor, reads, soak, writes, type BenchPlan, type BenchRecord } from './benchmarks.js';
import { catchUp } from './catchup.js';
import { fanout } from './fanout.js';
import { measureFloor } from './floor.js';
import { FloorSystem } from './floor-pipeline.js';
import { memory } from './memory.js';
import { chartSvg, cpuBudgetTable, cpuTable, floorTable, floorText, markdownTable, pairedTable, summarize, summaryRows, textTable, updateReadme, writesTable } from './report.js';
import { EtcdSystem, RaftquotesSystem, REPO_ROOT, type BenchSystem } from './systems.js';

const ALL = ['writes', 'reads', 'failover', 'memory', 'catchup', 'fanout', 'soak', 'floor'] as const;
type BenchName = (typeof ALL)[number];
/** The benchmarks that also run against etcd. */
const ETCD_BENCHES: BenchName[] = ['writes', 'reads', 'failover'];

interface Options {
  only?: string;
  quick?: boolean;
  withEtcd?: boolean;
  out?: string;
  readme: boolean;
  chart: string;
  fill?: string;
  from?: string;
}

const records: BenchRecord[] = [];
function emit(record: BenchRecord): void {
  records.push(record);
  process.stdout.write(`${JSON.stringify(record)}\n`);
}
function say(message: string): void {
  process.stderr.write(`# ${message}\n`);
}

/** Runs `body` on a freshly started system and always stops it (every process by pid). */
const running = new Set<BenchSystem>();
async function withSystem<S extends BenchSystem>(system: S, body: (s: S) => Promise<void>): Promise<void> {
  say(`starting ${system.name}`);
  running.add(system);
  try {
    await system.start();
    await body(system);
  } finally {
    await system.stop();
    running.delete(system);
  }
}

/** Stops every process this run started, then exits (Ctrl-C, or the overall deadline). */
function abort(code: number, why: string): void {
  say(`${why}: stopping the clusters`);
  for (const system of running) system.abort();
  process.exit(code);
}

/** Each benchmark in its own try: one failing does not lose the others' numbers. */
async function step(name: string, run: () => Promise<void>): Promise<void> {
  const started = Date.now();
  say(`${name}…`);
  try {
    await run();
    say(`${name} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    say(`${name} FAILED: ${(err as Error).stack ?? err}`);
    emit({ bench: name, system: 'error', error: (err as Error).message });
  }
}

async function runRaftquotes(selected: Set<BenchName>, plan: BenchPlan): Promise<void> {
  const has = (b: BenchName): boolean => selected.has(b);
  if (has('memory') || has('writes') || has('reads') || has('fanout') || has('failover') || has('soak') || has('catchup')) {
    // Default settings (snapshot every 10,000 entries): memory first, on fresh processes.
    await withSystem(new RaftquotesSystem(), async (rq) => {
      if (has('memory')) await step('memory', () => memory(rq, plan, emit));
      if (has('writes')) await step('writes', () => writes(rq, plan, emit));
      if (has('reads')) await step('reads', () => reads(rq, plan, emit));
      if (has('fanout')) await step('fanout', () => fanout(rq, plan, emit));
      if (has('catchup')) await step('catch-up via InstallSnapshot, after the other benchmarks', () => catchUp(rq, plan, 'snapshot', emit, 'after-other-benchmarks'));
      if (has('failover')) await step('failover', () => failover(rq, plan, emit));
      if (has('soak')) await step('soak', () => soak(rq, plan, emit));
    });
  }
  if (has('catchup')) {
    // Issue 19's case: an image of the state of exactly the fill's 100,000 writes.
    await withSystem(new RaftquotesSystem(), async (rq) => {
      await step('catch-up via InstallSnapshot', () => catchUp(rq, plan, 'snapshot', emit));
    });
    // No compaction, so the 100,000 entries come from the leader's log.
    await withSystem(new RaftquotesSystem(5, ['--snapshot-every', '10000000']), async (rq) => {
      await step('catch-up via the log', () => catchUp(rq, plan, 'log', emit));
    });
  }
}

async function runEtcd(selected: Set<BenchName>, plan: BenchPlan): Promise<void> {
  const version = EtcdSystem.ensureInstalled(say);
  if (!version) {
    say('etcd could not be installed: etcd comparison skipped');
    emit({ bench: 'etcd', system: 'etcd', skipped: true, reason: 'etcd not installed and apt-get failed' });
    return;
  }
  emit({ bench: 'etcd', system: 'etcd', version });
  await withSystem(new EtcdSystem(), async (etcd) => {
    if (selected.has('writes')) await step('etcd writes', () => writes(etcd, plan, emit));
    if (selected.has('reads')) await step('etcd reads', () => reads(etcd, plan, emit));
    if (selected.has('failover')) await step('etcd failover', () => failover(etcd, plan, emit));
  });
  if (selected.has('writes') || selected.has('reads')) {
    // The floor pipelines (bench/floor-pipeline.ts) take the write rows' rounds too: what the least
    // work reaches against etcd, in the same rounds as raftquotes.
    await withSystem(new RaftquotesSystem(), (rq) =>
      withSystem(new EtcdSystem(), (etcd) =>
        withSystem(new FloorSystem('spec'), (specFloor) =>
          withSystem(new FloorSystem('file'), (fileFloor) => step('paired rounds, raftquotes, etcd and the floors alternating', () => paired([rq, etcd, specFloor, fileFloor], plan, emit))),
        ),
      ),
    );
  }
}

/** The idle clusters' CPU as this run measured it before the paired rounds (bench 'idle-cpu'), or the last measured values. */
function idleText(): string {
  const percent = (system: string, fallback: number): number => {
    const cores = (records.find((r) => r.bench === 'idle-cpu' && r.system === system) as { cores?: number } | undefined)?.cores;
    return Math.round((cores ?? fallback) * 100);
  };
  return `idle raftquotes uses ~${percent('raftquotes', 0.13)} % of one core (10 ms ticks on 5 nodes), idle etcd ~${percent('etcd', 0.06)} %`;
}

function report(options: Options, plan: BenchPlan, selected: BenchName[], startedAt: Date): void {
  const rows = summarize(records);
  const table = summaryRows(rows);
  const detail = writesTable(records);
  const headline = pairedTable(records);
  const cpu = cpuTable(records);
  const budget = cpuBudgetTable(records, cpus().length);
  const floors = floorTable(records);
  const hasPaired = headline.length > 1;
  process.stdout.write(`\n${textTable(detail)}\n\n${textTable(table)}\n`);
  if (hasPaired) process.stdout.write(`\n${textTable(headline)}\n\n${textTable(floors)}\n\n${textTable(cpu)}\n\n${textTable(budget)}\n`);
  if (!options.withEtcd) process.stdout.write('\netcd: skipped (run with --with-etcd for the side-by-side ratios)\n');
  const stamp = startedAt.toISOString().replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
  const out = options.out ?? join(REPO_ROOT, 'bench/results', `${stamp}.json`);
  mkdirSync(dirname(out), { recursive: true });
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
  writeFileSync(out, `${JSON.stringify({ startedAt: startedAt.toISOString(), mode: plan.quick ? 'quick' : 'full', benches: selected, withEtcd: Boolean(options.withEtcd), machine, plan, summary: rows, records }, null, 2)}\n`);
  say(`results written to ${out}`);
  if (!records.some((r) => r.bench === 'writes')) return;
  const title = `raftquotes${options.withEtcd ? ' vs etcd' : ''}: 5 nodes on loopback, ${machine.cpus} cores (${startedAt.toISOString().slice(0, 10)}, ${plan.quick ? 'quick' : 'full'} run)`;
  const chartPath = join(REPO_ROOT, options.chart);
  mkdirSync(dirname(chartPath), { recursive: true });
  writeFileSync(chartPath, chartSvg(records, title));
  say(`chart written to ${chartPath}`);
  if (!options.readme) return;
  const body = [
    `\`npm run bench\` (code in \`bench/\`; \`-- --quick\`, \`-- --only writes,reads\`, \`-- --with-etcd\`). Every benchmark prints JSON lines, then a summary; the results go to \`bench/results/<date>.json\`. One in-process closed-loop HTTP load generator drives both systems (raw HTTP/1.1 over one keep-alive socket per client, \`bench/raw-http.ts\`: ~30–60 µs of CPU per request, about half of node:http's, on the same 2 cores as the clusters); etcd ${options.withEtcd ? `is a 5-member etcd (Debian etcd-server) on loopback, written through its v3 JSON gateway. Each benchmark runs one system at a time; the *paired* rows then run both clusters side by side${floors.length > 1 ? ' (with the two floor pipelines of `bench/floor-pipeline.ts`, below the headline table)' : ''} and alternate ${plan.pairedRounds ?? 6} rounds of ${plan.pairedSeconds} s per row between them (ABBA order), so that drift in the shared machine hits them alike: writes at 1, 16, 64 and 256 closed-loop clients on the leader and spread over all nodes (client i to the i-th node after the leader: 4 in 5 of those writes are forwarded by a follower, and a single client talks to a follower), and linearizable reads. Before the rounds, each system runs every row's load unmeasured for ${plan.warmupSecondsPerRow} s, and each row's load again for ${plan.rowWarmupSeconds} s right before that row's rounds: a raftquotes node is JavaScript, and V8 compiles its hot paths only after they have run many times, while etcd is compiled ahead of time (on a fresh cluster, 64 readers over all nodes got 4,300 reads/s in their first 5 s and ~11,700 from the 20th s on; 64 writers 1,500 writes/s, then ~3,000 from the 25th s). A user's cluster has been up for hours: the rounds measure that. The idle cluster costs the measured one a little: ${idleText()}` : 'was skipped in this run'}.`,
    '',
    `Latest run: ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${plan.quick ? 'quick' : 'full'} mode, ${machine.cpus} cores (${machine.cpuModel ?? 'unknown CPU'}), Node ${machine.node}. The machine is shared and noisy (±20–30 % between runs): only ratios from the same run mean much.`,
    '',
    ...(hasPaired
      ? [
          'Paired rounds (the headline: medians of alternating rounds in one run; targets from issue 19):',
          '',
          markdownTable(headline),
          '',
          ...floorText(records),
          ...(floors.length > 1
            ? [
                "The floor under each row, in the same rounds (`bench/floor-pipeline.ts`): five processes that do only what a replicated write or a linearizable read cannot skip, answering the same PUTs and GETs from the same load generator. The leader batches what arrived in one event-loop turn, sends it to the 4 followers in one frame, appends it durably, and answers once it is durable on 3 of 5; a follower appends what arrived in one read as one batch and acknowledges it; a write to a follower is forwarded in a frame; the reads of one turn wait for one heartbeat round acked by a majority (ReadIndex), a follower's asked for in one frame. No elections, terms, validation, idempotency, metrics or logs. The *SPEC floor* keeps SPEC.md's storage and peer rules: one SQLite database (WAL, synchronous=FULL) with the log in one transaction per batch and the apply plus the applied index in another, a crc32 on every row, an HMAC on every peer frame. The *file floor* writes each batch to a preallocated file and fdatasyncs it: the least any durable design does here. A target the SPEC floor cannot reach cannot be met by a Raft implementation that keeps the SPEC on this machine.",
                '',
                markdownTable(floors),
                '',
              ]
            : []),
          'CPU per operation by role in the same rounds (median µs of CPU per completed operation, from /proc/<pid>/stat; followers in node order; the load generator is the bench process):',
          '',
          markdownTable(cpu),
          '',
          ...(budget.length > 1
            ? [
                `What each target costs at the CPU per operation of the same rounds: raftquotes' idle cores (measured with both clusters up and unloaded) plus the target's ops/s times the rest of its CPU per operation, summed over every process (nodes and load generator), is the cores it needs; there are the machine's ${cpus().length}, less what the idle etcd uses. The leader's share must also fit its one JavaScript thread. A target that needs more cores than there are cannot be met by scheduling, batching or pipelining alone: every operation would first have to cost less than "µs/op the target allows".`,
                '',
                markdownTable(budget),
                '',
              ]
            : []),
        ]
      : []),
    markdownTable(table),
    '',
    markdownTable(detail),
    '',
    `![throughput and p99 latency vs concurrency](${options.chart})`,
  ].join('\n');
  updateReadme(join(REPO_ROOT, 'README.md'), body);
  say('README benchmark section updated');
}

async function main(): Promise<void> {
  const program = new Command()
    .name('bench')
    .description('raftquotes benchmarks (SPEC §8)')
    .option('--only <list>', `comma-separated subset of: ${ALL.join(', ')}`)
    .option('--quick', 'shorter runs (3 s per load level, 5 failover trials, 20 s soak)')
    .option('--with-etcd', 'also run writes, reads and failover against a 5-member etcd (installed from Debian if missing)')
    .option('--out <file>', 'results file (default bench/results/<date>.json)')
    .option('--no-readme', 'do not update the README benchmark section')
    .option('--fill <n>', 'writes for the memory and catch-up benchmarks (default 100000; smaller only for smoke runs)')
    .option('--from <results.json>', 'run nothing: redo the table, chart and README from a results file')
    .option('--chart <file>', 'SVG chart path, relative to the repo', 'docs/bench.svg')
    .parse();
  const options = program.opts<Options>();
  const selected = options.only ? options.only.split(',').map((s) => s.trim()).filter(Boolean) : [...ALL];
  for (const name of selected) if (!(ALL as readonly string[]).includes(name)) program.error(`--only: unknown benchmark "${name}" (one of ${ALL.join(', ')})`);
  const plan = planFor(Boolean(options.quick));
  if (options.fill !== undefined) {
    plan.fillCount = Number(options.fill);
    if (!Number.isInteger(plan.fillCount) || plan.fillCount < 1) program.error(`--fill: expected a positive integer, got "${options.fill}"`);
  }
  const set = new Set(selected as BenchName[]);
  if (options.from) {
    const saved = JSON.parse(readFileSync(options.from, 'utf8')) as { startedAt: string; mode: string; benches: BenchName[]; withEtcd: boolean; plan: BenchPlan; records: BenchRecord[] };
    records.push(...saved.records);
    report({ ...options, withEtcd: saved.withEtcd, out: options.from }, saved.plan, saved.benches, new Date(saved.startedAt));
    return;
  }
  const startedAt = new Date();
  const timer = setTimeout(() => abort(3, 'the whole run exceeded 60 minutes'), 60 * 60_000);
  timer.unref();
  process.on('SIGINT', () => abort(130, 'SIGINT'));
  process.on('SIGTERM', () => abort(143, 'SIGTERM'));
  await runRaftquotes(set, plan);
  if (options.withEtcd && ETCD_BENCHES.some((b) => set.has(b))) await runEtcd(set, plan);
  else say('etcd skipped (run with --with-etcd for the side-by-side ratios)');
  // Last, after every cluster is stopped: the machine as quiet as the paired rounds had it.
  if (set.has('floor')) await step('floor of one write', async () => emit({ bench: 'floor', system: 'machine', ...(await measureFloor()) }));
  report(options, plan, selected as BenchName[], startedAt);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    say(`bench failed: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
