import type { Message, MessageType, NodeId } from '../raft/types.js';

/** Every message type the core exchanges; anything else on the wire is a protocol error. */
const MESSAGE_TYPES: ReadonlySet<string> = new Set<MessageType>([
  'PreVote',
  'PreVoteResponse',
  'RequestVote',
  'RequestVoteResponse',
  'AppendEntries',
  'AppendEntriesResponse',
  'Heartbeat',
  'HeartbeatResponse',
  'InstallSnapshot',
  'InstallSnapshotResponse',
  'TimeoutNow',
  'ReadIndex',
  'ReadIndexResponse',
] satisfies MessageType[]);

/**
 * Checks the fields every message carries, and that it really comes from the peer that
 * authenticated this connection and is addressed to us. This is deliberately shallow (the
 * per-type fields are trusted once the peer has passed the handshake); it keeps a confused
 * or misconfigured peer from injecting messages in another node's name.
 * Returns the message, or a reason it was rejected.
 */
export function checkMessage(value: unknown, peer: NodeId, selfId: NodeId): { message: Message } | { reason: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { reason: 'message is not an object' };
  const { type, from, to, term } = value as Record<string, unknown>;
  if (typeof type !== 'string' || !MESSAGE_TYPES.has(type)) return { reason: `unknown message type ${describe(type)}` };
  if (typeof from !== 'string' || typeof to !== 'string') return { reason: `${type}: from/to must be strings` };
  if (typeof term !== 'number' || !Number.isSafeInteger(term) || term < 0) return { reason: `${type}: bad term ${describe(term)}` };
  if (from !== peer) return { reason: `${type}: from ${describe(from)} on the connection of ${peer}` };
  if (to !== selfId) return { reason: `${type}: addressed to ${describe(to)}, this is ${selfId}` };
  return { message: value as Message };
}

/** A short, log-safe rendering of an untrusted value (never calls its toString). */
function describe(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : typeof value === 'number' || typeof value === 'boolean' ? String(value) : `(${value === null ? 'null' : typeof value})`;
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
}
