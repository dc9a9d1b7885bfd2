import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_STATUS } from '../../src/api/errors.js';
import { FakeNode } from './fake-node.js';
import { call, raw, startApi, type Started } from './helpers.js';

/** Codes a client may see; `internal` (500) would mean a bug, so it is not allowed here. */
const SPEC_CODES = new Set(Object.keys(ERROR_STATUS).filter((code) => code !== 'internal'));
const STATUSES = new Set([200, 201, 204, 400, 403, 404, 409, 413, 415, 429, 503, 504]);

const PREFIXES = ['/', '/api/kv/', '/api/kv/k/cas', '/api/quotes', '/api/admin/', '/api/admin/timeout', '/api/admin/transfer-leadership', '/static/', '/api/status', '/api/cluster', '/metrics', '/healthz', '/readyz', '/dashboard', '/api/live', '/zz'];
const PATH_CHARS = fc.constantFrom(...'abcXYZ019-_.~/?&=%+:;,@!$\'()*[]'.split(''), '%2e', '%2F', '%00', '%ZZ', '%E2%82%AC', '%FF', '..', 'cas', 'logTail=5', 'after=-1', 'limit=9999', 'consistency=stale');
const CONTENT_TYPES = fc.oneof(
  { arbitrary: fc.constant('application/json'), weight: 4 },
  { arbitrary: fc.constantFrom(undefined, 'application/json; charset=utf-8', 'text/plain', 'application/jsonx', 'multipart/form-data; boundary=x', ''), weight: 1 },
);

const jsonBody = fc.oneof(
  fc.record({ value: fc.jsonValue() }, { requiredKeys: [] }),
  fc.record({ text: fc.oneof(fc.string({ maxLength: 1_200 }), fc.integer()), author: fc.oneof(fc.string({ maxLength: 120 }), fc.constant(null)) }, { requiredKeys: [] }),
  fc.record({ from: fc.jsonValue(), to: fc.jsonValue() }, { requiredKeys: [] }),
  fc.record({ node: fc.constantFrom('Node1', 'Node2', 'NodeX', 7), to: fc.constantFrom('Node1', 'Node2', 'NodeX', null) }, { requiredKeys: [] }),
  fc.jsonValue(),
).map((value) => JSON.stringify(value));
const body = fc.oneof(
  { arbitrary: jsonBody, weight: 4 },
  { arbitrary: fc.constantFrom(undefined, '{"value":', '\u0000\u00ff'), weight: 1 },
  { arbitrary: fc.string({ maxLength: 200 }), weight: 1 },
);
const path = fc.oneof(
  { arbitrary: fc.constantFrom(...PREFIXES), weight: 2 },
  { arbitrary: fc.string({ unit: fc.constantFrom(...'abc019'.split('')), minLength: 1, maxLength: 8 }).map((key) => `/api/kv/${key}`), weight: 2 },
  { arbitrary: fc.tuple(fc.constantFrom(...PREFIXES), fc.array(PATH_CHARS, { maxLength: 12 })).map(([prefix, parts]) => prefix + parts.join('')), weight: 3 },
);

const request = fc.record({
  method: fc.oneof({ arbitrary: fc.constantFrom('GET', 'POST', 'PUT'), weight: 3 }, { arbitrary: fc.constantFrom('HEAD', 'DELETE', 'OPTIONS', 'PATCH', 'PROPFIND'), weight: 1 }),
  path,
  contentType: CONTENT_TYPES,
  idempotencyKey: fc.option(fc.string({ unit: fc.constantFrom(...'ab-_ 9~'.split('')), maxLength: 300 }), { nil: undefined }),
  forwarded: fc.boolean(),
  authorization: fc.option(fc.constantFrom('Bearer x', 'Basic y', 'Bearer'), { nil: undefined }),
  body,
});

describe('fuzz: random requests never crash the API', () => {
  const node = new FakeNode('Node1', ['Node1', 'Node2']).lead();
  let api: Started;

  beforeAll(async () => {
    api = await startApi(node, { tuning: { forwardTimeoutMs: 200, peerStatusTimeoutMs: 100 }, rateLimit: { perSecond: 1_000, burst: 1_000 } });
  });
  afterAll(() => api.close());

  it('always answers a valid status, and errors in the SPEC §3 JSON shape', async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        node.lead();
        node.shut = false;
        const headers: Record<string, string> = {};
        if (r.contentType !== undefined) headers['Content-Type'] = r.contentType;
        if (r.idempotencyKey !== undefined && r.idempotencyKey.trim() === r.idempotencyKey) headers['Idempotency-Key'] = r.idempotencyKey;
        if (r.forwarded) headers['X-Raft-Forwarded'] = '1';
        if (r.authorization !== undefined) headers.Authorization = r.authorization;
        const res = await raw(api.url, r.method, r.path, headers, r.method === 'GET' || r.method === 'HEAD' ? undefined : r.body);
        expect(STATUSES.has(res.status), `${r.method} ${r.path} -> ${res.status} ${res.text.slice(0, 200)}`).toBe(true);
        if (res.status >= 400 && r.method !== 'HEAD') {
          const error = res.json as { error?: unknown; message?: unknown };
          expect(typeof error?.message, `${r.method} ${r.path}: ${res.text.slice(0, 200)}`).toBe('string');
          expect(SPEC_CODES.has(error.error as string), `${r.method} ${r.path}: ${res.text.slice(0, 200)}`).toBe(true);
          expect(ERROR_STATUS[error.error as keyof typeof ERROR_STATUS]).toBe(res.status);
          expect(res.headers['content-type']).toContain('application/json');
        }
      }),
      { numRuns: 600 },
    );
    node.lead();
    expect((await call(api.url, 'GET', '/healthz')).status).toBe(200);
    expect(api.logs.filter((line) => line.level === 'error')).toEqual([]);
  });
});
