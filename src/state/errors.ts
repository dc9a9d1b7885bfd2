import { CorruptionError } from './checksum.js';

/**
 * A state machine's storage failed (SQLite I/O, disk full, a closed connection): not a fact
 * about the entry being applied, so it must stop the node (the Raft loop's guard exits), never
 * be recorded as the entry's result, or replicas would differ.
 */
export class StateStorageError extends Error {
  override readonly name = 'StateStorageError';
  readonly code = 'storage';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * True for failures of the storage under the state machine (fatal), false for logic errors
 * in applying an entry (deterministic: recorded as the entry's failed result on every node).
 */
export function isStorageFailure(err: unknown): boolean {
  if (err instanceof CorruptionError || err instanceof StateStorageError) return true;
  const name = err instanceof Error ? err.name : '';
  return name === 'SqliteError' || name === 'StorageError';
}
