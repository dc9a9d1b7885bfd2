/**
 * TEST DOUBLE: a scripted RaftNodeHandle for unit tests of the controller's parsing, replies,
 * paging and limits. It runs no Raft at all; the integration test drives the real runtime.
 * The API's FakeNode supplies roles and the controller actions; this one adds a committed
 * client log (what RETRIEVE pages through) and scripted proposal outcomes.
 */
import { FakeNode } from '../api/fake-node.js';
import { NodeError, type NodeStatus } from '../../src/node/types.js';
import type { ApplyResult, Command, CommittedClientEntry, StateMachine } from '../../src/state/types.js';

/** What the fake does with a proposal. */
export type ProposeBehaviour = 'commit' | 'timeout' | 'lose-leadership' | 'throw';

export class FakeRaftNode extends FakeNode {
  proposeBehaviour: ProposeBehaviour = 'commit';
  /** The committed client log that RETRIEVE lists. */
  readonly committed: CommittedClientEntry[] = [];
  /** Extra peers in status() (to grow STATUS replies). */
  extraPeers = 0;
  /** What stateMachine.sizeBytes() reports (the quota check reads it). */
  stateBytes = 0;

  /** Appends a committed client entry directly (no proposal). */
  commit(command: Command, term = this.term): CommittedClientEntry {
    const entry = { index: this.committed.length + 1, term, command };
    this.committed.push(entry);
    return entry;
  }

  override status(): NodeStatus {
    const peers: NodeStatus['peers'] = {};
    const names = [...this.voters.filter((v) => v !== this.id), ...Array.from({ length: this.extraPeers }, (_, i) => `Peer${i}`.padEnd(60, 'x'))];
    for (const peer of names) peers[peer] = { matchIndex: 1, nextIndex: 2, lastContactMs: 5, inflight: 0, progress: 'replicate', connected: true };
    const last = this.committed.length;
    return { ...super.status(), commitIndex: last, appliedIndex: last, lastIndex: last, electionElapsedMs: 0, http: 'http://127.0.0.1:0', peers };
  }

  override propose(command: Command, timeoutMs = 1000): Promise<ApplyResult> {
    this.calls.push(`${command.op} ${'key' in command ? command.key : ''}`.trim());
    if (this.shut) return Promise.reject(new NodeError('unavailable', 'shut down'));
    if (this.role !== 'leader') return Promise.reject(new NodeError('not_leader', 'not the leader', this.leader));
    if (this.proposeBehaviour === 'throw') throw new Error('fake propose exploded');
    if (this.proposeBehaviour === 'timeout') return new Promise((_, reject) => setTimeout(() => reject(new NodeError('timeout', 'not applied in time')), Math.min(timeoutMs, 50)));
    if (this.proposeBehaviour === 'lose-leadership') return Promise.reject(new NodeError('not_leader', 'lost leadership', 'Node9'));
    return Promise.resolve({ ok: true, index: this.commit(command).index });
  }

  override readBarrier(): Promise<void> {
    if (this.shut) return Promise.reject(new NodeError('unavailable', 'shut down'));
    return this.role === 'leader' ? Promise.resolve() : Promise.reject(new NodeError('not_leader', 'not the leader', this.leader));
  }

  override readonly stateMachine: StateMachine = {
    durable: false,
    sizeBytes: () => this.stateBytes,
    appliedIndex: () => this.committed.length,
    apply: () => {
      throw new Error('FakeRaftNode: apply is not used by the controller');
    },
    get: () => null,
    getJson: () => null,
    quotesAfter: () => [],
    clientEntriesFrom: (from: number, limit: number) => this.committed.filter((e) => e.index >= from).slice(0, limit),
    snapshot: () => new Uint8Array(),
    buildImage: () => Promise.reject(new Error('the fake node has no image')),
    restore: () => undefined,
  };

  override recentLog(): { entries: Array<{ index: number; term: number; type: string }>; commitIndex: number; firstIndex: number } {
    return { entries: [], commitIndex: this.committed.length, firstIndex: 1 };
  }
}
