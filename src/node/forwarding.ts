/**
 * Write forwarding over the peer link, like etcd's MsgProp: a follower that gets a
 * client's write sends the encoded command to the leader in a Propose frame; the leader
 * proposes it and answers (term, index) or a refusal; the follower answers its client once it
 * has applied the entry at that index itself (its own apply gives the result, so an
 * Idempotency-Key is deduplicated by the same state machine code as on the leader).
 *
 * Outcomes, with the SPEC §3 codes the API maps them to:
 * - not sent (no link up to the leader) or refused by the leader: the command never entered
 *   the log, so 503 no_leader / 429 / 507 / 503 unavailable, exactly what the leader's own
 *   API answered to an HTTP forward before;
 * - sent and never answered, or answered and not applied by the deadline: 504 timeout, the
 *   outcome is unknown;
 * - the entry applied at its index has another term than the answer's: that index holds a
 *   different committed entry, and the leader of a term puts a proposal at one index only,
 *   so ours never commits: 503 no_leader (not applied).
 *
 * The writes a follower's clients make in one turn of the event loop travel in one
 * ProposeBatch frame and are answered in one ProposeBatchResponse (etcd's MsgProp carries
 * several entries the same way): per write that saves a frame, its MAC and its validation in
 * each direction, and a socket write per client on the follower. A lone write goes as a
 * single Propose, which every version understands. Deadlines share one timer.
 *
 * Nothing here is in the Raft core: these frames are never stepped, and the core only ever
 * sees the leader's ordinary propose().
 */
import { assert, defined, type Entry, type NodeId } from '@raftquotes/raft';
import type { ApplyResult } from '../state/types.js';
import type { ForwardRefusal, PeerMessage, ProposeBatchMessage, ProposeBatchResponseMessage, ProposeMessage, ProposeResponseMessage } from '../transport/forward-message.js';
import { MAX_FORWARD_REQUEST_ID, MAX_PROPOSALS_PER_BATCH, MAX_PROPOSE_BATCH_CHARS } from '../transport/message-shape.js';
import type { Clock, TimerHandle } from './clock.js';
import { NodeError } from './types.js';

/** Forwarded writes one follower has in flight (sent, or accepted and not yet applied). */
export const MAX_FORWARDS_IN_FLIGHT = 8_192;
/** Bytes of command data one follower has in flight: bounds its memory under a slow leader. */
export const MAX_FORWARD_BYTES_IN_FLIGHT = 64 * 1024 * 1024;

/** What the forwarder needs from its node. */
export interface ForwardingHost {
  readonly id: NodeId;
  readonly clock: Clock;
  /** The node's current term. */
  term(): number;
  send(to: NodeId, message: PeerMessage): void;
  /** True when a frame to `peer` would go out on an established link (see Transport.linkUp). */
  linkUp(peer: NodeId): boolean;
  /** The state machine's applied index. */
  appliedIndex(): number;
}

/** One forwarded write: waiting for the leader's answer, then for the local apply. */
interface Pending {
  requestId: number;
  leader: NodeId;
  bytes: number;
  /** Set once the leader accepted it. */
  at: { term: number; index: number } | null;
  resolve(result: ApplyResult): void;
  reject(error: Error): void;
  /** host.clock.now() past which it is answered 504. */
  deadline: number;
  timeoutMs: number;
}

/** Proposals gathered in this turn for one leader, not yet sent (their ids are consecutive). */
interface OpenBatch {
  leader: NodeId;
  firstRequestId: number;
  data: string[];
  chars: number;
}

/** The follower's side: forwards, waits, settles on apply. */
export class ProposalForwarder {
  private readonly pending = new Map<number, Pending>();
  /** Accepted forwards by log index: several only across leader changes (different terms). */
  private readonly byIndex = new Map<number, Pending[]>();
  private bytesInFlight = 0;
  private lastRequestId = 0;
  private open: OpenBatch | null = null;
  private flushScheduled = false;
  /** The one deadline timer, and when it fires (the earliest deadline when it was set). */
  private timer: TimerHandle | null = null;
  private timerAt = Infinity;

  constructor(private readonly host: ForwardingHost) {}

  /** Forwarded writes in flight. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Sends `data` (an encoded command) to `leader` and resolves with this node's own apply
   * result for it. Rejects with NodeError (see the file comment for which and when). The
   * proposal leaves at the end of this turn of the event loop, with the others made in it.
   */
  forward(leader: NodeId, data: string, timeoutMs: number): Promise<ApplyResult> {
    assert(leader !== this.host.id, () => `forwarding a write to this node itself (${leader})`);
    if (this.pending.size >= MAX_FORWARDS_IN_FLIGHT || this.bytesInFlight + data.length > MAX_FORWARD_BYTES_IN_FLIGHT) {
      return Promise.reject(new NodeError('too_many_requests', 'too many forwarded writes in flight; retry shortly'));
    }
    if (!this.host.linkUp(leader)) {
      return Promise.reject(new NodeError('no_leader', `no peer link up to the leader ${leader}; the write was not sent; retry shortly`, leader));
    }
    const requestId = this.nextRequestId();
    const deadline = this.host.clock.now() + timeoutMs;
    const promise = new Promise<ApplyResult>((resolve, reject) => {
      this.pending.set(requestId, { requestId, leader, bytes: data.length, at: null, resolve, reject, deadline, timeoutMs });
    });
    this.bytesInFlight += data.length;
    this.armTimer(deadline);
    this.enqueue(leader, requestId, data);
    return promise;
  }

  /** Sends what this turn gathered (also called at the end of the turn by itself). */
  flush(): void {
    const batch = this.open;
    this.open = null;
    if (!batch) return;
    const { leader, firstRequestId, data } = batch;
    const term = this.host.term();
    if (data.length === 1) {
      const message: ProposeMessage = { type: 'Propose', from: this.host.id, to: leader, term, requestId: firstRequestId, data: data[0] as string };
      this.host.send(leader, message);
      return;
    }
    const message: ProposeBatchMessage = { type: 'ProposeBatch', from: this.host.id, to: leader, term, firstRequestId, data };
    this.host.send(leader, message);
  }

  /** Request ids count up; a batch never spans the wrap back to 1 (its ids stay consecutive). */
  private nextRequestId(): number {
    if (this.lastRequestId >= MAX_FORWARD_REQUEST_ID) {
      this.flush();
      this.lastRequestId = 0;
    }
    return ++this.lastRequestId;
  }

  private enqueue(leader: NodeId, requestId: number, data: string): void {
    const open = this.open;
    const fits = open !== null && open.leader === leader && open.firstRequestId + open.data.length === requestId && open.data.length < MAX_PROPOSALS_PER_BATCH && open.chars + data.length <= MAX_PROPOSE_BATCH_CHARS;
    if (open !== null && !fits) this.flush();
    if (open !== null && fits) {
      open.data.push(data);
      open.chars += data.length;
    } else {
      this.open = { leader, firstRequestId: requestId, data: [data], chars: data.length };
    }
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.host.clock.setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Keeps the one timer at or before the earliest deadline. */
  private armTimer(deadline: number): void {
    if (deadline >= this.timerAt) return;
    if (this.timer !== null) this.host.clock.clearTimeout(this.timer);
    this.timerAt = deadline;
    this.timer = this.host.clock.setTimeout(() => this.expireDue(), Math.max(0, deadline - this.host.clock.now()));
  }

  /** Answers 504 to every forward past its deadline, then re-arms for the earliest left. */
  private expireDue(): void {
    this.timer = null;
    this.timerAt = Infinity;
    const now = this.host.clock.now();
    let next = Infinity;
    for (const p of [...this.pending.values()]) {
      if (p.deadline <= now) this.expire(p);
      else next = Math.min(next, p.deadline);
    }
    if (next !== Infinity) this.armTimer(next);
  }

  /** The leader's answer. Anything unexpected (unknown id, wrong sender, late) is ignored or answered 504. */
  onResponse(m: ProposeResponseMessage | ProposeBatchResponseMessage): void {
    if (m.type === 'ProposeResponse') return this.onAnswer(m.from, m.requestId, m.term, m.refusal ?? m.index);
    m.results.forEach((answer, i) => this.onAnswer(m.from, m.firstRequestId + i, m.term, answer));
  }

  /** One proposal's answer: the index it was appended at in `term`, or a refusal. */
  private onAnswer(from: NodeId, requestId: number, term: number, answer: number | ForwardRefusal): void {
    const p = this.pending.get(requestId);
    if (!p || p.at !== null || p.leader !== from) return;
    if (typeof answer !== 'number') return this.settle(p, refusalError(answer, from));
    if (answer <= this.host.appliedIndex()) {
      // Cannot happen on one FIFO link (the answer precedes the entry); if it ever does, this
      // node has applied the entry without keeping its result: the outcome is unknown here.
      return this.settle(p, new NodeError('timeout', `the leader ${from} answered index ${answer} after this node applied it; the outcome is unknown`));
    }
    p.at = { term, index: answer };
    const list = this.byIndex.get(answer);
    if (list) list.push(p);
    else this.byIndex.set(answer, [p]);
  }

  /** An entry was applied with `result`: answers every forward that waited on its index. */
  onApplied(entry: Entry, result: ApplyResult): void {
    const list = this.byIndex.get(entry.index);
    if (!list) return;
    this.byIndex.delete(entry.index);
    for (const p of list) {
      const at = p.at as { term: number; index: number };
      if (at.term === entry.term) this.settle(p, null, result);
      else this.settle(p, new NodeError('no_leader', `leadership changed before the write committed: index ${entry.index} holds an entry of term ${entry.term}, not ${at.term}; it was not applied`));
    }
  }

  /**
   * The state machine jumped to a snapshot at `index` (InstallSnapshot): the entries up to it
   * were never applied here one by one, so their results are unknown to this node.
   */
  onSnapshot(index: number): void {
    for (const [at, list] of this.byIndex) {
      if (at > index) continue;
      this.byIndex.delete(at);
      for (const p of list) this.settle(p, new NodeError('timeout', `this node caught up by a snapshot past index ${at}; the write's outcome is unknown here`));
    }
  }

  /**
   * The link to `peer` went down: forwards to it still unanswered will not be answered (the
   * answer would have come back on the same pair of links). Accepted ones may still apply.
   */
  onPeerDown(peer: NodeId): void {
    for (const p of [...this.pending.values()]) {
      if (p.at === null && p.leader === peer) this.settle(p, new NodeError('timeout', `the link to the leader ${peer} went down before it answered; the outcome is unknown`));
    }
  }

  /** Stop or controller SHUTDOWN: every forward in flight may still commit through the leader. */
  failAll(why: string): void {
    this.open = null;
    for (const p of [...this.pending.values()]) this.settle(p, new NodeError('timeout', `${why} before the forwarded write was known applied; it may or may not commit`));
  }

  private expire(p: Pending): void {
    const what = p.at ? `accepted by ${p.leader} at index ${p.at.index}, not applied here within ${p.timeoutMs} ms` : `forwarded to ${p.leader}, no answer within ${p.timeoutMs} ms`;
    this.settle(p, new NodeError('timeout', `write ${what}; it may or may not commit`));
  }

  private settle(p: Pending, error: Error | null, result?: ApplyResult): void {
    if (this.pending.get(p.requestId) !== p) return;
    this.pending.delete(p.requestId);
    this.bytesInFlight -= p.bytes;
    if (this.pending.size === 0 && this.timer !== null) {
      this.host.clock.clearTimeout(this.timer);
      this.timer = null;
      this.timerAt = Infinity;
    }
    if (p.at) this.forgetIndex(p, p.at.index);
    if (error) p.reject(error);
    else p.resolve(defined(result, 'a forwarded write settles with an error or a result'));
  }

  private forgetIndex(p: Pending, index: number): void {
    const list = this.byIndex.get(index);
    if (!list) return;
    const kept = list.filter((x) => x !== p);
    if (kept.length > 0) this.byIndex.set(index, kept);
    else this.byIndex.delete(index);
  }
}

/** A leader's refusal as the error the leader's own API would have answered (nothing was appended). */
function refusalError(refusal: ForwardRefusal, leader: NodeId): Error {
  switch (refusal) {
    case 'not_leader':
    case 'no_leader':
      return new NodeError('no_leader', `${leader} was no longer the leader when the forwarded write arrived; it was not applied; retry shortly`);
    case 'too_many_requests':
      return new NodeError('too_many_requests', `the leader ${leader} has too many uncommitted entries; retry shortly`);
    case 'quota_exceeded':
      return new NodeError('quota_exceeded', `the leader ${leader} refused the write: the state is at its size quota (--quota-bytes); deletes still work`);
    case 'unavailable':
      return new NodeError('unavailable', `the leader ${leader} is shut down by the controller or stopping; the write was not applied`);
    case 'bad_command':
      return new Error(`the leader ${leader} could not decode the forwarded command; nothing was written`);
  }
}

/** What the leader's side needs from its node. */
export interface ProposalAcceptor {
  readonly id: NodeId;
  /** Why this node takes no proposal at all right now (controller SHUTDOWN, stopping), or null. */
  unavailable(): boolean;
  term(): number;
  /** The core's propose (refuses unless leading). */
  propose(data: string): { ok: true; index: number; term: number } | { ok: false; error: 'not_leader' | 'transferring' | 'too_many_requests' };
  /** SPEC §5 quota, checked where the write enters the log: 'bad_command', 'quota_exceeded' or null. */
  admit(data: string): 'bad_command' | 'quota_exceeded' | null;
  send(to: NodeId, message: PeerMessage): void;
}

/**
 * The leader's answers to forwarded proposals, held from the moment they are proposed until
 * the Ready that sends their entries (which the proposing schedules in the same turn): sent
 * just before that Ready's messages, each follower gets its answers and the AppendEntries in
 * one write, and wakes once for both instead of twice. The order on the link is kept: the
 * answer still precedes the entries. Holds at most what arrived in one turn.
 */
export class HeldAnswers {
  private held: Array<{ to: NodeId; message: ProposeResponseMessage | ProposeBatchResponseMessage }> = [];

  hold(to: NodeId, message: PeerMessage): void {
    assert(message.type === 'ProposeResponse' || message.type === 'ProposeBatchResponse', () => `holding a ${message.type} as a forward answer`);
    this.held.push({ to, message });
  }

  get size(): number {
    return this.held.length;
  }

  /** Sends everything held, in order. */
  sendAll(send: (to: NodeId, message: PeerMessage) => void): void {
    if (this.held.length === 0) return;
    const held = this.held;
    this.held = [];
    for (const { to, message } of held) send(to, message);
  }
}

/**
 * The leader's side: proposes forwarded commands (a Propose or a ProposeBatch) and answers at
 * once, before the Ready that sends the entries, so the answer precedes the entries on the
 * link to the follower. The leader keeps no state for them: the follower waits on its own apply.
 */
export function answerProposal(m: ProposeMessage | ProposeBatchMessage, node: ProposalAcceptor): void {
  if (m.type === 'Propose') {
    const answer = proposeOne(m, m.data, node);
    const refused = typeof answer !== 'number';
    const message: ProposeResponseMessage = { type: 'ProposeResponse', from: node.id, to: m.from, term: node.term(), requestId: m.requestId, index: refused ? 0 : answer, refusal: refused ? answer : null };
    return node.send(m.from, message);
  }
  const results = m.data.map((data) => proposeOne(m, data, node));
  const message: ProposeBatchResponseMessage = { type: 'ProposeBatchResponse', from: node.id, to: m.from, term: node.term(), firstRequestId: m.firstRequestId, results };
  node.send(m.from, message);
}

/**
 * One forwarded command: the index it was appended at, or why not. The term cannot change
 * between the proposals of one batch (nothing else runs meanwhile), so every index answered
 * is of the term the answer carries.
 */
function proposeOne(m: ProposeMessage | ProposeBatchMessage, data: string, node: ProposalAcceptor): number | ForwardRefusal {
  if (node.unavailable()) return 'unavailable';
  // A follower in a later term knows this leader is deposed (§5.1): appending would only be truncated later.
  if (m.term > node.term()) return 'not_leader';
  const problem = node.admit(data);
  if (problem) return problem;
  const result = node.propose(data);
  if (result.ok) return result.index;
  return result.error === 'too_many_requests' ? 'too_many_requests' : result.error === 'transferring' ? 'no_leader' : 'not_leader';
}
