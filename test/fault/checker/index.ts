/** The fault-injection checkers: import from here. */
export { checkLinearizability, DEFAULT_MAX_ELAPSED_MS } from './linearizability.js';
export { DEFAULT_MAX_CACHE_ENTRIES, DEFAULT_MAX_STEPS } from './search.js';
export { describeOp } from './explain.js';
export { HistoryError } from './prepare.js';
export { canonicalJson } from './values.js';
export type { CheckOptions, CheckResult, Failure, FailCode, HistoryOp, Json, KeyResult, OpInput, OpKind, Outcome } from './types.js';
