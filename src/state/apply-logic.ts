import type { Entry } from '../raft/types.js';
import { assert } from '../raft/assert.js';
import { canonicalJson, decodeCommand } from './command-codec.js';
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

/** The primitive reads and writes a state machine backend offers to the shared apply logic. */
export interface StateStore {
  getKv(key: string): KvRecord | null;
  putKv(key: string, valueJson: string, index: number): void;
  deleteKv(key: string): void;
  getIdempotent(key: string): ApplyResult | null;
  putIdempotent(key: string, index: number, result: ApplyResult): void;
  pruneIdempotentBefore(index: number): void;
  addQuote(quote: Quote): void;
  addClientEntry(index: number, term: number, command: Command): void;
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

function applyNormal(store: StateStore, entry: Entry): ApplyResult {
  const command = decodeCommand(entry.data);
  if (!command) return { ok: false, index: entry.index, error: 'invalid_command' };
  const key = command.idempotencyKey;
  if (key !== undefined) {
    const first = store.getIdempotent(key);
    if (first) return first;
  }
  const result = execute(store, command, entry);
  store.addClientEntry(entry.index, entry.term, command);
  if (key !== undefined) store.putIdempotent(key, entry.index, result);
  return result;
}

function execute(store: StateStore, command: Command, entry: Entry): ApplyResult {
  const index = entry.index;
  switch (command.op) {
    case 'put':
      store.putKv(command.key, JSON.stringify(command.value ?? null), index);
      return { ok: true, index };
    case 'delete':
      if (!store.getKv(command.key)) return { ok: false, index, error: 'not_found' };
      store.deleteKv(command.key);
      return { ok: true, index };
    case 'cas':
      return compareAndSet(store, command, index);
    case 'quote': {
      const quote: Quote = { index, term: entry.term, text: command.text, author: command.author, postedAt: command.postedAt };
      store.addQuote(quote);
      return { ok: true, index, quote };
    }
  }
}

function compareAndSet(store: StateStore, command: Extract<Command, { op: 'cas' }>, index: number): ApplyResult {
  const current = store.getKv(command.key);
  if (!current) return { ok: false, index, error: 'not_found' };
  if (canonicalJson(current.value) !== canonicalJson(command.from)) {
    return { ok: false, index, error: 'precondition_failed', current: current.value };
  }
  store.putKv(command.key, JSON.stringify(command.to ?? null), index);
  return { ok: true, index };
}

function prune(store: StateStore, index: number, retention: Readonly<RetentionLimits>): void {
  if (index > retention.idempotencyWindowEntries) store.pruneIdempotentBefore(index - retention.idempotencyWindowEntries);
  if (index > retention.clientLogRetention) store.pruneClientEntriesBefore(index - retention.clientLogRetention);
}
