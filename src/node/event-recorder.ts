/**
 * Turns what a node does into timeline events (SPEC §11): state changes, votes, log appends,
 * commits and snapshots from each Ready, and every message sent, held, released, dropped and
 * received. The dashboard rebuilds the ring, the logs and the leader's view of its followers
 * at any past moment from these.
 *
 * Event types and their fields:
 * - `state` {state, term, leader}: the soft state changed.
 * - `vote` {term, vote}: this node's vote, once persisted in a Ready.
 * - `append` {first, last, terms}: entries first..last written to the log (a first at or below
 *   the previous last means a conflicting suffix was replaced, Figure 2's rule 3); `terms` is
 *   run-length, [[term, count], ...].
 * - `commit` {index}: the commit index moved.
 * - `snapshot` {index, term?, kind}: 'installed' from the leader, or 'local' compaction.
 * - `send` | `hold` | `release` | `drop` | `recv` {msg, from, to, term, index, entries, commit?, ok?}.
 * - `note` {text}: the core's own narration ("became leader term=7").
 * - `control` {what, ...}: a dashboard control (clock rate, link mode) changed.
 */
import type { Entry, Message, Ready } from '@raftquotes/raft';
import { summarize, type LinkEventKind } from '../transport/link-control.js';
import type { EventRing } from './event-ring.js';

/** [[term, count], ...] of consecutive entries. */
function termRuns(entries: Entry[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const entry of entries) {
    const last = runs[runs.length - 1];
    if (last && last[0] === entry.term) last[1]++;
    else runs.push([entry.term, 1]);
  }
  return runs;
}

/** Feeds an EventRing from a node's Readys and messages. */
export class EventRecorder {
  private lastSoft = '';
  private lastVote = '';
  private lastCommit = 0;
  /** -1 until the first Ready: the recovered snapshot is not an event. */
  private lastSnapshotIndex = -1;

  constructor(readonly ring: EventRing) {}

  /** After a Ready was processed; `snapshotIndex` is the core's, after any local compaction. */
  observeReady(rd: Ready, snapshotIndex: number): void {
    if (!this.ring.enabled) return;
    const soft = rd.softState;
    const softKey = `${soft.state}|${soft.term}|${soft.leader}`;
    if (softKey !== this.lastSoft) {
      this.lastSoft = softKey;
      this.ring.record('state', { state: soft.state, term: soft.term, leader: soft.leader });
    }
    for (const text of rd.events) this.ring.record('note', { text });
    this.observeHardState(rd);
    const first = rd.entries[0];
    const last = rd.entries[rd.entries.length - 1];
    if (first !== undefined && last !== undefined) {
      this.ring.record('append', { first: first.index, last: last.index, terms: termRuns(rd.entries) });
    }
    if (rd.snapshot) {
      this.lastSnapshotIndex = rd.snapshot.meta.index;
      this.ring.record('snapshot', { index: rd.snapshot.meta.index, term: rd.snapshot.meta.term, kind: 'installed' });
    }
    if (this.lastSnapshotIndex >= 0 && snapshotIndex > this.lastSnapshotIndex) this.ring.record('snapshot', { index: snapshotIndex, kind: 'local' });
    this.lastSnapshotIndex = Math.max(this.lastSnapshotIndex, snapshotIndex);
  }

  private observeHardState(rd: Ready): void {
    const hard = rd.hardState;
    if (!hard) return;
    const voteKey = `${hard.term}|${hard.vote}`;
    if (hard.vote !== null && voteKey !== this.lastVote) this.ring.record('vote', { term: hard.term, vote: hard.vote });
    this.lastVote = voteKey;
    if (hard.commit > this.lastCommit) this.ring.record('commit', { index: hard.commit });
    this.lastCommit = Math.max(this.lastCommit, hard.commit);
  }

  /** An outgoing message's fate (from the LinkControl) or an inbound one ('recv'). */
  observeMessage(kind: LinkEventKind | 'recv', message: Message): void {
    if (!this.ring.enabled) return;
    const s = summarize(message);
    this.ring.push({ seq: 0, at: 0, type: kind, msg: s.type, from: s.from, to: s.to, term: s.term, index: s.index, entries: s.entries, commit: s.commit, ok: s.ok });
  }

  /** A dashboard control changed (clock rate, link mode). */
  observeControl(what: string, fields: Record<string, unknown>): void {
    this.ring.record('control', { what, ...fields });
  }
}
