/**
 * `@raftquotes/raft`: a pure, deterministic Raft consensus core in the style of etcd-io/raft.
 *
 * A {@link RaftCore} is a state machine over messages and ticks. Feed it {@link RaftCore.step}
 * (a message from a peer), {@link RaftCore.tick} (logical time), {@link RaftCore.propose},
 * {@link RaftCore.readIndex}, {@link RaftCore.proposeConfChange} and
 * {@link RaftCore.transferLeadership}; then take {@link RaftCore.ready}, do what the
 * {@link Ready} asks (persist, send, apply) and call {@link RaftCore.advance}. The core does no
 * I/O, reads no clock and draws randomness only from the {@link Prng} it is given.
 *
 * What you implement: {@link DurableStorage} (what must be durable before `advance()`),
 * {@link Transport} and {@link StateMachine}; {@link processReady} runs one turn of the Ready
 * loop over them in the order safety requires.
 *
 * @packageDocumentation
 */

// The core, its inputs and outputs.
export { RaftCore } from './raft.js';
export type {
  BasicStatus,
  ConfChangeError,
  ConfChangeResult,
  MembershipView,
  PeerProgressView,
  ProposeError,
  ProposeResult,
  RaftRestore,
} from './raft.js';

// Configuration of a core.
export { DEFAULT_RAFT_CONFIG, validateRaftConfig } from './config.js';
export type { RaftConfig } from './config.js';

// Log entries, durable state, snapshots and the messages between nodes.
export { MESSAGE_TYPES } from './types.js';
export type {
  AppendEntriesRequest,
  AppendEntriesResponse,
  Entry,
  EntryType,
  HardState,
  HeartbeatRequest,
  HeartbeatResponse,
  InstallSnapshotRequest,
  InstallSnapshotResponse,
  Message,
  MessageType,
  NodeId,
  PreVoteRequest,
  PreVoteResponse,
  Prng,
  RaftState,
  ReadIndexRequest,
  ReadIndexResponse,
  ReadState,
  Ready,
  Snapshot,
  SnapshotMeta,
  SoftState,
  TimeoutNowRequest,
  VoteRequest,
  VoteResponse,
} from './types.js';

// Membership: configurations (voters, learners, joint) and changes (thesis chapter 4).
export {
  allMembers,
  allVoterIds,
  decodeConfiguration,
  encodeConfiguration,
  findMember,
  isJoint,
  isLearner,
  isMember,
  isVoter,
  MAX_CONFIGURATION_CHARS,
  MAX_MEMBER_ADDRESS_CHARS,
  MAX_MEMBER_ID_CHARS,
  MAX_MEMBERS,
  parseRaftAddress,
  sameConfiguration,
  seedConfiguration,
  validateConfiguration,
} from './configuration.js';
export type { Configuration, Member } from './configuration.js';
export { CONF_CHANGE_OPS, MAX_CHANGES_PER_REQUEST, planConfChange } from './confchange.js';
export type { ConfChange, ConfChangeOp, ConfChangePlan } from './confchange.js';

// Named bounds on what a peer message may carry (checked before the core steps it).
export {
  MAX_ENTRIES_PER_APPEND,
  MAX_FORWARDED_READS,
  MAX_INDEX,
  MAX_PENDING_READS,
  MAX_PROMOTE_LAG,
  MAX_REQUEST_ID_CHARS,
  MAX_SNAPSHOT_BYTES,
  MAX_TERM,
} from './limits.js';

// Validation of peer messages, randomness, invariants.
export { describe as describeValue } from './message-validation.js';
export type { Rejection, RejectReason } from './message-validation.js';
export { SeededPrng } from './prng.js';
export { assert, defined, RaftInvariantError } from './assert.js';
/** The core's log (`RaftCore.log`): read its indexes and entries; only the core changes it. */
export type { RaftLog } from './raft-log.js';

// What a user implements, and one turn of the Ready loop over it.
export { processReady } from './driver.js';
export type { DurableStorage, DurableUpdate, ReadyHandlers, StateMachine, Transport } from './driver.js';
