/**
 * The leader this node knows, for the X-Raft-Leader header of reads. node.status() builds the
 * whole status (per-peer progress included), too much to do per read under load; the answer
 * is cached for the rest of the current event-loop turn, so it is never older than the turn.
 */
import type { RaftNodeHandle } from '../node/types.js';
import type { NodeId } from '@raftquotes/raft';

export class LeaderView {
  private cached: NodeId | null = null;
  private valid = false;
  private readonly invalidate = (): void => {
    this.valid = false;
  };

  constructor(private readonly node: RaftNodeHandle) {}

  /** node.status().leader, computed at most once per event-loop turn. */
  get(): NodeId | null {
    if (!this.valid) {
      this.cached = this.node.status().leader;
      this.valid = true;
      setImmediate(this.invalidate);
    }
    return this.cached;
  }
}
