/**
 * The history format shared by the fault harness (which records it) and the checkers.
 *
 * One entry per client operation on one key of the KV register (SPEC §3: GET, PUT,
 * DELETE and cas on /api/kv/<key>). The harness maps HTTP results to outcomes:
 *
 * | HTTP result                                   | outcome         | notes                             |
 * |-----------------------------------------------|-----------------|-----------------------------------|
 * | GET 200                                        | ok              | output = value                    |
 * | GET 404 not_found                              | ok              | output = null (absent key)        |
 * | PUT 200, DELETE 200, cas 200                   | ok              |                                   |
 * | cas 409 precondition_failed                    | fail            | error, output = body.current      |
 * | cas 404 / DELETE 404 not_found                 | fail            | error = 'not_found'               |
 * | 504 timeout, connection error, client timeout  | indeterminate   | may take effect any time, or never|
 * | other 4xx, 503 no_leader / unavailable         | (dropped)       | known not applied                 |
 */

/** Any JSON value. Values are compared by canonical JSON (sorted object keys). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The operations of the register model. `delete` is an extension beyond read/write/cas. */
export type OpKind = 'read' | 'write' | 'cas' | 'delete';

/** How an operation ended, as far as the client knows. */
export type Outcome = 'ok' | 'fail' | 'indeterminate';

/** Why a definite `fail` did not take effect. */
export type FailCode = 'precondition_failed' | 'not_found';

/** Operation input: `value` for write, `from`/`to` for cas, nothing for read and delete. */
export interface OpInput {
  value?: Json;
  from?: Json;
  to?: Json;
}

/** One client operation. Times are milliseconds on one clock (the harness's). */
export interface HistoryOp {
  /** Unique within the history. */
  id: number | string;
  clientId: string;
  key: string;
  kind: OpKind;
  input: OpInput;
  invokeMs: number;
  /** When the client saw the result; null (or ignored) for indeterminate ops. */
  completeMs: number | null;
  outcome: Outcome;
  /**
   * read ok: the value read, null when the key was absent. cas fail precondition_failed:
   * the `current` value the server reported, if known (it pins the state, so better checks).
   * JSON null always means "absent", so a write of null is rejected by the checker.
   */
  output?: Json;
  /** For outcome 'fail'. cas and delete fail are kept (they observe the state); others are dropped. */
  error?: FailCode;
}

/** Per-key verdict and search statistics. */
export interface KeyResult {
  ok: boolean | 'unknown';
  /** Ops that entered the search (after dropping the ones that constrain nothing). */
  ops: number;
  /** Ops dropped before the search (indeterminate reads, definite failures, unobserved indeterminate writes). */
  dropped: number;
  /** Search steps used (loop iterations). */
  steps: number;
  /** Configurations memoized. */
  cacheEntries: number;
  elapsedMs: number;
  /** Why the verdict is 'unknown' or false, in one line. */
  reason?: string;
}

/** A readable account of the first violation found. */
export interface Failure {
  key: string;
  explanation: string;
  /** The op the search (or the direct check) could not place. */
  focusOpId: HistoryOp['id'];
  /** The minimal window around it: the op, the ops concurrent with it, and the writes it relates to. */
  ops: HistoryOp[];
}

/** Result of a linearizability check. */
export interface CheckResult {
  ok: boolean | 'unknown';
  perKey: Record<string, KeyResult>;
  failure?: Failure;
}

/** Search limits. Exceeding one gives 'unknown' for that key instead of a hang. */
export interface CheckOptions {
  /** Search loop iterations per key. */
  maxSteps?: number;
  /** Memoized (linearized set, state) configurations per key; bounds memory. */
  maxCacheEntries?: number;
  /** Wall-clock budget for the whole check, in ms. */
  maxElapsedMs?: number;
}
