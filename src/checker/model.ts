import type { FailCode, HistoryOp, OpKind, Outcome } from './types.js';
import { ABSENT } from './values.js';

/** No value: an op that does not read or write one. */
export const NONE = -1;
/** step() result for an op that cannot take effect in the given state. */
export const ILLEGAL = -1;

/**
 * One operation compiled for the search: values interned as ids (values.ts), times
 * as numbers, and completeMs = +Infinity for indeterminate ops. That last trick
 * (Porcupine's) lets an op that "may never have happened" be linearized after
 * everything else, where its effect is invisible.
 */
export interface ModelOp {
  /** Position in the key's op array (and bit in the linearized set). */
  index: number;
  source: HistoryOp;
  kind: OpKind;
  outcome: Outcome;
  error?: FailCode;
  /** write: value; cas: to. */
  value: number;
  /** cas: from. */
  from: number;
  /** read ok: value read; cas fail precondition_failed: reported current (NONE if unknown). */
  output: number;
  invokeMs: number;
  completeMs: number;
}

/**
 * The sequential register (SPEC §3 /api/kv): the state is the current value id,
 * ABSENT when the key does not exist. Returns the state after `op`, or ILLEGAL.
 */
export function step(op: ModelOp, state: number): number {
  switch (op.kind) {
    case 'read':
      return state === op.output ? state : ILLEGAL;
    case 'write':
      return op.value;
    case 'cas':
      return stepCas(op, state);
    case 'delete':
      return stepDelete(op, state);
  }
}

function stepCas(op: ModelOp, state: number): number {
  const matches = state !== ABSENT && state === op.from;
  if (op.outcome === 'indeterminate') return matches ? op.value : state; // executed: succeeded or failed harmlessly
  if (op.outcome === 'ok') return matches ? op.value : ILLEGAL;
  if (op.error === 'not_found') return state === ABSENT ? state : ILLEGAL;
  // precondition_failed: the key existed with another value (the reported one, when known).
  if (state === ABSENT || state === op.from) return ILLEGAL;
  return op.output === NONE || op.output === state ? state : ILLEGAL;
}

function stepDelete(op: ModelOp, state: number): number {
  if (op.outcome === 'indeterminate') return ABSENT;
  if (op.outcome === 'ok') return state !== ABSENT ? ABSENT : ILLEGAL;
  return state === ABSENT ? state : ILLEGAL; // fail: not_found
}

/** The value id this op may leave in the register (NONE for ops that never change it). */
export function producedValue(op: ModelOp): number {
  if (op.outcome === 'fail') return NONE;
  if (op.kind === 'write' || op.kind === 'cas') return op.value;
  if (op.kind === 'delete') return ABSENT;
  return NONE;
}

/**
 * The exact value id this op needs to see in the register, or NONE. A delete ok and a
 * precondition_failed without `current` need "some value", not a specific one: see
 * isVagueObserver.
 */
export function observedValue(op: ModelOp): number {
  if (op.kind === 'read') return op.output;
  if (op.outcome === 'fail' && op.error === 'not_found') return ABSENT;
  if (op.kind !== 'cas') return NONE;
  if (op.outcome === 'fail') return op.output; // reported current, or NONE
  return op.from; // ok, and indeterminate (in case it succeeded)
}

/** An op that constrains the state without naming one value (makes dropping ops inexact). */
export function isVagueObserver(op: ModelOp): boolean {
  if (op.kind === 'delete') return op.outcome === 'ok';
  return op.kind === 'cas' && op.outcome === 'fail' && op.error === 'precondition_failed' && op.output === NONE;
}

/** A definite op that surely changed the register (a witness for the direct check). */
export function isDefiniteChange(op: ModelOp): boolean {
  return op.outcome === 'ok' && op.kind !== 'read';
}
