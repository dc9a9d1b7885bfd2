/* eslint-disable max-lines-per-function -- a describe block groups many short tests around one server */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAdminAllowed, isLoopback } from '../../src/api/admin.js';
import { FakeNode } from './fake-node.js';
import { call, expectErrorShape, raw, startApi, type Started } from './helpers.js';

const VOTERS = ['Node1', 'Node2', 'Node3'];

describe('admin auth (SPEC §7)', () => {
  it('recognizes loopback addresses only', () => {
    for (const address of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', '::FFFF:127.9.9.9']) expect(isLoopback(address), address).toBe(true);
    for (const address of ['10.0.0.1', '192.168.1.1', '::ffff:10.0.0.1', '128.0.0.1', '::2', 'fe80::1', '', undefined, '127.0.0.1.evil', '1127.0.0.1']) {
      expect(isLoopback(address), String(address)).toBe(false);
    }
  });

  it('allows a remote caller only with the right bearer token, when one is set', () => {
    const remote = '10.1.2.3';
    expect(isAdminAllowed(remote, undefined, undefined)).toBe(false);
    expect(isAdminAllowed(remote, 'Bearer s3cret', undefined)).toBe(false);
    expect(isAdminAllowed(remote, undefined, 's3cret')).toBe(false);
    expect(isAdminAllowed(remote, 'Bearer s3cret', 's3cret')).toBe(true);
    expect(isAdminAllowed(remote, 'bearer s3cret', 's3cret')).toBe(true);
    expect(isAdminAllowed(remote, 'Bearer s3cre', 's3cret')).toBe(false);
    expect(isAdminAllowed(remote, 'Bearer s3cretX', 's3cret')).toBe(false);
    expect(isAdminAllowed(remote, 'Basic s3cret', 's3cret')).toBe(false);
    expect(isAdminAllowed(remote, 's3cret', 's3cret')).toBe(false);
    expect(isAdminAllowed(remote, 'Bearer ', 's3cret')).toBe(false);
    expect(isAdminAllowed('127.0.0.1', undefined, 's3cret')).toBe(true);
  });
});

describe('POST /api/admin/<action> (SPEC §3)', () => {
  const node = new FakeNode('Node1', VOTERS).lead();
  const other = new FakeNode('Node2', VOTERS).follow('Node1');
  let api: Started;
  let otherApi: Started;
  let recorder: Server;
  let recorded: IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    api = await startApi(node);
    otherApi = await startApi(other);
    node.peerUrls.Node2 = otherApi.url;
    recorder = createServer((req, res) => {
      recorded.push(req.headers);
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ ok: true, node: 'Node3', action: 'recorded' }));
      });
    });
    await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve));
    node.peerUrls.Node3 = `http://127.0.0.1:${(recorder.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await api.close();
    await otherApi.close();
    await new Promise((resolve) => recorder.close(resolve));
  });

  it('runs each action from loopback and answers {ok, node, action}', async () => {
    const expected: Record<string, string> = { timeout: 'campaign', 'step-down': 'becomeFollower', shutdown: 'shutdown', resume: 'resume' };
    for (const [action, call_] of Object.entries(expected)) {
      // No body, but the JSON type an admin POST always needs (an empty body counts as {}).
      const res = await call(api.url, 'POST', `/api/admin/${action}`, undefined, { 'content-type': 'application/json' });
      expect(res.status, action).toBe(200);
      expect(res.body).toEqual({ ok: true, node: 'Node1', action });
      expect(node.calls.at(-1)).toBe(call_);
    }
    node.lead();
    const transfer = await call(api.url, 'POST', '/api/admin/transfer-leadership', { to: 'Node2' });
    expect(transfer.status).toBe(200);
    expect(node.calls.at(-1)).toBe('transfer Node2');
    const best = await call(api.url, 'POST', '/api/admin/transfer-leadership', {});
    expect(best.status).toBe(200);
    expect(node.calls.at(-1)).toBe('transfer (best)');
  });

  it('validates the action, `to`, `node` and the body', async () => {
    const unknown = await call(api.url, 'POST', '/api/admin/reboot');
    expect(unknown.status).toBe(404);
    expectErrorShape(unknown.body, 'not_found');
    const badTo = await call(api.url, 'POST', '/api/admin/transfer-leadership', { to: 'Node9' });
    expect(badTo.status).toBe(400);
    expect(badTo.body.field).toBe('to');
    const badNode = await call(api.url, 'POST', '/api/admin/timeout', { node: 42 });
    expect(badNode.status).toBe(400);
    expect(badNode.body.field).toBe('node');
    const text = await raw(api.url, 'POST', '/api/admin/timeout', { 'Content-Type': 'text/plain' }, 'hi');
    expect(text.status).toBe(415);
    // A bodyless POST without the JSON type is what a cross-site form sends: refused.
    const bodyless = await call(api.url, 'POST', '/api/admin/step-down');
    expect(bodyless.status).toBe(415);
    expectErrorShape(bodyless.body, 'unsupported_media_type');
    const broken = await raw(api.url, 'POST', '/api/admin/timeout', { 'Content-Type': 'application/json' }, '{');
    expect(broken.status).toBe(400);
    const get = await call(api.url, 'GET', '/api/admin/timeout');
    expect(get.status).toBe(400);
    expect(get.body.field).toBe('method');
  });

  it('acts locally when `node` names this node, and forwards to the node it names otherwise', async () => {
    const self = await call(api.url, 'POST', '/api/admin/timeout', { node: 'Node1' });
    expect(self.body.node).toBe('Node1');
    const remote = await call(api.url, 'POST', '/api/admin/shutdown', { node: 'Node2' });
    expect(remote.status).toBe(200);
    expect(remote.body).toEqual({ ok: true, node: 'Node2', action: 'shutdown' });
    expect(other.calls.at(-1)).toBe('shutdown');
    expect(other.isShutdown()).toBe(true);
    const resumed = await call(api.url, 'POST', '/api/admin/resume', { node: 'Node2' });
    expect(resumed.body.node).toBe('Node2');
    expect(other.isShutdown()).toBe(false);
  });

  it('forwards the caller Authorization and X-Raft-Forwarded to the named node', async () => {
    recorded = [];
    const res = await call(api.url, 'POST', '/api/admin/step-down', { node: 'Node3' }, { authorization: 'Bearer tok' });
    expect(res.status).toBe(200);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ authorization: 'Bearer tok', 'x-raft-forwarded': '1' });
  });

  it('answers 503 unavailable when the named node cannot be reached', async () => {
    const noUrl = new FakeNode('Node1', [...VOTERS, 'Node4']).lead();
    const lonely = await startApi(noUrl);
    try {
      const res = await call(lonely.url, 'POST', '/api/admin/timeout', { node: 'Node4' });
      expect(res.status).toBe(503);
      expectErrorShape(res.body, 'unavailable');
    } finally {
      await lonely.close();
    }
  });

  it('maps runtime errors: transfer on a shut-down node is unavailable', async () => {
    node.shut = true;
    const res = await call(api.url, 'POST', '/api/admin/transfer-leadership', {});
    node.shut = false;
    expect(res.status).toBe(503);
    expectErrorShape(res.body, 'unavailable');
  });

  it('stays same-origin: refuses other origins, even a member, and grants no preflight', async () => {
    const before = node.calls.length;
    const evil = await call(api.url, 'POST', '/api/admin/step-down', {}, { origin: 'http://evil.example' });
    expect(evil.status).toBe(403);
    expectErrorShape(evil.body, 'forbidden');
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    const member = await call(api.url, 'POST', '/api/admin/step-down', {}, { origin: otherApi.url });
    expect(member.status).toBe(403);
    expect(node.calls.length).toBe(before);
    const own = await call(api.url, 'POST', '/api/admin/timeout', {}, { origin: api.url });
    expect(own.status).toBe(200);
    const preflight = await raw(api.url, 'OPTIONS', '/api/admin/timeout', { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' });
    expect(preflight.status).toBe(403);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    const ownPreflight = await raw(api.url, 'OPTIONS', '/api/admin/timeout', { Origin: api.url, 'Access-Control-Request-Method': 'POST' });
    expect(ownPreflight.status).toBe(204);
    expect(ownPreflight.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('refuses a rebound Host (DNS rebinding) on every route, and serves its own names', async () => {
    const port = new URL(api.url).port;
    for (const path of ['/api/status', '/', '/api/quotes']) {
      const res = await raw(api.url, 'GET', path, { Host: `evil.example:${port}` });
      expect(res.status, path).toBe(403);
      expectErrorShape(res.json, 'forbidden');
    }
    const admin = await raw(api.url, 'POST', '/api/admin/step-down', { Host: 'evil.example', 'Content-Type': 'application/json' }, '{}');
    expect(admin.status).toBe(403);
    expect((await raw(api.url, 'GET', '/api/status', { Host: `127.0.0.1:${Number(port) + 1}` })).status).toBe(403);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`]) {
      expect((await raw(api.url, 'GET', '/api/status', { Host: host })).status, host).toBe(200);
    }
    // A member's name is one of the cluster's too.
    expect((await raw(api.url, 'GET', '/api/status', { Host: new URL(otherApi.url).host })).status).toBe(200);
  });
});
