/**
 * `@raftquotes/raft`: a pure, deterministic Raft consensus core, in the style of etcd-io/raft.
 *
 * @packageDocumentation
 */
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
export { DEFAULT_RAFT_CONFIG, validateRaftConfig } from './config.js';
export type { RaftConfig } from './config.js';
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
export { describe as describeValue } from './message-validation.js';
export type { Rejection, RejectReason } from './message-validation.js';
export { SeededPrng } from './prng.js';
export { assert, RaftInvariantError } from './assert.js';
export type { RaftLog } from './raft-log.js';
