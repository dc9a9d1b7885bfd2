/**
 * The core's public inputs and outputs other than messages: what it is restored from, the
 * snapshots of its state it hands out (etcd's Status/BasicStatus) and the results of its
 * inputs. Kept apart from raft.ts, which only implements the rules.
 */
import type { Configuration } from './configuration.js';
import type { Entry, HardState, NodeId, RaftState, SnapshotMeta } from './types.js';

/** What a node recovered from disk, handed to the core at start. */
export interface RaftRestore {
  hardState: HardState;
  /** What covers the compacted prefix of the log (the image itself is not needed here). */
  snapshot: { meta: SnapshotMeta } | null;
  offset: number;
  offsetTerm: number;
  entries: Entry[];
  /** The state machine's durable applied index. */
  appliedIndex: number;
}

/** Why a proposal was refused. */
/** A copy of the core's state at one moment (etcd's BasicStatus): what the runtime and the metrics read. */
export interface BasicStatus {
  id: NodeId;
  term: number;
  vote: NodeId | null;
  state: RaftState;
  leader: NodeId | null;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
}

/** Why a proposal was refused: not the leader, a leadership transfer in progress, or back-pressure (maxUncommittedEntries). */
export type ProposeError = 'not_leader' | 'transferring' | 'too_many_requests';

/** An accepted proposal's index and term (it is committed when a Ready's committedEntries holds it), or why it was refused and which leader to ask instead. */
export type ProposeResult = { ok: true; index: number; term: number } | { ok: false; error: ProposeError; leader: NodeId | null };

/**
 * Why a membership change was refused: `pending` (another change is uncommitted or joint: one
 * at a time), `own_term` (no entry of this leader's term is committed yet: the 2015
 * single-server-change bug), `lagging` (a learner to promote is more than MAX_PROMOTE_LAG
 * entries behind), `invalid` (the changes themselves; `field` names the JSON path).
 */
export type ConfChangeError = ProposeError | 'pending' | 'own_term' | 'lagging' | 'invalid';

/** Where an accepted membership change sits in the log (and whether it entered a joint configuration), or why it was refused. */
export type ConfChangeResult =
  | { ok: true; index: number; term: number; joint: boolean }
  | { ok: false; error: ConfChangeError; leader: NodeId | null; field?: string; message?: string; lag?: number };

/** The configuration in effect and where it came from (thesis §4.1: the latest in the log). */
export interface MembershipView {
  config: Configuration;
  /** Index of the entry (or snapshot) that carried it; 0 for the seed. */
  configIndex: number;
  committed: boolean;
  /** Not a member of a committed configuration: this node was removed and must stay quiet. */
  removed: boolean;
}

/** Per-peer view for status pages. */
export interface PeerProgressView {
  matchIndex: number;
  nextIndex: number;
  state: string;
  inflight: number;
  ticksSinceContact: number | null;
}
