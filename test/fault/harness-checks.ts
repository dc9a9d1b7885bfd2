import {
  canonicalJson,
  checkIdempotency,
  checkNoLostWrites,
  checkQuoteStreams,
  describeOp,
  finalReadOps,
  type AppliedRecord,
  type CheckResult,
  type Failure,
  type FinalRead,
  type HistoryOp,
  type Json,
  type QuoteLike,
} from '../../src/checker/index.js';
import type { DroppedOp, QuoteListRead, QuotePost, ValueObservation } from './clients.js';
import type { MonitorReport } from './monitor.js';

/** Wall-clock budget of the linearizability search (per campaign). */
const CHECK_MAX_ELAPSED_MS = 120_000;
/** Most lines one section lists before it says "and N more". */
const MAX_LINES_PER_SECTION = 20;

/** One key as one node holds it after the run (stale read: its own applied state). */
export interface NodeKeyState {
  nodeId: string;
  key: string;
  value: Json;
  index: number | null;
  /** The node's applied index when it answered (X-Raft-Index). */
  appliedIndex: number;
}

/** Everything the checks look at, gathered by the harness. */
export interface CheckInput {
  history: HistoryOp[];
  dropped: DroppedOp[];
  finalReads: FinalRead[];
  observations: ValueObservation[];
  idempotencyKeyOfValue: ReadonlyMap<string, string>;
  unavailableValues: ReadonlySet<string>;
  quotePosts: QuotePost[];
  quoteReads: QuoteListRead[];
  /** Every node's final linearizable quote list. */
  finalQuotes: Record<string, QuoteLike[]>;
  /** Every node's applied state after it caught up, per key. */
  finalStates: NodeKeyState[];
  /** Every node's applied index after it caught up. */
  finalApplied: Record<string, number>;
  monitor: MonitorReport;
  /** Problems the harness found itself: liveness after the heal, unexpected answers, failed final reads. */
  livenessProblems: string[];
  unexpectedAnswers: string[];
  /** Node exits the harness did not cause (a crash the heal would otherwise hide by restarting the node). */
  unexpectedExits?: string[];
}

/** One named check and what it found. */
export interface CheckSection {
  name: string;
  ok: boolean | 'unknown';
  problems: string[];
  notes: string[];
}

/** The verdict of a campaign. */
export interface CheckReport {
  ok: boolean;
  linearizable: boolean | 'unknown';
  lostWrites: number;
  sections: CheckSection[];
  /** The linearizability failure, for the explanation and the timeline. */
  failure?: Failure;
  linearizability: CheckResult;
  /** Ops appended for the final reads (drawn on the timeline). */
  finalReadOps: HistoryOp[];
}

/**
 * Runs every check of issue 7 over a finished run: linearizability per key with the
 * final reads (Wing & Gong / Lowe search), no acknowledged write lost, every
 * Idempotency-Key (and every unique value) applied at most once, quote streams
 * prefix-consistent across nodes and linearizable, state machine safety across nodes,
 * Raft safety seen by the monitor, and liveness after the heal.
 */
export function runChecks(input: CheckInput): CheckReport {
  const lost = checkNoLostWrites(input.history, input.finalReads, { maxElapsedMs: CHECK_MAX_ELAPSED_MS });
  const lin = lost.linearizability;
  const lostWrites = lost.problems.filter((p) => p.kind === 'lost-write').length;
  const sections: CheckSection[] = [
    linearizabilitySection(lin),
    { name: 'no lost acknowledged write', ok: lost.problems.length === 0, problems: lost.problems.map((p) => p.message), notes: [] },
    idempotencySection(input),
    quoteSection(input),
    stateMachineSection(input),
    { name: 'raft safety (monitor)', ok: input.monitor.problems.length === 0, problems: input.monitor.problems, notes: [`${input.monitor.samples} status samples, ${input.monitor.committedIndexesCompared} committed indexes compared across nodes`] },
    contractSection(input),
    { name: 'liveness after heal', ok: input.livenessProblems.length === 0, problems: input.livenessProblems, notes: [] },
    { name: 'no node exited unless the harness stopped it', ok: (input.unexpectedExits ?? []).length === 0, problems: input.unexpectedExits ?? [], notes: [] },
  ];
  const ok = sections.every((s) => s.ok === true);
  return { ok, linearizable: lin.ok, lostWrites, sections, failure: lin.failure, linearizability: lin, finalReadOps: finalReadOps(input.history, input.finalReads) };
}

function linearizabilitySection(lin: CheckResult): CheckSection {
  const perKey = Object.entries(lin.perKey).map(([key, r]) => `${key}: ${r.ok === true ? 'ok' : r.ok === false ? 'NOT linearizable' : 'unknown'} (${r.ops} ops searched, ${r.dropped} dropped, ${r.steps} steps, ${r.elapsedMs} ms)${r.reason ? ` — ${r.reason}` : ''}`);
  const problems = lin.failure ? [lin.failure.explanation, 'ops in the failing window:', ...lin.failure.ops.map((op) => `  ${describeOp(op)}`)] : [];
  if (lin.ok === 'unknown') problems.push('the search ran out of budget on some key: verdict unknown');
  return { name: 'linearizability (with final reads)', ok: lin.ok, problems, notes: perKey };
}

/**
 * Every unique value must be applied at one log index: a value written under an
 * Idempotency-Key is tracked under that key, any other value under itself (a write the
 * system re-applied on its own would show up as a second index). Every answer and read
 * that names an index counts, and so do quotes (by text) in every node's list.
 */
function idempotencySection(input: CheckInput): CheckSection {
  const records: AppliedRecord[] = input.observations.map((o) => ({ idempotencyKey: input.idempotencyKeyOfValue.get(o.value) ?? `value ${o.value}`, index: o.index, nodeId: `${o.nodeId} (${o.source})` }));
  const quoteKey = new Map(input.quotePosts.map((p) => [p.text, p.idempotencyKey ?? `quote ${JSON.stringify(p.text)}`]));
  for (const post of input.quotePosts) for (const index of post.indexes) records.push({ idempotencyKey: quoteKey.get(post.text) as string, index, nodeId: 'post answer' });
  for (const [nodeId, quotes] of Object.entries(input.finalQuotes)) {
    for (const quote of quotes) records.push({ idempotencyKey: quoteKey.get(String(quote.text)) ?? `quote ${JSON.stringify(quote.text)}`, index: quote.index, nodeId });
  }
  const result = checkIdempotency(records);
  const withKey = input.quotePosts.filter((p) => p.idempotencyKey).length + input.idempotencyKeyOfValue.size;
  return { name: 'applied at most once (Idempotency-Key, unique values)', ok: result.ok, problems: result.message ? result.message.split('\n') : [], notes: [`${records.length} applications observed; ${withKey} writes carried an Idempotency-Key`] };
}

function quoteSection(input: CheckInput): CheckSection {
  const problems: string[] = [];
  const lists: Record<string, QuoteLike[]> = { ...input.finalQuotes };
  input.quoteReads.forEach((read, i) => (lists[`${read.nodeId}@read${i}(${Math.round(read.invokeMs)}ms)`] = read.quotes));
  const streams = checkQuoteStreams(lists);
  problems.push(...streams.problems);
  const reference = streams.longest ? (lists[streams.longest] ?? []) : [];
  const byText = new Map(reference.map((q) => [String(q.text), q]));
  const posted = new Set(input.quotePosts.map((p) => p.text));
  for (const post of input.quotePosts) {
    const found = byText.get(post.text);
    if (post.outcome === 'ok' && !found) problems.push(`lost quote: ${JSON.stringify(post.text)} by ${post.clientId} was acknowledged at index ${post.indexes[0]} (${Math.round(post.completeMs ?? 0)} ms) but is in no node's final list`);
    if (post.outcome === 'ok' && found && found.index !== post.indexes[0]) problems.push(`quote ${JSON.stringify(post.text)} was acknowledged at index ${post.indexes[0]} but is at index ${found.index} in the final list`);
    if (post.outcome === 'not-applied' && found) problems.push(`quote ${JSON.stringify(post.text)} was answered as not applied (503/429/refused) but is in the final list at index ${found.index}`);
  }
  for (const text of byText.keys()) if (!posted.has(text)) problems.push(`phantom quote ${JSON.stringify(text)}: in the final list but never posted`);
  for (const read of input.quoteReads) {
    const seen = new Set(read.quotes.map((q) => String(q.text)));
    const missing = input.quotePosts.filter((p) => p.outcome === 'ok' && (p.completeMs as number) < read.invokeMs && !seen.has(p.text));
    if (missing.length > 0) {
      const first = missing[0] as QuotePost;
      problems.push(`stale quote list: the read through ${read.nodeId} at ${Math.round(read.invokeMs)} ms lacks ${missing.length} quote(s) acknowledged before it, e.g. ${JSON.stringify(first.text)} (acknowledged at ${Math.round(first.completeMs ?? 0)} ms, index ${first.indexes[0]})`);
    }
  }
  const lengths = Object.entries(input.finalQuotes).map(([node, q]) => `${node}=${q.length}`).join(' ');
  return { name: 'quote streams (prefix-consistent, no lost or phantom quote, linearizable list reads)', ok: problems.length === 0, problems: cap(problems), notes: [`final lengths ${lengths}; ${input.quoteReads.length} list reads during the run`] };
}

/** After the heal every node has applied the same index: then every key and every quote list must be identical. */
function stateMachineSection(input: CheckInput): CheckSection {
  const problems: string[] = [];
  const applied = Object.entries(input.finalApplied);
  if (new Set(applied.map(([, index]) => index)).size > 1) problems.push(`nodes stopped at different applied indexes: ${applied.map(([n, i]) => `${n}=${i}`).join(' ')}`);
  const byKeyAndIndex = new Map<string, NodeKeyState[]>();
  for (const state of input.finalStates) {
    const group = `${JSON.stringify(state.key)} at applied index ${state.appliedIndex}`;
    byKeyAndIndex.set(group, [...(byKeyAndIndex.get(group) ?? []), state]);
  }
  for (const [group, states] of byKeyAndIndex) {
    const shown = states.map((s) => `${s.nodeId}=${s.value === null ? '(absent)' : canonicalJson(s.value)}@${s.index ?? '-'}`);
    if (new Set(states.map((s) => `${canonicalJson(s.value)}@${s.index}`)).size > 1) problems.push(`key ${group} differs across nodes: ${shown.join(' ')}`);
  }
  const lists = Object.entries(input.finalQuotes).map(([node, quotes]) => [node, JSON.stringify(quotes.map((q) => [q.index, q.text]))] as const);
  if (new Set(lists.map(([, l]) => l)).size > 1) problems.push(`final quote lists differ across nodes: ${lists.map(([n, l]) => `${n}:${l.length} chars`).join(' ')}`);
  return { name: 'state machine safety (final state on every node)', ok: problems.length === 0, problems: cap(problems), notes: [`applied ${applied.map(([n, i]) => `${n}=${i}`).join(' ')}`] };
}

/**
 * SPEC §3 error contract: a write answered 503 (no_leader or unavailable), 429 or refused
 * was not applied, so its value must never be seen. (503 `unavailable` writes stay
 * indeterminate for the linearizability search, so this check names them directly.)
 */
function contractSection(input: CheckInput): CheckSection {
  const seen = new Set([...input.observations.map((o) => o.value), ...input.finalReads.filter((r) => r.value !== null).map((r) => canonicalJson(r.value))]);
  for (const op of input.history) if (op.kind === 'read' && op.outcome === 'ok' && op.output !== null && op.output !== undefined) seen.add(canonicalJson(op.output));
  const problems = input.dropped.filter((d) => d.value !== undefined && seen.has(d.value)).map((d) => `${d.kind} of ${d.value} to ${JSON.stringify(d.key)} by ${d.clientId} [${Math.round(d.invokeMs)}–${Math.round(d.completeMs)} ms] was answered "${d.why}" (not applied) but its value was later read`);
  problems.push(...input.unexpectedAnswers.map((a) => `unexpected answer: ${a}`));
  // A 503 unavailable says "not applied" like any 503; the runtime once sent it for writes pending at a stop (fixed, see pending-writes.test.ts).
  const unavailableApplied = [...input.unavailableValues].filter((v) => seen.has(v));
  problems.push(...unavailableApplied.map((v) => `a write of ${v} was answered 503 unavailable (not applied) but its value was later read`));
  const notes = [`${input.unavailableValues.size} writes answered 503 unavailable (checked as unknown for linearizability); ${unavailableApplied.length} of them were applied nevertheless`];
  return { name: 'error contract (not-applied answers were not applied)', ok: problems.length === 0, problems: cap(problems), notes };
}

function cap(lines: string[]): string[] {
  return lines.length <= MAX_LINES_PER_SECTION ? lines : [...lines.slice(0, MAX_LINES_PER_SECTION), `… and ${lines.length - MAX_LINES_PER_SECTION} more`];
}

/** The report as text: every section with its verdict, problems and notes. */
export function renderReport(report: CheckReport): string {
  return report.sections
    .map((s) => [`[${s.ok === true ? 'ok' : s.ok === false ? 'FAIL' : 'UNKNOWN'}] ${s.name}`, ...s.problems.map((p) => `    ! ${p}`), ...s.notes.map((n) => `    - ${n}`)].join('\n'))
    .join('\n');
}
