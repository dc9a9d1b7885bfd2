/**
 * Reads of the applied state for the API routes. A checksum mismatch (CorruptionError) stops
 * the node, as a failure in the Raft loop does (exit 70): SPEC §5 says a corrupt row stops the
 * node with an error naming it, and a node that only answered 500 would go on serving its
 * other corrupt rows, and voting, on a database it can no longer trust.
 */
import { CorruptionError } from '../state/checksum.js';
import type { ApiContext } from './context.js';

/** Exit code of a node stopped by corruption (the same as the Raft loop's fatal errors). */
export const CORRUPTION_EXIT_CODE = 70;

/** Runs `read`; on a CorruptionError logs it, schedules the process exit, and rethrows (a 500 for this request). */
export function readState<T>(ctx: ApiContext, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof CorruptionError) {
      ctx.logger.error({ err, where: err.where }, `fatal: ${err.message}`);
      process.exitCode = CORRUPTION_EXIT_CODE;
      setImmediate(() => process.exit(CORRUPTION_EXIT_CODE));
    }
    throw err;
  }
}
