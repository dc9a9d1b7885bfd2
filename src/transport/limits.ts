import { MAX_FRAME_BYTES } from './frame-codec.js';

/** Messages one peer's send queue holds before `send` drops (a few heartbeat rounds of a busy leader). */
export const MAX_QUEUED_MESSAGES = 4096;
/** Bytes one peer's send queue holds before `send` drops: bounds memory per slow peer. */
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/**
 * Frames coalesced into one socket.write. Large enough that a burst of small messages costs
 * one syscall, small enough that the copy is cheap and a blocked socket holds little.
 */
export const WRITE_BATCH_BYTES = 256 * 1024;
/** Connect plus handshake must finish within this, or the dial attempt counts as failed. */
export const HANDSHAKE_TIMEOUT_MS = 2_000;
/**
 * An accepted connection must complete its whole handshake (TLS included) within this, or
 * it is dropped. Short, so a silent or trickling socket holds its slot for little time; a
 * real peer on a LAN needs a few milliseconds (a TLS handshake on a loaded host, ~50 ms).
 */
export const ACCEPT_HANDSHAKE_TIMEOUT_MS = 1_000;
/** First reconnect delay after a failure; doubles per consecutive failure. */
export const BACKOFF_BASE_MS = 50;
/**
 * Longest reconnect delay while a peer stays unreachable: a restarted or healed peer is found
 * again within half a second (etcd's stream reader redials every 100 ms). A dial that fails
 * costs one SYN or one ARP probe, so four peers at this rate are nothing.
 */
export const BACKOFF_MAX_MS = 500;
/** Reconnect delay after the peer refused us (secret, cluster id, peers list): redialing fast cannot fix that. */
export const REFUSED_BACKOFF_MS = 1_000;
/**
 * A link that has heard nothing from its peer for this long is dead, however healthy its
 * socket looks: the outbound one is dropped and redialled, the inbound one closed. About one
 * (longest default) election timeout, 600 ms, plus room for a busy event loop: by then Raft
 * itself has given up on the peer. etcd puts 5 s read and write deadlines on its peer streams.
 * Without it, a link over a cable that was pulled and plugged back stays dead until the
 * kernel's next retransmission, whose backoff doubles to 120 s (tens of seconds after a
 * 30 s cut).
 */
export const LINK_IDLE_TIMEOUT_MS = 1_000;
/**
 * A link that has written nothing for this long writes a ping (an empty frame), so the
 * peer's inbound side hears something even between two followers, which exchange no Raft
 * messages at all. A quarter of the idle timeout: three pings may be lost or late.
 */
export const LINK_PING_INTERVAL_MS = 250;
/** A link that stayed up this long resets the backoff; shorter lives keep backing off. */
export const STABLE_LINK_MS = 1_000;
/** Idle time before TCP keepalive probes start on peer sockets. */
export const KEEPALIVE_DELAY_MS = 5_000;
/**
 * Inbound sockets still handshaking (unauthenticated), in total. Authenticated connections
 * are not counted here: each configured peer has its own reserved slot (one live inbound
 * connection per peer), so a flood never competes with members. When this is reached the
 * OLDEST unauthenticated connection is dropped to make room: a peer's fresh dial is the
 * youngest and survives, while a flood of silent sockets only evicts itself.
 */
export const MAX_UNAUTHENTICATED_CONNECTIONS = 32;
/** Unauthenticated inbound sockets per source address (same eviction rule as the total). */
export const MAX_UNAUTHENTICATED_PER_ADDRESS = 8;

/**
 * Authenticated peers outside the configurations this node holds (members added since, which a
 * node far behind does not know yet) linked back to at once; beyond it they are refused until
 * the node learns the newer configuration (see TcpTransport admitStranger).
 */
export const MAX_STRANGER_LINKS = 8;

/**
 * InstallSnapshot chunk a node's core sends (the core's default, 512 KiB, is kept by the
 * simulator). Each chunk waits for its ack, so on loopback the transfer of a 28 MB image
 * (100,000 keys) costs one round trip through both nodes' event loops per chunk: 54 of them at
 * 512 KiB, 14 at this size. It travels as one bulk frame (frame-codec.ts), well under
 * MAX_FRAME_BYTES. Bounded above by the retransmission timer: the leader resends a chunk
 * unacknowledged for an election timeout (300 ms by default), so a chunk must cross the slowest
 * link well within it: 2 MiB takes 17 ms at 1 Gbit/s and 170 ms at 100 Mbit/s.
 */
export const SNAPSHOT_CHUNK_BYTES = 2 * 1024 * 1024;

/** Every bound the transport enforces. Tests shrink some of them to reach them quickly. */
export interface TransportLimits {
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  maxFrameBytes: number;
  writeBatchBytes: number;
  handshakeTimeoutMs: number;
  acceptHandshakeTimeoutMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  maxUnauthenticatedConnections: number;
  maxUnauthenticatedPerAddress: number;
  refusedBackoffMs: number;
  linkIdleTimeoutMs: number;
  linkPingIntervalMs: number;
}

export const DEFAULT_LIMITS: Readonly<TransportLimits> = Object.freeze({
  maxQueuedMessages: MAX_QUEUED_MESSAGES,
  maxQueuedBytes: MAX_QUEUED_BYTES,
  maxFrameBytes: MAX_FRAME_BYTES,
  writeBatchBytes: WRITE_BATCH_BYTES,
  handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
  acceptHandshakeTimeoutMs: ACCEPT_HANDSHAKE_TIMEOUT_MS,
  backoffBaseMs: BACKOFF_BASE_MS,
  backoffMaxMs: BACKOFF_MAX_MS,
  maxUnauthenticatedConnections: MAX_UNAUTHENTICATED_CONNECTIONS,
  maxUnauthenticatedPerAddress: MAX_UNAUTHENTICATED_PER_ADDRESS,
  refusedBackoffMs: REFUSED_BACKOFF_MS,
  linkIdleTimeoutMs: LINK_IDLE_TIMEOUT_MS,
  linkPingIntervalMs: LINK_PING_INTERVAL_MS,
});

/** Merges overrides into the defaults and rejects values that would disable a bound. */
export function resolveLimits(overrides: Partial<TransportLimits> = {}): TransportLimits {
  const limits = { ...DEFAULT_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`transport limit ${name} must be a positive integer, got ${value}`);
  }
  if (limits.maxFrameBytes > MAX_FRAME_BYTES) throw new RangeError(`transport limit maxFrameBytes must be at most ${MAX_FRAME_BYTES}`);
  if (limits.backoffMaxMs < limits.backoffBaseMs) throw new RangeError('transport limit backoffMaxMs must be >= backoffBaseMs');
  if (limits.linkPingIntervalMs * 2 > limits.linkIdleTimeoutMs) throw new RangeError('transport limit linkPingIntervalMs must be at most half of linkIdleTimeoutMs (a healthy idle link would be dropped)');
  return limits;
}

/** Reconnect delay after `failures` consecutive failures: exponential, capped, with jitter in [d/2, d). */
export function backoffDelay(failures: number, limits: Pick<TransportLimits, 'backoffBaseMs' | 'backoffMaxMs'>, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  const delay = Math.min(limits.backoffMaxMs, limits.backoffBaseMs * 2 ** exponent);
  return Math.round(delay / 2 + (random() * delay) / 2);
}
