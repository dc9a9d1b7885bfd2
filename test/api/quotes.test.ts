/* eslint-disable max-lines-per-function -- a describe block groups many short tests around one server */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_AUTHOR, MAX_AUTHOR_CHARS, MAX_QUOTES_LIMIT, MAX_QUOTE_TEXT_CHARS } from '../../src/api/limits.js';
import { RateLimiter } from '../../src/api/rate-limit.js';
import { FakeNode } from './fake-node.js';
import { call, expectErrorShape, startApi, type Started } from './helpers.js';

describe('quote routes (SPEC §3)', () => {
  const node = new FakeNode('Node1').lead();
  let server: Started;
  let url: string;

  beforeAll(async () => {
    server = await startApi(node);
    url = server.url;
  });
  afterAll(() => server.close());

  it('posts a quote: 201 with index, term, text, author, postedAt', async () => {
    const res = await call(url, 'POST', '/api/quotes', { text: '  Keep going.  ', author: ' Ada ' });
    expect(res.status).toBe(201);
    expect(res.body.quote).toMatchObject({ index: expect.any(Number), term: 1, text: 'Keep going.', author: 'Ada' });
    expect(new Date(res.body.quote.postedAt).toISOString()).toBe(res.body.quote.postedAt);
    expect(res.headers.get('x-raft-index')).toBe(String(res.body.quote.index));
    expect(res.headers.get('x-raft-leader')).toBe('Node1');
    expect(node.proposed.at(-1)).toMatchObject({ op: 'quote', text: 'Keep going.', author: 'Ada' });
  });

  it('defaults the author', async () => {
    for (const body of [{ text: 'a' }, { text: 'b', author: '' }, { text: 'c', author: '   ' }, { text: 'd', author: null }]) {
      const res = await call(url, 'POST', '/api/quotes', body);
      expect(res.body.quote.author).toBe(DEFAULT_AUTHOR);
    }
  });

  it('checks text and author at their limits (characters, not UTF-16 units)', async () => {
    const ok = await call(url, 'POST', '/api/quotes', { text: '😀'.repeat(MAX_QUOTE_TEXT_CHARS), author: 'é'.repeat(MAX_AUTHOR_CHARS) });
    expect(ok.status).toBe(201);
    const cases: Array<[unknown, string]> = [
      [{ text: 'x'.repeat(MAX_QUOTE_TEXT_CHARS + 1) }, 'text'],
      [{ text: '' }, 'text'],
      [{ text: '   \n ' }, 'text'],
      [{ text: 42 }, 'text'],
      [{}, 'text'],
      [{ text: 'ok', author: 'a'.repeat(MAX_AUTHOR_CHARS + 1) }, 'author'],
      [{ text: 'ok', author: 7 }, 'author'],
      [[], 'body'],
    ];
    for (const [body, field] of cases) {
      const res = await call(url, 'POST', '/api/quotes', body);
      expect(res.status, JSON.stringify(body).slice(0, 50)).toBe(400);
      expect(expectErrorShape(res.body, 'bad_request').field).toBe(field);
      expect(res.body.message).toContain(field);
    }
  });

  it('returns the first result for a retry under the same Idempotency-Key', async () => {
    const headers = { 'idempotency-key': 'q-1' };
    const first = await call(url, 'POST', '/api/quotes', { text: 'once' }, headers);
    const second = await call(url, 'POST', '/api/quotes', { text: 'once' }, headers);
    expect(second.status).toBe(201);
    expect(second.body.quote).toEqual(first.body.quote);
    expect(node.proposed.at(-1)).toMatchObject({ idempotencyKey: 'q-1' });
    // The same key first used for a KV write cannot produce a quote.
    await call(url, 'PUT', '/api/kv/k', { value: 1 }, { 'idempotency-key': 'shared' });
    const clash = await call(url, 'POST', '/api/quotes', { text: 'clash' }, { 'idempotency-key': 'shared' });
    expect(clash.status).toBe(422);
    expect(clash.body.error).toBe('idempotency_key_reused');
    expect(clash.body.field).toBe('Idempotency-Key');
  });

  it('lists quotes after an index, oldest first, with paging and commitIndex', async () => {
    const all = await call(url, 'GET', '/api/quotes?after=0&limit=1000');
    expect(all.status).toBe(200);
    const indexes = all.body.quotes.map((q: { index: number }) => q.index);
    expect(indexes).toEqual([...indexes].sort((a: number, b: number) => a - b));
    expect(all.body.commitIndex).toBe(node.stateMachine.appliedIndex());
    const page = await call(url, 'GET', `/api/quotes?after=${indexes[0]}&limit=2`);
    expect(page.body.quotes.map((q: { index: number }) => q.index)).toEqual(indexes.slice(1, 3));
    expect((await call(url, 'GET', '/api/quotes?limit=0')).body.quotes).toEqual([]);
    expect((await call(url, 'GET', `/api/quotes?after=${indexes.at(-1)}`)).body.quotes).toEqual([]);
  });

  it('reads through the barrier by default and skips it for stale reads', async () => {
    const before = node.readBarriers;
    await call(url, 'GET', '/api/quotes');
    expect(node.readBarriers).toBe(before + 1);
    await call(url, 'GET', '/api/quotes?consistency=stale');
    expect(node.readBarriers).toBe(before + 1);
  });

  it('answers 400 naming after or limit for bad values', async () => {
    for (const [query, field] of [
      ['after=-1', 'after'],
      ['after=1.5', 'after'],
      ['after=abc', 'after'],
      ['after=', 'after'],
      ['limit=1001', 'limit'],
      [`limit=${MAX_QUOTES_LIMIT + 1}`, 'limit'],
      ['limit=1e3', 'limit'],
      ['after=99999999999999999999', 'after'],
    ]) {
      const res = await call(url, 'GET', `/api/quotes?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.field, query).toBe(field);
    }
    expect((await call(url, 'GET', `/api/quotes?limit=${MAX_QUOTES_LIMIT}`)).status).toBe(200);
  });

  it('answers unavailable for a stale read on a node shut down by the controller', async () => {
    node.shut = true;
    const stale = await call(url, 'GET', '/api/quotes?consistency=stale');
    const post = await call(url, 'POST', '/api/quotes', { text: 'x' });
    node.shut = false;
    expect(stale.status).toBe(503);
    expectErrorShape(stale.body, 'unavailable');
    expect(post.status).toBe(503);
    expectErrorShape(post.body, 'unavailable');
  });
});

describe('rate limit on POST /api/quotes (SPEC §7)', () => {
  it('answers 429 too_many_requests with Retry-After once the burst is spent, and only for quotes', async () => {
    const node = new FakeNode('Node1').lead();
    const server = await startApi(node, { rateLimit: { perSecond: 0.001, burst: 2 } });
    try {
      expect((await call(server.url, 'POST', '/api/quotes', { text: 'one' })).status).toBe(201);
      expect((await call(server.url, 'POST', '/api/quotes', { text: 'two' })).status).toBe(201);
      const limited = await call(server.url, 'POST', '/api/quotes', { text: 'three' });
      expect(limited.status).toBe(429);
      expectErrorShape(limited.body, 'too_many_requests');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((await call(server.url, 'PUT', '/api/kv/a', { value: 1 })).status).toBe(200);
      expect((await call(server.url, 'GET', '/api/quotes')).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('refills over time and keeps a bounded number of buckets (least recently used evicted)', () => {
    let now = 0;
    const limiter = new RateLimiter({ perSecond: 2, burst: 1, maxBuckets: 3, now: () => now });
    expect(limiter.take('a').ok).toBe(true);
    expect(limiter.take('a')).toEqual({ ok: false, retryAfterSeconds: 1 });
    now += 500;
    expect(limiter.take('a').ok).toBe(true);
    for (const client of ['b', 'c', 'd', 'e']) limiter.take(client);
    expect(limiter.size).toBe(3);
    // 'a' was the least recently used: evicted, so it starts again with a full bucket.
    expect(limiter.take('a').ok).toBe(true);
    expect(limiter.size).toBe(3);
  });

  it('gives a Retry-After of the whole seconds until the next token', () => {
    const limiter = new RateLimiter({ perSecond: 0.25, burst: 1, now: () => 0 });
    limiter.take('x');
    expect(limiter.take('x')).toEqual({ ok: false, retryAfterSeconds: 4 });
  });
});
