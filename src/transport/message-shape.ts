import { MAX_INDEX, MAX_TERM, type MessageType, type NodeId } from '@raftquotes/raft';
import { FORWARD_REFUSALS, type ForwardMessage, type PeerMessage } from './forward-message.js';
import { describe } from './handshake.js';

/**
 * Edge validation of every peer message (SPEC §3: no input crashes a node). The core trusts
 * the types in raft/types.ts; this is where untrusted bytes become those types. Every field
 * of every message type is checked for presence, type and bounds, and the sender must be
 * the authenticated peer of the connection and the receiver this node. A holder of the
 * secret is trusted to be a member, but a confused or hostile one still cannot push a term
 * past MAX_TERM, claim another member's name or hand the core a malformed entry.
 * (Unknown extra fields are ignored: the core never reads them.)
 */

/**
 * Largest term and log index (commit index, read round) a peer may send: the core's own bounds
 * (far above any real cluster, far below 2^53, so `term + 1` stays exact), checked here first.
 */
export { MAX_INDEX, MAX_TERM } from '@raftquotes/raft';
/** Largest byte offset into a snapshot image. */
export const MAX_SNAPSHOT_OFFSET = 2 ** 48;
/** Entries in one AppendEntries (the core sends at most maxEntriesPerMessage = 4096 by default). */
export const MAX_ENTRIES_PER_MESSAGE = 65_536;
/** Characters of one entry's data (an encoded command: client bodies are at most 1 MiB). */
export const MAX_ENTRY_DATA_CHARS = 8 * 1024 * 1024;
/** Bytes of one snapshot chunk (a node sends SNAPSHOT_CHUNK_BYTES, 2 MiB; limits.ts). */
export const MAX_SNAPSHOT_CHUNK_BYTES = 8 * 1024 * 1024;
/** Voters named in a snapshot's metadata. */
export const MAX_VOTERS = 64;
/** Characters of a node id. */
export const MAX_NODE_ID_CHARS = 128;
/** Characters of a ReadIndex request id. */
export const MAX_REQUEST_ID_CHARS = 256;

/**
 * Characters of a forwarded proposal's command. A client body is at most 1 MiB (SPEC §3) and
 * re-encoding it never lengthens it (escapes only shrink, UTF-8 bytes ≥ UTF-16 units); the
 * key, postedAt and Idempotency-Key add a few KiB. Well under MAX_ENTRY_DATA_CHARS, so an
 * accepted proposal always fits in an AppendEntries.
 */
export const MAX_PROPOSE_DATA_CHARS = 2 * 1024 * 1024;
/** Largest forwarded-proposal request id (a per-process counter of the follower). */
export const MAX_FORWARD_REQUEST_ID = 2 ** 48;
/** Proposals in one ProposeBatch (and answers in one ProposeBatchResponse). */
export const MAX_PROPOSALS_PER_BATCH = 1024;
/**
 * Characters of all the commands of one ProposeBatch together: at most 3 bytes of UTF-8 per
 * character keeps the frame well under MAX_FRAME_BYTES (16 MiB). One command of
 * MAX_PROPOSE_DATA_CHARS always fits.
 */
export const MAX_PROPOSE_BATCH_CHARS = 4 * 1024 * 1024;

type Fields = Record<string, unknown>;
/** Returns null when the field is fine, else what is wrong with it. */
type Check = (value: unknown) => string | null;

/** A safe integer in [min, max]. */
const intIn = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;
const term: Check = (v) => (intIn(v, 0, MAX_TERM) ? null : `must be an integer in [0, ${MAX_TERM}]`);
const index: Check = (v) => (intIn(v, 0, MAX_INDEX) ? null : `must be an integer in [0, ${MAX_INDEX}]`);
const offset: Check = (v) => (intIn(v, 0, MAX_SNAPSHOT_OFFSET) ? null : `must be an integer in [0, ${MAX_SNAPSHOT_OFFSET}]`);
const bool: Check = (v) => (typeof v === 'boolean' ? null : 'must be a boolean');
const nodeId: Check = (v) => (typeof v === 'string' && v.length > 0 && v.length <= MAX_NODE_ID_CHARS ? null : `must be a string of 1..${MAX_NODE_ID_CHARS} characters`);
const requestId: Check = (v) => (typeof v === 'string' && v.length <= MAX_REQUEST_ID_CHARS ? null : `must be a string of at most ${MAX_REQUEST_ID_CHARS} characters`);
const nullable = (check: Check): Check => (v) => (v === null ? null : check(v));
const forwardRequestId: Check = (v) => (intIn(v, 1, MAX_FORWARD_REQUEST_ID) ? null : `must be an integer in [1, ${MAX_FORWARD_REQUEST_ID}]`);
const proposeData: Check = (v) => (typeof v === 'string' && v.length > 0 && v.length <= MAX_PROPOSE_DATA_CHARS ? null : `must be a string of 1..${MAX_PROPOSE_DATA_CHARS} characters`);
const refusal: Check = (v) => (v === null || (FORWARD_REFUSALS as readonly unknown[]).includes(v) ? null : `must be null or one of ${FORWARD_REFUSALS.join(', ')}`);

function checkProposeBatchData(v: unknown): string | null {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_PROPOSALS_PER_BATCH) return `must be an array of 1..${MAX_PROPOSALS_PER_BATCH} commands`;
  let chars = 0;
  for (let i = 0; i < v.length; i++) {
    const problem = proposeData(v[i]);
    if (problem) return `[${i}] ${problem}`;
    chars += (v[i] as string).length;
  }
  return chars <= MAX_PROPOSE_BATCH_CHARS ? null : `holds ${chars} characters, at most ${MAX_PROPOSE_BATCH_CHARS}`;
}

/** Each answer of a ProposeBatchResponse: an index (≥ 1, appended) or a refusal. */
function checkProposeResults(v: unknown): string | null {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_PROPOSALS_PER_BATCH) return `must be an array of 1..${MAX_PROPOSALS_PER_BATCH} answers`;
  for (let i = 0; i < v.length; i++) {
    const answer: unknown = v[i];
    if (!intIn(answer, 1, MAX_INDEX) && !(FORWARD_REFUSALS as readonly unknown[]).includes(answer)) return `[${i}] must be an index in [1, ${MAX_INDEX}] or one of ${FORWARD_REFUSALS.join(', ')}`;
  }
  return null;
}

function checkEntries(v: unknown): string | null {
  if (!Array.isArray(v)) return 'must be an array';
  if (v.length > MAX_ENTRIES_PER_MESSAGE) return `has ${v.length} entries, at most ${MAX_ENTRIES_PER_MESSAGE}`;
  for (let i = 0; i < v.length; i++) {
    const problem = checkEntry(v[i]);
    if (problem) return `[${i}] ${problem}`;
  }
  return null;
}

function checkEntry(v: unknown): string | null {
  if (!isRecord(v)) return 'must be an object';
  if (index(v.index)) return `index ${index(v.index)}`;
  if (term(v.term)) return `term ${term(v.term)}`;
  if (v.type !== 'normal' && v.type !== 'noop' && v.type !== 'config') return 'type must be normal, noop or config';
  if (typeof v.data !== 'string' || v.data.length > MAX_ENTRY_DATA_CHARS) return `data must be a string of at most ${MAX_ENTRY_DATA_CHARS} characters`;
  return null;
}

function checkSnapshotMeta(v: unknown): string | null {
  if (!isRecord(v)) return 'must be an object';
  if (index(v.index)) return `index ${index(v.index)}`;
  if (term(v.term)) return `term ${term(v.term)}`;
  if (!Array.isArray(v.voters) || v.voters.length === 0 || v.voters.length > MAX_VOTERS) return `voters must be an array of 1..${MAX_VOTERS} ids`;
  return v.voters.every((id) => nodeId(id) === null) ? null : 'voters must be node ids';
}

function checkChunk(v: unknown): string | null {
  return v instanceof Uint8Array && v.length <= MAX_SNAPSHOT_CHUNK_BYTES ? null : `must be at most ${MAX_SNAPSHOT_CHUNK_BYTES} bytes`;
}

/** The fields of each message type beyond type/from/to/term, and how each is checked. */
const SHAPES: Record<MessageType | ForwardMessage['type'], Record<string, Check>> = {
  PreVote: { lastLogIndex: index, lastLogTerm: term },
  PreVoteResponse: { granted: bool },
  RequestVote: { lastLogIndex: index, lastLogTerm: term, force: bool },
  RequestVoteResponse: { granted: bool },
  AppendEntries: { prevLogIndex: index, prevLogTerm: term, entries: checkEntries, commit: index },
  AppendEntriesResponse: { success: bool, matchIndex: index, rejectedIndex: index, conflictIndex: index, conflictTerm: nullable(term) },
  Heartbeat: { commit: index, readRound: index },
  HeartbeatResponse: { readRound: index },
  InstallSnapshot: { meta: checkSnapshotMeta, offset, chunk: checkChunk, done: bool },
  InstallSnapshotResponse: { snapshotIndex: index, nextOffset: offset, done: bool, lastLogIndex: index },
  TimeoutNow: {},
  ReadIndex: { requestId },
  ReadIndexResponse: { requestId, index: nullable(index) },
  // Write forwarding (forward-message.ts): handled by the runtime, never stepped by the core.
  Propose: { requestId: forwardRequestId, data: proposeData },
  ProposeResponse: { requestId: forwardRequestId, index, refusal },
  ProposeBatch: { firstRequestId: forwardRequestId, data: checkProposeBatchData },
  ProposeBatchResponse: { firstRequestId: forwardRequestId, results: checkProposeResults },
};

/**
 * Relations between fields that the core relies on: appended entries follow prevLogIndex
 * one by one and are no newer than the leader's term; the entries' terms never decrease.
 */
function checkRelations(m: PeerMessage): string | null {
  if (m.type === 'AppendEntries') {
    let previousTerm = m.prevLogTerm;
    for (const [i, entry] of m.entries.entries()) {
      if (entry.index !== m.prevLogIndex + 1 + i) return `entries[${i}].index is ${entry.index}, expected ${m.prevLogIndex + 1 + i}`;
      if (entry.term > m.term || entry.term < previousTerm) return `entries[${i}].term ${entry.term} out of order (prevLogTerm ${m.prevLogTerm}, term ${m.term})`;
      previousTerm = entry.term;
    }
    if (m.prevLogTerm > m.term) return `prevLogTerm ${m.prevLogTerm} is newer than term ${m.term}`;
  }
  if (m.type === 'InstallSnapshot' && m.meta.term > m.term) return 'snapshot term is newer than the message term';
  // An accepted proposal has an index (≥ 1); a refused one has none.
  if (m.type === 'ProposeResponse' && (m.refusal === null) !== m.index >= 1) return `index ${m.index} with refusal ${describe(m.refusal)}`;
  // The batch's request ids are consecutive and stay in range.
  if (m.type === 'ProposeBatch' && m.firstRequestId + m.data.length - 1 > MAX_FORWARD_REQUEST_ID) return `request ids ${m.firstRequestId}.. run past ${MAX_FORWARD_REQUEST_ID}`;
  if (m.type === 'ProposeBatchResponse' && m.firstRequestId + m.results.length - 1 > MAX_FORWARD_REQUEST_ID) return `request ids ${m.firstRequestId}.. run past ${MAX_FORWARD_REQUEST_ID}`;
  return null;
}

/**
 * Checks one decoded peer message. Returns the message, or a reason it was rejected (a
 * fixed category for rate-limited logging, and a detail that may quote untrusted values
 * in a log-safe, shortened form).
 */
export function checkMessage(value: unknown, peer: NodeId, selfId: NodeId): { message: PeerMessage } | { reason: string } {
  if (!isRecord(value)) return { reason: 'message is not an object' };
  const { type, from, to } = value;
  if (typeof type !== 'string' || !Object.hasOwn(SHAPES, type)) return { reason: `unknown message type ${describe(type)}` };
  if (from !== peer) return { reason: `${type}: from ${describe(from)} on the connection of ${peer}` };
  if (to !== selfId) return { reason: `${type}: addressed to ${describe(to)}, this is ${selfId}` };
  const termProblem = term(value.term);
  if (termProblem) return { reason: `${type}: term ${describe(value.term)} ${termProblem}` };
  for (const [field, check] of Object.entries(SHAPES[type as keyof typeof SHAPES])) {
    const problem = check(value[field]);
    if (problem) return { reason: `${type}: ${field} ${problem}` };
  }
  // The boundary cast: every field PeerMessage declares for this type was checked above.
  const message = value as unknown as PeerMessage;
  const relation = checkRelations(message);
  if (relation) return { reason: `${type}: ${relation}` };
  return { message };
}

/**
 * A fixed log category for a rejected value: its message type when it is one of ours (17
 * at most), else "other", so a peer cannot mint log keys.
 */
export function rejectionCategory(value: unknown): string {
  const type = isRecord(value) ? value.type : undefined;
  return typeof type === 'string' && Object.hasOwn(SHAPES, type) ? `bad-message:${type}` : 'bad-message:other';
}

function isRecord(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}
