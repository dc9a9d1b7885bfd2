// Leaf modules, not the checker's index: the browser bundle of the simulator must not reach its file-writing parts.
import { itemAt, jsonValue } from '../checker/checked.js';
import type { HistoryOp, Json, OpKind } from '../checker/types.js';
import { canonicalJson } from '../checker/values.js';
import { NodeError } from '../node/types.js';
import type { Entry, NodeId, SeededPrng } from '@raftquotes/raft';
import { MemoryStateMachine } from '../state/memory-state-machine.js';
import type { ApplyResult, Command } from '../state/types.js';
import type { SimOptions, Simulation } from './simulation.js';

/** Counters of one run's client operations. */
export interface ClientStats {
  ok: number;
  fail: number;
  indeterminate: number;
  /** Known not applied (not_leader, no_leader, unavailable after every retry): left out of the history. */
  dropped: number;
  retries: number;
  staleReads: number;
  /** Stale reads whose index the reference log had not reached yet (not checked). */
  staleUnchecked: number;
}

interface Client {
  id: string;
  seq: number;
  /** The node this client believes leads (from a not_leader answer). */
  leader: NodeId | null;
  /** Values this client last saw per key, the `from` of its next cas. */
  lastSeen: Map<string, Json>;
}

type Answer = { kind: 'ok'; result: ApplyResult } | { kind: 'not_leader'; leader: NodeId | null } | { kind: 'refused' } | { kind: 'timeout'; byNode: boolean };

/** Keys the clients share: few, so operations on one key overlap. */
const KEYS = 3;
/** The think times a seed draws from (ms). */
const PAUSES_MS = [10, 40, 150, 400];
/** Attempts per operation (one, then retries on not_leader, no_leader, or timeout with an Idempotency-Key). */
const MAX_ATTEMPTS = 4;
/** The client gives up this long after the node's own deadline (a node that crashed never answers). */
const CLIENT_GRACE_MS = 500;

/**
 * Simulated clients. They call the RaftNode methods the HTTP API calls (api/writes.ts,
 * api/routes-kv.ts): propose() for put, delete and cas, with and without an Idempotency-Key,
 * retried after timeouts (same key) and on not_leader (to the named leader, as the API's
 * forwarding would); readBarrier() then the state machine for linearizable reads, on any
 * node, followers included; the state machine alone for stale reads. The history of
 * register operations goes to the linearizability checker; stale reads are checked for what
 * they promise: the value of the key in the committed log up to the node's applied index.
 */
export class SimClients {
  readonly stats: ClientStats = { ok: 0, fail: 0, indeterminate: 0, dropped: 0, retries: 0, staleReads: 0, staleUnchecked: 0 };
  /** Simulated ms from healing to the first successful write invoked after it. */
  recoveryMs: number | null = null;
  private readonly ops: HistoryOp[] = [];
  private readonly dropped = new Set<HistoryOp>();
  private opSeq = 0;
  private running = false;
  /** Think time between a client's operations, drawn per seed: busy clusters and quiet ones find different bugs. */
  private readonly pauseMs: number;
  /** Entry data -> where and when it was applied (to spot a write applied in time but answered 504). */
  private readonly appliedData = new Map<string, Array<{ node: NodeId; term: number; at: number }>>();
  /** Proposals per node, term and data: the 504 check needs the entry to be this attempt's own. */
  private readonly attempts = new Map<string, number>();
  /** The committed log as applied anywhere, replayed into a reference state machine for stale reads. */
  private readonly appliedLog = new Map<number, Entry>();
  private readonly reference = new MemoryStateMachine();
  private readonly changes = new Map<string, Array<{ index: number; valueJson: string | null; recordIndex: number }>>();

  constructor(
    private readonly sim: Simulation,
    private readonly prng: SeededPrng,
    private readonly options: SimOptions,
  ) {
    this.pauseMs = itemAt(PAUSES_MS, prng.int(PAUSES_MS.length), 'client pauses');
  }

  start(): void {
    this.running = true;
    for (let i = 0; i < this.options.clients; i++) void this.loop({ id: `c${i + 1}`, seq: 0, leader: null, lastSeen: new Map() });
  }

  stop(): void {
    this.running = false;
  }

  /** The history for the checker: every operation but those known not to have taken effect. */
  history(): HistoryOp[] {
    return this.ops.filter((op) => !this.dropped.has(op)).map((op) => (op.outcome === 'indeterminate' ? { ...op, completeMs: null } : op));
  }

  /** Every node's applied entries, as they apply. */
  onApplied(node: NodeId, entries: Entry[], _nodeTerm: number): void {
    for (const entry of entries) {
      if (entry.type === 'normal') {
        const list = this.appliedData.get(entry.data) ?? [];
        list.push({ node, term: entry.term, at: this.sim.now });
        this.appliedData.set(entry.data, list);
      }
      if (!this.appliedLog.has(entry.index)) this.appliedLog.set(entry.index, entry);
    }
    this.advanceReference();
  }

  private async loop(client: Client): Promise<void> {
    while (this.running) {
      await this.sim.sleep(1 + this.prng.int(this.pauseMs));
      if (!this.running) return;
      const key = `k${this.prng.int(KEYS)}`;
      const roll = this.prng.int(100);
      if (roll < 30) await this.read(client, key);
      else if (roll < 40) this.staleRead(key);
      else await this.write(client, key, roll < 75 ? 'write' : roll < 93 ? 'cas' : 'delete');
    }
  }

  // ---------------------------------------------------------------- writes

  private async write(client: Client, key: string, kind: OpKind): Promise<void> {
    const value = `${client.id}-${++client.seq}`;
    const from = client.lastSeen.get(key) ?? `${client.id}-${this.prng.int(client.seq)}`;
    const base: Command = kind === 'write' ? { op: 'put', key, value } : kind === 'cas' ? { op: 'cas', key, from, to: value } : { op: 'delete', key };
    const idempotencyKey = this.prng.chance(0.5) ? `${client.id}/${client.seq}` : undefined;
    const command: Command = idempotencyKey ? { ...base, idempotencyKey } : base;
    const input = kind === 'write' ? { value } : kind === 'cas' ? { from, to: value } : {};
    const op: HistoryOp = { id: ++this.opSeq, clientId: client.id, key, kind, input, invokeMs: this.sim.now, completeMs: null, outcome: 'indeterminate' };
    this.ops.push(op);
    let maybeApplied = false;
    for (let attempt = 0; attempt < MAX_ATTEMPTS && this.running; attempt++) {
      if (attempt > 0) this.stats.retries++;
      const target = client.leader ?? this.sim.leaderHint() ?? this.randomNode();
      const answer = await this.propose(target, command);
      if (answer.kind === 'ok') return this.settleWrite(client, op, answer.result);
      if (answer.kind === 'not_leader') client.leader = answer.leader;
      else client.leader = null;
      if (answer.kind === 'timeout') {
        maybeApplied = true;
        // Without an Idempotency-Key a retry could apply the write twice: the outcome stays unknown.
        if (!idempotencyKey) break;
      }
      if (answer.kind !== 'not_leader') await this.sim.sleep(10 + this.prng.int(50));
    }
    if (maybeApplied) this.stats.indeterminate++;
    else {
      this.dropped.add(op);
      this.stats.dropped++;
    }
  }

  private settleWrite(client: Client, op: HistoryOp, result: ApplyResult): void {
    op.completeMs = this.sim.now;
    if (result.ok) {
      op.outcome = 'ok';
      this.stats.ok++;
      const written = op.kind === 'write' ? op.input.value : op.kind === 'cas' ? op.input.to : undefined;
      if (written !== undefined) client.lastSeen.set(op.key, written);
      if (this.sim.isHealed && this.recoveryMs === null && op.invokeMs >= this.options.faultMs) this.recoveryMs = this.sim.now - this.options.faultMs;
      return;
    }
    if (result.error === 'invalid_command' || result.error === 'apply_failed' || result.error === 'idempotency_key_reused') {
      // Simulated clients send only valid commands, and retry a key only with its own request.
      this.sim.report(result.error, `the state machine refused a client command at ${result.index}`);
      return;
    }
    op.outcome = 'fail';
    op.error = result.error;
    if (result.error === 'precondition_failed') {
      op.output = result.current === null ? null : jsonValue(result.current);
      client.lastSeen.set(op.key, op.output);
    }
    this.stats.fail++;
  }

  /** One attempt on one node, as the API's write path makes it; the client's own deadline covers a dead node. */
  private async propose(target: NodeId, command: Command): Promise<Answer> {
    const node = this.sim.node(target);
    if (!node) return { kind: 'refused' };
    const term = node.raftView().term;
    const data = JSON.stringify(command);
    const invoked = this.sim.now;
    const attemptKey = `${target}|${term}|${data}`;
    this.attempts.set(attemptKey, (this.attempts.get(attemptKey) ?? 0) + 1);
    let pending: Promise<ApplyResult>;
    try {
      pending = node.propose(command);
    } catch (err) {
      this.sim.report('propose threw', `${target}: ${errorText(err)}`);
      return { kind: 'refused' };
    }
    const answer = await this.withDeadline(pending.then((result): Answer => ({ kind: 'ok', result }), (err: unknown) => this.classify(err)));
    if (answer.kind === 'timeout' && answer.byNode && this.attempts.get(attemptKey) === 1) {
      const applied = this.appliedData.get(data)?.find((a) => a.node === target && a.term === term && a.at >= invoked);
      if (applied) this.sim.report('committed write answered timeout', `${target} applied ${data} (term ${term}) at ${applied.at.toFixed(1)} ms, then answered its proposer 504 at ${this.sim.now.toFixed(1)} ms`);
    }
    return answer;
  }

  private classify(err: unknown): Answer {
    if (!(err instanceof NodeError)) {
      this.sim.report('unexpected client error', errorText(err));
      return { kind: 'refused' };
    }
    if (err.code === 'timeout') return { kind: 'timeout', byNode: true };
    if (err.code === 'not_leader') return { kind: 'not_leader', leader: err.leader };
    return { kind: 'refused' };
  }

  private withDeadline(answer: Promise<Answer>): Promise<Answer> {
    const deadline = new Promise<Answer>((resolve) => this.sim.after(this.options.requestTimeoutMs + CLIENT_GRACE_MS, () => resolve({ kind: 'timeout', byNode: false })));
    return Promise.race([answer, deadline]);
  }

  // ---------------------------------------------------------------- reads

  /** A linearizable read on any node (followers serve it through ReadIndex). */
  private async read(client: Client, key: string): Promise<void> {
    const target = this.prng.chance(0.5) ? (this.sim.leaderHint() ?? this.randomNode()) : this.randomNode();
    const node = this.sim.node(target);
    if (!node) return;
    const op: HistoryOp = { id: ++this.opSeq, clientId: client.id, key, kind: 'read', input: {}, invokeMs: this.sim.now, completeMs: null, outcome: 'indeterminate' };
    this.ops.push(op);
    let barrier: Promise<void>;
    try {
      barrier = node.readBarrier();
    } catch (err) {
      this.sim.report('readBarrier threw', `${target}: ${errorText(err)}`);
      return;
    }
    const answer = await this.withDeadline(barrier.then((): Answer => ({ kind: 'ok', result: { ok: true, index: 0 } }), (err: unknown) => this.classify(err)));
    // An answer from a process that has since died never reaches the client.
    if (answer.kind !== 'ok' || this.sim.node(target) !== node) {
      if (answer.kind !== 'timeout') this.dropped.add(op);
      return;
    }
    const record = node.stateMachine.get(key);
    op.outcome = 'ok';
    op.completeMs = this.sim.now;
    op.output = record ? jsonValue(record.value) : null;
    if (record) client.lastSeen.set(key, op.output);
    this.stats.ok++;
  }

  /**
   * A stale read promises only what the node has applied: the key's value in the committed
   * log as of the node's applied index, no more, no less.
   */
  private staleRead(key: string): void {
    const target = this.randomNode();
    const node = this.sim.node(target);
    if (!node || node.isShutdown()) return;
    this.stats.staleReads++;
    const applied = node.stateMachine.appliedIndex();
    const record = node.stateMachine.get(key);
    this.advanceReference();
    if (this.reference.appliedIndex() < applied) {
      this.stats.staleUnchecked++;
      return;
    }
    const history = this.changes.get(key) ?? [];
    let expected: { valueJson: string | null; recordIndex: number } | undefined;
    for (let i = history.length - 1; i >= 0; i--) {
      const change = itemAt(history, i, 'key changes');
      if (change.index <= applied) {
        expected = change;
        break;
      }
    }
    const seen = record ? canonicalJson(jsonValue(record.value)) : null;
    const want = expected?.valueJson ?? null;
    if (seen !== want || (record?.index ?? 0) !== (expected?.recordIndex ?? 0)) {
      this.sim.report('stale read', `${target} at applied ${applied} read ${key} = ${seen} (index ${record?.index ?? 0}); the committed log has ${want} (index ${expected?.recordIndex ?? 0})`);
    }
  }

  /** Replays the committed log, as far as it is contiguous, into the reference state machine. */
  private advanceReference(): void {
    for (;;) {
      const entry = this.appliedLog.get(this.reference.appliedIndex() + 1);
      if (!entry) return;
      this.reference.apply([entry]);
      const key = entry.type === 'normal' ? keyOf(entry.data) : null;
      if (key === null) continue;
      const record = this.reference.get(key);
      const valueJson = record ? canonicalJson(jsonValue(record.value)) : null;
      const list = this.changes.get(key) ?? [];
      const last = list[list.length - 1];
      if (!last || last.valueJson !== valueJson || last.recordIndex !== (record?.index ?? 0)) list.push({ index: entry.index, valueJson, recordIndex: record?.index ?? 0 });
      this.changes.set(key, list);
    }
  }

  private randomNode(): NodeId {
    return itemAt(this.sim.ids, this.prng.int(this.sim.ids.length), 'node ids');
  }
}

function keyOf(data: string): string | null {
  try {
    const command: unknown = JSON.parse(data);
    return typeof command === 'object' && command !== null && 'key' in command && typeof command.key === 'string' ? command.key : null;
  } catch {
    return null;
  }
}

/** An error's stack, or what was thrown when it is not an Error. */
export function errorText(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
