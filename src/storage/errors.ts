/** A storage problem the node must not continue past: corruption, a foreign data dir. */
export class StorageError extends Error {
  override readonly name = 'StorageError';
}
