import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Entry, EntryType } from '@raftquotes/raft';
import { applyEntry, retentionLimits, type RetentionLimits, type StateStore } from './apply-logic.js';
import { CorruptionError } from './checksum.js';
import { requestHash } from './command-codec.js';
import { StateStorageError } from './errors.js';
import { quotaProblem } from './quota.js';
import { idempotencyRowBytes, kvRowBytes, quoteRowBytes } from './state-size.js';
import { Packr } from 'msgpackr';
import { compareCodePoints } from './command-codec.js';
import { decodeStateImage, forEachImagePage, IMAGE_PAGE_ROWS, type ImagePage } from './snapshot-codec.js';
import { MemoryStateMachine } from './memory-state-machine.js';
import { SqliteStateMachine } from './sqlite-state-machine.js';
import type { ApplyResult, Command, CommittedClientEntry, KvRecord, Quote, StateMachine } from './types.js';

// ---------------------------------------------------------------- the implementations

type Impl = 'memory' | 'sqlite';
const IMPLS: Impl[] = ['memory', 'sqlite'];

const dir = mkdtempSync(join(tmpdir(), 'raftquotes-state-'));
const open: Database.Database[] = [];
let fileSeq = 0;
afterAll(() => {
  for (const db of open.splice(0)) if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh state machine; SQLite on a temp file (WAL, as on a node; no fsync: this tests logic). */
function fresh(impl: Impl, retention?: Partial<RetentionLimits>): StateMachine {
  if (impl === 'memory') return new MemoryStateMachine(retention);
  const db = new Database(join(dir, `sm-${++fileSeq}.db`));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  open.push(db);
  return new SqliteStateMachine(db, retention);
}

/** Closes SQLite databases of finished property runs so file handles stay bounded. */
function closeAll(): void {
  for (const db of open.splice(0)) {
    const file = db.name;
    db.close();
    rmSync(file, { force: true });
  }
}

const other = (impl: Impl): Impl => (impl === 'memory' ? 'sqlite' : 'memory');

// ---------------------------------------------------------------- the naive model

type Json = unknown;

/** JSON as it comes back from storage: what a value looks like after a JSON round trip. */
function jsonCopy(value: Json): Json {
  return JSON.parse(JSON.stringify(value ?? null)) as Json;
}

/** Deep equality of JSON values where object key order does not matter (a cas compares values). */
function sameJson(a: Json, b: Json): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ra = a as Record<string, Json>;
    const rb = b as Record<string, Json>;
    const ka = Object.keys(ra).sort();
    const kb = Object.keys(rb).sort();
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && sameJson(ra[k], rb[k]));
  }
  return a === b;
}

/** Lone surrogates replaced by U+FFFD, the way Node's UTF-8 encoder does it. */
function wellFormedModel(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

/** The command an entry carries, or null when it is not one; strings made well-formed. */
function modelParse(data: string): Command | null {
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const o = raw as Record<string, unknown>;
  if (o.idempotencyKey !== undefined && typeof o.idempotencyKey !== 'string') return null;
  const wf = wellFormedModel;
  const idem = typeof o.idempotencyKey === 'string' ? { idempotencyKey: wf(o.idempotencyKey) } : {};
  const has = (field: string): boolean => Object.prototype.hasOwnProperty.call(o, field);
  if (o.op === 'put' && typeof o.key === 'string' && has('value')) return { op: 'put', key: wf(o.key), value: o.value, ...idem };
  if (o.op === 'delete' && typeof o.key === 'string') return { op: 'delete', key: wf(o.key), ...idem };
  if (o.op === 'cas' && typeof o.key === 'string' && has('from') && has('to')) return { op: 'cas', key: wf(o.key), from: o.from, to: o.to, ...idem };
  if (o.op === 'quote' && typeof o.text === 'string' && typeof o.author === 'string' && typeof o.postedAt === 'string') {
    return { op: 'quote', text: wf(o.text), author: wf(o.author), postedAt: wf(o.postedAt), ...idem };
  }
  return null;
}

/** What identifies a request for its Idempotency-Key (SPEC §3): what the client sent, not postedAt. */
function modelRequest(command: Command): Json {
  switch (command.op) {
    case 'put':
      return ['put', command.key, jsonCopy(command.value)];
    case 'delete':
      return ['delete', command.key];
    case 'cas':
      return ['cas', command.key, jsonCopy(command.from), jsonCopy(command.to)];
    case 'quote':
      return ['quote', command.text, command.author];
  }
}

/**
 * The state machine written in the most obvious way: a Map, an array of quotes, a Map of
 * idempotency records and an array of client commands, pruned by scanning everything.
 */
class NaiveModel {
  applied = 0;
  appliedTerm = 0;
  kv = new Map<string, { value: Json; index: number }>();
  quotes: Quote[] = [];
  idempotency = new Map<string, { index: number; result: ApplyResult; request: Json }>();
  clientLog: CommittedClientEntry[] = [];

  constructor(private readonly retention: RetentionLimits) {}

  apply(entry: Entry): ApplyResult {
    expect(entry.index).toBe(this.applied + 1);
    const result = entry.type === 'normal' ? this.applyCommand(entry) : { ok: true as const, index: entry.index };
    this.applied = entry.index;
    this.appliedTerm = entry.term;
    if (entry.index % this.retention.pruneEveryEntries === 0) {
      for (const [key, record] of [...this.idempotency]) {
        if (record.index < entry.index - this.retention.idempotencyWindowEntries) this.idempotency.delete(key);
      }
      this.clientLog = this.clientLog.filter((e) => e.index >= entry.index - this.retention.clientLogRetention);
    }
    return result;
  }

  private applyCommand(entry: Entry): ApplyResult {
    const command = modelParse(entry.data);
    if (command === null) return { ok: false, index: entry.index, error: 'invalid_command' };
    const id = command.idempotencyKey;
    const first = id === undefined ? undefined : this.idempotency.get(id);
    const request = modelRequest(command);
    if (first) return sameJson(first.request, request) ? first.result : { ok: false, index: entry.index, error: 'idempotency_key_reused' };
    const result = jsonCopy(this.execute(command, entry)) as ApplyResult;
    this.clientLog.push({ index: entry.index, term: entry.term, command: jsonCopy(command) as Command });
    if (id !== undefined) this.idempotency.set(id, { index: entry.index, result, request });
    return result;
  }

  private execute(command: Command, entry: Entry): ApplyResult {
    const index = entry.index;
    const current = command.op === 'quote' ? undefined : this.kv.get(command.key);
    switch (command.op) {
      case 'put':
        this.kv.set(command.key, { value: jsonCopy(command.value), index });
        return { ok: true, index };
      case 'delete':
        if (!current) return { ok: false, index, error: 'not_found' };
        this.kv.delete(command.key);
        return { ok: true, index };
      case 'cas':
        if (!current) return { ok: false, index, error: 'not_found' };
        if (!sameJson(current.value, jsonCopy(command.from))) return { ok: false, index, error: 'precondition_failed', current: current.value };
        this.kv.set(command.key, { value: jsonCopy(command.to), index });
        return { ok: true, index };
      case 'quote': {
        const quote: Quote = { index, term: entry.term, text: command.text, author: command.author, postedAt: command.postedAt };
        this.quotes.push(quote);
        return { ok: true, index, quote };
      }
    }
  }
}

// ---------------------------------------------------------------- observing a state

const KEYS = ['a', 'b', 'c', '__proto__', 'constructor', 'ключ', '😀', '\ue000', 'x/y', '\ud800', '\ufffd'];
const IDEMPOTENCY_KEYS = ['id1', 'id2', 'id3', '__proto__', '\udc00'];

interface Observed {
  appliedIndex: number;
  appliedTerm: number;
  kv: Array<KvRecord | null>;
  quotes: Quote[];
  clientLog: CommittedClientEntry[];
  idempotency: Array<[string, number, ApplyResult]>;
}

/** Everything a state machine holds, through its public reads and its snapshot image. */
function observe(sm: StateMachine): Observed {
  for (const k of KEYS) expectJsonReadAgrees(sm, wellFormedModel(k));
  const image = decodeStateImage(sm.snapshot());
  return {
    appliedIndex: sm.appliedIndex(),
    appliedTerm: image.appliedTerm,
    kv: KEYS.map((k) => sm.get(wellFormedModel(k))),
    quotes: sm.quotesAfter(0, 1_000_000),
    clientLog: sm.clientEntriesFrom(0, 1_000_000),
    idempotency: image.idempotency.map(([key, index, resultJson]) => [key, index, JSON.parse(resultJson)] as [string, number, ApplyResult]).sort(byKey),
  };
}

/**
 * getJson is get with the value as stored: the same record, and text that JSON.stringify gives
 * back unchanged (GET /api/kv sends it as is, in place of serializing the parsed value).
 */
function expectJsonReadAgrees(sm: StateMachine, key: string): void {
  const raw = sm.getJson(key);
  expect(raw && { key: raw.key, value: JSON.parse(raw.valueJson) as unknown, index: raw.index }).toEqual(sm.get(key));
  if (raw) expect(JSON.stringify(JSON.parse(raw.valueJson))).toBe(raw.valueJson);
}

function observeModel(model: NaiveModel): Observed {
  return {
    appliedIndex: model.applied,
    appliedTerm: model.appliedTerm,
    kv: KEYS.map((k) => {
      const record = model.kv.get(wellFormedModel(k));
      return record ? { key: wellFormedModel(k), value: record.value, index: record.index } : null;
    }),
    quotes: model.quotes,
    clientLog: model.clientLog,
    idempotency: [...model.idempotency].map(([key, r]) => [key, r.index, r.result] as [string, number, ApplyResult]).sort(byKey),
  };
}

function byKey(a: [string, ...unknown[]], b: [string, ...unknown[]]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

// ---------------------------------------------------------------- generators

const ODD_VALUES: Json[] = [
  null,
  1,
  'x',
  true,
  [],
  { a: 1, b: [1, 2] },
  { b: [1, 2], a: 1 },
  JSON.parse('{"__proto__": {"polluted": true}}'),
  '\ud800',
  { '\ud83d': '\ude00' },
  'é',
  'é',
];
const valueArb: fc.Arbitrary<Json> = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...ODD_VALUES) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) });
const keyArb = fc.constantFrom(...KEYS);
const idArb = fc.option(fc.constantFrom(...IDEMPOTENCY_KEYS), { nil: undefined, freq: 2 });
const withId = <T extends object>(command: T, id: string | undefined): T => (id === undefined ? command : { ...command, idempotencyKey: id });

/** Entries that are not commands (never proposed by the API), and odd but valid JSON. */
const RAW_DATA = [
  '',
  'not json',
  '{"op":"put"',
  '[]',
  'null',
  '42',
  '"put"',
  '{"op":"put","key":1,"value":1}',
  '{"op":"put","key":"a"}',
  '{"op":"nope","key":"a"}',
  '{"op":"cas","key":"a","from":1}',
  '{"op":"quote","text":"t","author":"a"}',
  '{"op":"delete","key":"a","idempotencyKey":5}',
  '{"op":"delete","key":"a","idempotencyKey":null}',
  '{"__proto__":{"op":"put","key":"a","value":1}}',
  '{"op":"put","key":"a","value":-0}',
  '{"op":"put","key":"b","value":1e400,"idempotencyKey":"id1"}',
  '{"op":"put","key":"c","value":{"__proto__":{"x":-0}},"extra":"ignored"}',
  '{"op":"cas","key":"a","from":0,"to":-0}',
  '{"op":"cas","key":"a","from":{"__proto__":{"polluted":true}},"to":"\\ud800"}',
  '{"op":"quote","text":"\\ud800 lone","author":"\\udfff","postedAt":"t","idempotencyKey":"id2"}',
  '{"op":"delete","key":"\\ud801"}',
];

const commandArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(keyArb, valueArb, idArb).map(([key, value, id]) => JSON.stringify(withId({ op: 'put', key, value }, id))) },
  { weight: 2, arbitrary: fc.tuple(keyArb, idArb).map(([key, id]) => JSON.stringify(withId({ op: 'delete', key }, id))) },
  { weight: 3, arbitrary: fc.tuple(keyArb, valueArb, valueArb, idArb).map(([key, from, to, id]) => JSON.stringify(withId({ op: 'cas', key, from, to }, id))) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.string({ maxLength: 8 }), fc.constantFrom('', 'Seneca', '\ud800'), idArb)
      .map(([text, author, id]) => JSON.stringify(withId({ op: 'quote', text, author, postedAt: '2025-01-01T00:00:00.000Z' }, id))),
  },
  { weight: 2, arbitrary: fc.constantFrom(...RAW_DATA) },
);

interface EntrySpec {
  type: EntryType;
  data: string;
  termBump: boolean;
}

const entrySpecArb: fc.Arbitrary<EntrySpec> = fc.record({
  type: fc.constantFrom<EntryType>('normal', 'normal', 'normal', 'normal', 'normal', 'normal', 'noop', 'config'),
  data: commandArb,
  termBump: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
});

/** Numbers the specs into a log: contiguous indexes from `from`, terms never decreasing. */
function toEntries(specs: EntrySpec[], from = 1, startTerm = 1): Entry[] {
  let term = startTerm;
  return specs.map((spec, i) => {
    if (spec.termBump) term++;
    return { index: from + i, term, type: spec.type, data: spec.type === 'normal' ? spec.data : '' };
  });
}

/** Splits entries into apply() batches of random sizes. */
const batchSizesArb = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 40 });

function batches(entries: Entry[], sizes: number[]): Entry[][] {
  const out: Entry[][] = [];
  let at = 0;
  for (let i = 0; at < entries.length; i++) {
    const size = sizes[i % sizes.length] as number;
    out.push(entries.slice(at, at + size));
    at += size;
  }
  return out;
}

const smallRetentionArb: fc.Arbitrary<RetentionLimits> = fc.record({
  idempotencyWindowEntries: fc.integer({ min: 1, max: 12 }),
  clientLogRetention: fc.integer({ min: 1, max: 12 }),
  pruneEveryEntries: fc.integer({ min: 1, max: 6 }),
});
const retentionArb = fc.oneof(smallRetentionArb, fc.constant(retentionLimits()));

/** Applies `entries` in batches to every subject and the model; every ApplyResult must match. */
function applyAll(subjects: StateMachine[], model: NaiveModel, entries: Entry[], sizes: number[]): void {
  for (const batch of batches(entries, sizes)) {
    const expected = batch.map((e) => model.apply(e));
    for (const sm of subjects) expect(sm.apply(batch)).toEqual(expected);
  }
}

const RUNS = Number(process.env.STATE_PROPERTY_RUNS ?? 100);

// ---------------------------------------------------------------- properties

describe('state machine against a naive model (fast-check)', () => {
  for (const impl of IMPLS) {
    it(`${impl}: every ApplyResult and the final state match the model`, () => {
      fc.assert(
        fc.property(fc.array(entrySpecArb, { maxLength: 80 }), batchSizesArb, retentionArb, (specs, sizes, retention) => {
          try {
            const sm = fresh(impl, retention);
            const model = new NaiveModel(retention);
            applyAll([sm], model, toEntries(specs), sizes);
            expect(observe(sm)).toEqual(observeModel(model));
          } finally {
            closeAll();
          }
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('snapshot mid-way, restore into the other implementation, continue: same results, same state, same bytes', () => {
    fc.assert(
      fc.property(
        fc.array(entrySpecArb, { minLength: 1, maxLength: 80 }),
        fc.nat(),
        fc.constantFrom(...IMPLS),
        batchSizesArb,
        retentionArb,
        (specs, cutSeed, sourceImpl, sizes, retention) => {
          try {
            const entries = toEntries(specs);
            const cut = cutSeed % (entries.length + 1);
            const source = fresh(sourceImpl, retention);
            const model = new NaiveModel(retention);
            applyAll([source], model, entries.slice(0, cut), sizes);
            const target = fresh(other(sourceImpl), retention);
            const last = entries[cut - 1];
            target.restore(last?.index ?? 0, last?.term ?? 0, source.snapshot());
            expect(observe(target)).toEqual(observe(source));
            applyAll([source, target], model, entries.slice(cut), sizes);
            const expected = observeModel(model);
            expect(observe(source)).toEqual(expected);
            expect(observe(target)).toEqual(expected);
            expect(Buffer.from(target.snapshot()).equals(Buffer.from(source.snapshot()))).toBe(true);
            expect(target.sizeBytes?.()).toBe(source.sizeBytes?.());
          } finally {
            closeAll();
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('is deterministic: the same entries give the same snapshot bytes, whatever the implementation and batching', () => {
    fc.assert(
      fc.property(fc.array(entrySpecArb, { maxLength: 80 }), batchSizesArb, batchSizesArb, retentionArb, (specs, sizesA, sizesB, retention) => {
        try {
          const entries = toEntries(specs);
          const subjects = [fresh('memory', retention), fresh('memory', retention), fresh('sqlite', retention), fresh('sqlite', retention)];
          subjects.forEach((sm, i) => batches(entries, i % 2 === 0 ? sizesA : sizesB).forEach((b) => sm.apply(b)));
          const bytes = subjects.map((sm) => Buffer.from(sm.snapshot()).toString('hex'));
          expect(new Set(bytes).size).toBe(1);
          // The size the quota checks is counted the same way everywhere, and a replica restored
          // from the image (which recounts every row) agrees with the running count.
          const restored = fresh('sqlite', retention);
          restored.restore(subjects[0]?.appliedIndex() ?? 0, 1, subjects[0]?.snapshot() ?? new Uint8Array());
          expect(new Set([...subjects, restored].map((sm) => sm.sizeBytes?.())).size).toBe(1);
        } finally {
          closeAll();
        }
      }),
      { numRuns: RUNS },
    );
  });
});

// ---------------------------------------------------------------- examples and boundaries

const put = (key: string, value: Json, idempotencyKey?: string): string => JSON.stringify(withId({ op: 'put', key, value }, idempotencyKey));
const normal = (index: number, data: string, term = 1): Entry => ({ index, term, type: 'normal', data });
const quote = (text: string): string => JSON.stringify({ op: 'quote', text, author: 'a', postedAt: '2025-01-01T00:00:00.000Z' });
const noop = (index: number, term = 1): Entry => ({ index, term, type: 'noop', data: '' });

/** Applies noops up to and including `index`. */
function noopsTo(sm: StateMachine, index: number): void {
  const out: Entry[] = [];
  for (let i = sm.appliedIndex() + 1; i <= index; i++) out.push(noop(i));
  if (out.length) sm.apply(out);
}

describe.each(IMPLS)('state machine (%s): examples', (impl) => {
  afterAll(closeAll);

  it('applies a retried write once and answers the retry with the first result', () => {
    const sm = fresh(impl);
    const [first] = sm.apply([normal(1, put('k', { a: 1, b: 2 }, 'req-1'))]);
    const [retry] = sm.apply([normal(2, put('k', { b: 2, a: 1 }, 'req-1'))]);
    expect(first).toEqual({ ok: true, index: 1 });
    expect(retry).toEqual(first);
    expect(sm.get('k')).toEqual({ key: 'k', value: { a: 1, b: 2 }, index: 1 });
    expect(sm.clientEntriesFrom(0, 10).map((e) => e.index)).toEqual([1]);
  });

  // Issue 15 finding 7: PUT b under a's key answered 200 with a's index, and b was never written.
  it('refuses a reused Idempotency-Key with a different request (idempotency_key_reused), changing nothing', () => {
    const sm = fresh(impl);
    expect(sm.apply([normal(1, put('a', 1, 'req-1'))])).toEqual([{ ok: true, index: 1 }]);
    const quote = (index: number, text: string, postedAt: string): Entry => normal(index, JSON.stringify({ op: 'quote', text, author: 'x', postedAt, idempotencyKey: 'q' }));
    expect(
      sm.apply([
        normal(2, put('b', 1, 'req-1')), // another key
        normal(3, put('a', 2, 'req-1')), // another value
        normal(4, JSON.stringify({ op: 'delete', key: 'a', idempotencyKey: 'req-1' })), // another op
        normal(5, JSON.stringify({ op: 'cas', key: 'a', from: 1, to: 1, idempotencyKey: 'req-1' })),
        quote(6, 'words', '2025-01-01T00:00:00.000Z'),
        quote(7, 'words', '2030-01-01T00:00:00.000Z'), // same request: postedAt is the proposer's, not the client's
        quote(8, 'other words', '2025-01-01T00:00:00.000Z'),
      ]),
    ).toEqual([
      { ok: false, index: 2, error: 'idempotency_key_reused' },
      { ok: false, index: 3, error: 'idempotency_key_reused' },
      { ok: false, index: 4, error: 'idempotency_key_reused' },
      { ok: false, index: 5, error: 'idempotency_key_reused' },
      { ok: true, index: 6, quote: { index: 6, term: 1, text: 'words', author: 'x', postedAt: '2025-01-01T00:00:00.000Z' } },
      { ok: true, index: 6, quote: { index: 6, term: 1, text: 'words', author: 'x', postedAt: '2025-01-01T00:00:00.000Z' } },
      { ok: false, index: 8, error: 'idempotency_key_reused' },
    ]);
    expect(sm.get('a')).toEqual({ key: 'a', value: 1, index: 1 });
    expect(sm.get('b')).toBeNull();
    expect(sm.clientEntriesFrom(0, 10).map((e) => e.index)).toEqual([1, 6]);
    // The hashes travel in the snapshot: a replica restored by InstallSnapshot decides the same.
    const restored = fresh(other(impl));
    restored.restore(8, 1, sm.snapshot());
    expect(restored.apply([normal(9, put('a', 3, 'req-1')), normal(10, put('a', 1, 'req-1'))])).toEqual([
      { ok: false, index: 9, error: 'idempotency_key_reused' },
      { ok: true, index: 1 },
    ]);
  });

  it('keeps a failed result for a retry (a cas that failed stays failed, even once it would succeed)', () => {
    const sm = fresh(impl);
    sm.apply([normal(1, put('k', { a: 1, b: 2 }))]);
    const cas = (index: number, from: Json, id?: string): Entry => normal(index, JSON.stringify(withId({ op: 'cas', key: 'k', from, to: 'done' }, id)));
    expect(sm.apply([cas(2, 'wrong', 'c1')])).toEqual([{ ok: false, index: 2, error: 'precondition_failed', current: { a: 1, b: 2 } }]);
    sm.apply([normal(3, put('k', 'wrong'))]);
    expect(sm.apply([cas(4, 'wrong', 'c1')])).toEqual([{ ok: false, index: 2, error: 'precondition_failed', current: { a: 1, b: 2 } }]);
    expect(sm.apply([cas(5, 'wrong')])).toEqual([{ ok: true, index: 5 }]);
    expect(sm.get('k')).toEqual({ key: 'k', value: 'done', index: 5 });
  });

  it('turns entries that are not commands into invalid_command on every replica, touching nothing', () => {
    const sm = fresh(impl);
    const results = sm.apply(RAW_DATA.slice(0, 15).map((data, i) => normal(i + 1, data)));
    expect(results.every((r) => !r.ok && r.error === 'invalid_command')).toBe(true);
    expect(sm.appliedIndex()).toBe(15);
    expect(sm.clientEntriesFrom(0, 100)).toEqual([]);
    expect(KEYS.map((k) => sm.get(k))).toEqual(KEYS.map(() => null));
  });

  it('stores exactly the command: unknown fields dropped, lone surrogates replaced, values as after a JSON round trip', () => {
    const sm = fresh(impl);
    sm.apply([
      normal(1, '{"op":"put","key":"c","value":{"__proto__":{"x":-0},"n":1e400},"extra":"ignored"}'),
      normal(2, '{"op":"quote","text":"a\\ud800b","author":"\\udfff","postedAt":"t"}'),
    ]);
    expect(sm.clientEntriesFrom(0, 10)[0]?.command).toEqual(JSON.parse('{"op":"put","key":"c","value":{"__proto__":{"x":0},"n":null}}'));
    expect(sm.quotesAfter(0, 10)).toEqual([{ index: 2, term: 1, text: 'a\ufffdb', author: '\ufffd', postedAt: 't' }]);
    const restored = fresh(other(impl));
    restored.restore(2, 1, sm.snapshot());
    expect(restored.clientEntriesFrom(0, 10)).toEqual(sm.clientEntriesFrom(0, 10));
    expect(Object.keys((restored.clientEntriesFrom(0, 10)[0]?.command as { value: object }).value)).toEqual(['__proto__', 'n']);
  });

  it('refuses an out-of-order batch as a whole', () => {
    const sm = fresh(impl);
    sm.apply([normal(1, put('a', 1))]);
    expect(() => sm.apply([normal(2, put('a', 2)), normal(4, put('a', 4))])).toThrow(/out of order/);
    expect(sm.appliedIndex()).toBe(1);
    expect(sm.get('a')).toEqual({ key: 'a', value: 1, index: 1 });
    expect(sm.clientEntriesFrom(0, 10).map((e) => e.index)).toEqual([1]);
  });

  it('refuses a snapshot that is not a state image, keeping its state', () => {
    const sm = fresh(impl);
    sm.apply([normal(1, put('a', 1))]);
    expect(() => sm.restore(5, 2, new Uint8Array([1, 2, 3]))).toThrow(/snapshot data/);
    expect(sm.appliedIndex()).toBe(1);
    expect(sm.get('a')?.value).toBe(1);
  });

  it('rejects retention limits that are not positive integers', () => {
    expect(() => fresh(impl, { pruneEveryEntries: 0 })).toThrow(/pruneEveryEntries/);
    expect(() => fresh(impl, { idempotencyWindowEntries: 1.5 })).toThrow(/idempotencyWindowEntries/);
  });

  // Window 10, pruning every 5. A record written at r is pruned after applying the first
  // multiple p of 5 with r < p - 10: a retry at p is still answered from the record, a
  // retry at p + 1 is a new write. Retries up to r + window + 1 are always deduplicated.
  it.each([
    [3, 15],
    [4, 15],
    [5, 20],
    [9, 20],
    [10, 25],
  ])('idempotency record written at %i is kept through index %i and pruned right after', (written, lastKept) => {
    const retention = { idempotencyWindowEntries: 10, pruneEveryEntries: 5, clientLogRetention: 1_000 };
    expect(lastKept).toBeGreaterThanOrEqual(written + retention.idempotencyWindowEntries + 1);
    for (const retryAt of [lastKept, lastKept + 1]) {
      const sm = fresh(impl, retention);
      noopsTo(sm, written - 1);
      sm.apply([normal(written, put('k', 'first', 'req'))]);
      noopsTo(sm, retryAt - 1);
      const [result] = sm.apply([normal(retryAt, put('k', 'first', 'req'))]);
      if (retryAt === lastKept) {
        expect(result).toEqual({ ok: true, index: written });
        expect(sm.get('k')?.index).toBe(written);
      } else {
        expect(result).toEqual({ ok: true, index: retryAt });
        expect(sm.get('k')?.index).toBe(retryAt);
      }
    }
  });

  it('prunes client commands only at multiples of pruneEveryEntries, keeping the last clientLogRetention', () => {
    const sm = fresh(impl, { idempotencyWindowEntries: 1_000, pruneEveryEntries: 4, clientLogRetention: 3 });
    const indexes = (): number[] => sm.clientEntriesFrom(0, 100).map((e) => e.index);
    sm.apply([1, 2, 3, 4, 5, 6, 7].map((i) => normal(i, put('k', i))));
    expect(indexes()).toEqual([1, 2, 3, 4, 5, 6, 7]); // index 4 kept everything >= 4 - 3
    sm.apply([normal(8, put('k', 8))]);
    expect(indexes()).toEqual([5, 6, 7, 8]);
    expect(sm.clientEntriesFrom(6, 2).map((e) => e.index)).toEqual([6, 7]);
  });
});

// ---------------------------------------------------------------- issue 15: hostile entries

/** `[[[...]]]` nested `depth` deep around `inner`. */
function nested(depth: number, inner: Json = 1): Json {
  let value: Json = inner;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

describe.each(IMPLS)('state machine (%s): poison entries and failures (issue 15)', (impl) => {
  afterAll(closeAll);

  // Finding 1: a cas whose `from` nested 3,500 deep overflowed canonicalJson's stack on apply,
  // on every node, and again after every restart. Built as text: JSON.stringify would overflow too.
  const deepText = (depth: number): string => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
  const poison = (depth: number, field: 'value' | 'from' | 'to'): string =>
    field === 'value' ? `{"op":"put","key":"k","value":${deepText(depth)}}` : `{"op":"cas","key":"k","from":${field === 'from' ? deepText(depth) : '1'},"to":${field === 'to' ? deepText(depth) : '2'}}`;

  it.each(['value', 'from', 'to'] as const)('turns a %s nested 3,500 (and 100,000) deep into invalid_command, and goes on', (field) => {
    const sm = fresh(impl);
    sm.apply([normal(1, put('k', 1))]);
    const results = sm.apply([normal(2, poison(3_500, field)), normal(3, poison(100_000, field)), normal(4, put('k', 2))]);
    expect(results).toEqual([
      { ok: false, index: 2, error: 'invalid_command' },
      { ok: false, index: 3, error: 'invalid_command' },
      { ok: true, index: 4 },
    ]);
    expect(sm.get('k')).toEqual({ key: 'k', value: 2, index: 4 });
    expect(sm.clientEntriesFrom(0, 10).map((e) => e.index)).toEqual([1, 4]);
  });

  it('accepts values exactly MAX_JSON_DEPTH (64) deep, refuses 65', () => {
    const sm = fresh(impl);
    sm.apply([normal(1, put('k', nested(63, {})))]);
    expect(sm.apply([normal(2, JSON.stringify({ op: 'cas', key: 'k', from: nested(63, {}), to: nested(64) }))])).toEqual([{ ok: true, index: 2 }]);
    expect(sm.apply([normal(3, put('k', nested(65)))])).toEqual([{ ok: false, index: 3, error: 'invalid_command' }]);
    expect(sm.get('k')?.value).toEqual(nested(64));
  });

  it('records a logic error while applying as apply_failed, changing nothing, and keeps storage failures fatal', () => {
    const sm = fresh(impl);
    sm.apply([normal(1, put('k', 1)), normal(2, put('bug', 1))]);
    const store = sm as unknown as StateStore;
    /** The real store, with getKv replaced (a Proxy, so every other call and field is the real one's). */
    const withGetKv = (getKv: (key: string) => KvRecord | null): StateStore =>
      new Proxy(store, { get: (target, prop) => (prop === 'getKv' ? getKv : (Reflect.get(target, prop) as unknown)) });
    // A logic error in the state machine's own code (not the data store): injected for key "bug".
    const withBug = withGetKv((key) => {
      if (key === 'bug') throw new TypeError('a bug in apply');
      return store.getKv(key);
    });
    const cas = (key: string): Entry => normal(3, JSON.stringify({ op: 'cas', key, from: 1, to: 2, idempotencyKey: 'i' }));
    expect(applyEntry(withBug, cas('bug'), 2)).toEqual({ ok: false, index: 3, error: 'apply_failed' });
    expect(sm.appliedIndex()).toBe(3);
    expect(sm.get('bug')).toEqual({ key: 'bug', value: 1, index: 2 });
    expect(sm.clientEntriesFrom(0, 10).map((e) => e.index)).toEqual([1, 2]);
    const broken = withGetKv(() => {
      throw new CorruptionError('kv key "k"');
    });
    expect(() => applyEntry(broken, normal(4, JSON.stringify({ op: 'delete', key: 'k' })), 3)).toThrow(CorruptionError);
    const io = withGetKv(() => {
      throw new StateStorageError('disk I/O error');
    });
    expect(() => applyEntry(io, normal(4, JSON.stringify({ op: 'delete', key: 'k' })), 3)).toThrow(StateStorageError);
  });

  it('counts its size for the quota: puts, overwrites, deletes, quotes and idempotency records', () => {
    const sm = fresh(impl);
    expect(sm.sizeBytes?.()).toBe(0);
    sm.apply([normal(1, put('ключ', 'x'.repeat(100)))]);
    expect(sm.sizeBytes?.()).toBe(kvRowBytes('ключ', JSON.stringify('x'.repeat(100))));
    sm.apply([normal(2, put('ключ', 'y'))]);
    expect(sm.sizeBytes?.()).toBe(kvRowBytes('ключ', '"y"'));
    sm.apply([normal(3, JSON.stringify({ op: 'delete', key: 'ключ' }))]);
    expect(sm.sizeBytes?.()).toBe(0);
    sm.apply([normal(4, quote('words'))]);
    expect(sm.sizeBytes?.()).toBe(quoteRowBytes({ text: 'words', author: 'a', postedAt: '2025-01-01T00:00:00.000Z' }));
    const before = sm.sizeBytes?.() ?? 0;
    sm.apply([normal(5, put('k', 1, 'id-1'))]);
    expect(sm.sizeBytes?.()).toBe(before + kvRowBytes('k', '1') + idempotencyRowBytes('id-1', JSON.stringify({ ok: true, index: 5 }), requestHash({ op: 'put', key: 'k', value: 1 })));
  });
});

describe('quota check (SPEC §5)', () => {
  it('refuses growth past the quota, allows deletes and shrinking writes', () => {
    const sm = new MemoryStateMachine();
    sm.apply([normal(1, put('k', 'x'.repeat(1000)))]);
    const size = sm.sizeBytes();
    const putCommand = (key: string, value: Json): Command => ({ op: 'put', key, value });
    expect(quotaProblem(sm, putCommand('other', 'x'.repeat(100)), size + 50)).toMatch(/quota of \d+ bytes/);
    expect(quotaProblem(sm, putCommand('other', 'x'), size + 50)).toBeNull();
    expect(quotaProblem(sm, putCommand('k', 'x'.repeat(500)), size)).toBeNull(); // shrinks
    expect(quotaProblem(sm, putCommand('k', 'x'.repeat(1001)), size)).toMatch(/grow it by 1/);
    expect(quotaProblem(sm, { op: 'delete', key: 'k' }, 10)).toBeNull();
    expect(quotaProblem(sm, { op: 'cas', key: 'k', from: 1, to: 'x'.repeat(10) }, size)).toBeNull();
    expect(quotaProblem(sm, { op: 'quote', text: 'hi', author: 'a', postedAt: 't' }, size)).toMatch(/quota/);
  });
});

describe('snapshot image and key order', () => {
  it('orders keys by code point, which is the byte order of their UTF-8 (SQLite BINARY)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        expect(Math.sign(compareCodePoints(a, b))).toBe(Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))));
      }),
      { numRuns: 2_000 },
    );
    expect(['😀', '\ue000', 'b', 'a'].sort(compareCodePoints)).toEqual(['a', 'b', '\ue000', '😀']);
  });

  it('restores a version 1 image (results and commands as msgpack maps) into either implementation', () => {
    const v1 = new Packr({ useRecords: false, moreTypes: false }).pack({
      version: 1,
      appliedIndex: 3,
      appliedTerm: 2,
      kv: [['k', '{"a":1}', 2]],
      quotes: [{ index: 3, term: 2, text: 't', author: 'a', postedAt: 'p' }],
      idempotency: [['req', 2, { ok: true, index: 2 }]],
      clientLog: [
        [2, 1, { op: 'put', key: 'k', value: { a: 1 }, idempotencyKey: 'req' }],
        [3, 2, { op: 'quote', text: 't', author: 'a', postedAt: 'p' }],
      ],
    });
    for (const impl of IMPLS) {
      const sm = fresh(impl);
      sm.restore(3, 2, v1);
      expect(sm.get('k')).toEqual({ key: 'k', value: { a: 1 }, index: 2 });
      expect(sm.clientEntriesFrom(0, 10).map((e) => e.command.op)).toEqual(['put', 'quote']);
      // A record from before request hashes were kept answers any retry with its first result.
      expect(sm.apply([normal(4, put('k', 'again', 'req'), 2)])).toEqual([{ ok: true, index: 2 }]);
      expect(new Packr({ useRecords: false, moreTypes: false }).unpackMultiple(sm.snapshot() as Buffer)?.[0]).toMatchObject({ version: 4 });
    }
    closeAll();
  });

  it('pages a large image (more rows than IMAGE_PAGE_ROWS per table) and restores it into either implementation', () => {
    const entries = Array.from({ length: IMAGE_PAGE_ROWS * 2 + 7 }, (_, i) => normal(i + 1, put(`key-${i}`, i, `req-${i}`), 1));
    for (const impl of IMPLS) {
      const sm = fresh(impl);
      sm.apply(entries);
      const data = sm.snapshot();
      const pages = new Packr({ useRecords: false, moreTypes: false }).unpackMultiple(data as Buffer) as unknown[];
      // header + 3 pages each of kv, idempotency and client log
      expect(pages.length).toBe(1 + 3 * 3);
      const copy = fresh(other(impl));
      copy.restore(entries.length, 1, data);
      expect(copy.get(`key-${IMAGE_PAGE_ROWS * 2 + 6}`)).toEqual({ key: `key-${IMAGE_PAGE_ROWS * 2 + 6}`, value: IMAGE_PAGE_ROWS * 2 + 6, index: entries.length });
      expect(Buffer.compare(copy.snapshot(), data)).toBe(0);
    }
    closeAll();
  });

  it('refuses a version 3 image with a malformed page', () => {
    const packr = new Packr({ useRecords: false, moreTypes: false });
    const bad = Buffer.concat([packr.pack({ version: 3, appliedIndex: 1, appliedTerm: 1 }), packr.pack(['tables', []])]);
    expect(() => decodeStateImage(bad)).toThrow(/page is malformed/);
  });

  it('walks an image a page at a time, in section order, each page at most IMAGE_PAGE_ROWS rows', () => {
    const entries = Array.from({ length: IMAGE_PAGE_ROWS + 5 }, (_, i) => normal(i + 1, i % 1000 === 0 ? quote(`q${i}`) : put(`key-${i}`, i), 2));
    const sm = fresh('sqlite');
    sm.apply(entries);
    const pages: Array<{ section: string; rows: number }> = [];
    const header = forEachImagePage(sm.snapshot(), (page) => pages.push({ section: page.section, rows: page.rows.length }));
    expect(header).toEqual({ appliedIndex: entries.length, appliedTerm: 2 });
    // 4,096 puts (one full kv page), 5 quotes, no idempotency keys, 4,101 client entries.
    expect(pages).toEqual([
      { section: 'kv', rows: IMAGE_PAGE_ROWS },
      { section: 'quotes', rows: 5 },
      { section: 'clientLog', rows: IMAGE_PAGE_ROWS },
      { section: 'clientLog', rows: 5 },
    ]);
    closeAll();
  });

  it("stops at the visitor's error and throws it unchanged", () => {
    const sm = fresh('memory');
    sm.apply([normal(1, put('a', 1)), normal(2, put('b', 2))]);
    const boom = new Error('visitor failed');
    const seen: ImagePage[] = [];
    expect(() =>
      forEachImagePage(sm.snapshot(), (page) => {
        seen.push(page);
        throw boom;
      }),
    ).toThrow(boom);
    expect(seen).toHaveLength(1);
  });

  it('rolls a SQLite restore back when the image turns out bad after some pages were inserted', () => {
    const source = fresh('sqlite');
    source.apply(Array.from({ length: IMAGE_PAGE_ROWS * 2 }, (_, i) => normal(i + 1, put(`key-${i}`, i), 1)));
    const image = Buffer.from(source.snapshot());
    // Cut into the last page: the first kv page decodes and is inserted before the cut is found.
    const truncated = image.subarray(0, image.length - 100);
    const target = fresh('sqlite');
    target.apply([normal(1, put('kept', 'yes'))]);
    expect(() => target.restore(IMAGE_PAGE_ROWS * 2, 1, truncated)).toThrow(/snapshot data is not decodable/);
    expect(target.appliedIndex()).toBe(1);
    expect(target.get('kept')?.value).toBe('yes');
    expect(target.get('key-0')).toBeNull();
    closeAll();
  });
});

describe('SQLite image built page by page (buildImage)', () => {
  it('equals snapshot() when nothing is applied meanwhile', async () => {
    const sm = fresh('sqlite');
    sm.apply(Array.from({ length: IMAGE_PAGE_ROWS + 10 }, (_, i) => normal(i + 1, put(`k${i}`, 'v'.repeat(50)), 1)));
    const image = await sm.buildImage();
    expect(image.index).toBe(IMAGE_PAGE_ROWS + 10);
    expect(Buffer.compare(Buffer.from(image.data), Buffer.from(sm.snapshot()))).toBe(0);
    closeAll();
  });

  it('is the state as of its first read while applies go on: restoring it equals a replica stopped at that index', async () => {
    const sm = fresh('sqlite');
    const first = Array.from({ length: 3 * IMAGE_PAGE_ROWS }, (_, i) => normal(i + 1, put(`k${i % 5000}`, i), 1));
    sm.apply(first);
    const building = sm.buildImage();
    // Applied between the build's pages (each page yields to the event loop).
    for (let round = 0; round < 20; round++) {
      await new Promise((r) => setImmediate(r));
      const at = sm.appliedIndex();
      sm.apply([normal(at + 1, put(`k${round}`, `changed-${round}`), 2), normal(at + 2, put(`new-${round}`, round), 2)]);
    }
    const image = await building;
    expect(image).toMatchObject({ index: first.length, term: 1 });
    const stoppedThere = fresh('memory');
    stoppedThere.apply(first);
    const restored = fresh('memory');
    restored.restore(image.index, image.term, image.data);
    expect(Buffer.compare(Buffer.from(restored.snapshot()), Buffer.from(stoppedThere.snapshot()))).toBe(0);
    expect(sm.get('k0')?.value).toBe('changed-0');
    closeAll();
  });
});
