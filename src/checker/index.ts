/** The linearizability and fault-history checkers (a leaf module: the simulator and the fault harness import it). */
export { checkLinearizability, DEFAULT_MAX_ELAPSED_MS } from './linearizability.js';
export { DEFAULT_MAX_CACHE_ENTRIES, DEFAULT_MAX_STEPS } from './search.js';
export { describeOp } from './explain.js';
export { HistoryError } from './prepare.js';
export { canonicalJson } from './values.js';
export { CheckedAccessError, completionMs, itemAt, jsonValue } from './checked.js';
export type { CheckOptions, CheckResult, Failure, FailCode, HistoryOp, Json, KeyResult, OpInput, OpKind, Outcome } from './types.js';
export { checkNoLostWrites, finalReadOps, type FinalRead, type LostWriteProblem, type LostWritesResult } from './lost-writes.js';
export { checkIdempotency, type AppliedRecord, type DuplicateApplication, type IdempotencyResult } from './idempotency.js';
export { checkQuoteStreams, type QuoteLike, type QuoteStreamsResult } from './quote-streams.js';
export { generateLinearizableHistory, executeSequentially, type GenerateOptions, type PlannedOp } from './generate.js';
export { writeTimelineHtml, renderTimelineHtml, escapeHtml } from './timeline-html.js';
