/**
 * Hostile Raft messages a member holding the shared secret can send (issue 15), for the
 * process-level security tests and the fault harness's `forger` nemesis. Every message made
 * here is either refused by validation (src/raft/message-validation.ts) or by the transport,
 * or harmless by Raft's own rules (a stale term), given what the target said about itself.
 *
 * What is deliberately never made: a message a correct member could send in the target's
 * current term. A shared secret (or a certificate) proves membership, not honesty, so no
 * such system can tell a forged message from the real one when it is exactly what the real
 * member would send: a Heartbeat from the real leader's identity with a higher commit index
 * commits entries a majority never stored; an AppendEntriesResponse claiming a match the
 * follower does not have, or a HeartbeatResponse confirming a read round, lets the leader
 * commit or serve reads without a real majority; a granted vote lets a candidate win twice;
 * a ReadIndexResponse from the leader's identity with an old index serves a stale read. Raft
 * assumes members are not Byzantine; what it can and must do is refuse everything that is
 * impossible for a correct member, and never let any message crash a node.
 */
import { MAX_INDEX, MAX_TERM, MESSAGE_TYPES, type NodeId } from '@raftquotes/raft';

/** What the target reported about itself (GET /api/status) shortly before. */
export interface TargetView {
  id: NodeId;
  term: number;
  state: string;
  leader: NodeId | null;
  lastIndex: number;
  commitIndex: number;
}

/** A source of choices: a seeded PRNG, or fast-check's `fc.gen()` in a property. */
export interface Chooser {
  /** A uniform integer in [0, n); 0 when n <= 1. */
  int(n: number): number;
}

/**
 * How the message must be refused:
 * - a core RejectReason (validation drops it and counts it in raft_rejected_messages_total);
 * - `stale`: a well-formed message of a past term, which step ignores by Raft's rules;
 * - `transport`: the transport refuses it first (e.g. `from` is not the authenticated peer)
 *   and closes the connection. The core would refuse it too (unknown_sender / malformed).
 */
export type Expected =
  | 'term_out_of_range'
  | 'index_out_of_range'
  | 'malformed'
  | 'bad_entries'
  | 'second_leader'
  | 'conflicting_leader'
  | 'not_from_leader'
  | 'unsolicited_response'
  | 'impossible_response'
  | 'stale'
  | 'transport';

export interface Hostile {
  message: Record<string, unknown>;
  expected: Expected;
  /** What was forged, for logs. */
  what: string;
}

/** Far above any index a leader reaches in a test, and still within MAX_INDEX. */
const FAR = 2 ** 40;
/** Terms a node refuses outright: above MAX_TERM, up to the largest safe integer. */
const HUGE_TERMS: readonly number[] = [MAX_TERM + 1, 2 ** 50, 2 ** 52 + 1, Number.MAX_SAFE_INTEGER];
/** Values no index, count or boolean field accepts (all survive msgpack). */
const BAD_VALUES: readonly unknown[] = [-1, 0.5, MAX_INDEX + 1, 1e300, -1e300, '1', null, true, [], {}, 'x'.repeat(300)];

const pick = <T>(c: Chooser, items: readonly T[]): T => items[c.int(items.length)] as T;

/**
 * A well-formed message of `type` from `from` to `to` in `term`, with plausible fields; the
 * callers below break it or choose its term so that it is hostile.
 */
export function baseMessage(c: Chooser, type: string, from: NodeId, to: NodeId, term: number, view: TargetView): Record<string, unknown> {
  const index = c.int(view.lastIndex + 1);
  const m: Record<string, unknown> = { type, from, to, term };
  switch (type) {
    case 'PreVote':
    case 'RequestVote':
      return { ...m, lastLogIndex: view.lastIndex, lastLogTerm: Math.min(term, view.term), ...(type === 'RequestVote' ? { force: c.int(2) === 0 } : {}) };
    case 'PreVoteResponse':
    case 'RequestVoteResponse':
      return { ...m, granted: c.int(2) === 0 };
    case 'AppendEntries':
      return { ...m, prevLogIndex: index, prevLogTerm: Math.min(term, 1), entries: [{ index: index + 1, term, type: 'normal', data: 'forged' }], commit: index };
    case 'AppendEntriesResponse':
      return { ...m, success: c.int(2) === 0, matchIndex: index, rejectedIndex: index, conflictIndex: 0, conflictTerm: null };
    case 'Heartbeat':
      return { ...m, commit: view.commitIndex, readRound: c.int(100) };
    case 'HeartbeatResponse':
      return { ...m, readRound: c.int(100) };
    case 'InstallSnapshot':
      return { ...m, meta: { index, term: Math.min(term, 1), voters: [from, to] }, offset: 0, chunk: new Uint8Array(c.int(64)), done: c.int(2) === 0 };
    case 'InstallSnapshotResponse':
      return { ...m, snapshotIndex: index, nextOffset: 0, done: false, lastLogIndex: index };
    case 'ReadIndex':
      return { ...m, requestId: `r${1 + c.int(100_000)}` };
    case 'ReadIndexResponse':
      return { ...m, requestId: `r${1 + c.int(100_000)}`, index: pick(c, [0, 1, FAR, null]) };
    default:
      return { ...m, type: 'TimeoutNow' };
  }
}

export { MESSAGE_TYPES };

/** Fields each type carries that must hold an index, a count or a boolean. */
const BREAKABLE: Readonly<Record<string, readonly string[]>> = {
  PreVote: ['lastLogIndex', 'lastLogTerm'],
  RequestVote: ['lastLogIndex', 'lastLogTerm', 'force'],
  PreVoteResponse: ['granted'],
  RequestVoteResponse: ['granted'],
  AppendEntries: ['prevLogIndex', 'prevLogTerm', 'commit', 'entries'],
  AppendEntriesResponse: ['success', 'matchIndex', 'rejectedIndex', 'conflictIndex'],
  Heartbeat: ['commit', 'readRound'],
  HeartbeatResponse: ['readRound'],
  InstallSnapshot: ['offset', 'done', 'chunk', 'meta'],
  InstallSnapshotResponse: ['snapshotIndex', 'nextOffset', 'done', 'lastLogIndex'],
  ReadIndex: ['requestId'],
  ReadIndexResponse: ['requestId', 'index'],
};

const LEADER_TYPES: readonly string[] = ['Heartbeat', 'AppendEntries', 'InstallSnapshot'];

/**
 * Leader traffic in the target's current term that validation must refuse (a second leader,
 * or not the leader the target follows). It carries nothing that could change a log or a
 * commit index, so a target whose state moved on before it arrived is still not harmed: a
 * follower turned pre-candidate, or a leader that stepped down, keeps its term without a
 * leader and would accept it. Hence commit 0, no entries, a snapshot at index 0.
 */
function leaderClaim(type: string, as: NodeId, v: TargetView): Record<string, unknown> {
  const m = { type, from: as, to: v.id, term: v.term };
  if (type === 'Heartbeat') return { ...m, commit: 0, readRound: 0 };
  if (type === 'AppendEntries') return { ...m, prevLogIndex: 0, prevLogTerm: 0, entries: [], commit: 0 };
  return { ...m, meta: { index: 0, term: 0, voters: [as, v.id] }, offset: 0, chunk: new Uint8Array(0), done: false };
}

type Maker = (c: Chooser, view: TargetView, as: NodeId, members: readonly NodeId[]) => Hostile | null;

/**
 * The kinds of hostile message, each with the condition under which it is sure to be refused
 * or harmless. A maker returns null when the target's state does not allow it (the caller
 * picks another). The view may be stale by the time the message arrives; every maker stays
 * safe then, because a target's term only grows: a message of the view's term becomes stale.
 */
const MAKERS: ReadonlyArray<readonly [string, Maker]> = [
  ['term above MAX_TERM', (c, v, as) => ({ message: baseMessage(c, pick(c, MESSAGE_TYPES), as, v.id, pick(c, HUGE_TERMS), v), expected: 'term_out_of_range', what: 'term above MAX_TERM' })],
  [
    'term 0',
    (c, v, as) => {
      const type = pick(c, MESSAGE_TYPES.filter((t) => t !== 'PreVoteResponse'));
      return { message: baseMessage(c, type, as, v.id, 0, v), expected: 'term_out_of_range', what: `${type} in term 0` };
    },
  ],
  [
    'broken field',
    (c, v, as) => {
      const type = pick(c, Object.keys(BREAKABLE));
      const field = pick(c, BREAKABLE[type] as readonly string[]);
      const value = field === 'entries' ? pick(c, ['x', [null], [{ index: v.lastIndex + 5, term: v.term, type: 'normal', data: '' }]]) : pick(c, BAD_VALUES);
      // Of a past term when there is one, so even a field validation happened to accept stays harmless.
      const term = v.term > 1 ? 1 + c.int(v.term - 1) : pick(c, HUGE_TERMS);
      const message = { ...baseMessage(c, type, as, v.id, term, v), [field]: value };
      return { message, expected: v.term > 1 ? 'stale' : 'term_out_of_range', what: `${type} with ${field} ${describe(value)}` };
    },
  ],
  [
    'second leader',
    (c, v, as) => {
      if (v.state !== 'leader') return null;
      const type = pick(c, LEADER_TYPES);
      return { message: leaderClaim(type, as, v), expected: 'second_leader', what: `${type} as a second leader of term ${v.term}` };
    },
  ],
  [
    'conflicting leader',
    (c, v, as) => {
      if (v.state !== 'follower' || v.leader === null || v.leader === as) return null;
      const type = pick(c, LEADER_TYPES);
      return { message: leaderClaim(type, as, v), expected: 'conflicting_leader', what: `${type} of term ${v.term}, whose leader is ${v.leader}` };
    },
  ],
  [
    'TimeoutNow from a non-leader',
    (c, v, as) => {
      // Only our leader of this term may send it; a later term is never its leader's.
      const term = as === v.leader ? v.term + 1 : v.term + c.int(2);
      return { message: { type: 'TimeoutNow', from: as, to: v.id, term }, expected: 'not_from_leader', what: `TimeoutNow term ${term}` };
    },
  ],
  [
    'unsolicited ReadIndexResponse',
    (c, v, as) => {
      // A follower forwards reads to its leader only; a leader forwards none.
      if (v.state !== 'leader' && (v.leader === null || v.leader === as)) return null;
      const message = { ...baseMessage(c, 'ReadIndexResponse', as, v.id, v.term, v), index: pick(c, [0, 1, FAR, MAX_INDEX]) };
      return { message, expected: 'unsolicited_response', what: `ReadIndexResponse index ${String(message.index)}` };
    },
  ],
  [
    'impossible response',
    (c, v, as) => {
      if (v.state !== 'leader') return null;
      const far = v.lastIndex + FAR + c.int(1000);
      const message = pick(c, [
        { type: 'AppendEntriesResponse', success: true, matchIndex: far, rejectedIndex: 0, conflictIndex: 0, conflictTerm: null },
        { type: 'AppendEntriesResponse', success: false, matchIndex: 0, rejectedIndex: far, conflictIndex: 0, conflictTerm: null },
        { type: 'HeartbeatResponse', readRound: FAR + c.int(1000) },
        { type: 'InstallSnapshotResponse', snapshotIndex: far, nextOffset: 0, done: true, lastLogIndex: far },
      ]);
      return { message: { ...message, from: as, to: v.id, term: v.term }, expected: 'impossible_response', what: `${message.type} naming index ${far} or round ${FAR}+` };
    },
  ],
  [
    'stale term',
    (c, v, as) => {
      if (v.term < 2) return null;
      const type = pick(c, MESSAGE_TYPES);
      const term = 1 + c.int(v.term - 1);
      return { message: baseMessage(c, type, as, v.id, term, v), expected: 'stale', what: `${type} of past term ${term}` };
    },
  ],
  [
    'wrong sender',
    (c, v, as, members) => {
      const from = pick(c, [...members.filter((m) => m !== as), 'Node99', '', '__proto__']);
      // The transport refuses it for its sender; a past or refused term keeps it harmless even if it did not.
      const term = v.term > 1 ? 1 + c.int(v.term - 1) : pick(c, HUGE_TERMS);
      return { message: baseMessage(c, pick(c, MESSAGE_TYPES), from, v.id, term, v), expected: 'transport', what: `sender ${JSON.stringify(from)} on ${as}'s connection` };
    },
  ],
];

/** Names of the kinds, for reports. */
export const HOSTILE_KINDS: readonly string[] = MAKERS.map(([name]) => name);

export interface ForgeOptions {
  /** Leave out kinds that make the transport close the connection (a nemesis keeps its link up). */
  keepConnection?: boolean;
  /** Make this kind (one of HOSTILE_KINDS) if the target's state allows it. */
  kind?: string;
}

/**
 * One hostile message from member `as` to the node `view` describes. `members` are all the
 * cluster's node ids. Always returns a message: a kind the state does not allow is skipped.
 */
export function forgeHostile(c: Chooser, view: TargetView, as: NodeId, members: readonly NodeId[], options: ForgeOptions = {}): Hostile {
  const chosen = MAKERS.find(([name]) => name === options.kind);
  const forced = chosen?.[1](c, view, as, members);
  if (forced) return forced;
  const makers = options.keepConnection ? MAKERS.filter(([name]) => name !== 'wrong sender') : MAKERS;
  const start = c.int(makers.length);
  for (let i = 0; i < makers.length; i++) {
    const [, make] = makers[(start + i) % makers.length] as readonly [string, Maker];
    const hostile = make(c, view, as, members);
    if (hostile) return hostile;
  }
  throw new Error('unreachable: the first maker never returns null');
}

/** A short rendering of a value for the `what` of a forged message. */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…` : value);
  if (Array.isArray(value)) return `[${value.length} items]`;
  return typeof value === 'object' && value !== null ? '{…}' : String(value);
}

/** A TargetView from a GET /api/status body (null when it is not a status). */
export function viewOf(status: unknown): TargetView | null {
  if (typeof status !== 'object' || status === null) return null;
  const s = status as Record<string, unknown>;
  if (typeof s.id !== 'string' || typeof s.term !== 'number' || typeof s.lastIndex !== 'number' || typeof s.commitIndex !== 'number') return null;
  return { id: s.id, term: s.term, state: String(s.state), leader: typeof s.leader === 'string' ? s.leader : null, lastIndex: s.lastIndex, commitIndex: s.commitIndex };
}
