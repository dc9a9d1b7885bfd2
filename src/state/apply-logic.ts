import { assert, type Entry } from '@raftquotes/raft';
import { canonicalJson, decodeCommand, requestHash } from './command-codec.js';
import { isStorageFailure } from './errors.js';
import type { ApplyResult, Command, KvRecord, Quote } from './types.js';

/**
 * How long idempotency records live, in log entries: a retry must arrive within this many
 * writes of the original. Pruning by index (not by time) keeps every replica identical.
 */
export const IDEMPOTENCY_WINDOW_ENTRIES = 1_000_000;
/** Committed client commands kept for the controller's RETRIEVE (the oldest are dropped). */
export const CLIENT_LOG_RETENTION = 200_000;
/** Pruning runs when the applied index crosses a multiple of this, to keep apply cheap. */
export const PRUNE_EVERY_ENTRIES = 4_096;

/**
 * What the state machine keeps and for how long. Part of the replicated behaviour: every
 * replica of a cluster must use the same values (only tests change them, to reach the
 * pruning boundaries with a few entries instead of a million).
 */
export interface RetentionLimits {
  /** An idempotency record written at index r is kept at least until index r + this. */
  idempotencyWindowEntries: number;
  /** Client commands kept for RETRIEVE, counted back from the applied index. */
  clientLogRetention: number;
  /** Pruning runs after applying an index that is a multiple of this. */
  pruneEveryEntries: number;
}

export const DEFAULT_RETENTION: Readonly<RetentionLimits> = Object.freeze({
  idempotencyWindowEntries: IDEMPOTENCY_WINDOW_ENTRIES,
  clientLogRetention: CLIENT_LOG_RETENTION,
  pruneEveryEntries: PRUNE_EVERY_ENTRIES,
});

/** Fills in and checks retention limits (positive integers), so a bad value fails at construction. */
export function retentionLimits(overrides: Partial<RetentionLimits> = {}): Readonly<RetentionLimits> {
  const limits = { ...DEFAULT_RETENTION, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    assert(Number.isSafeInteger(value) && value > 0, () => `retention limit ${name} must be a positive integer, got ${value}`);
  }
  return Object.freeze(limits);
}

/** An idempotency record as stored: the first result, and the hash of the request that made it. */
export interface IdempotencyRecord {
  result: ApplyResult;
  /** requestHash() of the first request; '' for a record from before hashes were kept (matches any request). */
  requestHash: string;
}

/**
 * The primitive reads and writes a state machine backend offers to the shared apply logic.
 * Writes take text already encoded, so they cannot fail on user data; only storage can fail.
 */
export interface StateStore {
  getKv(key: string): KvRecord | null;
  putKv(key: string, valueJson: string, index: number): void;
  deleteKv(key: string): void;
  getIdempotent(key: string): IdempotencyRecord | null;
  putIdempotent(key: string, index: number, resultJson: string, requestHash: string): void;
  pruneIdempotentBefore(index: number): void;
  addQuote(quote: Quote): void;
  addClientEntry(index: number, term: number, commandJson: string): void;
  pruneClientEntriesBefore(index: number): void;
  setApplied(index: number, term: number): void;
}

/** Applies one committed entry to `store`. Deterministic: the same entry gives the same result everywhere. */
export function applyEntry(store: StateStore, entry: Entry, appliedBefore: number, retention: Readonly<RetentionLimits> = DEFAULT_RETENTION): ApplyResult {
  assert(entry.index === appliedBefore + 1, () => `apply out of order: entry ${entry.index} after applied ${appliedBefore}`);
  const result = entry.type === 'normal' ? applyNormal(store, entry) : { ok: true as const, index: entry.index };
  store.setApplied(entry.index, entry.term);
  if (entry.index % retention.pruneEveryEntries === 0) prune(store, entry.index, retention);
  return result;
}

/** What applying a command will do: its result, and the writes that make it so. */
interface Decision {
  result: ApplyResult;
  /** Storage writes only, on text already encoded: a failure here is a storage failure. */
  commit: () => void;
}

const NOTHING = (): void => {};

/**
 * Two phases, so a failing entry changes nothing: `decide` does every read and every
 * computation on user data, then `commit` only writes. A logic error while deciding becomes
 * an `apply_failed` result, identically on every replica (nothing in it depends on the node:
 * no clock, no recursion on user data, whose depth would depend on the stack left), and the
 * node goes on: a state machine error must never become a crash loop. A storage
 * failure (I/O, disk full, a checksum mismatch) stays fatal: that is this node's problem, and
 * recording it as the entry's result would make replicas differ.
 */
function applyNormal(store: StateStore, entry: Entry): ApplyResult {
  let decision: Decision;
  try {
    decision = decide(store, entry);
  } catch (err) {
    if (isStorageFailure(err)) throw err;
    return { ok: false, index: entry.index, error: 'apply_failed' };
  }
  decision.commit();
  return decision.result;
}

function decide(store: StateStore, entry: Entry): Decision {
  const command = decodeCommand(entry.data);
  if (!command) return { result: { ok: false, index: entry.index, error: 'invalid_command' }, commit: NOTHING };
  const key = command.idempotencyKey;
  const hash = key === undefined ? '' : requestHash(command);
  if (key !== undefined) {
    const first = store.getIdempotent(key);
    // SPEC §3: a retry gets the first result; the same key with a different request is refused.
    if (first) return { result: first.requestHash === '' || first.requestHash === hash ? first.result : { ok: false, index: entry.index, error: 'idempotency_key_reused' }, commit: NOTHING };
  }
  const effect = execute(store, command, entry);
  const commandJson = JSON.stringify(command);
  const resultJson = key === undefined ? '' : JSON.stringify(effect.result);
  return {
    result: effect.result,
    commit: () => {
      effect.commit();
      store.addClientEntry(entry.index, entry.term, commandJson);
      if (key !== undefined) store.putIdempotent(key, entry.index, resultJson, hash);
    },
  };
}

/** Values were depth-checked by decodeCommand, so JSON.stringify here never recurses deeply. */
function execute(store: StateStore, command: Command, entry: Entry): Decision {
  const index = entry.index;
  switch (command.op) {
    case 'put': {
      const valueJson = JSON.stringify(command.value ?? null);
      return { result: { ok: true, index }, commit: () => store.putKv(command.key, valueJson, index) };
    }
    case 'delete':
      if (!store.getKv(command.key)) return { result: { ok: false, index, error: 'not_found' }, commit: NOTHING };
      return { result: { ok: true, index }, commit: () => store.deleteKv(command.key) };
    case 'cas':
      return compareAndSet(store, command, index);
    case 'quote': {
      const quote: Quote = { index, term: entry.term, text: command.text, author: command.author, postedAt: command.postedAt };
      return { result: { ok: true, index, quote }, commit: () => store.addQuote(quote) };
    }
  }
}

function compareAndSet(store: StateStore, command: Extract<Command, { op: 'cas' }>, index: number): Decision {
  const current = store.getKv(command.key);
  if (!current) return { result: { ok: false, index, error: 'not_found' }, commit: NOTHING };
  if (canonicalJson(current.value) !== canonicalJson(command.from)) {
    return { result: { ok: false, index, error: 'precondition_failed', current: current.value }, commit: NOTHING };
  }
  const toJson = JSON.stringify(command.to ?? null);
  return { result: { ok: true, index }, commit: () => store.putKv(command.key, toJson, index) };
}

function prune(store: StateStore, index: number, retention: Readonly<RetentionLimits>): void {
  if (index > retention.idempotencyWindowEntries) store.pruneIdempotentBefore(index - retention.idempotencyWindowEntries);
  if (index > retention.clientLogRetention) store.pruneClientEntriesBefore(index - retention.clientLogRetention);
}
