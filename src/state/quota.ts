/**
 * The state size quota (SPEC §5 `--quota-bytes`, like etcd's --quota-backend-bytes): how much
 * a command would grow the state as state-size.ts counts it, and whether the quota allows it.
 *
 * The quota is checked before proposing, on the node that proposes (the leader: followers
 * forward writes), never while applying. Nodes may run with different quotas (the flag is per
 * node, and an operator raises it node by node), and the state machine must be deterministic:
 * an entry that is committed must apply the same way everywhere. So, like etcd, a write past
 * the quota is refused before it enters the log, and a committed one always applies.
 */
import { REQUEST_HASH_CHARS, idempotencyRowBytes, kvRowBytes, quoteRowBytes } from './state-size.js';
import type { Command, StateMachine } from './types.js';

/** An idempotency record's first result, as JSON, at most about this long (a quote's result aside). */
const RESULT_JSON_ESTIMATE_BYTES = 64;

/**
 * Bytes by which applying `command` would at most grow `sm`'s state (negative or 0 when it
 * frees space or keeps it). Reads the current value only when the quick upper bound (as if
 * there were none) would not fit in `roomBytes` anyway, so a write far from the quota costs no read.
 */
export function quotaGrowthBytes(sm: Pick<StateMachine, 'get'>, command: Command, roomBytes: number): number {
  const idempotency = command.idempotencyKey === undefined ? 0 : idempotencyRowBytes(command.idempotencyKey, '', '') + REQUEST_HASH_CHARS + RESULT_JSON_ESTIMATE_BYTES;
  switch (command.op) {
    case 'delete':
      return 0; // SPEC §5: deletes still work (its idempotency record is small and bounded by the window)
    case 'quote':
      return quoteRowBytes(command) + idempotency + (command.idempotencyKey === undefined ? 0 : quoteRowBytes(command));
    case 'put':
    case 'cas': {
      const valueJson = JSON.stringify((command.op === 'put' ? command.value : command.to) ?? null);
      const upperBound = kvRowBytes(command.key, valueJson) + idempotency;
      if (upperBound <= roomBytes) return upperBound;
      const current = sm.get(command.key);
      const freed = current ? kvRowBytes(command.key, JSON.stringify(current.value)) : 0;
      return upperBound - freed;
    }
  }
}

/**
 * Null when `command` fits in the quota, else why not. A write that does not grow the state
 * (a delete, a put or cas that shrinks a value) is always allowed, so a full state can be
 * cleaned up. Values must already be depth-checked (the API and controller do that first).
 */
export function quotaProblem(sm: Pick<StateMachine, 'get' | 'sizeBytes'>, command: Command, quotaBytes: number): string | null {
  const size = sm.sizeBytes?.();
  if (size === undefined) return null;
  const growth = quotaGrowthBytes(sm, command, quotaBytes - size);
  if (growth <= 0 || size + growth <= quotaBytes) return null;
  return `the state is ${size} bytes; this write would grow it by ${growth} past the quota of ${quotaBytes} bytes (--quota-bytes); deletes still work`;
}
