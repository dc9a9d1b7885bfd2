import { decodeConfiguration, encodeConfiguration, findMember, type Configuration, type Entry, type Member } from '@raftquotes/raft';
import { StorageError } from './errors.js';
import type { RaftStorage } from './types.js';

/** What --force-new-cluster did to a data dir (logged by the node, shown in the runbook). */
export interface ForceNewClusterResult {
  /** False when the data dir already held a one-voter configuration of this node (nothing written). */
  rewritten: boolean;
  /** Index and term of the configuration entry written (or of the one found). */
  index: number;
  term: number;
  /** The configuration it replaced, by voter id. */
  previousVoters: string[];
  /** Entries past the node's known commit index that were kept (see forceNewCluster). */
  uncommittedKept: number;
  /** The new configuration: this node alone. */
  configuration: Configuration;
}

/** This node as it should appear in the new configuration; the flags fill what the data dir lacks. */
export interface ForcedSelf {
  id: string;
  /** host:port other nodes dial; used when the stored configuration has no address for this node. */
  raft: string;
  /** Advertised HTTP URL; used when the stored configuration has none. */
  http: string;
}

/**
 * `raftquotes node --force-new-cluster` (SPEC §10, etcd's flag of the same name): rewrites a
 * surviving member's data dir so that it is a one-voter cluster of itself, keeping all its data.
 *
 * A new configuration entry {voters: [self]} is appended after the last entry of the log, in
 * the node's current term, and persisted in one transaction (fsync) before the node starts.
 * Raft takes a configuration from the latest entry in the log, committed or not (thesis
 * §4.1), so on start the node is the only voter, wins its election alone, and commits its
 * no-op, which commits everything before it.
 *
 * The uncommitted tail (entries past the commit index this node had heard of) is KEPT. etcd
 * discards it. We keep it because the survivor's commit index lags the old leader's by up
 * to a heartbeat, so the tail may hold writes the old leader already acknowledged. Keeping
 * it is also what an ordinary election of this node would do (leader completeness, §5.4).
 * The cost: a write whose client got `timeout` (outcome unknown, SPEC §3) may turn out to be
 * applied. Nothing the survivor never received can be recovered: that is what this loses.
 *
 * Throws StorageError when the data dir holds no Raft state at all (the caller refuses an
 * empty dir before opening it; this is the second line of defence).
 */
export function forceNewCluster(storage: RaftStorage, self: ForcedSelf): ForceNewClusterResult {
  const recovered = storage.recover();
  const lastEntry = recovered.entries[recovered.entries.length - 1];
  const lastIndex = lastEntry?.index ?? recovered.offset;
  if (lastIndex === 0 && recovered.snapshot === null && recovered.hardState.term === 0) {
    throw new StorageError('--force-new-cluster: this data dir holds no Raft log, snapshot or term; there is nothing to recover from');
  }
  const previous = latestConfiguration(recovered.entries, recovered.snapshot?.meta.config, recovered.snapshot?.meta.voters);
  const previousVoters = previous ? previous.voters.map((m) => m.id) : [];
  const stored = previous ? findMember(previous, self.id) : undefined;
  const member: Member = { id: self.id, raft: stored?.raft || self.raft, http: stored?.http || self.http };
  const configuration: Configuration = { voters: [member], learners: [], outgoing: null };
  const uncommittedKept = Math.max(0, lastIndex - recovered.hardState.commit);
  if (previous && previous.outgoing === null && previous.learners.length === 0 && previousVoters.length === 1 && previousVoters[0] === self.id) {
    const at = lastConfigEntry(recovered.entries);
    return { rewritten: false, index: at?.index ?? recovered.offset, term: at?.term ?? recovered.offsetTerm, previousVoters, uncommittedKept, configuration };
  }
  // §5.1: the node's term is at least its last entry's; an entry of that term after the
  // last keeps the log's terms non-decreasing (log matching holds trivially: no one else votes).
  const term = Math.max(recovered.hardState.term, lastEntry?.term ?? recovered.offsetTerm);
  const entry: Entry = { index: lastIndex + 1, term, type: 'config', data: encodeConfiguration(configuration) };
  storage.persist({ hardState: { ...recovered.hardState, term }, snapshot: null, entries: [entry] });
  return { rewritten: true, index: entry.index, term, previousVoters, uncommittedKept, configuration };
}

function lastConfigEntry(entries: readonly Entry[]): Entry | undefined {
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i]?.type === 'config') return entries[i];
  return undefined;
}

/**
 * The configuration in effect at the end of the log: the last config entry's, else the
 * snapshot's, else (old snapshots, or a --peers seed never written down) voters without addresses.
 */
function latestConfiguration(entries: readonly Entry[], snapshotConfig: Configuration | undefined, snapshotVoters: string[] | undefined): Configuration | null {
  const entry = lastConfigEntry(entries);
  if (entry) {
    const decoded = decodeConfiguration(entry.data);
    if (typeof decoded === 'string') throw new StorageError(`--force-new-cluster: configuration entry ${entry.index} does not decode (${decoded})`);
    return decoded;
  }
  if (snapshotConfig) return snapshotConfig;
  if (snapshotVoters && snapshotVoters.length > 0) return { voters: snapshotVoters.map((id) => ({ id, raft: '', http: '' })), learners: [], outgoing: null };
  return null;
}
