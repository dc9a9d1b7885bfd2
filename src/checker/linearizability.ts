import { findStaleObservation } from './direct-check.js';
import { explainStuck } from './explain.js';
import { prepareHistory, type KeyHistory } from './prepare.js';
import { DEFAULT_MAX_CACHE_ENTRIES, DEFAULT_MAX_STEPS, searchLinearization, type SearchLimits, type SearchResult, type StuckPoint } from './search.js';
import type { CheckOptions, CheckResult, Failure, HistoryOp, KeyResult } from './types.js';

/** Default wall-clock budget for a whole check. */
export const DEFAULT_MAX_ELAPSED_MS = 60_000;
/** Budget of the second search that only looks for a readable stuck point. */
const EXPLAIN_MAX_STEPS = 2_000_000;
const EXPLAIN_MAX_MS = 5_000;

/**
 * Checks that a history of register operations is linearizable, key by key.
 *
 * Per key: first a direct check that catches stale and impossible observations from
 * real-time order alone (fast, and it names the write that should have been seen);
 * then the Wing & Gong / Lowe search (search.ts). A key whose search exceeds its
 * budget is 'unknown', never a hang. The overall verdict is false if any key fails,
 * else 'unknown' if any key is unknown, else true. `failure` is the violation whose
 * op was invoked first.
 */
export function checkLinearizability(history: readonly HistoryOp[], options: CheckOptions = {}): CheckResult {
  const deadline = Date.now() + (options.maxElapsedMs ?? DEFAULT_MAX_ELAPSED_MS);
  const limits: SearchLimits = {
    maxSteps: options.maxSteps ?? DEFAULT_MAX_STEPS,
    maxCacheEntries: options.maxCacheEntries ?? DEFAULT_MAX_CACHE_ENTRIES,
    deadline,
  };
  const perKey: Record<string, KeyResult> = {};
  const failures: Failure[] = [];
  for (const keyHistory of prepareHistory(history).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    const { result, failure } = checkKey(keyHistory, limits);
    perKey[keyHistory.key] = result;
    if (failure) failures.push(failure);
  }
  const verdicts = Object.values(perKey).map((r) => r.ok);
  const ok = verdicts.includes(false) ? false : verdicts.includes('unknown') ? 'unknown' : true;
  return { ok, perKey, failure: firstFailure(failures, history) };
}

function checkKey(history: KeyHistory, limits: SearchLimits): { result: KeyResult; failure?: Failure } {
  const started = Date.now();
  const base = { ops: history.reduced.length, dropped: history.droppedUninformative + history.ops.length - history.reduced.length };
  const finish = (search: Pick<SearchResult, 'ok' | 'steps' | 'cacheEntries' | 'reason'>, failure?: Failure) => ({
    result: { ...base, ok: search.ok, steps: search.steps, cacheEntries: search.cacheEntries, elapsedMs: Date.now() - started, reason: search.reason },
    failure,
  });
  const stale = findStaleObservation(history.key, history.ops, history.values);
  if (stale) return finish({ ok: false, steps: 0, cacheEntries: 0, reason: 'stale or impossible observation (direct check)' }, stale);
  let ops = history.reduced;
  let search = searchLinearization(ops, limits);
  if (search.ok === false && !history.reductionExact && ops.length < history.ops.length) {
    // The reduction may have dropped an op that explains a vague observer: decide on the full history.
    ops = history.ops;
    search = searchLinearization(ops, limits);
    base.ops = ops.length;
    base.dropped = history.droppedUninformative;
  }
  if (search.ok !== false || !search.stuck) return finish(search);
  const stuck = explainingStuckPoint(ops, limits) ?? search.stuck;
  return finish({ ...search, reason: 'no linearization exists' }, explainStuck(history.key, ops, history.values, stuck));
}

/** Re-runs a failed search without the stranding pruning, to get stuck at the op a person would point at. */
function explainingStuckPoint(ops: KeyHistory['ops'], limits: SearchLimits): StuckPoint | undefined {
  const deadline = Math.min(limits.deadline, Date.now() + EXPLAIN_MAX_MS);
  const result = searchLinearization(ops, { ...limits, maxSteps: EXPLAIN_MAX_STEPS, deadline, stranding: false });
  return result.ok === true ? undefined : result.stuck;
}

function firstFailure(failures: Failure[], history: readonly HistoryOp[]): Failure | undefined {
  const invoked = new Map(history.map((op) => [op.id, op.invokeMs]));
  return failures.sort((a, b) => (invoked.get(a.focusOpId) ?? 0) - (invoked.get(b.focusOpId) ?? 0))[0];
}
