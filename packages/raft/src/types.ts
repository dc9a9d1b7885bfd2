/**
 * Types shared by the Raft core and everything that drives it.
 * The core is pure: these are plain data, safe to encode with msgpack or JSON.
 */
import type { Configuration } from './configuration.js';

/** A node's name, e.g. "Node3". */
export type NodeId = string;

/**
 * Kinds of log entries. `noop` is appended by every new leader (§8 of the paper: a
 * leader commits an entry of its own term before serving reads). `config` carries a
 * membership configuration (configuration.ts), in effect from the moment it is appended.
 */
export type EntryType = 'normal' | 'noop' | 'config';

/** One log entry. `data` is opaque to the core (the state machine's encoded command). */
export interface Entry {
  index: number;
  term: number;
  type: EntryType;
  data: string;
}

/** The state that must be durable before a node answers a vote or an append (Figure 2). */
export interface HardState {
  term: number;
  vote: NodeId | null;
  commit: number;
}

/** What a snapshot covers: every entry up to `index` (of term `term`) is folded into it. */
export interface SnapshotMeta {
  index: number;
  term: number;
  /** Every voter of `config` (kept for readers of the older metadata format). */
  voters: NodeId[];
  /**
   * The configuration in effect at `index`, with members' addresses. The core always sets it;
   * only a snapshot stored before membership changes existed lacks it (the seed then applies).
   */
  config?: Configuration;
}

/** A state machine snapshot, as opaque bytes plus its metadata. */
export interface Snapshot {
  meta: SnapshotMeta;
  data: Uint8Array;
}

/** A node's role; `pre-candidate` is the pre-vote phase (thesis §9.6). */
export type RaftState = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** Fields every message carries. */
interface MessageBase {
  from: NodeId;
  to: NodeId;
  term: number;
}

/** Asks whether a peer would vote for the sender, without disrupting anyone's term (thesis §9.6). */
export interface PreVoteRequest extends MessageBase {
  type: 'PreVote';
  /** Pre-vote does not bump the sender's term; `term` is the term it would campaign in. */
  lastLogIndex: number;
  lastLogTerm: number;
}

/** The answer to a PreVote. */
export interface PreVoteResponse extends MessageBase {
  type: 'PreVoteResponse';
  granted: boolean;
}

/** RequestVote RPC (Figure 2, §5.2). */
export interface VoteRequest extends MessageBase {
  type: 'RequestVote';
  lastLogIndex: number;
  lastLogTerm: number;
  /** A forced campaign (TimeoutNow, controller TIMEOUT): voters ignore their leader lease. */
  force: boolean;
}

/** The answer to a RequestVote; sent only after the vote is durable. */
export interface VoteResponse extends MessageBase {
  type: 'RequestVoteResponse';
  granted: boolean;
}

/** AppendEntries RPC (Figure 2, §5.3): entries after (prevLogIndex, prevLogTerm), and the leader's commit index. */
export interface AppendEntriesRequest extends MessageBase {
  type: 'AppendEntries';
  prevLogIndex: number;
  prevLogTerm: number;
  entries: Entry[];
  commit: number;
}

/** The answer to an AppendEntries; a success is sent only after the entries are durable. */
export interface AppendEntriesResponse extends MessageBase {
  type: 'AppendEntriesResponse';
  success: boolean;
  /** On success: the last index now known to match the leader's log. */
  matchIndex: number;
  /** On rejection: the prevLogIndex that was rejected (lets the leader drop stale replies). */
  rejectedIndex: number;
  /** On rejection: fast backtracking hint (the thesis' §5.3 optimisation). */
  conflictIndex: number;
  conflictTerm: number | null;
}

/** A leader's heartbeat: keeps followers from campaigning, carries the commit index and a ReadIndex round (thesis §6.4). */
export interface HeartbeatRequest extends MessageBase {
  type: 'Heartbeat';
  commit: number;
  /** ReadIndex round this heartbeat confirms (0 when none). */
  readRound: number;
}

/** The answer to a Heartbeat: confirms the leader for the read round it carried. */
export interface HeartbeatResponse extends MessageBase {
  type: 'HeartbeatResponse';
  readRound: number;
}

/** One chunk of a snapshot image sent to a follower behind the leader's log (§7 of the paper, thesis chapter 5). */
export interface InstallSnapshotRequest extends MessageBase {
  type: 'InstallSnapshot';
  meta: SnapshotMeta;
  offset: number;
  chunk: Uint8Array;
  done: boolean;
}

/** The answer to an InstallSnapshot chunk. */
export interface InstallSnapshotResponse extends MessageBase {
  type: 'InstallSnapshotResponse';
  snapshotIndex: number;
  /** Bytes received so far (the next offset the follower expects); 0 asks for a restart. */
  nextOffset: number;
  done: boolean;
  /** After `done`: the follower's last log index, so the leader can resume appends. */
  lastLogIndex: number;
}

/** Tells a caught-up follower to campaign at once: the last step of a leadership transfer (thesis §3.10). */
export interface TimeoutNowRequest extends MessageBase {
  type: 'TimeoutNow';
}

/** A follower asks its leader for a read index (thesis §6.4). */
export interface ReadIndexRequest extends MessageBase {
  type: 'ReadIndex';
  requestId: string;
}

/** The leader's answer to a ReadIndex. */
export interface ReadIndexResponse extends MessageBase {
  type: 'ReadIndexResponse';
  requestId: string;
  /** null: the leader could not serve it (not leader any more, or transferring). */
  index: number | null;
}

/** Every message a core sends to a peer; deliver each to `RaftCore.step` on node `to`. */
export type Message =
  | PreVoteRequest
  | PreVoteResponse
  | VoteRequest
  | VoteResponse
  | AppendEntriesRequest
  | AppendEntriesResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | InstallSnapshotRequest
  | InstallSnapshotResponse
  | TimeoutNowRequest
  | ReadIndexRequest
  | ReadIndexResponse;

/** The `type` tag of a Message. */
export type MessageType = Message['type'];

/** Every message type, in one list (fuzzers and forgers draw from it; `satisfies` keeps it complete). */
export const MESSAGE_TYPES = [
  'PreVote',
  'PreVoteResponse',
  'RequestVote',
  'RequestVoteResponse',
  'AppendEntries',
  'AppendEntriesResponse',
  'Heartbeat',
  'HeartbeatResponse',
  'InstallSnapshot',
  'InstallSnapshotResponse',
  'TimeoutNow',
  'ReadIndex',
  'ReadIndexResponse',
] as const satisfies readonly MessageType[];

/** A linearizable read that became safe: serve it once appliedIndex >= index. */
export interface ReadState {
  requestId: string;
  /** null when the read failed (no leader, leadership lost); the caller retries or errors. */
  index: number | null;
}

/** Volatile state that observers (status, metrics, logs) care about. */
export interface SoftState {
  state: RaftState;
  leader: NodeId | null;
  term: number;
}

/**
 * What the runtime must do next, in this order (etcd-io/raft's Ready):
 * 1. send `messages` (safe before persistence: the leader's appends, heartbeats, snapshots);
 * 2. persist `snapshot`, then `entries` (replacing any stored entries at index >= entries[0].index),
 *    then `hardState`, all durably (fsync);
 * 3. send `messagesAfterPersist` (votes and append acks: Figure 2 requires durability first);
 * 4. apply `snapshot` to the state machine if present, then `committedEntries`;
 * 5. serve `readStates` once applied;
 * 6. if `snapshotImageWanted`, call `provideSnapshotImage(applied index, image)`;
 * 7. call `advance(ready)`.
 */
export interface Ready {
  softState: SoftState;
  hardState: HardState | null;
  snapshot: Snapshot | null;
  /** Leader: a follower needs InstallSnapshot and no image is at hand (asked once per request). */
  snapshotImageWanted: boolean;
  entries: Entry[];
  messages: Message[];
  messagesAfterPersist: Message[];
  committedEntries: Entry[];
  readStates: ReadState[];
  /** Human-readable state transitions since the last Ready ("became leader term=7"). */
  events: string[];
}

/** A deterministic source of randomness, injected so a seed reproduces a run. */
export interface Prng {
  /** Uniform integer in [0, n). */
  int(n: number): number;
}
