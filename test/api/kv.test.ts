/* eslint-disable max-lines-per-function -- a describe block groups many short tests around one server */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES, MAX_KEY_BYTES, MAX_VALUE_BYTES } from '../../src/api/limits.js';
import { NodeError } from '../../src/node/types.js';
import { FakeNode } from './fake-node.js';
import { call, expectErrorShape, raw, startApi, type Started } from './helpers.js';

describe('KV routes (SPEC §3)', () => {
  const node = new FakeNode('Node1', ['Node1', 'Node2', 'Node3']).lead();
  let server: Started;
  let url: string;

  beforeAll(async () => {
    server = await startApi(node, { tuning: { maxErrorLogsPerSecond: 1_000_000 } });
    url = server.url;
  });
  afterAll(() => server.close());

  it('puts, reads linearizably, and carries X-Raft-Leader / X-Raft-Index', async () => {
    const put = await call(url, 'PUT', '/api/kv/greeting', { value: { hello: 'world' } });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ index: expect.any(Number) });
    expect(put.headers.get('x-raft-leader')).toBe('Node1');
    expect(put.headers.get('x-raft-index')).toBe(String(put.body.index));
    const barriers = node.readBarriers;
    const get = await call(url, 'GET', '/api/kv/greeting');
    expect(get.status).toBe(200);
    expect(get.body).toEqual({ key: 'greeting', value: { hello: 'world' }, index: put.body.index });
    expect(get.headers.get('x-raft-leader')).toBe('Node1');
    expect(Number(get.headers.get('x-raft-index'))).toBeGreaterThanOrEqual(put.body.index);
    expect(node.readBarriers).toBe(barriers + 1);
  });

  it('skips the read barrier for ?consistency=stale and refuses other levels', async () => {
    await call(url, 'PUT', '/api/kv/stale', { value: 1 });
    const barriers = node.readBarriers;
    const stale = await call(url, 'GET', '/api/kv/stale?consistency=stale');
    expect(stale.status).toBe(200);
    expect(node.readBarriers).toBe(barriers);
    const bad = await call(url, 'GET', '/api/kv/stale?consistency=eventual');
    expect(bad.status).toBe(400);
    expect(expectErrorShape(bad.body, 'bad_request').message).toContain('consistency');
  });

  it('stores null and any JSON value, and answers with the body JSON.stringify gives', async () => {
    for (const value of [null, 0, '', [1, 'two'], { nested: { deep: true } }, 1e21, -0.5, 'é "quoted" \u2028', JSON.parse('{"__proto__": 1, "b": [{}]}') as unknown]) {
      const put = await call(url, 'PUT', '/api/kv/any', { value });
      expect(put.status).toBe(200);
      const get = await fetch(`${url}/api/kv/any`);
      expect(get.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(await get.text()).toBe(JSON.stringify({ key: 'any', value: JSON.parse(JSON.stringify(value)), index: put.body.index }));
    }
  });

  it('answers 404 not_found for a missing key, on read and delete', async () => {
    const get = await call(url, 'GET', '/api/kv/missing');
    expect(get.status).toBe(404);
    expectErrorShape(get.body, 'not_found');
    expect(get.headers.get('x-raft-index')).not.toBeNull();
    const del = await call(url, 'DELETE', '/api/kv/missing');
    expect(del.status).toBe(404);
    expectErrorShape(del.body, 'not_found');
  });

  it('deletes', async () => {
    await call(url, 'PUT', '/api/kv/doomed', { value: 1 });
    const del = await call(url, 'DELETE', '/api/kv/doomed');
    expect(del.status).toBe(200);
    expect(del.body.index).toBeGreaterThan(0);
    expect((await call(url, 'GET', '/api/kv/doomed')).status).toBe(404);
  });

  it('compare-and-sets: 200 on a match, 409 with current on a mismatch, 404 when absent', async () => {
    await call(url, 'PUT', '/api/kv/counter', { value: 1 });
    const ok = await call(url, 'POST', '/api/kv/counter/cas', { from: 1, to: 2 });
    expect(ok.status).toBe(200);
    expect(ok.body.index).toBeGreaterThan(0);
    const stale = await call(url, 'POST', '/api/kv/counter/cas', { from: 1, to: 3 });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ error: 'precondition_failed', current: 2 });
    expect(typeof stale.body.message).toBe('string');
    const absent = await call(url, 'POST', '/api/kv/nothing-here/cas', { from: 1, to: 2 });
    expect(absent.status).toBe(404);
    expectErrorShape(absent.body, 'not_found');
    const missingTo = await call(url, 'POST', '/api/kv/counter/cas', { from: 2 });
    expect(missingTo.status).toBe(400);
    expect(missingTo.body.field).toBe('to');
  });

  it('takes the key as the decoded rest of the path, slashes included', async () => {
    const key = 'a/b c/é/cas-not';
    expect((await call(url, 'PUT', `/api/kv/${key.split('/').map(encodeURIComponent).join('/')}`, { value: 'slashy' })).status).toBe(200);
    const get = await call(url, 'GET', `/api/kv/${encodeURIComponent(key)}`);
    expect(get.body).toMatchObject({ key, value: 'slashy' });
    // PUT to a path ending in /cas is a key ending in /cas; only POST means compare-and-set.
    expect((await call(url, 'PUT', '/api/kv/x/cas', { value: 1 })).status).toBe(200);
    expect((await call(url, 'GET', '/api/kv/x%2Fcas')).body.key).toBe('x/cas');
  });

  it('refuses bad keys with 400 naming key', async () => {
    for (const path of ['/api/kv/%E0%A4%A', '/api/kv/%ZZ', '/api/kv/', '/api/kv/a%00b', '/api/kv/tab%09key', '/api/kv/%7F']) {
      const res = await raw(url, 'GET', path);
      expect(res.status, path).toBe(400);
      expect(expectErrorShape(res.json, 'bad_request').field, path).toBe('key');
    }
  });

  it('accepts a key of exactly MAX_KEY_BYTES bytes of UTF-8 and refuses one more', async () => {
    const fits = 'é'.repeat(MAX_KEY_BYTES / 2); // 2 bytes each
    expect(Buffer.byteLength(fits)).toBe(MAX_KEY_BYTES);
    expect((await call(url, 'PUT', `/api/kv/${encodeURIComponent(fits)}`, { value: 1 })).status).toBe(200);
    const tooLong = `${fits}x`;
    const res = await call(url, 'PUT', `/api/kv/${encodeURIComponent(tooLong)}`, { value: 1 });
    expect(res.status).toBe(400);
    expect(res.body.field).toBe('key');
    expect(res.body.message).toContain('key');
  });

  it('accepts a value of exactly MAX_VALUE_BYTES as JSON and refuses one byte more (413 naming value)', async () => {
    const fits = 'v'.repeat(MAX_VALUE_BYTES - 2); // JSON adds the two quotes
    expect((await call(url, 'PUT', '/api/kv/big', { value: fits })).status).toBe(200);
    const res = await call(url, 'PUT', '/api/kv/big', { value: `${fits}v` });
    expect(res.status).toBe(413);
    expect(expectErrorShape(res.body, 'payload_too_large').field).toBe('value');
    const cas = await call(url, 'POST', '/api/kv/big/cas', { from: fits, to: `${fits}v` });
    expect(cas.status).toBe(413);
    expect(cas.body.field).toBe('to');
  });

  it('refuses a body over MAX_BODY_BYTES with 413, by Content-Length and while streaming', async () => {
    const body = JSON.stringify({ value: 'x'.repeat(MAX_BODY_BYTES) });
    const declared = await raw(url, 'PUT', '/api/kv/huge', { 'Content-Type': 'application/json' }, body);
    expect(declared.status).toBe(413);
    expectErrorShape(declared.json, 'payload_too_large');
    // Chunked (no Content-Length): counted while streaming; the server answers 413 and closes.
    const streamed = await fetch(`${url}/api/kv/huge`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: new Blob([body]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expectErrorShape(await streamed.json(), 'payload_too_large');
    // A body of exactly the limit is read (and then judged on its own merits).
    const exact = `{"value":"${'y'.repeat(MAX_BODY_BYTES - 12)}"}`;
    expect(Buffer.byteLength(exact)).toBe(MAX_BODY_BYTES);
    expect((await raw(url, 'PUT', '/api/kv/exact', { 'Content-Type': 'application/json' }, exact)).status).toBe(413); // value > 64 KiB
    expect((await raw(url, 'PUT', '/api/kv/exact', { 'Content-Type': 'application/json' }, exact)).json).toMatchObject({ field: 'value' });
  });

  it('answers 415 for a body that is not application/json, and accepts a charset', async () => {
    const text = await raw(url, 'PUT', '/api/kv/ct', { 'Content-Type': 'text/plain' }, '{"value":1}');
    expect(text.status).toBe(415);
    expectErrorShape(text.json, 'unsupported_media_type');
    const none = await raw(url, 'PUT', '/api/kv/ct', {}, '{"value":1}');
    expect(none.status).toBe(415);
    const charset = await raw(url, 'PUT', '/api/kv/ct', { 'Content-Type': 'application/json; charset=UTF-8' }, '{"value":1}');
    expect(charset.status).toBe(200);
    const latin1 = await raw(url, 'PUT', '/api/kv/ct', { 'Content-Type': 'application/json; charset=latin1' }, '{"value":1}');
    expect(latin1.status).toBe(415);
  });

  it('answers 400 for invalid JSON, a non-object body, a missing body or a missing value', async () => {
    for (const body of ['{"value":', '[1,2]', '"text"', 'null']) {
      const res = await raw(url, 'PUT', '/api/kv/j', { 'Content-Type': 'application/json' }, body);
      expect(res.status, body).toBe(400);
      expect(expectErrorShape(res.json, 'bad_request').field).toBe('body');
    }
    const empty = await raw(url, 'PUT', '/api/kv/j', { 'Content-Type': 'application/json' });
    expect(empty.status).toBe(400);
    const noValue = await call(url, 'PUT', '/api/kv/j', { other: 1 });
    expect(noValue.status).toBe(400);
    expect(noValue.body.field).toBe('value');
  });

  it('passes the Idempotency-Key to the command, and validates it', async () => {
    const key = 'retry-123';
    const first = await call(url, 'PUT', '/api/kv/idem', { value: 1 }, { 'idempotency-key': key });
    const second = await call(url, 'PUT', '/api/kv/idem', { value: 1 }, { 'idempotency-key': key });
    expect(second.body.index).toBe(first.body.index);
    expect(node.proposed.at(-1)).toMatchObject({ op: 'put', key: 'idem', idempotencyKey: key });
    await call(url, 'DELETE', '/api/kv/idem', undefined, { 'idempotency-key': 'del-1' });
    expect(node.proposed.at(-1)).toMatchObject({ op: 'delete', idempotencyKey: 'del-1' });
    await call(url, 'PUT', '/api/kv/no-idem', { value: 1 });
    expect(node.proposed.at(-1)).not.toHaveProperty('idempotencyKey');
    const long = await call(url, 'PUT', '/api/kv/idem', { value: 1 }, { 'idempotency-key': 'k'.repeat(257) });
    expect(long.status).toBe(400);
    expect(long.body.field).toBe('Idempotency-Key');
    expect((await call(url, 'PUT', '/api/kv/idem', { value: 1 }, { 'idempotency-key': 'k'.repeat(256) })).status).toBe(200);
  });

  it('maps every NodeError to its SPEC code', async () => {
    const cases: Array<[NodeError, number, string]> = [
      [new NodeError('no_leader', 'electing'), 503, 'no_leader'],
      [new NodeError('unavailable', 'shut down'), 503, 'unavailable'],
      [new NodeError('timeout', 'slow'), 504, 'timeout'],
      [new NodeError('too_many_requests', 'busy'), 429, 'too_many_requests'],
    ];
    for (const [error, status, code] of cases) {
      node.proposeError = error;
      const res = await call(url, 'PUT', '/api/kv/e', { value: 1 });
      expect(res.status, code).toBe(status);
      expectErrorShape(res.body, code);
      if (code === 'no_leader' || code === 'too_many_requests') expect(res.headers.get('retry-after')).toBe('1');
      expect(res.headers.has('x-raft-leader')).toBe(true);
    }
    node.proposeError = null;
  });

  it('answers 500 internal for an unexpected failure, logs it, and keeps serving', async () => {
    node.proposeError = new Error('disk on fire');
    const res = await call(url, 'PUT', '/api/kv/e', { value: 1 });
    node.proposeError = null;
    expect(res.status).toBe(500);
    expect(expectErrorShape(res.body, 'internal').message).toContain('disk on fire');
    expect(server.logs.some((l) => l.level === 'error' && l.msg.includes('disk on fire'))).toBe(true);
    expect((await call(url, 'GET', '/healthz')).status).toBe(200);
  });

  it('maps read-barrier failures too', async () => {
    node.readError = new NodeError('timeout', 'read index not confirmed');
    const res = await call(url, 'GET', '/api/kv/greeting');
    node.readError = null;
    expect(res.status).toBe(504);
    expectErrorShape(res.body, 'timeout');
  });

  it('answers 400 naming the method for a wrong method on a KV path', async () => {
    const res = await call(url, 'PATCH', '/api/kv/greeting', { value: 1 });
    expect(res.status).toBe(400);
    expect(res.body.field).toBe('method');
    expect(res.headers.get('allow')).toContain('PUT');
    const post = await call(url, 'POST', '/api/kv/greeting', { value: 1 });
    expect(post.status).toBe(400);
  });

  it('logs 4xx answers at info, one line each', async () => {
    const before = server.logs.length;
    await call(url, 'GET', '/api/kv/never-there');
    const lines = server.logs.slice(before);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'info' });
    expect(lines[0]?.msg).toMatch(/GET \/api\/kv\/never-there -> 404 not_found/);
  });
});
