import type { HistoryOp, Json } from './types.js';
import { canonicalJson } from './values.js';
import { completionMs, itemAt } from './checked.js';

/** Most ops brute force accepts (n! orders). */
export const BRUTE_FORCE_MAX_OPS = 9;

const ABSENT = '<absent>';

/**
 * The definition, executed literally, for cross-checking the search on tiny
 * single-key histories: try every order of the ops that respects real time, where
 * each indeterminate op is placed somewhere or left out. Shares no code with the
 * checker's model, so a pruning bug there cannot hide here.
 */
export function bruteForceLinearizable(history: readonly HistoryOp[]): boolean {
  const ops = history.filter((op) => (op.kind === 'read' ? op.outcome === 'ok' : !(op.kind === 'write' && op.outcome === 'fail')));
  if (ops.length > BRUTE_FORCE_MAX_OPS) throw new RangeError(`brute force is for at most ${BRUTE_FORCE_MAX_OPS} ops`);
  const placed = new Array<boolean>(ops.length).fill(false);
  const search = (state: string, left: number): boolean => {
    if (left === 0) return true;
    for (let i = 0; i < ops.length; i++) {
      if (placed[i]) continue;
      const op = itemAt(ops, i, 'brute force ops');
      if (ops.some((p, j) => !placed[j] && j !== i && completionMs(p) < op.invokeMs)) continue; // p must come first
      const next = apply(op, state);
      if (next === undefined) continue;
      placed[i] = true;
      const ok = search(next, left - (op.outcome === 'indeterminate' ? 0 : 1));
      placed[i] = false;
      if (ok) return true;
    }
    return false;
  };
  return search(ABSENT, ops.filter((op) => op.outcome !== 'indeterminate').length);
}

function canon(value: Json | undefined): string {
  return value === null || value === undefined ? ABSENT : canonicalJson(value);
}

/** The register's sequential semantics; undefined when the op cannot happen in `state`. */
function apply(op: HistoryOp, state: string): string | undefined {
  const exists = state !== ABSENT;
  if (op.kind === 'read') return state === canon(op.output) ? state : undefined;
  if (op.kind === 'write') return canon(op.input.value);
  if (op.kind === 'delete') {
    if (op.outcome === 'indeterminate') return ABSENT;
    if (op.outcome === 'ok') return exists ? ABSENT : undefined;
    return exists ? undefined : state;
  }
  const matches = exists && state === canon(op.input.from);
  if (op.outcome === 'indeterminate') return matches ? canon(op.input.to) : state;
  if (op.outcome === 'ok') return matches ? canon(op.input.to) : undefined;
  if (op.error === 'not_found') return exists ? undefined : state;
  if (!exists || matches) return undefined;
  return op.output === undefined || canon(op.output) === state ? state : undefined;
}
