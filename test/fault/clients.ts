import { canonicalJson, type HistoryOp, type Json, type OpKind, type QuoteLike } from '../../src/checker/index.js';
import { httpCall, type CallResult } from './http-client.js';
import type { Prng } from '../../src/checker/prng.js';
import { sleep } from '../support/cluster.js';

/** Largest page the quote readers ask for (SPEC §3 max limit). */
const QUOTE_PAGE_LIMIT = 1000;
/** Extra pause of a client after a refused op (503, connection refused). */
const REFUSED_BACKOFF_MS = 150;
/** Most pages one quote-list read walks before it gives up (bounds a read of a huge board). */
const MAX_QUOTE_PAGES = 50;

/** A node the clients may talk to. */
export interface Target {
  id: string;
  http: string;
}

/** Workload knobs; the defaults suit a 5-node loopback cluster on two cores. */
export interface WorkloadOptions {
  targets: readonly Target[];
  keys: readonly string[];
  kvClients: number;
  quoteClients: number;
  quoteReaders: number;
  /** Client-side deadline per request; above the node's own 5 s (which answers 504). */
  requestTimeoutMs: number;
  /** Share of KV writes (and quote posts) that carry an Idempotency-Key and retry after an unknown outcome. */
  idempotentShare: number;
  /** Retries of an idempotent write after an unknown outcome. */
  maxRetries: number;
  /** Pause between two ops of one client: uniform in [0, thinkMs]. */
  thinkMs: number;
  /** Pause between two quote posts of one client. */
  quoteThinkMs: number;
  prng: Prng;
  /** Milliseconds since the run started: the one clock of the history. */
  clock: () => number;
}

/** A value some node reported with the log index that wrote it (a write's ack, or a read). */
export interface ValueObservation {
  value: string;
  index: number;
  nodeId: string;
  source: 'ack' | 'read';
}

/** One quote post and how it ended. */
export interface QuotePost {
  clientId: string;
  text: string;
  idempotencyKey?: string;
  invokeMs: number;
  completeMs: number | null;
  outcome: 'ok' | 'indeterminate' | 'not-applied';
  /** Log indexes the node answered with, one per successful attempt (all must be equal). */
  indexes: number[];
}

/** One linearizable read of the whole quote list. */
export interface QuoteListRead {
  nodeId: string;
  invokeMs: number;
  completeMs: number;
  quotes: QuoteLike[];
}

/** A KV op the client knows was not applied (503, 429, refused): kept for the counts, not for the checker. */
export interface DroppedOp {
  clientId: string;
  kind: OpKind;
  key: string;
  invokeMs: number;
  completeMs: number;
  why: string;
  /** The value a dropped write or cas would have written (canonical JSON). */
  value?: string;
}

/** Counts for the summary. */
export interface WorkloadCounts {
  ops: number;
  ok: number;
  /** Definite failures: cas/delete refused (409/404), and requests known not applied (503, 429, refused). */
  failed: number;
  indeterminate: number;
  /** Writes answered 503 `unavailable` (node stopping or shut down): kept as indeterminate. */
  unavailableWrites: number;
  retries: number;
  /** Why ops failed: "cas precondition_failed", "503 no_leader", "connection refused", ... */
  failedBy: Record<string, number>;
  quotePosts: number;
  quotesOk: number;
  quoteListReads: number;
  /** Answers no SPEC rule explains (e.g. a 400 or 500): each is reported. */
  unexpected: string[];
}

type Classified =
  | { outcome: 'ok'; body: any }
  | { outcome: 'fail'; error: 'precondition_failed' | 'not_found'; current?: Json }
  | { outcome: 'indeterminate'; why: string; unavailable?: boolean }
  | { outcome: 'not-applied'; why: string };

/**
 * The clients of a fault run: KV clients doing read, write, cas (and a few deletes) on a
 * few keys through random nodes, quote posters, and quote-list readers. Every op is
 * recorded with invoke and complete times on one clock; the mapping from HTTP answers to
 * outcomes is the table in checker/types.ts, except that a write answered 503
 * `unavailable` is kept as indeterminate (a proposal pending when its node stops may still
 * commit through the next leader).
 */
export class Workload {
  readonly history: HistoryOp[] = [];
  readonly dropped: DroppedOp[] = [];
  /** The node(s) each history op went through (retries: "Node2→Node5"), by op id, for artifacts. */
  readonly servedBy = new Map<HistoryOp['id'], string>();
  readonly observations: ValueObservation[] = [];
  readonly quotePosts: QuotePost[] = [];
  readonly quoteReads: QuoteListRead[] = [];
  /** Idempotency-Key of each value written with one (canonical JSON → key). */
  readonly idempotencyKeyOfValue = new Map<string, string>();
  /** Canonical values of writes answered 503 unavailable, to see whether any later showed up. */
  readonly unavailableValues = new Set<string>();
  readonly counts: WorkloadCounts = { ops: 0, ok: 0, failed: 0, indeterminate: 0, unavailableWrites: 0, retries: 0, failedBy: {}, quotePosts: 0, quotesOk: 0, quoteListReads: 0, unexpected: [] };
  private stopping = false;
  private loops: Promise<void>[] = [];
  private nextOpId = 0;

  constructor(private readonly options: WorkloadOptions) {}

  /** Starts every client loop. */
  start(): void {
    const o = this.options;
    for (let i = 0; i < o.kvClients; i++) this.loops.push(this.kvLoop(`c${i + 1}`, o.prng.fork()));
    for (let i = 0; i < o.quoteClients; i++) this.loops.push(this.quoteLoop(`q${i + 1}`, o.prng.fork()));
    for (let i = 0; i < o.quoteReaders; i++) this.loops.push(this.quoteReadLoop(o.prng.fork()));
  }

  /** Stops the loops; in-flight requests finish (each is bounded by requestTimeoutMs; retries stop). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  private async kvLoop(clientId: string, prng: Prng): Promise<void> {
    const lastSeen = new Map<string, Json>();
    let seq = 0;
    while (!this.stopping) {
      const key = prng.pick(this.options.keys);
      const target = prng.pick(this.options.targets);
      const roll = prng.float();
      const known = lastSeen.get(key);
      const refusedBefore = this.dropped.length;
      if (roll < 0.45 || (roll < 0.97 && roll >= 0.75 && known === undefined)) await this.read(clientId, target, key, lastSeen);
      else if (roll < 0.75) await this.write(clientId, prng, key, `${clientId}.${++seq}`, lastSeen);
      else if (roll < 0.97) await this.cas(clientId, target, key, known as Json, `${clientId}.${++seq}`, lastSeen);
      else await this.remove(clientId, target, key, lastSeen);
      // Refused (node down, no leader): back off like a real client instead of spinning on a dead node.
      const refused = this.dropped.length > refusedBefore;
      await sleep(prng.int(this.options.thinkMs + 1) + (refused ? REFUSED_BACKOFF_MS : 0));
    }
  }

  /**
   * One read through a chosen node, recorded like any other (for tests that arrange a
   * scenario step by step). Returns the recorded op, or undefined if it was known not to run.
   */
  async scriptedRead(clientId: string, target: Target, key: string): Promise<HistoryOp | undefined> {
    const before = this.history.length;
    await this.read(clientId, target, key, new Map());
    return this.history[before];
  }

  /** One write (no Idempotency-Key, no retry) through a chosen node, recorded; see scriptedRead. */
  async scriptedWrite(clientId: string, target: Target, key: string, value: string): Promise<HistoryOp | undefined> {
    const before = this.history.length;
    await this.write(clientId, null, key, value, new Map(), target);
    return this.history[before];
  }

  private async read(clientId: string, target: Target, key: string, lastSeen: Map<string, Json>): Promise<void> {
    const invokeMs = this.options.clock();
    const result = await httpCall({ method: 'GET', url: kvUrl(target, key), timeoutMs: this.options.requestTimeoutMs });
    const completeMs = this.options.clock();
    const servedBy = target.id;
    const c = this.classify('read', result);
    if (c.outcome === 'ok') {
      const value = (c.body?.value ?? null) as Json;
      if (value !== null) this.observe(value, c.body.index, target.id, 'read');
      lastSeen.set(key, value);
      this.record({ clientId, key, kind: 'read', input: {}, invokeMs, completeMs, outcome: 'ok', output: value }, servedBy);
    } else if (c.outcome === 'indeterminate') {
      this.record({ clientId, key, kind: 'read', input: {}, invokeMs, completeMs: null, outcome: 'indeterminate' }, servedBy);
    } else this.drop(clientId, 'read', key, invokeMs, completeMs, c.outcome === 'not-applied' ? c.why : 'fail');
  }

  /** PUT; with an Idempotency-Key some of the time, retried through random nodes after an unknown outcome. */
  private async write(clientId: string, prng: Prng | null, key: string, value: string, lastSeen: Map<string, Json>, fixedTarget?: Target): Promise<void> {
    const idempotencyKey = prng?.chance(this.options.idempotentShare) ? `w-${value}` : undefined;
    if (idempotencyKey) this.idempotencyKeyOfValue.set(canonicalJson(value), idempotencyKey);
    const invokeMs = this.options.clock();
    const attempt = (target: Target): Promise<CallResult> =>
      httpCall({ method: 'PUT', url: kvUrl(target, key), body: { value }, headers: idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {}, timeoutMs: this.options.requestTimeoutMs });
    const tried: string[] = [];
    const pick = (): Target => {
      const target = fixedTarget ?? (prng as Prng).pick(this.options.targets);
      tried.push(target.id);
      return target;
    };
    const { classified: c, completeMs } = await this.withRetries('write', pick, idempotencyKey !== undefined, attempt, (body, node) => this.observe(value, body.index, node, 'ack'));
    const base = { clientId, key, kind: 'write' as const, input: { value }, invokeMs };
    const servedBy = tried.join('→');
    if (c.outcome === 'ok') {
      lastSeen.set(key, value);
      this.record({ ...base, completeMs, outcome: 'ok' }, servedBy);
    } else if (c.outcome === 'indeterminate') {
      if (c.unavailable) this.noteUnavailable(value);
      lastSeen.delete(key);
      this.record({ ...base, completeMs: null, outcome: 'indeterminate' }, servedBy);
    } else this.drop(clientId, 'write', key, invokeMs, completeMs, c.outcome === 'not-applied' ? c.why : 'fail', canonicalJson(value));
  }

  private async cas(clientId: string, target: Target, key: string, from: Json, to: string, lastSeen: Map<string, Json>): Promise<void> {
    const invokeMs = this.options.clock();
    const result = await httpCall({ method: 'POST', url: `${kvUrl(target, key)}/cas`, body: { from, to }, timeoutMs: this.options.requestTimeoutMs });
    const completeMs = this.options.clock();
    const servedBy = target.id;
    const c = this.classify('cas', result);
    const base = { clientId, key, kind: 'cas' as const, input: { from, to }, invokeMs };
    if (c.outcome === 'ok') {
      this.observe(to, c.body.index, target.id, 'ack');
      lastSeen.set(key, to);
      this.record({ ...base, completeMs, outcome: 'ok' }, servedBy);
    } else if (c.outcome === 'fail') {
      lastSeen.set(key, c.error === 'not_found' ? null : (c.current ?? null));
      const current = c.error === 'precondition_failed' && c.current !== undefined && c.current !== null ? { output: c.current } : {};
      this.record({ ...base, completeMs, outcome: 'fail', error: c.error, ...current }, servedBy);
    } else if (c.outcome === 'indeterminate') {
      if (c.unavailable) this.noteUnavailable(to);
      lastSeen.delete(key);
      this.record({ ...base, completeMs: null, outcome: 'indeterminate' }, servedBy);
    } else this.drop(clientId, 'cas', key, invokeMs, completeMs, c.why, canonicalJson(to));
  }

  private async remove(clientId: string, target: Target, key: string, lastSeen: Map<string, Json>): Promise<void> {
    const invokeMs = this.options.clock();
    const result = await httpCall({ method: 'DELETE', url: kvUrl(target, key), timeoutMs: this.options.requestTimeoutMs });
    const completeMs = this.options.clock();
    const servedBy = target.id;
    const c = this.classify('delete', result);
    const base = { clientId, key, kind: 'delete' as const, input: {}, invokeMs };
    if (c.outcome === 'ok') {
      lastSeen.set(key, null);
      this.record({ ...base, completeMs, outcome: 'ok' }, servedBy);
    } else if (c.outcome === 'fail') {
      lastSeen.set(key, null);
      this.record({ ...base, completeMs, outcome: 'fail', error: 'not_found' }, servedBy);
    } else if (c.outcome === 'indeterminate') {
      lastSeen.delete(key);
      this.record({ ...base, completeMs: null, outcome: 'indeterminate' }, servedBy);
    } else this.drop(clientId, 'delete', key, invokeMs, completeMs, c.why);
  }

  /**
   * Runs attempt() through random nodes. Without retries: one attempt. With them (an
   * Idempotency-Key), an unknown outcome is retried up to maxRetries times; the op ends
   * ok at the first success, and stays indeterminate if no attempt is definite (a later
   * "not applied" says nothing about the earlier attempt).
   */
  private async withRetries(
    kind: OpKind,
    pick: () => Target,
    retry: boolean,
    attempt: (target: Target) => Promise<CallResult>,
    onOk: (body: any, nodeId: string) => void,
  ): Promise<{ classified: Classified; completeMs: number }> {
    let unknown: Classified | undefined;
    for (let n = 0; ; n++) {
      const target = pick();
      const c = this.classify(kind, await attempt(target));
      const completeMs = this.options.clock();
      if (c.outcome === 'ok') onOk(c.body, target.id);
      if (c.outcome === 'ok' || c.outcome === 'fail') return { classified: c, completeMs };
      if (c.outcome === 'not-applied' && !unknown) return { classified: c, completeMs };
      if (c.outcome === 'indeterminate') unknown = c;
      if (!retry || n >= this.options.maxRetries || this.stopping) return { classified: unknown as Classified, completeMs };
      this.counts.retries++;
      await sleep(100 + (n % 3) * 100);
    }
  }

  private async quoteLoop(clientId: string, prng: Prng): Promise<void> {
    let seq = 0;
    while (!this.stopping) {
      const text = `fault quote ${clientId}.${++seq}`;
      const idempotencyKey = prng.chance(this.options.idempotentShare) ? `q-${clientId}.${seq}` : undefined;
      const post: QuotePost = { clientId, text, ...(idempotencyKey ? { idempotencyKey } : {}), invokeMs: this.options.clock(), completeMs: null, outcome: 'indeterminate', indexes: [] };
      this.quotePosts.push(post);
      this.counts.quotePosts++;
      const attempt = (target: Target): Promise<CallResult> =>
        httpCall({ method: 'POST', url: `${target.http}/api/quotes`, body: { text, author: clientId }, headers: idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {}, timeoutMs: this.options.requestTimeoutMs });
      const { classified: c, completeMs } = await this.withRetries('write', () => prng.pick(this.options.targets), idempotencyKey !== undefined, attempt, (body) => {
        if (typeof body?.quote?.index === 'number') post.indexes.push(body.quote.index);
      });
      if (c.outcome === 'ok') {
        post.outcome = 'ok';
        post.completeMs = completeMs;
        this.counts.quotesOk++;
      } else if (c.outcome === 'not-applied') post.outcome = 'not-applied';
      await sleep(prng.int(this.options.quoteThinkMs + 1) + (post.outcome === 'not-applied' ? REFUSED_BACKOFF_MS : 0));
    }
  }

  private async quoteReadLoop(prng: Prng): Promise<void> {
    while (!this.stopping) {
      await sleep(500 + prng.int(1000));
      const target = prng.pick(this.options.targets);
      const invokeMs = this.options.clock();
      const quotes = await readAllQuotes(target, this.options.requestTimeoutMs, false);
      if (quotes) {
        this.quoteReads.push({ nodeId: target.id, invokeMs, completeMs: this.options.clock(), quotes });
        this.counts.quoteListReads++;
      }
    }
  }

  private classify(kind: OpKind, result: CallResult): Classified {
    if (result.kind === 'error') {
      return result.error === 'refused' ? { outcome: 'not-applied', why: 'connection refused' } : { outcome: 'indeterminate', why: `${result.error}: ${result.message}` };
    }
    const { status, body } = result;
    const code = typeof body?.error === 'string' ? (body.error as string) : '';
    if (status === 200 || status === 201) return { outcome: 'ok', body };
    if (status === 404 && code === 'not_found') return kind === 'read' ? { outcome: 'ok', body: { value: null } } : { outcome: 'fail', error: 'not_found' };
    if (status === 409 && code === 'precondition_failed') return { outcome: 'fail', error: 'precondition_failed', current: body.current as Json };
    if (status === 504) return { outcome: 'indeterminate', why: `504 ${code}` };
    if (status === 503 && code === 'unavailable') return kind === 'read' ? { outcome: 'not-applied', why: '503 unavailable' } : { outcome: 'indeterminate', why: '503 unavailable', unavailable: true };
    if ((status === 503 && code === 'no_leader') || status === 429) return { outcome: 'not-applied', why: `${status} ${code}` };
    this.counts.unexpected.push(`${kind}: HTTP ${status} ${JSON.stringify(body).slice(0, 200)}`);
    return { outcome: 'indeterminate', why: `unexpected HTTP ${status}` };
  }

  private noteUnavailable(value: Json): void {
    this.unavailableValues.add(canonicalJson(value));
    this.counts.unavailableWrites++;
  }

  private observe(value: Json, index: unknown, nodeId: string, source: ValueObservation['source']): void {
    if (typeof index === 'number') this.observations.push({ value: canonicalJson(value), index, nodeId, source });
  }

  private record(op: Omit<HistoryOp, 'id'>, servedBy: string): void {
    this.servedBy.set(this.nextOpId, servedBy);
    this.history.push({ id: this.nextOpId++, ...op });
    this.counts.ops++;
    if (op.outcome === 'ok') this.counts.ok++;
    else if (op.outcome === 'fail') this.countFailure(`${op.kind} ${op.error ?? 'failed'}`);
    else this.counts.indeterminate++;
  }

  private drop(clientId: string, kind: OpKind, key: string, invokeMs: number, completeMs: number, why: string, value?: string): void {
    this.dropped.push({ clientId, kind, key, invokeMs, completeMs, why, ...(value === undefined ? {} : { value }) });
    this.counts.ops++;
    this.countFailure(why);
  }

  private countFailure(why: string): void {
    this.counts.failed++;
    this.counts.failedBy[why] = (this.counts.failedBy[why] ?? 0) + 1;
  }
}

function kvUrl(target: Target, key: string): string {
  return `${target.http}/api/kv/${encodeURIComponent(key)}`;
}

/** Reads every committed quote through one node, page by page; null if any page fails. */
export async function readAllQuotes(target: Target, timeoutMs: number, stale: boolean): Promise<QuoteLike[] | null> {
  const quotes: QuoteLike[] = [];
  let after = 0;
  for (let page = 0; page < MAX_QUOTE_PAGES; page++) {
    const url = `${target.http}/api/quotes?after=${after}&limit=${QUOTE_PAGE_LIMIT}${stale ? '&consistency=stale' : ''}`;
    const result = await httpCall({ method: 'GET', url, timeoutMs });
    if (result.kind !== 'response' || result.status !== 200 || !Array.isArray(result.body?.quotes)) return null;
    const batch = result.body.quotes as QuoteLike[];
    quotes.push(...batch);
    if (batch.length < QUOTE_PAGE_LIMIT) return quotes;
    after = (batch[batch.length - 1] as QuoteLike).index;
  }
  return null;
}

