import { Prng } from './prng.js';
import { ILLEGAL, NONE, observedValue, producedValue, step, type ModelOp } from './model.js';
import { ABSENT } from './values.js';

/** Default search loop iterations per key before giving up with 'unknown'. */
export const DEFAULT_MAX_STEPS = 20_000_000;
/** Default memoized configurations per key (each holds a copy of the linearized bitset). */
export const DEFAULT_MAX_CACHE_ENTRIES = 1_000_000;
/** How often (in steps) the search looks at the wall clock. */
const CLOCK_CHECK_EVERY_STEPS = 4096;
/** How far down the stack the stuck-point report looks for the last state change. */
const MAX_STUCK_STACK_SCAN = 4096;
/** Fixed seed for the Zobrist keys: hashing must not make runs differ. */
const ZOBRIST_SEED = 0x5eed_c0de;
const NIL = -1;
// The arrays below are indexed by op numbers in [0, n) and event numbers in [0, 2n], which
// they are sized for by construction; the `!` on their reads states that (and costs nothing
// in this hot loop, where a checked accessor would).
/** backtrack()/applyForcedMoves() result: this branch is exhausted. */
const DEAD = -2;

/** Limits for one search; the deadline is an absolute Date.now() value. */
export interface SearchLimits {
  maxSteps: number;
  maxCacheEntries: number;
  deadline: number;
  /**
   * Prune orders that strand observers (default true). Off for the explanation pass: the
   * verdict is the same, but the search then gets stuck where a person would, at the
   * observer that cannot see its value, rather than at the write that would hide it.
   */
  stranding?: boolean;
}

/** Where the deepest attempt got stuck: the op that could not be placed. */
export interface StuckPoint {
  /** Index of the op whose completion was reached before it could be linearized. */
  op: number;
  /** Register state (value id) at that point of the longest partial linearization. */
  state: number;
  /** Ops linearized before it. */
  depth: number;
  /** The last linearized op that set the state, or -1 for the initial (absent) state. */
  lastChange: number;
  /** Other ops invoked and not yet linearized at that point (candidates to go first). */
  pending: number[];
}

/** Verdict plus statistics. `stuck` is set for false, and for 'unknown' when the search got that far. */
export interface SearchResult {
  ok: boolean | 'unknown';
  steps: number;
  cacheEntries: number;
  stuck?: StuckPoint;
  reason?: string;
}

interface CacheEntry {
  h2: number;
  state: number;
  bits: Uint32Array;
}

/**
 * Wing & Gong's linearizability search with Lowe's memoization, as in Porcupine:
 * walk the time-ordered call/return events; at a call, try to linearize that op
 * (model step + the (linearized set, state) configuration not seen before); at a
 * return of an op not yet linearized, backtrack. Linearized ops are "lifted" out of a
 * doubly linked event list and put back on backtrack (dancing links).
 *
 * Four reductions keep it fast on the histories a fault run produces; each one only
 * skips orders that have an equivalent order the search still tries, and a property
 * test cross-checks the verdict against brute force (brute-force.ts):
 * - forced moves: legal observers (reads, failed cas/delete) go first, no branching;
 * - stranding: never overwrite a value that pending observers still need and nothing
 *   left can write again;
 * - lazy optional ops: an indeterminate op goes only right before an op that depends
 *   on its effect;
 * - symmetry: of interchangeable indeterminate ops, only the earliest is tried.
 */
export function searchLinearization(ops: readonly ModelOp[], limits: SearchLimits): SearchResult {
  return new Search(ops, limits).run();
}

class Search {
  private readonly n: number;
  private readonly head: number;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly bits: Uint32Array;
  private readonly zobrist1: Uint32Array;
  private readonly zobrist2: Uint32Array;
  private readonly cache = new Map<number, CacheEntry[]>();
  private readonly stackOp: Int32Array;
  private readonly stackState: Int32Array;
  private readonly stackForced: Uint8Array;
  /** Per op: a definite op that never changes the state (read, cas fail, delete fail). */
  private readonly observer: Uint8Array;
  /** Per op: 1 unless indeterminate. The search succeeds once every definite op is placed. */
  private readonly definite: Uint8Array;
  private definiteLeft: number;
  /** Per op: TWIN_NONE, or the class of interchangeable optional ops it belongs to. */
  private readonly twinClass: Uint8Array;
  /** Per op: the value it must see (definite ops only) and the value it may write, or NONE. */
  private readonly needs: Int32Array;
  private readonly writes: Int32Array;
  /** Per value id: definite observers and possible producers not linearized yet. */
  private readonly observersLeft: Int32Array;
  private readonly producersLeft: Int32Array;
  private stackLength = 0;
  private hash1 = 0;
  private hash2 = 0;
  private state = ABSENT;
  private steps = 0;
  private cacheEntries = 0;
  private stuck: StuckPoint | undefined;

  constructor(private readonly ops: readonly ModelOp[], private readonly limits: SearchLimits) {
    this.n = ops.length;
    this.head = 2 * this.n;
    this.next = new Int32Array(2 * this.n + 1).fill(NIL);
    this.prev = new Int32Array(2 * this.n + 1).fill(NIL);
    this.bits = new Uint32Array(Math.ceil(this.n / 32) || 1);
    this.stackOp = new Int32Array(this.n);
    this.stackState = new Int32Array(this.n);
    this.stackForced = new Uint8Array(this.n);
    this.observer = Uint8Array.from(ops, (op) => (op.outcome === 'ok' && op.kind === 'read') || op.outcome === 'fail' ? 1 : 0);
    this.definite = Uint8Array.from(ops, (op) => (op.outcome === 'indeterminate' ? 0 : 1));
    this.definiteLeft = this.definite.reduce((sum, d) => sum + d, 0);
    this.twinClass = twinClasses(ops);
    this.needs = Int32Array.from(ops, (op) => (op.outcome === 'indeterminate' ? NONE : observedValue(op)));
    this.writes = Int32Array.from(ops, (op) => producedValue(op));
    const valueCount = 1 + ops.reduce((max, op) => Math.max(max, op.value, op.from, op.output), 0);
    this.observersLeft = new Int32Array(valueCount);
    this.producersLeft = new Int32Array(valueCount);
    ops.forEach((_, op) => this.count(op, 1));
    const prng = new Prng(ZOBRIST_SEED);
    this.zobrist1 = Uint32Array.from({ length: this.n }, () => prng.nextUint32());
    this.zobrist2 = Uint32Array.from({ length: this.n }, () => prng.nextUint32());
    this.linkEvents();
  }

  /** Op i: every op index the search handles comes from 0..n-1 (events are 2*op and 2*op+1). */
  private op(i: number): ModelOp {
    const op = this.ops[i];
    if (op === undefined) throw new RangeError(`search: op ${i} of ${this.n}`);
    return op;
  }

  /** Events are 2*op (call) and 2*op+1 (return), ordered by time; calls first on ties, so equal timestamps count as concurrent. */
  private linkEvents(): void {
    const events = Array.from({ length: 2 * this.n }, (_, e) => e);
    const time = (e: number): number => ((e & 1) === 0 ? this.op(e >> 1).invokeMs : this.op(e >> 1).completeMs);
    events.sort((a, b) => time(a) - time(b) || (a & 1) - (b & 1) || a - b);
    let last = this.head;
    for (const e of events) {
      this.next[last] = e;
      this.prev[e] = last;
      last = e;
    }
  }

  run(): SearchResult {
    let entry = this.applyForcedMoves();
    while (this.definiteLeft > 0) {
      const over = this.overBudget();
      if (over) return this.result('unknown', over);
      if (entry !== DEAD && (entry & 1) === 0) {
        entry = this.tryLinearize(entry);
        continue;
      }
      if (entry !== DEAD) this.noteStuck(entry >> 1);
      entry = this.backtrack();
      if (entry === DEAD) return this.result(false);
    }
    return this.result(true);
  }

  /** Linearizes the op of call event `entry` if legal and new; returns the next event to look at. */
  private tryLinearize(entry: number): number {
    const op = entry >> 1;
    const newState = step(this.op(op), this.state);
    if (newState === ILLEGAL || this.strandsObservers(op, newState) || this.needlessOptional(op, newState) || !this.push(op, newState, false)) {
      return slot(this.next, entry);
    }
    return this.applyForcedMoves();
  }

  /**
   * An indeterminate op may never take effect, so it is only worth placing right before
   * an op in the current window that depends on what it writes (its consumer). Any
   * linearization can be rearranged that way: an indeterminate op with no consumer next
   * can move to the very end (its completion is +infinity), where it is invisible. This
   * keeps ops that never happened from multiplying the configurations by 2^k.
   */
  private needlessOptional(op: number, newState: number): boolean {
    if (slot(this.definite, op) === 1) return false;
    if (newState === this.state || this.earlierTwinPending(op)) return true;
    for (let e = slot(this.next, this.head); e !== NIL && (e & 1) === 0; e = slot(this.next, e)) {
      if (e >> 1 !== op && this.consumes(e >> 1, newState)) return false;
    }
    return true;
  }

  /**
   * Symmetry: pending indeterminate deletes are interchangeable, and so are pending
   * indeterminate writes of values no op ever compares with. Only the earliest-invoked
   * one of each class may be placed next; any other choice has a mirror image through it.
   */
  private earlierTwinPending(op: number): boolean {
    const twinClass = slot(this.twinClass, op);
    if (twinClass === 0) return false;
    for (let e = slot(this.next, this.head); e !== NIL && e !== 2 * op; e = slot(this.next, e)) {
      if ((e & 1) === 0 && slot(this.twinClass, e >> 1) === twinClass) return true;
    }
    return false;
  }

  /**
   * Does op c behave differently if the register holds v instead of the current state:
   * legal only at v, or a different effect (not "both leave the state alone", not "both
   * set the same value")? Only then is an optional write of v worth placing before it.
   */
  private consumes(c: number, v: number): boolean {
    const op = this.op(c);
    const atV = step(op, v);
    if (atV === ILLEGAL) return false;
    const atState = step(op, this.state);
    if (atState === ILLEGAL) return true;
    return !(atState === atV || (atState === this.state && atV === v));
  }

  /**
   * True if op would overwrite the current value while ops that must still see it remain
   * and nothing left can write it again: a dead end, found now instead of at the
   * observer. This is what keeps observed indeterminate writes cheap: they can only go
   * right before their first reader, not at every point where a later write hides them.
   */
  private strandsObservers(op: number, newState: number): boolean {
    const v = this.state;
    if (newState === v || this.limits.stranding === false) return false;
    const waiting = slot(this.observersLeft, v) - (slot(this.needs, op) === v ? 1 : 0);
    return waiting > 0 && slot(this.producersLeft, v) - (slot(this.writes, op) === v ? 1 : 0) === 0;
  }

  /** Adds delta to the "not linearized yet" counts of op's observed and written values. */
  private count(op: number, delta: number): void {
    const needs = slot(this.needs, op);
    const writes = slot(this.writes, op);
    if (needs !== NONE) this.observersLeft[needs] = slot(this.observersLeft, needs) + delta;
    if (writes !== NONE) this.producersLeft[writes] = slot(this.producersLeft, writes) + delta;
  }

  /**
   * Linearizes every pending observer (a definite read, cas fail or delete fail) that is
   * legal in the current state, without branching. Safe because such an op leaves the
   * state alone and its call precedes every pending return: in any valid completion it
   * can move to the front. Returns the head of the window, or DEAD when a forced move
   * leads to a configuration already explored (so this one fails too).
   */
  private applyForcedMoves(): number {
    for (let e = slot(this.next, this.head); e !== NIL && (e & 1) === 0; ) {
      const op = e >> 1;
      if (!slot(this.observer, op) || step(this.op(op), this.state) === ILLEGAL) {
        e = slot(this.next, e);
        continue;
      }
      if (!this.push(op, this.state, true)) return DEAD;
      e = slot(this.next, this.head);
    }
    return slot(this.next, this.head);
  }

  /** Records op as linearized with the given resulting state; false if that configuration was already explored. */
  private push(op: number, newState: number, forced: boolean): boolean {
    this.flip(op);
    if (!this.remember(newState)) {
      this.flip(op);
      return false;
    }
    this.stackOp[this.stackLength] = op;
    this.stackState[this.stackLength] = this.state;
    this.stackForced[this.stackLength] = forced ? 1 : 0;
    this.stackLength++;
    this.state = newState;
    this.lift(op);
    this.count(op, -1);
    this.definiteLeft -= slot(this.definite, op);
    return true;
  }

  /**
   * Undoes linearizations up to and including the most recent branching one (forced moves
   * have no alternatives), and resumes after that op's call. DEAD when nothing is left.
   */
  private backtrack(): number {
    while (this.stackLength > 0) {
      this.stackLength--;
      const op = slot(this.stackOp, this.stackLength);
      this.state = slot(this.stackState, this.stackLength);
      this.flip(op);
      this.unlift(op);
      this.count(op, 1);
      this.definiteLeft += slot(this.definite, op);
      if (slot(this.stackForced, this.stackLength) === 0) return slot(this.next, 2 * op);
    }
    return DEAD;
  }

  private flip(op: number): void {
    this.bits[op >>> 5] = slot(this.bits, op >>> 5) ^ (1 << (op & 31));
    this.hash1 ^= slot(this.zobrist1, op);
    this.hash2 ^= slot(this.zobrist2, op);
  }

  /** Adds the current (bits, state) configuration to the cache; false if it was there already. */
  private remember(state: number): boolean {
    const key = (this.hash1 ^ Math.imul(state + 1, 0x9e3779b1)) >>> 0;
    let bucket = this.cache.get(key);
    if (bucket) {
      for (const entry of bucket) {
        if (entry.h2 === this.hash2 && entry.state === state && sameBits(entry.bits, this.bits)) return false;
      }
    } else {
      bucket = [];
      this.cache.set(key, bucket);
    }
    bucket.push({ h2: this.hash2, state, bits: this.bits.slice() });
    this.cacheEntries++;
    return true;
  }

  private lift(op: number): void {
    this.unlink(2 * op);
    this.unlink(2 * op + 1);
  }

  /** Reinserts in reverse order of lift, so each node's saved neighbours are current again. */
  private unlift(op: number): void {
    this.relink(2 * op + 1);
    this.relink(2 * op);
  }

  /** Removes event e from the list; e keeps its own pointers for relink. */
  private unlink(e: number): void {
    this.next[slot(this.prev, e)] = slot(this.next, e);
    if (slot(this.next, e) !== NIL) this.prev[slot(this.next, e)] = slot(this.prev, e);
  }

  private relink(e: number): void {
    this.next[slot(this.prev, e)] = e;
    if (slot(this.next, e) !== NIL) this.prev[slot(this.next, e)] = e;
  }

  private overBudget(): string | undefined {
    this.steps++;
    if (this.steps > this.limits.maxSteps) return `search budget exceeded: more than ${this.limits.maxSteps} steps`;
    if (this.cacheEntries > this.limits.maxCacheEntries) return `search budget exceeded: more than ${this.limits.maxCacheEntries} memoized configurations`;
    if (this.steps % CLOCK_CHECK_EVERY_STEPS === 0 && Date.now() > this.limits.deadline) return 'search budget exceeded: out of time';
    return undefined;
  }

  /** Remembers the deepest point where an op's completion came before it could be placed. */
  private noteStuck(op: number): void {
    if (this.stuck && this.stuck.depth >= this.stackLength) return;
    const pending: number[] = [];
    for (let e = slot(this.next, this.head); e !== NIL && e !== 2 * op + 1; e = slot(this.next, e)) {
      if ((e & 1) === 0 && e >> 1 !== op) pending.push(e >> 1);
    }
    this.stuck = { op, state: this.state, depth: this.stackLength, lastChange: this.lastChange(), pending };
  }

  private lastChange(): number {
    const bottom = Math.max(0, this.stackLength - MAX_STUCK_STACK_SCAN);
    for (let i = this.stackLength - 1; i >= bottom; i--) {
      const after = i === this.stackLength - 1 ? this.state : slot(this.stackState, i + 1);
      const op = this.op(slot(this.stackOp, i));
      if (after !== slot(this.stackState, i) || op.kind === 'write' || (op.kind === 'delete' && op.outcome !== 'fail')) return op.index;
    }
    return -1;
  }

  private result(ok: boolean | 'unknown', reason?: string): SearchResult {
    return { ok, steps: this.steps, cacheEntries: this.cacheEntries, stuck: ok === true ? undefined : this.stuck, reason };
  }
}

const TWIN_NONE = 0;
const TWIN_DELETE = 1;
const TWIN_ANONYMOUS_WRITE = 2;

/** Classes of interchangeable indeterminate ops (see Search.earlierTwinPending). */
function twinClasses(ops: readonly ModelOp[]): Uint8Array {
  const mentions = new Map<number, number>();
  const mention = (v: number): void => {
    if (v !== NONE) mentions.set(v, (mentions.get(v) ?? 0) + 1);
  };
  for (const op of ops) [op.value, op.from, op.output].forEach(mention);
  return Uint8Array.from(ops, (op) => {
    if (op.outcome !== 'indeterminate') return TWIN_NONE;
    if (op.kind === 'delete') return TWIN_DELETE;
    return op.kind === 'write' && mentions.get(op.value) === 1 ? TWIN_ANONYMOUS_WRITE : TWIN_NONE;
  });
}

/**
 * Slot i of one of the search's typed arrays, each sized for every op, event or value id it
 * is indexed by: a miss is a bug in the search, not a verdict.
 */
function slot(array: Int32Array | Uint32Array | Uint8Array, i: number): number {
  const value = array[i];
  if (value === undefined) throw new RangeError(`search: index ${i} outside an array of ${array.length}`);
  return value;
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
