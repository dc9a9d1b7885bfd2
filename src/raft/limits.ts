/**
 * Named bounds on what a peer message may carry (SPEC §7: every field of a peer message is
 * validated). Checked once, in message-validation.ts, before the core changes any state.
 */

/**
 * The highest term a peer message may carry. Numbers are IEEE doubles: above 2^53 - 1,
 * `term + 1` is no longer exact, so a single RequestVote at term 2^53 - 1 used to move every
 * node to a term no election could ever leave. 2^48 leaves 32x headroom below 2^53 for the
 * core's own `term + 1` (a campaign) and for comparisons. Honest clusters never get near it:
 * at one election per millisecond, 2^48 terms take ~8,900 years.
 */
export const MAX_TERM = 2 ** 48;

/**
 * The highest log index a peer message may name. 2^48 keeps `index + entries.length`,
 * `lastIndex + 1` and the leader's `nextIndex` arithmetic exact (entries per message are
 * bounded below); at a million writes a second it lasts ~8.9 years, at this system's ~3,000 a
 * second ~3,000 years.
 */
export const MAX_INDEX = 2 ** 48;

/** Entries in one AppendEntries; a leader's maxEntriesPerMessage must not exceed it. */
export const MAX_ENTRIES_PER_APPEND = 65_536;

/**
 * Bytes of one snapshot image received by InstallSnapshot (the sum of its chunks). A follower
 * buffers the chunks until the last one, so this bounds what a leader can make it hold.
 * SQLite's blob limit is 1 GB and images are stored page by page; 2 GiB leaves room.
 */
export const MAX_SNAPSHOT_BYTES = 2 ** 31;

/** Length of a ReadIndex request id (the runtime's are `r<sequence>`). */
export const MAX_REQUEST_ID_CHARS = 128;

/**
 * Reads a follower has forwarded to its leader and not yet had answered. The oldest is failed
 * when more arrive (its answer was lost; the runtime's waiter would time out anyway).
 */
export const MAX_FORWARDED_READS = 10_000;

/** Reads waiting on the leader for a heartbeat round; more are answered "failed" at once. */
export const MAX_PENDING_READS = 100_000;

/**
 * A learner is "caught up" and may be promoted to voter when it is at most this many entries
 * behind the leader's last index (SPEC §9); a voter further behind would stall commits.
 */
export const MAX_PROMOTE_LAG = 1_000;
