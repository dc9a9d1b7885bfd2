import type { ConfChange, Entry, NodeId, RaftState } from '@raftquotes/raft';
import type { ApplyResult, Command, StateMachine } from '../state/types.js';
import type { MembersView } from './membership.js';

/** Per-peer replication progress as the leader sees it (empty on followers). */
export interface PeerStatus {
  matchIndex: number;
  nextIndex: number;
  /** Milliseconds since this node last heard from the peer (null: never). */
  lastContactMs: number | null;
  /** AppendEntries messages sent and not yet acknowledged. */
  inflight: number;
  /** probe | replicate | snapshot */
  progress: string;
  connected: boolean;
}

/** One node's view of itself; served by GET /api/status and the controller's STATUS. */
export interface NodeStatus {
  id: NodeId;
  /** 'shutdown' while stopped by the controller's SHUTDOWN; 'removed' once out of a committed configuration. */
  state: RaftState | 'shutdown' | 'removed';
  term: number;
  leader: NodeId | null;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  /** Ticks elapsed since the election timer was reset, and the randomized timeout, in ms. */
  electionElapsedMs: number;
  electionTimeoutMs: number;
  http: string;
  peers: Record<NodeId, PeerStatus>;
  /** The configuration in effect (SPEC §9). */
  /**
   * The configuration in effect (SPEC §9), and `removed`: members of an earlier configuration
   * this node still holds (or the leader still tells of their removal) that are no longer members.
   */
  members?: { configIndex: number; voters: NodeId[]; learners: NodeId[]; joint: null | { outgoing: NodeId[] }; removed: NodeId[] };
}

/** Error codes the runtime raises; the API maps them to SPEC §3 codes. */
export type NodeErrorCode = 'not_leader' | 'no_leader' | 'unavailable' | 'timeout' | 'too_many_requests' | 'quota_exceeded';

/** A runtime failure with a machine-readable code (and the known leader for not_leader). */
export class NodeError extends Error {
  override readonly name = 'NodeError';
  constructor(
    readonly code: NodeErrorCode,
    message: string,
    readonly leader: NodeId | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Listener for entries as they are applied, with their results (same order). */
export type ApplyListener = (entries: Entry[], results: ApplyResult[]) => void;

/**
 * What the HTTP API and the UDP controller need from a running node. The runtime in
 * src/node implements it; api/ and controller/ only ever see this interface.
 */
export interface RaftNodeHandle {
  readonly id: NodeId;
  /** All configured voters, this node included, in configuration order. */
  readonly voters: NodeId[];
  status(): NodeStatus;
  /** status().leader, without building the rest of the status (it is read for every answer's X-Raft-Leader). */
  knownLeader(): NodeId | null;
  /** HTTP base URL of a peer (learned from the peer's transport handshake), or null. */
  peerHttpUrl(peer: NodeId): string | null;
  /** True between the controller's SHUTDOWN and the next CONVERT_FOLLOWER/resume. */
  isShutdown(): boolean;
  /**
   * Proposes a command on the leader and resolves with its result once applied locally.
   * Throws NodeError: not_leader (with the leader), no_leader, unavailable, timeout.
   */
  propose(command: Command, timeoutMs?: number): Promise<ApplyResult>;
  /**
   * Like propose, but a follower forwards the command to the leader over the peer link and
   * resolves with its own apply result once it has applied the entry. `leader` is
   * the node that accepted it. Throws NodeError: no_leader, unavailable, timeout,
   * too_many_requests, quota_exceeded. Optional: test doubles may only have propose.
   */
  submit?(command: Command, timeoutMs?: number): Promise<{ result: ApplyResult; leader: NodeId }>;
  /**
   * ReadIndex: resolves once this node has applied everything committed before the call,
   * as confirmed by the leader (works on followers). Throws NodeError like propose.
   */
  readBarrier(timeoutMs?: number): Promise<void>;
  /** Read access to the applied state. */
  readonly stateMachine: StateMachine;
  /** This node's log entries from `from` (clamped to what is still in memory), for the dashboard. */
  recentLog(from: number, limit: number): { entries: Array<{ index: number; term: number; type: string }>; commitIndex: number; firstIndex: number };
  /** Subscribes to applied entries; returns the unsubscribe function. */
  onApply(listener: ApplyListener): () => void;
  /** Marks an HTTP stage of the write at `index` (RAFTQUOTES_TRACE_WRITES); optional, a no-op when not tracing. */
  traceWrite?(index: number, stage: 'http_in' | 'http_out', atMicros?: number): void;
  /** Controller TIMEOUT: a forced campaign that skips pre-vote and ignores leases. */
  campaign(): void;
  /** Controller CONVERT_FOLLOWER: follower now, same term; also resumes after shutdown. */
  becomeFollower(): void;
  /** Controller SHUTDOWN: stop all Raft activity, keep the process and the controller up. */
  shutdown(): void;
  /** Resume after shutdown (as a follower, from the persisted state). */
  resume(): void;
  /** The configuration in effect (SPEC §9); absent on test doubles without membership. */
  members?(): MembersView;
  /**
   * Leader: change the membership; resolves with the final configuration once committed.
   * Throws MembershipError (bad_request with the field, precondition_failed with lag) or NodeError.
   */
  changeMembers?(changes: readonly ConfChange[], timeoutMs?: number): Promise<{ index: number; members: MembersView }>;
  /** Leader: hand leadership to the most up-to-date peer (or `to`); resolves when done or times out. */
  transferLeadership(to?: NodeId): Promise<void>;
}
