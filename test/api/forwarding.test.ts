/* eslint-disable max-lines-per-function -- a describe block groups many short tests around one server */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeError } from '../../src/node/types.js';
import { FakeNode } from './fake-node.js';
import { call, expectErrorShape, startApi, type Started } from './helpers.js';

const VOTERS = ['Node1', 'Node2', 'Node3'];

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('forwarding to the leader (SPEC §3)', () => {
  const leader = new FakeNode('Node1', VOTERS).lead();
  const follower = new FakeNode('Node2', VOTERS).follow('Node1');
  let leaderApi: Started;
  let followerApi: Started;

  beforeAll(async () => {
    leaderApi = await startApi(leader);
    // Short enough for the 504 test to be quick, long enough that 50 forwards at once still
    // answer in time on a loaded 2-core machine (at 300 ms they sometimes did not).
    followerApi = await startApi(follower, { tuning: { forwardTimeoutMs: 2_000 } });
    follower.peerUrls.Node1 = leaderApi.url;
    leader.peerUrls.Node2 = followerApi.url;
  });
  afterAll(async () => {
    await followerApi.close();
    await leaderApi.close();
  });

  it('forwards a write from a follower and relays status, body and X-Raft-* headers', async () => {
    const put = await call(followerApi.url, 'PUT', '/api/kv/fwd', { value: [1, 2] }, { 'idempotency-key': 'fwd-key-1' });
    expect(put.status).toBe(200);
    expect(put.headers.get('x-raft-leader')).toBe('Node1');
    expect(put.headers.get('x-raft-index')).toBe(String(put.body.index));
    expect(leader.proposed.at(-1)).toEqual({ op: 'put', key: 'fwd', value: [1, 2], idempotencyKey: 'fwd-key-1' });
    expect(leader.stateMachine.get('fwd')?.value).toEqual([1, 2]);
  });

  it('forwards quotes, deletes and cas, errors included', async () => {
    const quote = await call(followerApi.url, 'POST', '/api/quotes', { text: 'Onward.', author: 'Fwd' }, { 'idempotency-key': 'fq' });
    expect(quote.status).toBe(201);
    expect(quote.body.quote).toMatchObject({ text: 'Onward.', author: 'Fwd' });
    expect(leader.proposed.at(-1)).toMatchObject({ op: 'quote', idempotencyKey: 'fq' });
    const cas = await call(followerApi.url, 'POST', '/api/kv/fwd/cas', { from: 'nope', to: 1 });
    expect(cas.status).toBe(409);
    expect(cas.body).toMatchObject({ error: 'precondition_failed', current: [1, 2] });
    expect(cas.headers.get('x-raft-leader')).toBe('Node1');
    const del = await call(followerApi.url, 'DELETE', '/api/kv/fwd');
    expect(del.status).toBe(200);
    const again = await call(followerApi.url, 'DELETE', '/api/kv/fwd');
    expect(again.status).toBe(404);
    expectErrorShape(again.body, 'not_found');
  });

  it('keeps a path with encoded characters and a query intact', async () => {
    const key = 'sp ace/ünï';
    const put = await call(followerApi.url, 'PUT', `/api/kv/${encodeURIComponent(key)}`, { value: 'v' });
    expect(put.status).toBe(200);
    expect(leader.stateMachine.get(key)?.value).toBe('v');
  });

  it('serves a linearizable read on the follower itself (ReadIndex), without forwarding', async () => {
    const leaderBarriers = leader.readBarriers;
    const followerBarriers = follower.readBarriers;
    const get = await call(followerApi.url, 'GET', '/api/kv/anything');
    expect(get.status).toBe(404);
    expect(follower.readBarriers).toBe(followerBarriers + 1);
    expect(leader.readBarriers).toBe(leaderBarriers);
  });

  it('forwards a read whose barrier says not_leader', async () => {
    await call(leaderApi.url, 'PUT', '/api/kv/read-me', { value: 'from leader' });
    follower.readError = new NodeError('not_leader', 'ask the leader', 'Node1');
    const get = await call(followerApi.url, 'GET', '/api/kv/read-me');
    follower.readError = null;
    expect(get.status).toBe(200);
    expect(get.body.value).toBe('from leader');
  });

  it('never forwards a forwarded request twice (loop prevention): 503 no_leader with Retry-After', async () => {
    const before = leader.proposed.length;
    const res = await call(followerApi.url, 'PUT', '/api/kv/loop', { value: 1 }, { 'x-raft-forwarded': '1' });
    expect(res.status).toBe(503);
    expectErrorShape(res.body, 'no_leader');
    expect(res.headers.get('retry-after')).toBe('1');
    expect(leader.proposed.length).toBe(before);
  });

  it('stops after one hop when two nodes each think the other leads', async () => {
    leader.follow('Node2');
    try {
      const res = await call(followerApi.url, 'PUT', '/api/kv/ping-pong', { value: 1 });
      expect(res.status).toBe(503);
      expectErrorShape(res.body, 'no_leader');
      expect(res.headers.get('retry-after')).toBe('1');
    } finally {
      leader.lead();
    }
  });

  it('answers 503 no_leader with Retry-After when no leader, or no address for it, is known', async () => {
    for (const leaderId of [null, 'Node3']) {
      follower.follow(leaderId);
      const res = await call(followerApi.url, 'POST', '/api/quotes', { text: 'x' });
      expect(res.status, String(leaderId)).toBe(503);
      expectErrorShape(res.body, 'no_leader');
      expect(res.headers.get('retry-after')).toBe('1');
    }
    follower.follow('Node1');
  });

  it('answers 503 no_leader when the leader refuses the connection (the write was not applied)', async () => {
    follower.peerUrls.Node3 = `http://127.0.0.1:${await closedPort()}`;
    follower.follow('Node3');
    const res = await call(followerApi.url, 'PUT', '/api/kv/refused', { value: 1 });
    follower.follow('Node1');
    expect(res.status).toBe(503);
    expectErrorShape(res.body, 'no_leader');
    expect(res.headers.get('retry-after')).toBe('1');
  });

  it('answers 504 timeout when the leader does not answer in time (outcome unknown)', async () => {
    leader.hangProposals = true;
    const res = await call(followerApi.url, 'PUT', '/api/kv/slow', { value: 1 });
    leader.hangProposals = false;
    expect(res.status).toBe(504);
    expect(expectErrorShape(res.body, 'timeout').message).toMatch(/outcome is unknown/);
    // The connection pool is still usable afterwards.
    expect((await call(followerApi.url, 'PUT', '/api/kv/after-slow', { value: 1 })).status).toBe(200);
  });

  it('reuses keep-alive connections for many forwards', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => call(followerApi.url, 'PUT', `/api/kv/many-${i}`, { value: i })));
    expect(results.every((r) => r.status === 200)).toBe(true);
    for (let i = 0; i < 50; i++) expect(leader.stateMachine.get(`many-${i}`)?.value).toBe(i);
  });

  it('forwards an admin transfer-leadership from a follower to the leader', async () => {
    const res = await call(followerApi.url, 'POST', '/api/admin/transfer-leadership', { to: 'Node3' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true, node: 'Node1', action: 'transfer-leadership' });
    expect(leader.calls.at(-1)).toBe('transfer Node3');
  });
});
