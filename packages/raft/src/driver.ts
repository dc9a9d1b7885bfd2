/**
 * What a user implements around a RaftCore (durable storage, a transport, a state machine),
 * and `processReady`, one turn of the Ready loop over them in the order the core's safety
 * depends on. The core does no I/O: everything it needs done comes out of `ready()`, and it
 * assumes that once `advance()` is called, what that Ready asked to persist is on disk.
 */
import { assert } from './assert.js';
import type { RaftCore } from './raft.js';
import type { Entry, HardState, Message, ReadState, Ready, Snapshot } from './types.js';

/** What one Ready asks to make durable. Any field may be empty; write them in this order. */
export interface DurableUpdate {
  /** A snapshot received from the leader: it replaces every stored entry up to its index. */
  snapshot: Snapshot | null;
  /**
   * New log entries. Entries already stored at index >= `entries[0].index` are replaced
   * (a new leader overwrote a conflicting suffix, §5.3): truncate, then append.
   */
  entries: readonly Entry[];
  /** Term, vote and commit index (Figure 2's persistent state, plus commit for a faster restart). */
  hardState: HardState | null;
}

/**
 * The durable log and hard state. The contract, from Figure 2 of the Raft paper ("updated on
 * stable storage before responding to RPCs"): when `persist` returns, the update survives a
 * crash or power loss (written and fsynced). A node that acknowledges an entry or grants a
 * vote and then forgets it after a crash can elect two leaders in one term or lose a
 * committed write. The core never calls this; `processReady` does, before `advance()`.
 *
 * On start, read back what was stored into a {@link RaftRestore} for the RaftCore constructor.
 */
export interface DurableStorage {
  /** Makes the update durable (fsync) before returning; throws if it cannot (the node must stop). */
  persist(update: DurableUpdate): void;
}

/**
 * Sends messages to peers. Delivery may be late, lost, duplicated or reordered: the core
 * tolerates all of it (retries are its job). Must not block: queue and return.
 */
export interface Transport {
  /** Queues each message for node `message.to`, whose runtime hands it to its `RaftCore.step`. */
  send(messages: readonly Message[]): void;
}

/**
 * The replicated state machine. Entries arrive in index order, each exactly once per run of
 * the core (after a restart, from the core's applied index on). Applying must be
 * deterministic: every node applies the same entries and must reach the same state.
 */
export interface StateMachine {
  /** Applies one committed entry. `noop` and `config` entries carry no command: skip them. */
  apply(entry: Entry): void;
  /** Replaces the whole state with a snapshot's image (a follower far behind its leader). */
  restore(snapshot: Snapshot): void;
  /** The image of the current state (everything applied so far), for a follower that needs a snapshot. */
  snapshotImage(): Uint8Array;
}

/** The three parts a user supplies to {@link processReady}, and optional observers. */
export interface ReadyHandlers {
  /** Where the log and hard state are made durable. */
  storage: DurableStorage;
  /** How messages reach the other nodes. */
  transport: Transport;
  /** What committed entries are applied to. */
  stateMachine: StateMachine;
  /** A ReadIndex answer (thesis §6.4): serve the read once the state machine has applied `index`. */
  onReadState?(readState: ReadState): void;
  /** A state transition worth logging ("became leader term=7"). */
  onEvent?(event: string): void;
}

/**
 * Handles one Ready of `core`, if it has one, and advances it; returns whether it did. The
 * order is the contract of {@link Ready}:
 * 1. send `messages` (the leader may send its appends before its own fsync, thesis §10.2.1);
 * 2. persist snapshot, entries and hard state durably;
 * 3. only then send `messagesAfterPersist` (votes and acknowledgements, Figure 2);
 * 4. apply the snapshot, then the committed entries;
 * 5. report read states and events;
 * 6. hand over a snapshot image if the leader asked for one;
 * 7. `advance()`.
 *
 * Synchronous: storage that can only fsync asynchronously (IndexedDB, a remote disk) writes
 * its own loop in the same order, and calls `advance()` only after the write completes.
 */
export function processReady(core: RaftCore, io: ReadyHandlers): boolean {
  if (!core.hasReady()) return false;
  const rd = core.ready();
  if (rd.messages.length > 0) io.transport.send(rd.messages);
  if (rd.snapshot !== null || rd.entries.length > 0 || rd.hardState !== null) {
    io.storage.persist({ snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState });
  }
  if (rd.messagesAfterPersist.length > 0) io.transport.send(rd.messagesAfterPersist);
  applyReady(rd, io);
  for (const readState of rd.readStates) io.onReadState?.(readState);
  for (const event of rd.events) io.onEvent?.(event);
  if (rd.snapshotImageWanted) core.provideSnapshotImage(appliedAfter(core, rd), io.stateMachine.snapshotImage());
  core.advance(rd);
  return true;
}

/** Step 4: the snapshot first (it replaces the state), then the entries after it. */
function applyReady(rd: Ready, io: ReadyHandlers): void {
  if (rd.snapshot) io.stateMachine.restore(rd.snapshot);
  let previous = rd.snapshot?.meta.index;
  for (const entry of rd.committedEntries) {
    assert(previous === undefined || entry.index === previous + 1, () => `committed entries out of order: ${entry.index} after ${previous}`);
    io.stateMachine.apply(entry);
    previous = entry.index;
  }
}

/** The index the state machine has applied once this Ready's snapshot and entries are in. */
function appliedAfter(core: RaftCore, rd: Ready): number {
  const last = rd.committedEntries[rd.committedEntries.length - 1];
  return last?.index ?? rd.snapshot?.meta.index ?? core.log.appliedIndex;
}
