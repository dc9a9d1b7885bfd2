import type { Entry } from '@raftquotes/raft';
import type { RecoveredLog } from './types.js';
import { StorageError } from './errors.js';

/**
 * Checks what was read back before the node trusts it: a gap, a term going backwards or a
 * commit beyond the log means the file is damaged, and the node must stop rather than vote
 * or serve with a log it cannot vouch for.
 */
export function validateRecoveredLog(log: RecoveredLog, where: string): RecoveredLog {
  let expected = log.offset + 1;
  let term = log.offsetTerm;
  for (const entry of log.entries) {
    if (entry.index !== expected) throw new StorageError(`${where}: log has a gap (expected entry ${expected}, found ${entry.index}); refusing to start`);
    if (entry.term < term) throw new StorageError(`${where}: log term goes backwards at entry ${entry.index} (${entry.term} < ${term}); refusing to start`);
    term = entry.term;
    expected++;
  }
  const lastIndex = expected - 1;
  if (log.hardState.commit > lastIndex) {
    throw new StorageError(`${where}: commit index ${log.hardState.commit} is beyond the last log entry ${lastIndex}; refusing to start`);
  }
  if (log.snapshot && log.snapshot.meta.index < log.offset) {
    throw new StorageError(`${where}: snapshot at ${log.snapshot.meta.index} is older than the compacted log (${log.offset}); refusing to start`);
  }
  if (log.hardState.term < term) throw new StorageError(`${where}: hard state term ${log.hardState.term} is behind log term ${term}; refusing to start`);
  return log;
}

/** Log entries kept after dropping everything at or below `index`. */
export function entriesAfter(entries: Entry[], offset: number, index: number): Entry[] {
  return entries.slice(Math.max(0, index - offset));
}
