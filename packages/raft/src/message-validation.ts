import { decodeConfiguration, isMemberId, MAX_MEMBERS } from './configuration.js';
import { MAX_ENTRIES_PER_APPEND, MAX_INDEX, MAX_REQUEST_ID_CHARS, MAX_SNAPSHOT_BYTES, MAX_TERM } from './limits.js';
import type { Message, MessageType, NodeId, RaftState } from './types.js';

/**
 * Why a peer message was dropped before it touched the core's state. A fixed set, so the
 * runtime can count and rate-limit by reason without keying anything on attacker strings.
 */
export type RejectReason =
  /** Not an object, an unknown type, or a field of the wrong type. */
  | 'malformed'
  /** `to` is not this node. */
  | 'wrong_recipient'
  /** `from` is this node itself, or in no configuration this node holds (its log's or its snapshot's). */
  | 'unknown_sender'
  /** A term that is negative, not an integer, above MAX_TERM, or above the message's own term. */
  | 'term_out_of_range'
  /** An index, offset or count that is negative, not an integer, or above its bound. */
  | 'index_out_of_range'
  /** AppendEntries entries that are not consecutive after prevLogIndex, or whose terms go back. */
  | 'bad_entries'
  | 'too_many_entries'
  /** A leader message from another node in a term we lead (Election Safety, §5.2). */
  | 'second_leader'
  /** A leader message from a node other than the leader we follow in this term (§5.2). */
  | 'conflicting_leader'
  /** TimeoutNow from a node that is not our leader of this term (§3.10 of the thesis). */
  | 'not_from_leader'
  /** A ReadIndexResponse to a request we never sent to that node. */
  | 'unsolicited_response'
  /** A response naming indexes or read rounds this leader never sent. */
  | 'impossible_response';

/** A dropped message: the reason, and log-safe renderings of who sent what. */
export interface Rejection {
  reason: RejectReason;
  detail: string;
  type: string;
  from: string;
  term: string;
}

/** What validation may read of the core. Read only: validating never changes state. */
export interface ValidationView {
  id: NodeId;
  /** Every member of every configuration the node holds (configuration.ts ConfigHistory). */
  known: ReadonlySet<NodeId>;
  /** The runtime vouches for `from`: the message came over a link authenticated as that node (see admitsNewMember). */
  authenticatedSender: boolean;
  term: number;
  state: RaftState;
  leader: NodeId | null;
  lastIndex: number;
  /** The read round of the last heartbeat broadcast of this leadership (leader only). */
  lastReadRoundSent: number;
  /** The node a forwarded read was sent to, if it is still waiting for its answer. */
  forwardedReadTarget(requestId: string): NodeId | undefined;
}

type Fields = Record<string, unknown>;
/** A per-type check: returns a rejection, or null when the fields are well formed. */
type FieldCheck = (m: Fields, term: number, view: ValidationView) => Rejection | null;

/**
 * Checks a message from a peer before the core steps it, the way etcd validates every field
 * of every message it steps: shape, bounds, and what is impossible for a correct peer in our
 * current state. Pure: reads `view`, changes nothing, never throws (a check that throws, e.g.
 * a getter on a hostile object, is itself a rejection). Returns null when the core may step it.
 */
export function validateMessage(value: unknown, view: ValidationView): Rejection | null {
  try {
    return checkMessage(value, view);
  } catch (err) {
    return rejection(value, 'malformed', `validation failed: ${describe(err instanceof Error ? err.message : err)}`);
  }
}

function checkMessage(value: unknown, view: ValidationView): Rejection | null {
  if (!isRecord(value)) return rejection(value, 'malformed', 'not an object');
  const { type, from, to, term } = value;
  const check = typeof type === 'string' ? FIELD_CHECKS.get(type) : undefined;
  if (check === undefined || typeof type !== 'string') return rejection(value, 'malformed', `unknown type ${describe(type)}`);
  if (typeof from !== 'string' || typeof to !== 'string') return rejection(value, 'malformed', 'from/to must be strings');
  if (to !== view.id) return rejection(value, 'wrong_recipient', `addressed to ${describe(to)}`);
  if (from === view.id || (!view.known.has(from) && !admitsNewMember(type, from, term, view))) {
    return rejection(value, 'unknown_sender', `${describe(from)} is not a peer of ${view.id}`);
  }
  if (!isTerm(term)) return rejection(value, 'term_out_of_range', `term ${describe(term)} (max ${MAX_TERM})`);
  // Every node starts in term 0 and nobody leads or campaigns in it: only a pre-vote refusal
  // from a node that never saw a term can carry it.
  if (term === 0 && type !== 'PreVoteResponse') return rejection(value, 'term_out_of_range', `${describe(type)} in term 0`);
  // The one boundary cast: `check` has just validated every field that Message declares for this type.
  return check(value, term, view) ?? checkAgainstState(value as unknown as Message, view);
}

/** What a voter or leader of a configuration newer than ours sends first. */
const NEW_MEMBER_TYPES: ReadonlySet<string> = new Set<MessageType>(['PreVote', 'RequestVote', 'AppendEntries', 'Heartbeat', 'InstallSnapshot']);

/**
 * A node far behind knows only old configurations, so a voter added after them is a stranger
 * to it; refusing that voter's vote requests and leader traffic can leave a cluster whose every
 * majority is alive without a leader (sim seed 274: the lagging node's vote is the one the new
 * voter needs). etcd steps messages from any member id of its cluster for this reason, and
 * keeps impostors out by authenticating the peer link. Likewise here: a sender outside every
 * configuration we hold is admitted only when the runtime vouches that its link authenticated
 * that id, only for requests (a vote request, or leader traffic that will catch us up) of a
 * term not below ours, and never while we lead (a leader holds the newest configuration of
 * its term). Stepping it is then safe for the usual reasons: its votes count in no quorum of
 * ours, and it can only lead a term a quorum of some configuration elected it in.
 */
function admitsNewMember(type: string, from: string, term: unknown, view: ValidationView): boolean {
  return view.authenticatedSender && view.state !== 'leader' && NEW_MEMBER_TYPES.has(type) && isTerm(term) && term >= view.term && isMemberId(from);
}

// ---------------------------------------------------------------- per-type fields

const FIELD_CHECKS: ReadonlyMap<string, FieldCheck> = new Map<MessageType, FieldCheck>([
  ['PreVote', checkVoteRequest],
  ['RequestVote', (m, term) => checkVoteRequest(m, term) ?? need(m, 'force', typeof m['force'] === 'boolean')],
  ['PreVoteResponse', (m) => need(m, 'granted', typeof m['granted'] === 'boolean')],
  ['RequestVoteResponse', (m) => need(m, 'granted', typeof m['granted'] === 'boolean')],
  ['AppendEntries', checkAppendEntries],
  ['AppendEntriesResponse', checkAppendResponse],
  ['Heartbeat', (m) => index(m, 'commit') ?? index(m, 'readRound')],
  ['HeartbeatResponse', (m) => index(m, 'readRound')],
  ['InstallSnapshot', checkInstallSnapshot],
  ['InstallSnapshotResponse', (m) => index(m, 'snapshotIndex') ?? offset(m, 'nextOffset') ?? index(m, 'lastLogIndex') ?? need(m, 'done', typeof m['done'] === 'boolean')],
  ['TimeoutNow', () => null],
  ['ReadIndex', (m) => requestId(m)],
  ['ReadIndexResponse', (m) => requestId(m) ?? (m['index'] === null ? null : index(m, 'index'))],
]);

/** PreVote and RequestVote: a candidate's last log term is never above the term it campaigns in. */
function checkVoteRequest(m: Fields, term: number): Rejection | null {
  return index(m, 'lastLogIndex') ?? termAtMost(m, 'lastLogTerm', term);
}

function checkAppendEntries(m: Fields, term: number): Rejection | null {
  const bad = index(m, 'prevLogIndex') ?? termAtMost(m, 'prevLogTerm', term) ?? index(m, 'commit');
  const { prevLogIndex, prevLogTerm, entries } = m;
  // The guards restate the checks above for the compiler; `bad` names the field when they fail.
  if (bad || !isIndex(prevLogIndex) || !isTerm(prevLogTerm)) return bad ?? rejection(m, 'malformed', 'bad prevLogIndex/prevLogTerm');
  if (!Array.isArray(entries)) return rejection(m, 'malformed', 'entries must be an array');
  if (entries.length > MAX_ENTRIES_PER_APPEND) return rejection(m, 'too_many_entries', `${entries.length} entries (max ${MAX_ENTRIES_PER_APPEND})`);
  if (prevLogIndex + entries.length > MAX_INDEX) return rejection(m, 'index_out_of_range', `entries end past ${MAX_INDEX}`);
  return checkEntries(m, entries, prevLogIndex, prevLogTerm, term);
}

/**
 * Entries follow prevLogIndex one by one, and their terms never go back (a Raft log's terms
 * are monotone) nor pass the leader's term: a leader only holds entries of its term or older.
 */
function checkEntries(m: Fields, entries: unknown[], prevLogIndex: number, prevLogTerm: number, term: number): Rejection | null {
  let lastTerm = prevLogTerm;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    if (!isRecord(entry)) return rejection(m, 'malformed', `entries[${i}] is not an object`);
    if (entry['index'] !== prevLogIndex + 1 + i) return rejection(m, 'bad_entries', `entries[${i}] has index ${describe(entry['index'])}, expected ${prevLogIndex + 1 + i}`);
    const entryTerm = entry['term'];
    if (!isTerm(entryTerm) || entryTerm < Math.max(lastTerm, 1) || entryTerm > term) {
      return rejection(m, 'bad_entries', `entry ${prevLogIndex + 1 + i} has term ${describe(entryTerm)} (previous ${lastTerm}, message ${term})`);
    }
    if (typeof entry['type'] !== 'string' || !ENTRY_TYPES.has(entry['type'])) return rejection(m, 'malformed', `entry ${prevLogIndex + 1 + i} has type ${describe(entry['type'])}`);
    if (typeof entry['data'] !== 'string') return rejection(m, 'malformed', `entry ${prevLogIndex + 1 + i} data must be a string`);
    if (entry['type'] === 'config') {
      const config = decodeConfiguration(entry['data']);
      if (typeof config === 'string') return rejection(m, 'bad_entries', `entry ${prevLogIndex + 1 + i}: ${describe(config)}`);
    }
    lastTerm = entryTerm;
  }
  return null;
}

const ENTRY_TYPES: ReadonlySet<string> = new Set(['normal', 'noop', 'config']);

function checkAppendResponse(m: Fields, term: number): Rejection | null {
  return (
    need(m, 'success', typeof m['success'] === 'boolean') ??
    index(m, 'matchIndex') ??
    index(m, 'rejectedIndex') ??
    index(m, 'conflictIndex') ??
    (m['conflictTerm'] === null ? null : termAtMost(m, 'conflictTerm', term))
  );
}

function checkInstallSnapshot(m: Fields, term: number): Rejection | null {
  const meta = m['meta'];
  if (!isRecord(meta)) return rejection(m, 'malformed', 'meta must be an object');
  const bad = index(meta, 'index', m) ?? termAtMost(meta, 'term', term, m) ?? offset(m, 'offset') ?? need(m, 'done', typeof m['done'] === 'boolean');
  if (bad) return bad;
  const voters = meta['voters'];
  if (!Array.isArray(voters) || voters.length > MAX_MEMBERS || new Set(voters).size !== voters.length || !voters.every((v) => typeof v === 'string')) {
    return rejection(m, 'malformed', `meta.voters must be at most ${MAX_MEMBERS} distinct ids`);
  }
  // The configuration at the snapshot's index: the installing node adopts it (thesis §4.1).
  const config = decodeConfiguration(meta['config']);
  if (typeof config === 'string') return rejection(m, 'malformed', `meta.config: ${describe(config)}`);
  const chunk = m['chunk'];
  if (!(chunk instanceof Uint8Array)) return rejection(m, 'malformed', 'chunk must be bytes');
  const start = m['offset'];
  if (typeof start !== 'number' || start + chunk.length > MAX_SNAPSHOT_BYTES) return rejection(m, 'index_out_of_range', `snapshot larger than ${MAX_SNAPSHOT_BYTES} bytes`);
  return null;
}

function requestId(m: Fields): Rejection | null {
  const id = m['requestId'];
  return need(m, 'requestId', typeof id === 'string' && id.length > 0 && id.length <= MAX_REQUEST_ID_CHARS);
}

// ---------------------------------------------------------------- against our state

/**
 * What no correct peer can send us in our current state. Only messages of our own term are
 * judged here (except TimeoutNow): a message of a lower term is stale and ignored by `step`,
 * and one of a higher term is news a correct peer may bring (a new leader, a new election).
 */
function checkAgainstState(m: Message, view: ValidationView): Rejection | null {
  if (m.type === 'TimeoutNow') return checkTimeoutNow(m, view);
  if (m.type === 'ReadIndexResponse' && view.forwardedReadTarget(m.requestId) !== m.from) {
    return rejection(m, 'unsolicited_response', `no read ${describe(m.requestId)} was forwarded to ${m.from}`);
  }
  if (m.term !== view.term) return null;
  if (m.type === 'AppendEntries' || m.type === 'Heartbeat' || m.type === 'InstallSnapshot') return checkLeaderClaim(m, view);
  if (view.state === 'leader') return checkResponseToLeader(m, view);
  return null;
}

/** §5.2 Election Safety: a term has at most one leader, so its traffic has one sender. */
function checkLeaderClaim(m: Message, view: ValidationView): Rejection | null {
  if (view.state === 'leader') return rejection(m, 'second_leader', `${m.from} acts as leader of term ${m.term}, which this node leads`);
  if (view.state === 'follower' && view.leader !== null && view.leader !== m.from) {
    return rejection(m, 'conflicting_leader', `${m.from} acts as leader of term ${m.term}, whose leader is ${view.leader}`);
  }
  return null;
}

/**
 * The leader sends TimeoutNow only to a follower that acknowledged its latest entry, so of the
 * leader's term and following it. One of a later term, or from anyone else, is forged.
 */
function checkTimeoutNow(m: Message, view: ValidationView): Rejection | null {
  if (m.term > view.term || (m.term === view.term && view.leader !== m.from)) {
    return rejection(m, 'not_from_leader', `TimeoutNow from ${m.from} term ${m.term}; our leader is ${view.leader ?? 'unknown'} in term ${view.term}`);
  }
  return null;
}

/**
 * Replies to what this leader sent in its term name only what it sent: indexes within its log
 * (a leader's log never shrinks in its term, and a follower's commit index is in it by Leader
 * Completeness, §5.4) and read rounds it broadcast. A follower's fast-backtracking hint never
 * points past the index it rejected (§5.3).
 */
function checkResponseToLeader(m: Message, view: ValidationView): Rejection | null {
  const beyond = (what: string, value: number): Rejection => rejection(m, 'impossible_response', `${what} ${value} beyond what this leader sent`);
  if (m.type === 'AppendEntriesResponse') {
    if (m.success && m.matchIndex > view.lastIndex) return beyond('matchIndex', m.matchIndex);
    if (!m.success && m.rejectedIndex > view.lastIndex) return beyond('rejectedIndex', m.rejectedIndex);
    // rejectedIndex 0 is a follower's answer to an AppendEntries of an older term (its lastIndex+1
    // as the hint): this node may since have been elected in the follower's term.
    if (!m.success && m.rejectedIndex > 0 && m.conflictIndex > m.rejectedIndex) return beyond('conflictIndex', m.conflictIndex);
  }
  if (m.type === 'HeartbeatResponse' && m.readRound > view.lastReadRoundSent) return beyond('readRound', m.readRound);
  if (m.type === 'InstallSnapshotResponse' && m.snapshotIndex > view.lastIndex) return beyond('snapshotIndex', m.snapshotIndex);
  return null;
}

// ---------------------------------------------------------------- helpers

function isRecord(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isTerm(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_TERM;
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_INDEX;
}

/** `fields[key]` is an index in [0, MAX_INDEX]; `m` is the message the rejection names. */
function index(fields: Fields, key: string, m: Fields = fields): Rejection | null {
  return isIndex(fields[key]) ? null : rejection(m, 'index_out_of_range', `${key} ${describe(fields[key])} (max ${MAX_INDEX})`);
}

function offset(m: Fields, key: string): Rejection | null {
  const value = m[key];
  const ok = typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_SNAPSHOT_BYTES;
  return ok ? null : rejection(m, 'index_out_of_range', `${key} ${describe(value)} (max ${MAX_SNAPSHOT_BYTES})`);
}

function termAtMost(fields: Fields, key: string, max: number, m: Fields = fields): Rejection | null {
  const value = fields[key];
  return isTerm(value) && value <= max ? null : rejection(m, 'term_out_of_range', `${key} ${describe(value)} (message term ${max})`);
}

function need(m: Fields, key: string, ok: boolean): Rejection | null {
  return ok ? null : rejection(m, 'malformed', `bad ${key} ${describe(m[key])}`);
}

function rejection(value: unknown, reason: RejectReason, detail: string): Rejection {
  const m = isRecord(value) ? value : {};
  return { reason, detail, type: describe(m['type']), from: describe(m['from']), term: describe(m['term']) };
}

/** A short, log-safe rendering of an untrusted value (never calls its toString). */
export function describe(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value.length > 48 ? `${value.slice(0, 48)}…` : value);
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') text = String(value);
  else text = `(${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})`;
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
}
