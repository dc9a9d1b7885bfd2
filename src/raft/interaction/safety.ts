import { assert } from '../assert.js';
import type { RaftCore } from '../raft.js';
import type { Entry, NodeId } from '../types.js';
import { formatEntry } from './format.js';

/**
 * Raft's safety properties (Figure 3), checked after every command of a script, so a
 * broken rule fails the script where it breaks instead of going unnoticed in the output.
 */
export class SafetyChecker {
  /** term -> the node that led it (Election Safety). */
  private readonly leaders = new Map<number, NodeId>();
  /**
   * index -> the entry applied there, by whichever node applied it first (State Machine
   * Safety), and a term by which it was certainly committed: the lowest term of a node
   * applying it (a node learns of a commit from a leader of that term or later).
   */
  private readonly applied = new Map<number, { entry: Entry; node: NodeId; committedBy: number }>();

  checkLeaders(cores: ReadonlyArray<RaftCore>): void {
    for (const core of cores) {
      if (core.state !== 'leader') continue;
      const known = this.leaders.get(core.term);
      assert(known === undefined || known === core.id, () => `election safety: ${known} and ${core.id} both led term ${core.term}`);
      this.leaders.set(core.term, core.id);
    }
  }

  checkApplied(node: NodeId, nodeTerm: number, entries: readonly Entry[]): void {
    for (const entry of entries) {
      const first = this.applied.get(entry.index);
      if (first === undefined) {
        this.applied.set(entry.index, { entry, node, committedBy: nodeTerm });
        continue;
      }
      first.committedBy = Math.min(first.committedBy, nodeTerm);
      const same = first.entry.term === entry.term && first.entry.type === entry.type && first.entry.data === entry.data;
      assert(same, () => `state machine safety: ${node} applied ${formatEntry(entry)} but ${first.node} applied ${formatEntry(first.entry)}`);
    }
  }

  /**
   * Leader Completeness, as far as a script can see it: the leader of a term after the one
   * an entry was committed in holds that entry. (A deposed leader that has not heard of
   * later terms yet need not.)
   */
  checkLeaderCompleteness(cores: ReadonlyArray<RaftCore>): void {
    for (const core of cores) {
      if (core.state !== 'leader') continue;
      for (const [index, { entry, node, committedBy }] of this.applied) {
        if (index < core.log.offset || core.term <= committedBy) continue; // compacted, or maybe not yet committed then
        const term = core.log.termAt(index);
        assert(term === entry.term, () => `leader completeness: leader ${core.id} has term ${term} at ${index}, ${node} applied ${formatEntry(entry)}`);
      }
    }
  }
}
