/**
 * TEST DOUBLE: an in-memory RaftNodeHandle for the HTTP API tests. No Raft at all: a leader
 * applies each proposal at once (index = a counter), a follower refuses with not_leader, and
 * knobs inject every NodeError the runtime can raise. The real runtime is covered by the
 * integration tests in test/integration.
 */
import type { Entry, NodeId } from '@raftquotes/raft';
import { NodeError, type ApplyListener, type NodeStatus, type RaftNodeHandle } from '../../src/node/types.js';
import type { ApplyResult, Command, KvRecord, Quote, StateMachine } from '../../src/state/types.js';

export class FakeNode implements RaftNodeHandle {
  readonly voters: NodeId[];
  role: 'leader' | 'follower' = 'follower';
  leader: NodeId | null = null;
  term = 1;
  shut = false;
  /** Every proposed command, as the API built it. */
  readonly proposed: Command[] = [];
  /** Controller actions, in order ("campaign", "transfer Node2", ...). */
  readonly calls: string[] = [];
  /** HTTP base URL of each peer (what the transport handshake would have told us). */
  readonly peerUrls: Record<NodeId, string> = {};
  /** When set, propose() / readBarrier() fail with it. */
  proposeError: Error | null = null;
  readError: Error | null = null;
  /** When true, proposals never resolve (the client's forward times out). */
  hangProposals = false;
  readBarriers = 0;
  /** Commit index reported by status() beyond what is applied (to test /readyz). */
  commitAhead = 0;
  private index = 0;
  private readonly kv = new Map<string, KvRecord>();
  private readonly quotes: Quote[] = [];
  private readonly idempotent = new Map<string, ApplyResult>();
  private readonly listeners = new Set<ApplyListener>();

  constructor(readonly id: NodeId, voters: NodeId[] = [id]) {
    this.voters = voters;
  }

  /** Makes this node the leader (of `term`). */
  lead(term = this.term): this {
    this.role = 'leader';
    this.term = term;
    this.leader = this.id;
    return this;
  }

  /** Makes this node a follower of `leader` (in `term`). */
  follow(leader: NodeId | null, term = this.term): this {
    this.role = 'follower';
    this.term = term;
    this.leader = leader;
    return this;
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  knownLeader(): NodeId | null {
    return this.shut ? null : this.leader;
  }

  status(): NodeStatus {
    const peers: NodeStatus['peers'] = {};
    for (const peer of this.voters.filter((v) => v !== this.id)) {
      peers[peer] = { matchIndex: this.index, nextIndex: this.index + 1, lastContactMs: 3, inflight: 0, progress: 'replicate', connected: true };
    }
    return {
      id: this.id,
      state: this.shut ? 'shutdown' : this.role,
      term: this.term,
      leader: this.shut ? null : this.leader,
      commitIndex: this.index + this.commitAhead,
      appliedIndex: this.index,
      lastIndex: this.index,
      snapshotIndex: 0,
      electionElapsedMs: 10,
      electionTimeoutMs: 450,
      http: this.peerUrls[this.id] ?? 'http://127.0.0.1:0',
      peers,
    };
  }

  peerHttpUrl(peer: NodeId): string | null {
    return this.peerUrls[peer] ?? null;
  }

  isShutdown(): boolean {
    return this.shut;
  }

  propose(command: Command): Promise<ApplyResult> {
    this.proposed.push(command);
    if (this.shut) return Promise.reject(new NodeError('unavailable', 'node is shut down by the controller'));
    if (this.proposeError) return Promise.reject(this.proposeError);
    if (this.role !== 'leader') return Promise.reject(new NodeError('not_leader', 'not the leader', this.leader));
    if (this.hangProposals) return new Promise(() => undefined);
    return Promise.resolve(this.applyCommand(command));
  }

  readBarrier(): Promise<void> {
    this.readBarriers++;
    if (this.shut) return Promise.reject(new NodeError('unavailable', 'node is shut down by the controller'));
    return this.readError ? Promise.reject(this.readError) : Promise.resolve();
  }

  /** Applies a command as the next committed entry (as the runtime would after replication). */
  applyCommand(command: Command): ApplyResult {
    const entry: Entry = { index: ++this.index, term: this.term, type: 'normal', data: JSON.stringify(command) };
    const key = command.idempotencyKey;
    const result = (key !== undefined ? this.idempotent.get(key) : undefined) ?? this.execute(command, entry);
    if (key !== undefined) this.idempotent.set(key, result);
    for (const listener of this.listeners) listener([entry], [result]);
    return result;
  }

  /** Applies several quotes in one batch, with a no-op entry in the middle (listeners see one call). */
  applyQuoteBatch(texts: string[]): void {
    const entries: Entry[] = [];
    const results: ApplyResult[] = [];
    texts.forEach((text, i) => {
      if (i === 1) {
        const noop: Entry = { index: ++this.index, term: this.term, type: 'noop', data: '' };
        entries.push(noop);
        results.push({ ok: true, index: noop.index });
      }
      const entry: Entry = { index: ++this.index, term: this.term, type: 'normal', data: '' };
      const quote = { index: entry.index, term: this.term, text, author: 'batch', postedAt: new Date(0).toISOString() };
      this.quotes.push(quote);
      entries.push(entry);
      results.push({ ok: true, index: entry.index, quote });
    });
    for (const listener of this.listeners) listener(entries, results);
  }

  private execute(command: Command, entry: Entry): ApplyResult {
    const index = entry.index;
    const current = 'key' in command ? this.kv.get(command.key) : undefined;
    switch (command.op) {
      case 'put':
        this.kv.set(command.key, { key: command.key, value: command.value, index });
        return { ok: true, index };
      case 'delete':
        if (!current) return { ok: false, index, error: 'not_found' };
        this.kv.delete(command.key);
        return { ok: true, index };
      case 'cas':
        if (!current) return { ok: false, index, error: 'not_found' };
        if (JSON.stringify(current.value) !== JSON.stringify(command.from)) return { ok: false, index, error: 'precondition_failed', current: current.value };
        this.kv.set(command.key, { key: command.key, value: command.to, index });
        return { ok: true, index };
      case 'quote': {
        const quote: Quote = { index, term: entry.term, text: command.text, author: command.author, postedAt: command.postedAt };
        this.quotes.push(quote);
        return { ok: true, index, quote };
      }
    }
  }

  readonly stateMachine: StateMachine = {
    durable: false,
    appliedIndex: () => this.index,
    apply: () => {
      throw new Error('FakeNode: the API never applies');
    },
    get: (key: string) => this.kv.get(key) ?? null,
    getJson: (key: string) => {
      const record = this.kv.get(key);
      return record ? { key, valueJson: JSON.stringify(record.value), index: record.index } : null;
    },
    quotesAfter: (after: number, limit: number) => {
      let lo = 0;
      let hi = this.quotes.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((this.quotes[mid]?.index ?? Infinity) <= after) lo = mid + 1;
        else hi = mid;
      }
      return this.quotes.slice(lo, lo + limit);
    },
    clientEntriesFrom: () => [],
    snapshot: () => new Uint8Array(),
    buildImage: () => Promise.reject(new Error('the fake node has no image')),
    restore: () => undefined,
    checkStorage: () => this.storageProblem,
  };
  /** What checkStorage() reports (GET /healthz); null is a healthy store. */
  storageProblem: string | null = null;

  recentLog(from: number, limit: number): { entries: Array<{ index: number; term: number; type: string }>; commitIndex: number; firstIndex: number } {
    const entries: Array<{ index: number; term: number; type: string }> = [];
    for (let index = Math.max(1, from); index <= this.index && entries.length < limit; index++) entries.push({ index, term: this.term, type: 'normal' });
    return { entries, commitIndex: this.index, firstIndex: 1 };
  }

  onApply(listener: ApplyListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  campaign(): void {
    this.calls.push('campaign');
  }

  becomeFollower(): void {
    this.calls.push('becomeFollower');
    this.shut = false;
    this.role = 'follower';
  }

  shutdown(): void {
    this.calls.push('shutdown');
    this.shut = true;
  }

  resume(): void {
    this.calls.push('resume');
    this.shut = false;
  }

  transferLeadership(to?: NodeId): Promise<void> {
    this.calls.push(`transfer ${to ?? '(best)'}`);
    if (this.shut) return Promise.reject(new NodeError('unavailable', 'node is shut down by the controller'));
    if (this.role !== 'leader') return Promise.reject(new NodeError('not_leader', 'only the leader can transfer leadership', this.leader));
    return Promise.resolve();
  }
}
