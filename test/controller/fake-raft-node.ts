/**
 * TEST DOUBLE: a scripted RaftNodeHandle for unit tests of the controller's parsing, replies,
 * paging and limits. It runs no Raft at all; the integration test drives the real runtime.
 */
import type { NodeId } from '@raftquotes/raft';
import { NodeError, type NodeStatus, type RaftNodeHandle } from '../../src/node/types.js';
import type { ApplyResult, Command, CommittedClientEntry, StateMachine } from '../../src/state/types.js';

/** What the fake does with a proposal. */
export type ProposeBehaviour = 'commit' | 'timeout' | 'lose-leadership' | 'throw';

export class FakeRaftNode implements RaftNodeHandle {
  readonly voters: NodeId[];
  state: NodeStatus['state'] = 'follower';
  term = 1;
  leader: NodeId | null = null;
  shut = false;
  proposeBehaviour: ProposeBehaviour = 'commit';
  /** The committed client log that RETRIEVE lists. */
  readonly committed: CommittedClientEntry[] = [];
  /** Every controller action and proposal, in order ("campaign", "put k", ...). */
  readonly calls: string[] = [];
  /** Extra peers in status() (to grow STATUS replies). */
  extraPeers = 0;

  constructor(readonly id: NodeId, voters: NodeId[] = [id]) {
    this.voters = voters;
  }

  /** Makes this node the leader of `term`. */
  lead(term = this.term): this {
    this.state = 'leader';
    this.term = term;
    this.leader = this.id;
    return this;
  }

  /** Makes this node a follower of `leader`. */
  follow(leader: NodeId | null, term = this.term): this {
    this.state = 'follower';
    this.term = term;
    this.leader = leader;
    return this;
  }

  /** Appends a committed client entry directly (no proposal). */
  commit(command: Command, term = this.term): CommittedClientEntry {
    const entry = { index: this.committed.length + 1, term, command };
    this.committed.push(entry);
    return entry;
  }

  status(): NodeStatus {
    const peers: NodeStatus['peers'] = {};
    const names = [...this.voters.filter((v) => v !== this.id), ...Array.from({ length: this.extraPeers }, (_, i) => `Peer${i}`.padEnd(60, 'x'))];
    for (const peer of names) peers[peer] = { matchIndex: 1, nextIndex: 2, lastContactMs: 5, inflight: 0, progress: 'replicate', connected: true };
    const last = this.committed.length;
    return {
      id: this.id,
      state: this.shut ? 'shutdown' : this.state,
      term: this.term,
      leader: this.shut ? null : this.leader,
      commitIndex: last,
      appliedIndex: last,
      lastIndex: last,
      snapshotIndex: 0,
      electionElapsedMs: 0,
      electionTimeoutMs: 450,
      http: 'http://127.0.0.1:0',
      peers,
    };
  }

  peerHttpUrl(): string | null {
    return null;
  }

  isShutdown(): boolean {
    return this.shut;
  }

  propose(command: Command, timeoutMs = 1000): Promise<ApplyResult> {
    this.calls.push(`${command.op} ${'key' in command ? command.key : ''}`.trim());
    if (this.shut) return Promise.reject(new NodeError('unavailable', 'shut down'));
    if (this.state !== 'leader') return Promise.reject(new NodeError('not_leader', 'not the leader', this.leader));
    if (this.proposeBehaviour === 'throw') throw new Error('fake propose exploded');
    if (this.proposeBehaviour === 'timeout') return new Promise((_, reject) => setTimeout(() => reject(new NodeError('timeout', 'not applied in time')), Math.min(timeoutMs, 50)));
    if (this.proposeBehaviour === 'lose-leadership') return Promise.reject(new NodeError('not_leader', 'lost leadership', 'Node9'));
    return Promise.resolve({ ok: true, index: this.commit(command).index });
  }

  readBarrier(): Promise<void> {
    if (this.shut) return Promise.reject(new NodeError('unavailable', 'shut down'));
    return this.state === 'leader' ? Promise.resolve() : Promise.reject(new NodeError('not_leader', 'not the leader', this.leader));
  }

  /** What stateMachine.sizeBytes() reports (the quota check reads it). */
  stateBytes = 0;

  readonly stateMachine: StateMachine = {
    durable: false,
    sizeBytes: () => this.stateBytes,
    appliedIndex: () => this.committed.length,
    apply: () => {
      throw new Error('FakeRaftNode: apply is not used by the controller');
    },
    get: () => null,
    quotesAfter: () => [],
    clientEntriesFrom: (from: number, limit: number) => this.committed.filter((e) => e.index >= from).slice(0, limit),
    snapshot: () => new Uint8Array(),
    buildImage: () => Promise.reject(new Error('the fake node has no image')),
    restore: () => undefined,
  };

  recentLog(): { entries: Array<{ index: number; term: number; type: string }>; commitIndex: number; firstIndex: number } {
    return { entries: [], commitIndex: this.committed.length, firstIndex: 1 };
  }

  onApply(): () => void {
    return () => undefined;
  }

  campaign(): void {
    this.calls.push('campaign');
  }

  becomeFollower(): void {
    this.calls.push('becomeFollower');
    this.shut = false;
    this.state = 'follower';
  }

  shutdown(): void {
    this.calls.push('shutdown');
    this.shut = true;
  }

  resume(): void {
    this.calls.push('resume');
    this.shut = false;
  }

  transferLeadership(): Promise<void> {
    return Promise.resolve();
  }
}
