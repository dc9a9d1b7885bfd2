import { MAX_ENTRIES_PER_APPEND, MAX_INDEX, MAX_TERM, type Message, MESSAGE_TYPES, type MessageType, type NodeId, type RaftCore, type SeededPrng } from '@raftquotes/raft';
import { CheckedAccessError } from '../checker/checked.js';

/**
 * A nemesis that speaks the peer protocol with hostile messages (issue 15). Two modes:
 * - invalid: every message it makes is malformed, out of bounds or impossible for a correct
 *   peer, by construction. The core must reject each one and change nothing, so the
 *   simulator still checks every safety property and liveness.
 * - chaos: anything, including well-formed messages a Byzantine member could send. Raft does
 *   not tolerate Byzantine members, so only "never throws" is checked then.
 */
export type ForgerMode = 'invalid' | 'chaos';

const TYPES: readonly MessageType[] = MESSAGE_TYPES;

/** Numbers that break arithmetic or bounds; none is a valid term, index or count. */
const BAD_NUMBERS: readonly unknown[] = [-1, 0.5, NaN, Infinity, -Infinity, MAX_TERM + 1, Number.MAX_SAFE_INTEGER, 2 ** 53, 1e300, '1', null, undefined, {}, []];
const NUMERIC_FIELDS = ['lastLogIndex', 'lastLogTerm', 'prevLogIndex', 'prevLogTerm', 'commit', 'matchIndex', 'rejectedIndex', 'conflictIndex', 'readRound', 'offset', 'snapshotIndex', 'nextOffset', 'lastLogIndex'];

/** A hostile message for `target`, and what was done to make it so (for the trace). */
export interface Forged {
  message: unknown;
  mutation: string;
}

/**
 * Makes a message `target` must reject, from a real recent message when there is one (so
 * every field but the broken one looks right) or from scratch.
 */
export function forgeInvalid(prng: SeededPrng, base: Message | null, target: RaftCore, ids: readonly NodeId[]): Forged {
  const m: Record<string, unknown> = base ? { ...base, to: target.id } : { type: 'Heartbeat', from: peerOf(prng, target, ids), to: target.id, term: target.term, commit: 0, readRound: 0 };
  const leaderClaim = (type: MessageType): Forged => ({
    message: { type, from: notLeader(prng, target, ids), to: target.id, term: target.term, commit: 0, readRound: 0, prevLogIndex: 0, prevLogTerm: 0, entries: [] },
    mutation: `${type} from a second leader`,
  });
  switch (prng.int(10)) {
    case 0:
      m['term'] = prng.chance(0.5) ? MAX_TERM + 1 + prng.int(1000) : pick(prng, BAD_NUMBERS);
      return { message: m, mutation: `term ${String(m['term'])}` };
    case 1:
      m['from'] = pick(prng, ['Node99', target.id, '', 'node1', '__proto__', 7]);
      return { message: m, mutation: `from ${String(m['from'])}` };
    case 2:
      m['type'] = pick(prng, ['Bogus', '', 'toString', 5, null]);
      return { message: m, mutation: `type ${String(m['type'])}` };
    case 3: {
      const field = NUMERIC_FIELDS.find((f) => f in m);
      if (!field) return { message: pick(prng, [null, 42, 'x', [], { to: target.id }]), mutation: 'not a message' };
      m[field] = pick(prng, BAD_NUMBERS);
      return { message: m, mutation: `${field} ${String(m[field])}` };
    }
    case 4:
      return { message: brokenEntries(prng, target, ids), mutation: 'entries not consecutive, or too many' };
    case 5:
      // A leader receives leader traffic in its own term; a follower, from another than its leader.
      if (target.state === 'leader' || (target.state === 'follower' && target.leader !== null)) return leaderClaim(pick(prng, ['Heartbeat', 'AppendEntries']));
      return { message: { ...m, term: -1 }, mutation: 'term -1' };
    case 6:
      return { message: { type: 'TimeoutNow', from: notLeader(prng, target, ids), to: target.id, term: target.term + prng.int(2) }, mutation: 'TimeoutNow from a non-leader' };
    case 7:
      return { message: { type: 'ReadIndexResponse', from: peerOf(prng, target, ids), to: target.id, term: target.term, requestId: `forged${prng.int(1000)}`, index: prng.int(1000) }, mutation: 'unsolicited ReadIndexResponse' };
    case 8:
      return { message: { ...m, to: pick(prng, ids.filter((id) => id !== target.id)) }, mutation: 'addressed to another node' };
    default:
      return { message: pick(prng, [null, 42, 'x', [], { to: target.id }, { ...m, type: 'AppendEntries', entries: 'x' }]), mutation: 'not a message' };
  }
}

/** Anything at all: a real message with random fields replaced, retyped or re-addressed. */
export function forgeChaos(prng: SeededPrng, base: Message | null, target: RaftCore, ids: readonly NodeId[]): Forged {
  const m: Record<string, unknown> = base ? { ...base } : { from: peerOf(prng, target, ids), to: target.id, term: target.term };
  m['to'] = target.id;
  const changes = 1 + prng.int(3);
  for (let i = 0; i < changes; i++) {
    const roll = prng.int(5);
    if (roll === 0) m['type'] = pick(prng, TYPES);
    else if (roll === 1) m['from'] = pick(prng, [...ids, 'Node99']);
    else if (roll === 2) m['term'] = pick(prng, [target.term, target.term + 1, target.term - 1, MAX_TERM, ...BAD_NUMBERS]);
    else if (roll === 3) m[pick(prng, NUMERIC_FIELDS)] = pick(prng, [0, 1, target.log.lastIndex(), target.log.lastIndex() + 5, MAX_INDEX, ...BAD_NUMBERS]);
    else m[pick(prng, ['granted', 'success', 'done', 'force'])] = pick(prng, [true, false, 1, null]);
  }
  return { message: m, mutation: 'chaos' };
}

/** Everything a rejected message must leave as it was, as one comparable string. */
export function coreFingerprint(core: RaftCore): string {
  const log = core.log;
  return JSON.stringify({
    hard: core.hardState(),
    soft: core.softState(),
    log: [log.offset, log.offsetTerm, log.lastIndex(), log.lastTerm(), log.stableIndex, log.commitIndex, log.appliedIndex, log.applyingIndex],
    timer: core.electionTimerView(),
    progress: [...core.progressView()],
    transfer: core.transferTarget(),
    hasReady: core.hasReady(),
  });
}

function brokenEntries(prng: SeededPrng, target: RaftCore, ids: readonly NodeId[]): Record<string, unknown> {
  const prevLogIndex = target.log.commitIndex;
  const from = target.leader ?? peerOf(prng, target, ids);
  const base = { type: 'AppendEntries', from, to: target.id, term: target.term, prevLogIndex, prevLogTerm: target.log.termAt(prevLogIndex) ?? 0, commit: 0 };
  if (prng.chance(0.2)) return { ...base, entries: new Array(MAX_ENTRIES_PER_APPEND + 1) };
  const entry = (index: number, term: number): object => ({ index, term, type: 'normal', data: 'forged' });
  const t = target.term;
  const broken = pick(prng, [
    [entry(prevLogIndex + 2, t)],
    [entry(prevLogIndex + 1, t), entry(prevLogIndex + 1, t)],
    [entry(prevLogIndex + 1, t + 1)],
    [entry(prevLogIndex + 1, t), entry(prevLogIndex + 2, 0)],
    [{ index: prevLogIndex + 1, term: t, type: 'evil', data: 'x' }],
    [entry(prevLogIndex + 1, t), null],
  ]);
  return { ...base, entries: broken };
}

function peerOf(prng: SeededPrng, target: RaftCore, ids: readonly NodeId[]): NodeId {
  return pick(prng, ids.filter((id) => id !== target.id));
}

function notLeader(prng: SeededPrng, target: RaftCore, ids: readonly NodeId[]): NodeId {
  const others = ids.filter((id) => id !== target.id && id !== target.termLeader());
  return pick(prng, others.length > 0 ? others : ids.filter((id) => id !== target.id));
}

/**
 * One of `items`. Hostile values include `undefined` on purpose, so a checked read cannot tell
 * a miss from a choice: the draw is checked to be in bounds instead, and the element is then
 * of type T whatever it holds.
 */
function pick<T>(prng: SeededPrng, items: readonly T[]): T {
  const i = prng.int(items.length);
  if (i >= items.length) throw new CheckedAccessError(`forger choices: draw ${i} of ${items.length}`);
  return items[i] as T;
}
