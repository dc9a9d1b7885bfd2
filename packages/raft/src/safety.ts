import { RaftInvariantError } from './assert.js';
import type { Entry, NodeId, RaftState } from './types.js';

/** A broken safety property, with the (simulated) time it was detected at. */
export interface Violation {
  at: number;
  rule: string;
  detail: string;
}

/** What the checker reads of a node's log: read-only views, never the fields themselves. */
export interface LogView {
  readonly offset: number;
  readonly commitIndex: number;
  /** Index of the last entry. */
  lastIndex(): number;
  /** Term of the last entry. */
  lastTerm(): number;
  /** Term of the entry at `index`, or undefined if compacted away or beyond the end. */
  termAt(index: number): number | undefined;
  /** The entry at `index`, or undefined if compacted away or beyond the end. */
  entryAt(index: number): Entry | undefined;
}

/** What the checker reads of a node (a RaftCore satisfies it). */
export interface RaftView {
  readonly id: NodeId;
  readonly term: number;
  readonly state: RaftState;
  readonly log: LogView;
}

/** A committed (or applied) entry as first seen, and the lowest term of a node that saw it committed. */
interface SeenEntry {
  entry: Entry;
  node: NodeId;
  /** The entry was committed in this term or earlier: every leader of a later term must hold it. */
  committedBy: number;
}

/** Keeps at most this many violations: the first few explain a failure, the rest repeat it. */
const MAX_VIOLATIONS = 20;

/**
 * Raft's safety properties (Figure 3 of the paper), checked across a whole cluster after
 * every event: by the simulator (which records violations and reports them with its trace)
 * and by the interaction scripts (which throw, so a script fails where the rule broke).
 * - Election Safety: at most one leader per term.
 * - Leader Append-Only: while a node leads a term, its log only grows.
 * - Log Matching: two logs with an entry of the same index and term agree up to it.
 * - Leader Completeness: a leader of a term holds every entry committed in earlier terms.
 * - State Machine Safety: no two nodes apply different entries at one index.
 * And committed entries are permanent: no node's committed prefix ever changes.
 */
export class SafetyChecker {
  readonly violations: Violation[] = [];
  /** Time stamped on violations (the simulator's clock). */
  now = 0;
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly committed = new Map<number, SeenEntry>();
  private readonly applied = new Map<number, SeenEntry>();
  private readonly leaderLogTip = new Map<NodeId, { term: number; lastIndex: number; lastTerm: number }>();
  private readonly checkedCommit = new Map<NodeId, number>();

  /** 'throw' raises a RaftInvariantError at the first violation instead of recording it. */
  constructor(private readonly mode: 'record' | 'throw' = 'record') {}

  /** Records a violation found outside this checker (a forged message accepted, a client history). */
  report(rule: string, detail: string): void {
    if (this.mode === 'throw') throw new RaftInvariantError(`${rule}: ${detail}`);
    if (this.violations.length < MAX_VIOLATIONS) this.violations.push({ at: this.now, rule, detail });
  }

  /** Call after any event that may have changed `node`. */
  checkNode(node: RaftView): void {
    this.checkElectionSafety(node);
    this.checkLeaderAppendOnly(node);
    this.checkCommitted(node);
  }

  /** checkNode over several nodes. */
  checkNodes(nodes: Iterable<RaftView>): void {
    for (const node of nodes) this.checkNode(node);
  }

  private checkElectionSafety(node: RaftView): void {
    if (node.state !== 'leader') return;
    const known = this.leaderOfTerm.get(node.term);
    if (known === undefined) {
      this.leaderOfTerm.set(node.term, node.id);
      this.checkLeaderCompleteness(node);
    } else if (known !== node.id) {
      this.report('election safety', `term ${node.term} has two leaders: ${known} and ${node.id}`);
    }
  }

  /**
   * When a leader of term T is first seen, it holds every entry seen committed by a node in a
   * term below T (a node learns of a commit from a leader of that term or later, so it was
   * committed by then). Later commits are covered by "committed entries are permanent";
   * small clusters (the interaction scripts) can afford to call this after every step too.
   */
  checkLeaderCompleteness(node: RaftView): void {
    if (node.state !== 'leader') return;
    for (const seen of [this.committed, this.applied]) {
      for (const [index, { entry, node: by, committedBy }] of seen) {
        if (index <= node.log.offset || node.term <= committedBy) continue;
        const term = node.log.termAt(index);
        if (term !== entry.term) {
          this.report('leader completeness', `${node.id} leads term ${node.term} with term ${term} at ${index}, but ${by} saw term ${entry.term} committed there by term ${committedBy}`);
          return;
        }
      }
    }
  }

  private checkLeaderAppendOnly(node: RaftView): void {
    const tip = this.leaderLogTip.get(node.id);
    if (tip && node.state === 'leader' && tip.term === node.term && tip.lastIndex > node.log.offset) {
      if (node.log.lastIndex() < tip.lastIndex || node.log.termAt(tip.lastIndex) !== tip.lastTerm) {
        this.report('leader append-only', `${node.id} (term ${node.term}) lost or rewrote entry ${tip.lastIndex}`);
      }
    }
    if (node.state === 'leader') this.leaderLogTip.set(node.id, { term: node.term, lastIndex: node.log.lastIndex(), lastTerm: node.log.lastTerm() });
    else this.leaderLogTip.delete(node.id);
  }

  /** Committed entries never change: every node's committed prefix agrees with the record. */
  private checkCommitted(node: RaftView): void {
    const from = Math.max(this.checkedCommit.get(node.id) ?? 0, node.log.offset) + 1;
    for (let index = from; index <= node.log.commitIndex; index++) {
      const entry = node.log.entryAt(index);
      if (entry) this.record(this.committed, 'committed entries are permanent', node.id, node.term, entry);
    }
    this.checkedCommit.set(node.id, Math.max(from - 1, node.log.commitIndex));
  }

  /** State machine safety: call with the entries a node applies, and its term then. */
  checkApplied(node: NodeId, nodeTerm: number, entries: readonly Entry[]): void {
    for (const entry of entries) this.record(this.applied, 'state machine safety', node, nodeTerm, entry);
  }

  /** A node restarted from its disk: its committed prefix is read again from the log. */
  forgetNode(node: NodeId): void {
    this.checkedCommit.delete(node);
    this.leaderLogTip.delete(node);
  }

  private record(seen: Map<number, SeenEntry>, rule: string, node: NodeId, nodeTerm: number, entry: Entry): void {
    const first = seen.get(entry.index);
    if (!first) {
      seen.set(entry.index, { entry, node, committedBy: nodeTerm });
      return;
    }
    first.committedBy = Math.min(first.committedBy, nodeTerm);
    if (first.entry.term !== entry.term || first.entry.type !== entry.type || first.entry.data !== entry.data) {
      this.report(rule, `${node} has term ${entry.term} at ${entry.index}, but ${first.node} had term ${first.entry.term} ${first.entry.type} there`);
    }
  }

  /** Log matching over every pair of nodes (quadratic: call it every few hundred events). */
  checkLogMatching(nodes: readonly RaftView[]): void {
    for (const [i, a] of nodes.entries()) {
      for (const b of nodes.slice(i + 1)) this.checkPair(a, b);
    }
  }

  private checkPair(a: RaftView, b: RaftView): void {
    const low = Math.max(a.log.offset, b.log.offset) + 1;
    let high = Math.min(a.log.lastIndex(), b.log.lastIndex());
    while (high >= low && a.log.termAt(high) !== b.log.termAt(high)) high--;
    for (let index = high; index >= low; index--) {
      // Both logs hold every index in [low, high]: above both offsets, at most both last indexes.
      const x = a.log.entryAt(index);
      const y = b.log.entryAt(index);
      if (x?.term !== y?.term || x?.data !== y?.data) {
        this.report('log matching', `${a.id} and ${b.id} agree at ${high} but differ at ${index}`);
        return;
      }
    }
  }
}
