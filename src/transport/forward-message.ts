import type { Message, NodeId } from '@raftquotes/raft';

/**
 * The peer frames of write forwarding, beside the Raft messages on the same
 * authenticated, MAC'd links. Like etcd's MsgProp: a follower hands a client's command to the
 * leader over the peer link instead of making a second HTTP request. They never reach the
 * Raft core; the node runtime handles them (src/node/forwarding.ts).
 */

/** Why a leader refused a forwarded proposal. A refused proposal was never appended. */
export const FORWARD_REFUSALS = ['not_leader', 'no_leader', 'too_many_requests', 'quota_exceeded', 'unavailable', 'bad_command'] as const;
export type ForwardRefusal = (typeof FORWARD_REFUSALS)[number];

/** Follower → leader: propose this encoded command (the JSON an entry's data holds). */
export interface ProposeMessage {
  type: 'Propose';
  from: NodeId;
  to: NodeId;
  /** The sender's current term (informational: a leader behind it refuses). */
  term: number;
  /** The sender's id for this request, echoed in the answer. */
  requestId: number;
  data: string;
}

/**
 * Leader → follower: the proposal was appended at (term, index), or refused (`refusal` set,
 * `index` 0, `term` the leader's current term). The answer travels on the leader's link to
 * the follower ahead of the AppendEntries that carries the entry (one FIFO link), so the
 * follower knows what to wait for before it can apply it.
 */
export interface ProposeResponseMessage {
  type: 'ProposeResponse';
  from: NodeId;
  to: NodeId;
  term: number;
  requestId: number;
  index: number;
  refusal: ForwardRefusal | null;
}

/**
 * Follower → leader: the proposals its clients made in one turn of the event loop, in one
 * frame (etcd batches MsgProp entries the same way). Their request ids are consecutive:
 * `firstRequestId`, `firstRequestId + 1`, …, one per element of `data`.
 */
export interface ProposeBatchMessage {
  type: 'ProposeBatch';
  from: NodeId;
  to: NodeId;
  /** The sender's current term (informational: a leader behind it refuses). */
  term: number;
  firstRequestId: number;
  data: string[];
}

/**
 * Leader → follower: one answer per proposal of a ProposeBatch, in the same order: the index
 * it was appended at (every appended one in `term`), or why it was refused. Like a
 * ProposeResponse it precedes the AppendEntries that carry the entries on the same link.
 */
export interface ProposeBatchResponseMessage {
  type: 'ProposeBatchResponse';
  from: NodeId;
  to: NodeId;
  term: number;
  firstRequestId: number;
  results: Array<number | ForwardRefusal>;
}

export type ForwardMessage = ProposeMessage | ProposeResponseMessage | ProposeBatchMessage | ProposeBatchResponseMessage;

/** Anything a peer link carries: a Raft message or a forwarding frame. */
export type PeerMessage = Message | ForwardMessage;

/** The forwarding frame types (never stepped by the core). */
export function isForwardMessage(message: PeerMessage): message is ForwardMessage {
  // Callers may hand anything in (the simulator's forger steps raw values): never throw here.
  const type = typeof message === 'object' && message !== null ? (message as { type?: unknown }).type : undefined;
  return type === 'Propose' || type === 'ProposeResponse' || type === 'ProposeBatch' || type === 'ProposeBatchResponse';
}
