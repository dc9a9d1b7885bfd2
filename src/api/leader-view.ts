/**
 * The leader this node knows, for the X-Raft-Leader header of every answer. It reads the core's
 * leader field (node.knownLeader()): node.status() would build the whole status, per-peer
 * progress included, for each answer.
 */
import type { RaftNodeHandle } from '../node/types.js';
import type { NodeId } from '@raftquotes/raft';

export class LeaderView {
  constructor(private readonly node: RaftNodeHandle) {}

  get(): NodeId | null {
    return this.node.knownLeader();
  }
}
