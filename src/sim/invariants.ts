import type { RaftCore } from '../raft/raft.js';
import type { Entry, NodeId } from '../raft/types.js';

/** A broken safety property, with the simulated time it was detected at. */
export interface Violation {
  at: number;
  rule: string;
  detail: string;
}

/**
 * Checks the Raft safety properties (Figure 3 of the paper) across the whole simulated
 * cluster, incrementally, after every event.
 */
export class InvariantChecker {
  readonly violations: Violation[] = [];
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** The one committed entry at each index, as first observed: index -> term/data. */
  private readonly committed = new Map<number, { term: number; data: string }>();
  private readonly applied = new Map<number, { term: number; data: string }>();
  private readonly leaderLogTip = new Map<NodeId, { term: number; lastIndex: number; lastTerm: number }>();
  private readonly checkedCommit = new Map<NodeId, number>();
  now = 0;

  private fail(rule: string, detail: string): void {
    if (this.violations.length < 20) this.violations.push({ at: this.now, rule, detail });
  }

  /** Records a violation found outside this checker (e.g. a forged message the core accepted). */
  report(rule: string, detail: string): void {
    this.fail(rule, detail);
  }

  /** Call after any event that touched `core`. */
  checkNode(core: RaftCore): void {
    this.checkElectionSafety(core);
    this.checkLeaderAppendOnly(core);
    this.checkCommitted(core);
  }

  /** Election safety: at most one leader per term. */
  private checkElectionSafety(core: RaftCore): void {
    if (core.state !== 'leader') return;
    const known = this.leaderOfTerm.get(core.term);
    if (known === undefined) {
      this.leaderOfTerm.set(core.term, core.id);
      this.checkLeaderCompleteness(core);
    } else if (known !== core.id) {
      this.fail('election safety', `term ${core.term} has two leaders: ${known} and ${core.id}`);
    }
  }

  /** Leader completeness: a new leader's log holds every entry committed before it won. */
  private checkLeaderCompleteness(core: RaftCore): void {
    for (const [index, entry] of this.committed) {
      if (index <= core.log.offset) continue;
      const term = core.log.termAt(index);
      if (term !== entry.term) {
        this.fail('leader completeness', `${core.id} leads term ${core.term} without committed entry ${index} (term ${entry.term}, has ${term})`);
        return;
      }
    }
  }

  /** Leader append-only: while a node leads a term, its log only grows. */
  private checkLeaderAppendOnly(core: RaftCore): void {
    const tip = this.leaderLogTip.get(core.id);
    if (tip && core.state === 'leader' && tip.term === core.term && tip.lastIndex > core.log.offset) {
      if (core.log.lastIndex() < tip.lastIndex || core.log.termAt(tip.lastIndex) !== tip.lastTerm) {
        this.fail('leader append-only', `${core.id} (term ${core.term}) lost or rewrote entry ${tip.lastIndex}`);
      }
    }
    if (core.state === 'leader') {
      this.leaderLogTip.set(core.id, { term: core.term, lastIndex: core.log.lastIndex(), lastTerm: core.log.lastTerm() });
    } else {
      this.leaderLogTip.delete(core.id);
    }
  }

  /** Committed entries never change: every node's committed prefix agrees with the record. */
  private checkCommitted(core: RaftCore): void {
    const from = Math.max(this.checkedCommit.get(core.id) ?? 0, core.log.offset) + 1;
    for (let index = from; index <= core.log.commitIndex; index++) {
      const entry = core.log.entryAt(index) as Entry;
      const known = this.committed.get(index);
      if (!known) this.committed.set(index, { term: entry.term, data: entry.data });
      else if (known.term !== entry.term || known.data !== entry.data) {
        this.fail('committed entries are permanent', `${core.id} committed index ${index} as term ${entry.term}, but term ${known.term} was committed before`);
      }
    }
    this.checkedCommit.set(core.id, Math.max(from - 1, core.log.commitIndex));
  }

  /** State machine safety: no two nodes apply different commands at the same index. */
  checkApplied(node: NodeId, entries: Entry[]): void {
    for (const entry of entries) {
      const known = this.applied.get(entry.index);
      if (!known) this.applied.set(entry.index, { term: entry.term, data: entry.data });
      else if (known.term !== entry.term || known.data !== entry.data) {
        this.fail('state machine safety', `${node} applied index ${entry.index} term ${entry.term}, another node applied term ${known.term}`);
      }
    }
  }

  /** Log matching: two logs with an entry of the same index and term agree on everything before it. */
  checkLogMatching(cores: RaftCore[]): void {
    for (let i = 0; i < cores.length; i++) {
      for (let j = i + 1; j < cores.length; j++) this.checkPair(cores[i] as RaftCore, cores[j] as RaftCore);
    }
  }

  private checkPair(a: RaftCore, b: RaftCore): void {
    const low = Math.max(a.log.offset, b.log.offset) + 1;
    let high = Math.min(a.log.lastIndex(), b.log.lastIndex());
    while (high >= low && a.log.termAt(high) !== b.log.termAt(high)) high--;
    for (let index = high; index >= low; index--) {
      const x = a.log.entryAt(index) as Entry;
      const y = b.log.entryAt(index) as Entry;
      if (x.term !== y.term || x.data !== y.data) {
        this.fail('log matching', `${a.id} and ${b.id} agree at ${high} but differ at ${index}`);
        return;
      }
    }
  }

  /** Linearizable reads: a read sees every write acknowledged before it began. */
  checkRead(node: NodeId, key: string, seenIndex: number, requiredIndex: number): void {
    if (seenIndex < requiredIndex) {
      this.fail('linearizable read', `${node} read ${key} at write index ${seenIndex}, but write ${requiredIndex} was acknowledged before the read began`);
    }
  }
}
