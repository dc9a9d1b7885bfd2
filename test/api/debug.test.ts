import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postClock, postLink } from '../../src/api/routes-debug.js';
import type { ApiContext, ApiRequest } from '../../src/api/context.js';
import { MAX_CLOCK_TICKS } from '../../src/node/controllable-clock.js';
import { createDebugControls, type DebugControls } from '../../src/node/debug-controls.js';
import { MAX_EVENTS_PAGE } from '../../src/node/event-ring.js';
import type { Message, NodeId } from '@raftquotes/raft';
import { MAX_LINK_STEP, type ControlledTransport } from '../../src/transport/link-control.js';
import type { Transport } from '../../src/transport/types.js';
import { FakeNode } from './fake-node.js';
import { call, expectErrorShape, raw, startApi, type Started } from './helpers.js';

const VOTERS = ['Node1', 'Node2', 'Node3'];

/** The wire below the link control: what reached it, in order. */
function wire(): Transport & { sent: Message[] } {
  const sent: Message[] = [];
  return {
    sent,
    start: () => Promise.resolve(),
    send: (_to: NodeId, m: Message) => void sent.push(m),
    onMessage: () => undefined,
    onPeerDown: () => undefined,
    stats: () => [],
    peerHttpUrl: () => null,
    close: () => Promise.resolve(),
  };
}

function heartbeat(to: NodeId, commit: number): Message {
  return { type: 'Heartbeat', from: 'Node1', to, term: 3, commit, readRound: 0 };
}

describe('SPEC §11 debug routes: /api/admin/link, /api/admin/clock, /api/events', () => {
  const node = new FakeNode('Node1', VOTERS).lead();
  const other = new FakeNode('Node2', VOTERS).follow('Node1');
  const below = wire();
  let controls: DebugControls;
  let transport: ControlledTransport;
  let otherControls: DebugControls;
  let api: Started;
  let otherApi: Started;

  beforeAll(async () => {
    ({ controls, transport } = createDebugControls(below));
    otherControls = createDebugControls(wire()).controls;
    api = await startApi(node, { debug: controls });
    otherApi = await startApi(other, { debug: otherControls });
    node.peerUrls.Node2 = otherApi.url;
    other.peerUrls.Node1 = api.url;
  });
  afterAll(async () => {
    await api.close();
    await otherApi.close();
  });

  it('holds, lists in /api/status, steps and drops outgoing messages', async () => {
    expect((await call(api.url, 'POST', '/api/admin/link', { to: 'Node2', mode: 'hold' })).status).toBe(200);
    for (let i = 1; i <= 4; i++) transport.send('Node2', heartbeat('Node2', i));
    transport.send('Node3', heartbeat('Node3', 9));
    expect(below.sent.map((m) => m.to)).toEqual(['Node3']);
    const status = await call(api.url, 'GET', '/api/status');
    expect(status.body.held.Node2.map((h: { type: string; term: number; index: number; entries: number }) => [h.type, h.term, h.index, h.entries])).toEqual([
      ['Heartbeat', 3, 1, 0],
      ['Heartbeat', 3, 2, 0],
      ['Heartbeat', 3, 3, 0],
      ['Heartbeat', 3, 4, 0],
    ]);
    expect(status.body.heldCount).toEqual({ Node2: 4 });
    expect(status.body.links).toEqual({ default: 'open', peers: { Node2: 'hold' } });
    const step = await call(api.url, 'POST', '/api/admin/link', { to: 'Node2', step: 1 });
    expect(step.body).toMatchObject({ ok: true, released: 1 });
    expect(below.sent.map((m) => m.type === 'Heartbeat' && m.commit)).toEqual([9, 1]);
    expect((await call(api.url, 'POST', '/api/admin/link', { to: 'Node2', drop: 2 })).body).toMatchObject({ dropped: 2 });
    expect((await call(api.url, 'POST', '/api/admin/link', { to: '*', mode: 'open' })).status).toBe(200);
    expect(below.sent.map((m) => m.type === 'Heartbeat' && m.commit)).toEqual([9, 1, 4]);
    expect((await call(api.url, 'GET', '/api/status')).body.held).toEqual({});
  });

  it('serves the events of those messages, oldest first, paged after a seq', async () => {
    const all = await call(api.url, 'GET', '/api/events');
    expect(all.status).toBe(200);
    const events = all.body.events as Array<{ seq: number; at: number; type: string; msg?: string; index?: number }>;
    expect(events.map((e) => e.type)).toEqual(['control', 'hold', 'hold', 'hold', 'hold', 'send', 'release', 'drop', 'drop', 'control', 'release']);
    expect(events.map((e) => e.seq)).toEqual(events.map((_e, i) => i + 1));
    expect(events.every((e) => typeof e.at === 'number')).toBe(true);
    const page = await call(api.url, 'GET', '/api/events?after=5&limit=2');
    expect(page.body.events.map((e: { seq: number }) => e.seq)).toEqual([6, 7]);
    expect(page.body).toMatchObject({ node: 'Node1', firstSeq: 1, lastSeq: 11 });
    // Through another node: ?node= forwards.
    const viaOther = await call(otherApi.url, 'GET', '/api/events?node=Node1&after=10');
    expect(viaOther.body.events.map((e: { seq: number }) => e.seq)).toEqual([11]);
  });

  it('validates the events query', async () => {
    for (const [query, field] of [['after=-1', 'after'], ['after=x', 'after'], ['limit=0', 'limit'], [`limit=${MAX_EVENTS_PAGE + 1}`, 'limit'], ['node=Node9', 'node']]) {
      const res = await call(api.url, 'GET', `/api/events?${query}`);
      expect(res.status, query).toBe(400);
      expect(expectErrorShape(res.body, 'bad_request').field, query).toBe(field);
    }
  });

  it('slows, freezes and steps the clock', async () => {
    expect((await call(api.url, 'POST', '/api/admin/clock', { rate: 0.1 })).body).toMatchObject({ ok: true, rate: 0.1 });
    const running = await call(api.url, 'POST', '/api/admin/clock', { tick: 1 });
    expect(running.status).toBe(409);
    expectErrorShape(running.body, 'precondition_failed');
    expect((await call(api.url, 'POST', '/api/admin/clock', { rate: 0 })).body).toMatchObject({ rate: 0 });
    expect((await call(api.url, 'POST', '/api/admin/clock', { tick: 5 })).body).toMatchObject({ rate: 0, steppedTicks: 5 });
    expect(controls.clock.steppedTicks).toBe(5);
    expect((await call(api.url, 'GET', '/api/status')).body.clock).toEqual({ rate: 0 });
    // Drive another node through this one.
    expect((await call(api.url, 'POST', '/api/admin/clock', { rate: 0.5, node: 'Node2' })).body).toMatchObject({ node: 'Node2', rate: 0.5 });
    expect(otherControls.clock.rate).toBe(0.5);
    expect((await call(api.url, 'POST', '/api/admin/clock', { rate: 1 })).status).toBe(200);
  });

  it('refuses every bad field with 400 naming it', async () => {
    const cases: Array<[string, unknown, string]> = [
      ['/api/admin/link', { mode: 'hold' }, 'to'],
      ['/api/admin/link', { to: 'Node1', mode: 'hold' }, 'to'],
      ['/api/admin/link', { to: 'Node9', mode: 'hold' }, 'to'],
      ['/api/admin/link', { to: 42, mode: 'hold' }, 'to'],
      ['/api/admin/link', { to: 'Node2' }, 'mode'],
      ['/api/admin/link', { to: 'Node2', mode: 'slow' }, 'mode'],
      ['/api/admin/link', { to: 'Node2', mode: 'hold', step: 1 }, 'step'],
      ['/api/admin/link', { to: 'Node2', step: 0 }, 'step'],
      ['/api/admin/link', { to: 'Node2', step: 1.5 }, 'step'],
      ['/api/admin/link', { to: 'Node2', step: MAX_LINK_STEP + 1 }, 'step'],
      ['/api/admin/link', { to: 'Node2', drop: '3' }, 'drop'],
      ['/api/admin/link', { to: 'Node2', mode: 'hold', extra: 1 }, 'extra'],
      ['/api/admin/link', { to: 'Node2', mode: 'hold', node: 'Node9' }, 'node'],
      ['/api/admin/clock', {}, 'rate'],
      ['/api/admin/clock', { rate: 2 }, 'rate'],
      ['/api/admin/clock', { rate: -1 }, 'rate'],
      ['/api/admin/clock', { rate: 0.001 }, 'rate'],
      ['/api/admin/clock', { rate: '1' }, 'rate'],
      ['/api/admin/clock', { rate: 1, tick: 1 }, 'tick'],
      ['/api/admin/clock', { tick: 0 }, 'tick'],
      ['/api/admin/clock', { tick: MAX_CLOCK_TICKS + 1 }, 'tick'],
      ['/api/admin/clock', { rate: 1, speed: 2 }, 'speed'],
    ];
    for (const [path, body, field] of cases) {
      const res = await call(api.url, 'POST', path, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(expectErrorShape(res.body, 'bad_request').field, JSON.stringify(body)).toBe(field);
    }
    expect(controls.link.modesView()).toEqual({ default: 'open', peers: {} });
    expect(controls.clock.rate).toBe(1);
  });

  it('needs a JSON content type, and is admin-only', async () => {
    const form = await raw(api.url, 'POST', '/api/admin/link', { 'Content-Type': 'application/x-www-form-urlencoded' }, 'to=Node2&mode=hold');
    expect(form.status).toBe(415);
    expect((await raw(api.url, 'GET', '/api/admin/clock')).status).toBe(400);
    const remote = { req: { socket: { remoteAddress: '10.0.0.7' }, headers: { 'content-type': 'application/json' } }, method: 'POST', path: '/api/admin/link', rawQuery: '', body: null, forwarded: false, proof: null, mayForward: true } as unknown as ApiRequest;
    const ctx = { node, adminToken: 'token-of-the-admin', debug: controls } as unknown as ApiContext;
    await expect(postLink(ctx, remote)).rejects.toMatchObject({ code: 'forbidden' });
    await expect(postClock(ctx, remote)).rejects.toMatchObject({ code: 'forbidden' });
  });

  it('answers 404 on a node without the controls', async () => {
    const bare = await startApi(new FakeNode('Node3', VOTERS));
    try {
      expectErrorShape((await call(bare.url, 'POST', '/api/admin/link', { to: 'Node1', mode: 'hold' })).body, 'not_found');
      expectErrorShape((await call(bare.url, 'GET', '/api/events')).body, 'not_found');
      expect((await call(bare.url, 'GET', '/api/status')).body.held).toBeUndefined();
    } finally {
      await bare.close();
    }
  });
});
