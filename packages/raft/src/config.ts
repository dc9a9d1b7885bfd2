import { type Configuration, isMember, validateConfiguration } from './configuration.js';
import { MAX_ENTRIES_PER_APPEND } from './limits.js';
import type { NodeId } from './types.js';

/** Tunables of the core. Time is in ticks; the runtime decides how long a tick is. */
export interface RaftConfig {
  id: NodeId;
  /** The fixed voter set, this node included; quorum is always a majority of it (§5.2). */
  voters: NodeId[];
  /**
   * The configuration before any config entry or snapshot (a new cluster's `--peers`, or what a
   * joining node was told); overrides `voters` when set. The log's configurations replace it.
   */
  initialConfiguration?: Configuration;
  /** Base election timeout; each timer is randomized in [electionTicks, 2 * electionTicks). */
  electionTicks: number;
  heartbeatTicks: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Flow control: AppendEntries messages in flight per peer in replicate state. */
  maxInflightMessages: number;
  /** Flow control: approximate payload bytes per AppendEntries. */
  maxMessageBytes: number;
  maxEntriesPerMessage: number;
  /** Proposals are refused while this many entries wait for commit (back-pressure). */
  maxUncommittedEntries: number;
  /** InstallSnapshot chunk size. */
  snapshotChunkBytes: number;
  /**
   * InstallSnapshot chunks in flight per follower: the leader sends the next ones while the
   * follower still receives, instead of waiting a round trip per chunk.
   */
  snapshotWindowChunks: number;
  /** Committed entries handed to the state machine per Ready. */
  maxApplyBatch: number;
  /** Entries kept in memory behind a snapshot, so slightly lagging peers avoid InstallSnapshot. */
  compactionTrailingEntries: number;
}

/** Defaults for a 10 ms tick: heartbeat 50 ms, election timeout in [300, 600) ms (SPEC §2). */
export const DEFAULT_RAFT_CONFIG: Omit<RaftConfig, 'id' | 'voters' | 'initialConfiguration'> = {
  electionTicks: 30,
  heartbeatTicks: 5,
  preVote: true,
  checkQuorum: true,
  maxInflightMessages: 64,
  maxMessageBytes: 512 * 1024,
  maxEntriesPerMessage: 4096,
  maxUncommittedEntries: 50_000,
  snapshotChunkBytes: 512 * 1024,
  snapshotWindowChunks: 4,
  maxApplyBatch: 4096,
  compactionTrailingEntries: 5_000,
};

/** Validates a config; returns the problem, naming the field, or null. */
export function validateRaftConfig(config: RaftConfig): string | null {
  if (config.initialConfiguration !== undefined) {
    const problem = validateConfiguration(config.initialConfiguration);
    if (problem) return `initialConfiguration: ${problem}`;
    if (!isMember(config.initialConfiguration, config.id)) return `initialConfiguration must include this node (${config.id})`;
  } else if (!config.voters.includes(config.id)) return `voters must include this node (${config.id})`;
  if (new Set(config.voters).size !== config.voters.length) return 'voters must be unique';
  if (!(config.heartbeatTicks >= 1)) return 'heartbeatTicks must be >= 1';
  if (!(config.electionTicks > config.heartbeatTicks)) return 'electionTicks must exceed heartbeatTicks';
  if (!(config.maxInflightMessages >= 1)) return 'maxInflightMessages must be >= 1';
  if (!(config.maxMessageBytes >= 1)) return 'maxMessageBytes must be >= 1';
  if (!(config.snapshotChunkBytes >= 1)) return 'snapshotChunkBytes must be >= 1';
  if (!(Number.isInteger(config.snapshotWindowChunks) && config.snapshotWindowChunks >= 1)) return 'snapshotWindowChunks must be an integer >= 1';
  // Followers reject larger appends (message-validation.ts), so a larger batch could never land.
  if (!(config.maxEntriesPerMessage >= 1 && config.maxEntriesPerMessage <= MAX_ENTRIES_PER_APPEND)) {
    return `maxEntriesPerMessage must be in [1, ${MAX_ENTRIES_PER_APPEND}]`;
  }
  return null;
}
