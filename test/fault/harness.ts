import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { REPO_ROOT } from '../support/cluster.js';
import { describeOp, writeTimelineHtml, type FinalRead, type Json, type QuoteLike } from '../../src/checker/index.js';
import { readAllQuotes, Workload, type Target, type WorkloadCounts } from './clients.js';
import { ProcessCluster, sleep, type PortBases } from './harness-cluster.js';
import { renderReport, runChecks, type CheckReport, type NodeKeyState } from './harness-checks.js';
import { httpCall } from './http-client.js';
import { pollStatus, StatusMonitor, type MonitorReport } from './monitor.js';
import { generateSchedule, KNOWN_KINDS, NEMESIS_KINDS, type NemesisKind, type NemesisOptions, type NemesisSchedule } from './nemesis.js';
import type { ForgerStats } from './forger-nemesis.js';
import { NemesisRunner, type AppliedFault, type NemesisLogLine } from './nemesis-runner.js';
import { Prng } from '../../src/checker/prng.js';

/** Liveness after the heal (issue 7): a leader that every node agrees on within this time. */
export const LEADER_AFTER_HEAL_MS = 5_000;
/** Then every node has applied what the leader committed within this time. */
export const CATCH_UP_MS = 30_000;
/** A leader before the run starts (a cold 5-process start on a busy machine). */
const FIRST_LEADER_MS = 30_000;
/** Deadline of one final read. */
const FINAL_READ_TIMEOUT_MS = 5_000;
/**
 * Snapshot and compact every 200 applied entries (the SPEC default is 10,000): a campaign
 * applies a few thousand entries, and faults should also hit snapshots, compaction and
 * InstallSnapshot catch-up of restarted nodes.
 */
export const DEFAULT_SNAPSHOT_EVERY = 200;
/** Where failing runs leave their artifacts, one folder per seed (gitignored). */
export const DEFAULT_ARTIFACTS_ROOT = join(REPO_ROOT, 'test/fault/artifacts');
/** Spare nodes a campaign with the member nemesis gets unless told otherwise. */
export const DEFAULT_SPARES = 2;

export interface CampaignOptions {
  seed: number;
  durationMs: number;
  kinds: readonly NemesisKind[];
  ports: PortBases;
  kvClients?: number;
  quoteClients?: number;
  quoteReaders?: number;
  keys?: number;
  /** Extra environment for every node (the unsafe-reads test uses this). */
  env?: NodeJS.ProcessEnv;
  /** --snapshot-every for every node (default DEFAULT_SNAPSHOT_EVERY). */
  snapshotEvery?: number;
  /** Schedule knobs beyond the defaults (minFaultMs defaults to 1 s: a pause outlasts any election timeout). */
  nemesis?: Partial<Omit<NemesisOptions, 'seed' | 'durationMs' | 'nodes' | 'kinds'>>;
  artifactsRoot?: string;
  /** Write artifacts even when the run passes. */
  alwaysWriteArtifacts?: boolean;
  /** Spare nodes for the `member` nemesis (default 2 when it runs, else 0). */
  spares?: number;
  /** Progress lines (the CLI prints them; tests may collect them). */
  log?: (line: string) => void;
}

/** The numbers the issue asks for, per campaign. */
export interface CampaignSummary {
  seed: number;
  seconds: number;
  kinds: string[];
  ops: number;
  ok: number;
  failed: number;
  indeterminate: number;
  retries: number;
  failedBy: Record<string, number>;
  quotes: { posted: number; ok: number; listReads: number };
  leaderChanges: number;
  /** (leader term, follower) pairs the monitor saw catching up by InstallSnapshot. */
  snapshotCatchUps: number;
  /** Snapshots the nodes took (from their logs). */
  snapshotsTaken: number;
  longestUnavailabilityMs: number;
  longestUnavailabilityAt: [number, number];
  faults: number;
  /** Fault kinds the run actually started, sorted. */
  appliedKinds: string[];
  nemesisErrors: number;
  /** Hostile peer messages the forger nemesis made, and wrote on an authenticated connection. */
  forgedMessages: number;
  forgedWritten: number;
  /** Node exits the harness did not cause (crashes); any is a failed check. */
  unexpectedExits: number;
  /** Membership changes the cluster acknowledged (member nemesis), and the voters at the end. */
  membershipChanges: number;
  finalVoters: string[];
  linearizable: boolean | 'unknown';
  lostWrites: number;
  ok_: boolean;
  checkMs: number;
}

export interface CampaignResult {
  ok: boolean;
  summary: CampaignSummary;
  report: CheckReport;
  reportText: string;
  artifactsDir?: string;
}

/**
 * One fault campaign on real processes: five nodes behind the fault network (every directed link faultable), a
 * seeded nemesis schedule, concurrent clients recording a history; then heal, liveness,
 * final reads through every node, and every check. Reproducible from the seed as far as
 * the schedule and the workload's choices go (timing on a real machine is not).
 */
export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const log = options.log ?? (() => undefined);
  const workDir = mkdtempSync(join(tmpdir(), 'raftquotes-fault-'));
  const prng = new Prng(options.seed);
  const schedulePrng = prng.fork();
  const workloadPrng = prng.fork();
  let cluster: ProcessCluster | undefined;
  try {
    const spares = options.spares ?? (options.kinds.includes('member') ? DEFAULT_SPARES : 0);
    log(`seed ${options.seed}: starting 5 nodes behind the fault network${spares ? ` (and ${spares} spares)` : ''} (work dir ${workDir})`);
    const nodeArgs = ['--snapshot-every', String(options.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY)];
    cluster = await ProcessCluster.start({ ports: options.ports, workDir, env: options.env, nodeArgs, spares });
    // Clients and the monitor use every node, spares included (a stopped one refuses connections: known not applied).
    const targets: Target[] = cluster.nodes.map((n) => ({ id: n.id, http: n.http }));
    await waitForAgreedLeader(targets.filter((t) => cluster?.node(t.id).member), FIRST_LEADER_MS, () => 0);
    // The fault budget counts the first five voters; faults on a spare that is not a member do nothing.
    const schedule = generateSchedule({ minFaultMs: 1_000, ...options.nemesis, seed: schedulePrng.nextUint32(), durationMs: options.durationMs, nodes: cluster.ids, kinds: options.kinds, budgetNodes: cluster.ids.length - spares });
    const t0 = performance.now();
    const clock = (): number => Math.round((performance.now() - t0) * 10) / 10;
    const run = await faultPhase(cluster, targets, schedule, workloadPrng, clock, options, log);
    const end = await endPhase(cluster, targets, run.workload, clock, log);
    const monitorReport = await run.monitor.stop();
    await cluster.close();
    cluster = undefined;
    log('checking the history');
    const checkStarted = Date.now();
    const w = run.workload;
    const report = checkRun(w, end, monitorReport);
    const summary = summarize(options, w.counts, monitorReport, run, end, report, w, Date.now() - checkStarted);
    summary.snapshotsTaken = countLogLines(join(workDir, 'logs'), 'snapshot at index=');
    const reportText = renderReport(report);
    const result: CampaignResult = { ok: report.ok, summary, report, reportText };
    if (!report.ok || options.alwaysWriteArtifacts) {
      result.artifactsDir = await writeArtifacts(options, workDir, result, run, end, run.schedule);
      log(`artifacts: ${result.artifactsDir}`);
    }
    return result;
  } finally {
    await cluster?.close();
    rmSync(workDir, { recursive: true, force: true });
  }
}

interface FaultPhase {
  workload: Workload;
  monitor: StatusMonitor;
  faults: AppliedFault[];
  nemesisLog: NemesisLogLine[];
  schedule: NemesisSchedule;
  forged: ForgerStats;
  membershipChanges: number;
}

async function faultPhase(cluster: ProcessCluster, targets: Target[], schedule: NemesisSchedule, prng: Prng, clock: () => number, options: CampaignOptions, log: (line: string) => void): Promise<FaultPhase> {
  const keyCount = options.keys ?? 5;
  const workload = new Workload({
    targets, keys: Array.from({ length: keyCount }, (_, i) => `k${i}`), kvClients: options.kvClients ?? 10, quoteClients: options.quoteClients ?? 2, quoteReaders: options.quoteReaders ?? 1,
    requestTimeoutMs: 6_000, idempotentShare: 0.3, maxRetries: 3, thinkMs: 40, quoteThinkMs: 300, prng, clock,
  });
  const monitor = new StatusMonitor(targets, clock);
  const runner = new NemesisRunner(schedule, cluster, clock, () => monitor.currentLeader());
  log(`fault phase: ${options.durationMs / 1000} s, ${schedule.events.filter((e) => e.action === 'start').length} faults (${options.kinds.join(',')})`);
  monitor.start();
  workload.start();
  runner.start();
  for (let next = 10_000; clock() < options.durationMs; next += 10_000) {
    await sleep(Math.max(1, Math.min(next, options.durationMs) - clock()));
    const c = workload.counts;
    log(`  ${Math.round(clock() / 1000)} s: ops ${c.ops} ok ${c.ok} failed ${c.failed} indeterminate ${c.indeterminate}; leader ${monitor.currentLeader() ?? '?'}`);
  }
  await runner.finish();
  await workload.stop();
  for (const line of runner.log.filter((l) => l.error)) log(`  nemesis error at ${Math.round(line.atMs)} ms: ${line.text}: ${line.error}`);
  if (runner.forged.forged > 0) log(`  forger: ${runner.forged.forged} hostile messages made, ${runner.forged.written} written (${Object.entries(runner.forged.byExpected).map(([k, n]) => `${k} ${n}`).join(', ')})`);
  return { workload, monitor, faults: runner.faults, nemesisLog: runner.log, schedule: runner.effectiveSchedule, forged: runner.forged, membershipChanges: runner.members.changesApplied };
}

/** Every check over a workload's records and the end phase's final reads. */
export function checkRun(w: Workload, end: EndPhase, monitorReport: MonitorReport): CheckReport {
  return runChecks({
    history: w.history, dropped: w.dropped, finalReads: end.finalReads, observations: w.observations, idempotencyKeyOfValue: w.idempotencyKeyOfValue,
    unavailableValues: w.unavailableValues, quotePosts: w.quotePosts, quoteReads: w.quoteReads, finalQuotes: end.finalQuotes, finalStates: end.finalStates,
    finalApplied: end.finalApplied, monitor: monitorReport, livenessProblems: end.livenessProblems, unexpectedAnswers: w.counts.unexpected, unexpectedExits: end.unexpectedExits,
  });
}

/** What the end phase gathered. */
export interface EndPhase {
  healedAtMs: number;
  finalReads: FinalRead[];
  finalQuotes: Record<string, QuoteLike[]>;
  finalStates: NodeKeyState[];
  finalApplied: Record<string, number>;
  livenessProblems: string[];
  /** Node exits the harness did not cause, over the whole run. */
  unexpectedExits: string[];
  /** The voters the cluster answered at the end. */
  finalVoters: string[];
}

/** Heal, liveness, catch-up, final reads through every member. */
export async function endPhase(cluster: ProcessCluster, allTargets: Target[], workload: Workload, clock: () => number, log: (line: string) => void): Promise<EndPhase> {
  const problems: string[] = [];
  log('healing everything');
  await cluster.healEverything();
  const healedAtMs = clock();
  const finalVoters = await settleMembership(cluster, allTargets, problems, log);
  const targets = allTargets.filter((t) => cluster.node(t.id).member);
  const leader = await waitForAgreedLeader(targets, LEADER_AFTER_HEAL_MS, clock).catch((err: Error) => {
    problems.push(`no leader agreed by every node within ${LEADER_AFTER_HEAL_MS} ms of the heal: ${err.message}`);
    return null;
  });
  if (leader) log(`  leader ${leader} ${Math.round(clock() - healedAtMs)} ms after the heal`);
  const caughtUp = await waitCaughtUp(targets, CATCH_UP_MS, clock);
  if (!caughtUp.ok) problems.push(`not every node caught up within ${CATCH_UP_MS} ms: ${caughtUp.detail}`);
  const keys = [...new Set(workload.history.map((op) => op.key))].sort();
  const finalReads: FinalRead[] = [];
  for (const target of targets) {
    for (const key of keys) {
      const result = await httpCall({ method: 'GET', url: `${target.http}/api/kv/${encodeURIComponent(key)}`, timeoutMs: FINAL_READ_TIMEOUT_MS });
      if (result.kind === 'response' && (result.status === 200 || (result.status === 404 && result.body?.error === 'not_found'))) {
        finalReads.push({ key, value: result.status === 200 ? (result.body.value as Json) : null, nodeId: target.id });
      } else problems.push(`final read of ${JSON.stringify(key)} through ${target.id} failed: ${result.kind === 'error' ? result.message : `HTTP ${result.status} ${JSON.stringify(result.body).slice(0, 120)}`}`);
    }
  }
  const finalQuotes: Record<string, QuoteLike[]> = {};
  for (const target of targets) {
    const quotes = await readAllQuotes(target, FINAL_READ_TIMEOUT_MS, false);
    if (quotes) finalQuotes[target.id] = quotes;
    else problems.push(`final quote list through ${target.id} failed`);
  }
  // State machine safety: every node's own state, read when all have applied the same index.
  const { finalStates, finalApplied } = await finalSnapshot(targets, keys, clock, problems);
  return { healedAtMs, finalReads, finalQuotes, finalStates, finalApplied, livenessProblems: problems, unexpectedExits: [...cluster.unexpectedExits], finalVoters };
}

/** How long the end phase asks for the configuration (a leader must be elected first). */
const MEMBERS_AFTER_HEAL_MS = 10_000;

/**
 * Brings the harness's idea of who is a member in line with the configuration the cluster
 * answers (a change whose answer timed out may still have committed): members not running
 * are started, running nodes outside it are retired. Returns the voters.
 */
async function settleMembership(cluster: ProcessCluster, targets: readonly Target[], problems: string[], log: (line: string) => void): Promise<string[]> {
  const deadline = Date.now() + MEMBERS_AFTER_HEAL_MS;
  while (Date.now() < deadline) {
    for (const target of targets.filter((t) => cluster.node(t.id).member)) {
      const result = await httpCall({ method: 'GET', url: `${target.http}/api/members`, timeoutMs: 2_000 });
      const status = await httpCall({ method: 'GET', url: `${target.http}/api/status`, timeoutMs: 2_000 });
      if (result.kind !== 'response' || result.status !== 200 || status.kind !== 'response' || status.body?.state !== 'leader') continue;
      const members = result.body as { voters: Array<{ id: string }>; learners: Array<{ id: string }>; joint: unknown };
      if (members.joint !== null) continue; // the leader leaves the joint state by itself
      const ids = new Set([...members.voters, ...members.learners].map((m) => m.id));
      for (const node of cluster.nodes) {
        if (ids.has(node.id) && !node.member) {
          // An add that committed although its join failed: start it (its join finds itself already added).
          log(`  ${node.id} is in the configuration but not running (a join whose answer was lost): starting it`);
          await cluster.joinSpare(node.id, target.http).catch((err: Error) => problems.push(`${node.id} could not be started: ${err.message}`));
        }
        if (!ids.has(node.id) && node.member) {
          log(`  ${node.id} is not in the configuration (a removal whose answer was lost): retiring it`);
          await cluster.retire(node.id);
        }
      }
      return members.voters.map((m) => m.id);
    }
    await sleep(200);
  }
  problems.push(`no leader answered GET /api/members within ${MEMBERS_AFTER_HEAL_MS} ms of the heal`);
  return [];
}

/** Attempts at reading every node's state at one common applied index (an election's no-op can land in between). */
const FINAL_SNAPSHOT_ATTEMPTS = 3;

/**
 * Reads every key on every node with ?consistency=stale (the node's own applied state;
 * X-Raft-Index says at which applied index) once all nodes have applied the same index.
 * Retaken if a node applied something during the reads, so the comparison is between
 * states at one index; the check also groups by that index, so a late change cannot
 * pass as a divergence.
 */
async function finalSnapshot(targets: readonly Target[], keys: string[], clock: () => number, problems: string[]): Promise<{ finalStates: NodeKeyState[]; finalApplied: Record<string, number> }> {
  let finalStates: NodeKeyState[] = [];
  const finalApplied: Record<string, number> = {};
  for (let attempt = 0; attempt < FINAL_SNAPSHOT_ATTEMPTS; attempt++) {
    const settled = await waitCaughtUp(targets, CATCH_UP_MS, clock);
    if (!settled.ok) {
      problems.push(`nodes did not settle on one applied index: ${settled.detail}`);
      break;
    }
    finalStates = [];
    const readProblems: string[] = [];
    for (const target of targets) {
      for (const key of keys) {
        const result = await httpCall({ method: 'GET', url: `${target.http}/api/kv/${encodeURIComponent(key)}?consistency=stale`, timeoutMs: FINAL_READ_TIMEOUT_MS });
        const appliedIndex = result.kind === 'response' ? Number(result.headers['x-raft-index']) : NaN;
        if (result.kind === 'response' && result.status === 200) finalStates.push({ nodeId: target.id, key, value: result.body.value as Json, index: result.body.index as number, appliedIndex });
        else if (result.kind === 'response' && result.status === 404) finalStates.push({ nodeId: target.id, key, value: null, index: null, appliedIndex });
        else readProblems.push(`stale read of ${JSON.stringify(key)} on ${target.id} failed`);
      }
      const mine = finalStates.filter((st) => st.nodeId === target.id);
      if (mine.length > 0) finalApplied[target.id] = Math.max(...mine.map((st) => st.appliedIndex));
    }
    if (new Set(finalStates.map((st) => st.appliedIndex)).size === 1 && readProblems.length === 0) return { finalStates, finalApplied };
    if (attempt === FINAL_SNAPSHOT_ATTEMPTS - 1) problems.push(...readProblems, `no consistent final snapshot in ${FINAL_SNAPSHOT_ATTEMPTS} attempts: nodes kept applying entries after the heal`);
  }
  return { finalStates, finalApplied };
}

/** A leader that every node names, in one term; throws after timeoutMs. */
export async function waitForAgreedLeader(targets: readonly Target[], timeoutMs: number, clock: () => number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const statuses = await Promise.all(targets.map((t) => pollStatus(t, clock)));
    const leaders = statuses.filter((s) => s?.state === 'leader');
    const leader = leaders[0];
    if (leaders.length === 1 && leader && statuses.every((s) => s && s.leader === leader.nodeId && s.term === leader.term)) return leader.nodeId;
    last = statuses.map((s, i) => (s ? `${s.nodeId}:${s.state}/t${s.term}/leader=${s.leader}` : `${targets[i]?.id}:no answer`)).join(' ');
    await sleep(100);
  }
  throw new Error(`last view: ${last}`);
}

/** Every node has applied the leader's commit index (and all agree on it). */
export async function waitCaughtUp(targets: readonly Target[], timeoutMs: number, clock: () => number): Promise<{ ok: boolean; detail: string }> {
  const deadline = Date.now() + timeoutMs;
  let detail = '';
  while (Date.now() < deadline) {
    const statuses = await Promise.all(targets.map((t) => pollStatus(t, clock, 2_000)));
    const commit = Math.max(...statuses.map((s) => s?.commitIndex ?? 0));
    detail = statuses.map((s, i) => (s ? `${s.nodeId}: applied ${s.appliedIndex}/commit ${s.commitIndex}` : `${targets[i]?.id}: no answer`)).join(', ');
    if (statuses.every((s) => s && s.appliedIndex === commit && s.commitIndex === commit)) return { ok: true, detail };
    await sleep(200);
  }
  return { ok: false, detail };
}

function summarize(options: CampaignOptions, counts: WorkloadCounts, monitor: MonitorReport, run: FaultPhase, end: EndPhase, report: CheckReport, workload: Workload, checkMs: number): CampaignSummary {
  const { faults, nemesisLog } = run;
  const gap = longestUnavailability(workload, options.durationMs);
  return {
    seed: options.seed,
    seconds: options.durationMs / 1000,
    kinds: [...options.kinds],
    ops: counts.ops + counts.quotePosts,
    ok: counts.ok + counts.quotesOk,
    failed: counts.failed + workload.quotePosts.filter((p) => p.outcome === 'not-applied').length,
    indeterminate: counts.indeterminate + workload.quotePosts.filter((p) => p.outcome === 'indeterminate').length,
    retries: counts.retries,
    failedBy: counts.failedBy,
    quotes: { posted: counts.quotePosts, ok: counts.quotesOk, listReads: counts.quoteListReads },
    leaderChanges: Math.max(0, monitor.leaderTerms.length - 1),
    snapshotCatchUps: monitor.snapshotCatchUps,
    snapshotsTaken: 0,
    longestUnavailabilityMs: Math.round(gap.ms),
    longestUnavailabilityAt: [Math.round(gap.from), Math.round(gap.to)],
    faults: faults.length,
    appliedKinds: [...new Set(faults.map((f) => f.kind))].sort(),
    nemesisErrors: nemesisLog.filter((l) => l.error).length,
    forgedMessages: run.forged.forged,
    forgedWritten: run.forged.written,
    unexpectedExits: end.unexpectedExits.length,
    membershipChanges: run.membershipChanges,
    finalVoters: end.finalVoters,
    linearizable: report.linearizable,
    lostWrites: report.lostWrites,
    ok_: report.ok,
    checkMs,
  };
}

/** The longest stretch of the fault phase in which no client op completed successfully (ok, or a definite cas/delete refusal). */
export function longestUnavailability(workload: Workload, durationMs: number): { ms: number; from: number; to: number } {
  const done = [
    ...workload.history.filter((op) => op.outcome !== 'indeterminate').map((op) => op.completeMs as number),
    ...workload.quotePosts.filter((p) => p.outcome === 'ok').map((p) => p.completeMs as number),
  ].filter((t) => t <= durationMs);
  const times = [0, ...done.sort((a, b) => a - b), durationMs];
  let best = { ms: 0, from: 0, to: 0 };
  for (let i = 1; i < times.length; i++) {
    const ms = (times[i] as number) - (times[i - 1] as number);
    if (ms > best.ms) best = { ms, from: times[i - 1] as number, to: times[i] as number };
  }
  return best;
}

/** The summary in a few lines (the CLI prints it; a failing test shows it). */
export function renderSummary(s: CampaignSummary): string {
  const yes = (v: boolean | 'unknown'): string => (v === true ? 'yes' : v === false ? 'NO' : 'unknown');
  return [
    `seed ${s.seed} · ${s.seconds} s · nemesis ${s.kinds.join(',')} · ${s.faults} faults (${s.nemesisErrors} nemesis errors)`,
    `ops ${s.ops}  ok ${s.ok}  failed ${s.failed}  indeterminate ${s.indeterminate}  (idempotent retries ${s.retries}; quotes posted ${s.quotes.posted}, ok ${s.quotes.ok}; quote-list reads ${s.quotes.listReads})`,
    `failed by: ${Object.entries(s.failedBy).sort((a, b) => b[1] - a[1]).map(([why, n]) => `${why} ${n}`).join(', ') || 'none'}`,
    `leader changes ${s.leaderChanges} · snapshots taken ${s.snapshotsTaken}, InstallSnapshot catch-ups seen ${s.snapshotCatchUps} · longest unavailability ${(s.longestUnavailabilityMs / 1000).toFixed(1)} s (${(s.longestUnavailabilityAt[0] / 1000).toFixed(1)}–${(s.longestUnavailabilityAt[1] / 1000).toFixed(1)} s)`,
    ...(s.kinds.includes('member') ? [`membership changes acknowledged ${s.membershipChanges}; voters at the end ${s.finalVoters.join(',')}`] : []),
    ...(s.kinds.includes('forger') ? [`forger: ${s.forgedMessages} hostile peer messages made, ${s.forgedWritten} written on authenticated connections`] : []),
    `linearizable: ${yes(s.linearizable)} · lost writes: ${s.lostWrites} · nodes exited by themselves: ${s.unexpectedExits} · check took ${(s.checkMs / 1000).toFixed(1)} s`,
    `RESULT: ${s.ok_ ? 'PASS' : 'FAIL'} (reproduce: npm run fault -- --seconds ${s.seconds} --nemesis ${s.kinds.join(',')} --seed ${s.seed})`,
  ].join('\n');
}

async function writeArtifacts(options: CampaignOptions, workDir: string, result: CampaignResult, run: FaultPhase, end: EndPhase, schedule: NemesisSchedule): Promise<string> {
  const dir = join(options.artifactsRoot ?? DEFAULT_ARTIFACTS_ROOT, String(options.seed));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const w = run.workload;
  writeFileSync(join(dir, 'summary.txt'), `${renderSummary(result.summary)}\n\n${result.reportText}\n`);
  writeFileSync(join(dir, 'summary.json'), JSON.stringify(result.summary, null, 2));
  const failure = result.report.failure;
  const explanation = failure
    ? [`Linearizability violation on key ${JSON.stringify(failure.key)}:`, failure.explanation, '', 'The minimal failing window (and the node each op went through):', ...failure.ops.map((op) => `  ${describeOp(op)}${w.servedBy.has(op.id) ? `  via ${w.servedBy.get(op.id)}` : ''}`), ''].join('\n')
    : '';
  writeFileSync(join(dir, 'explanation.txt'), `${explanation}\n${result.reportText}\n`);
  writeFileSync(join(dir, 'history.json'), JSON.stringify({ ops: w.history.map((op) => ({ ...op, servedBy: w.servedBy.get(op.id) })), finalReads: end.finalReads, dropped: w.dropped }, null, 1));
  writeFileSync(join(dir, 'quotes.json'), JSON.stringify({ posts: w.quotePosts, reads: w.quoteReads, final: end.finalQuotes }, null, 1));
  writeFileSync(join(dir, 'observations.json'), JSON.stringify(w.observations));
  writeFileSync(join(dir, 'nemesis.log'), `${run.nemesisLog.map((l) => `${String(Math.round(l.atMs)).padStart(7)} ms (scheduled ${l.scheduledMs})  ${l.text}${l.error ? `  ERROR: ${l.error}` : ''}`).join('\n')}\n`);
  writeFileSync(join(dir, 'schedule.json'), JSON.stringify(schedule, null, 1));
  cpSync(join(workDir, 'logs'), join(dir, 'logs'), { recursive: true });
  await writeTimelineHtml([...w.history, ...result.report.finalReadOps], failure, join(dir, 'timeline.html'));
  return dir;
}

/** Lines containing `text` in every node log of a run. */
function countLogLines(dir: string, text: string): number {
  return readdirSync(dir).reduce((n, file) => n + readFileSync(join(dir, file), 'utf8').split('\n').filter((line) => line.includes(text)).length, 0);
}

/**
 * Parses "kill,pause,partition,restart,leader,forger" ("leader" = leader-change; "all" = every
 * default kind, which leaves out the opt-in `forger`: "all,forger" adds it).
 */
export function parseKinds(text: string): NemesisKind[] {
  const kinds = text.split(',').map((k) => k.trim()).filter(Boolean).flatMap((k) => (k === 'all' ? [...NEMESIS_KINDS] : [k === 'leader' ? 'leader-change' : k]));
  for (const kind of kinds) if (!(KNOWN_KINDS as readonly string[]).includes(kind)) throw new Error(`--nemesis: unknown kind ${kind} (known: kill, pause, partition, restart, leader, forger, member)`);
  return [...new Set(kinds)] as NemesisKind[];
}
