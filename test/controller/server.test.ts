import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControllerServer, type ControllerLogger } from '../../src/controller/server.js';
import { COURSE_BUFFER_BYTES, MAX_REPLY_BYTES, MAX_REQUEST_BYTES } from '../../src/controller/protocol.js';
import type { ReplyBudgetOptions } from '../../src/controller/reply-budget.js';
import { FakeRaftNode } from './fake-raft-node.js';
import { UdpProbe, type JsonReply } from './udp-probe.js';

/** Unit tests of the UDP listener against the FakeRaftNode test double (no Raft runs here). */

/** A logger that records warnings (pino's shape). */
function recordingLogger(): ControllerLogger & { warnings: string[]; errors: string[] } {
  const warnings: string[] = [];
  const errors: string[] = [];
  return { warnings, errors, debug() {}, info() {}, warn: (_o, msg) => void warnings.push(msg ?? ''), error: (_o, msg) => void errors.push(msg ?? '') };
}

describe('ControllerServer', () => {
  let node: FakeRaftNode;
  let server: ControllerServer;
  let probe: UdpProbe;
  let logger: ReturnType<typeof recordingLogger>;
  let port: number;

  async function startServer(allow?: string[], replyBudget?: ReplyBudgetOptions, quotaBytes?: number): Promise<void> {
    logger = recordingLogger();
    server = new ControllerServer({ node, host: '127.0.0.1', port: 0, allow, logger, storeAckTimeoutMs: 200, replyBudget, quotaBytes });
    await server.start();
    port = server.address().port;
  }

  const ask = async (message: unknown): Promise<JsonReply> => {
    await probe.send(port, message);
    return probe.json();
  };
  /** Sends and asserts that nothing comes back within `ms`. */
  const expectSilence = async (message: unknown, ms = 150): Promise<void> => {
    await probe.send(port, message);
    expect(await probe.drain(ms)).toEqual([]);
  };

  beforeEach(async () => {
    node = new FakeRaftNode('Node2', ['Node1', 'Node2', 'Node3']).follow('Node1', 4);
    await startServer();
    probe = await UdpProbe.open();
  });

  afterEach(async () => {
    probe.close();
    await server.close();
  });

  it('answers LEADER_INFO with the course fields, far below 1024 bytes', async () => {
    await probe.send(port, { sender_name: 'Controller', request: 'LEADER_INFO', term: null, key: null, value: null });
    const reply = await probe.courseJson();
    expect(reply).toEqual({ sender_name: 'Node2', request: 'LEADER_INFO', term: 4, key: 'LEADER', value: 'Node1' });
    node.follow(null);
    expect(await ask({ request: 'LEADER_INFO' })).toEqual({ sender_name: 'Node2', request: 'LEADER_INFO', term: 4, key: 'LEADER', value: null });
  });

  it('keeps LEADER_INFO and STORE acks under 1024 bytes even with 64-character node ids and a large value', async () => {
    const long = `N${'x'.repeat(63)}`;
    await server.close();
    node = new FakeRaftNode(long).lead(123_456_789);
    await startServer();
    await probe.send(port, { request: 'LEADER_INFO' });
    expect((await probe.courseJson()).value).toBe(long);
    await probe.send(port, { request: 'STORE', key: 'k', value: 'v'.repeat(5_000), ack: true });
    const ack = await probe.courseJson();
    expect(ack).toMatchObject({ request: 'STORE', key: 'k', value: null, value_omitted: true, index: 1 });
  });

  it('runs CONVERT_FOLLOWER, TIMEOUT, SHUTDOWN and their aliases without replying', async () => {
    for (const request of ['CONVERT_FOLLOWER', 'FOLLOW', 'TIMEOUT', 'TRYLEAD', 'SHUTDOWN', 'PLAYDEAD']) await expectSilence({ request });
    expect(node.calls).toEqual(['becomeFollower', 'becomeFollower', 'campaign', 'campaign', 'shutdown', 'shutdown']);
  });

  it('keeps listening while the node is shut down, and CONVERT_FOLLOWER revives it', async () => {
    node.lead(5);
    await expectSilence({ request: 'SHUTDOWN' });
    expect(await ask({ request: 'LEADER_INFO' })).toMatchObject({ value: null, term: 5 });
    expect(await ask({ request: 'STORE', key: 'k', value: 1 })).toMatchObject({ request: 'LEADER_INFO', value: null });
    expect(await ask({ request: 'STATUS' })).toMatchObject({ request: 'STATUS', key: 'STATUS', value: { state: 'shutdown' } });
    await expectSilence({ request: 'CONVERT_FOLLOWER' });
    expect(node.isShutdown()).toBe(false);
    expect((await ask({ request: 'STATUS' })).value.state).toBe('follower');
  });

  it('redirects STORE and RETRIEVE on a follower with the LEADER_INFO reply', async () => {
    const redirect = { sender_name: 'Node2', request: 'LEADER_INFO', term: 4, key: 'LEADER', value: 'Node1' };
    expect(await ask({ request: 'STORE', key: 'k', value: 'v' })).toEqual(redirect);
    expect(await ask({ request: 'RETRIEVE' })).toEqual(redirect);
    expect(node.calls).toEqual([]);
  });

  it('stores silently on the leader unless ack is asked, then acks once committed', async () => {
    node.lead(7);
    await expectSilence({ sender_name: 'Controller', request: 'STORE', term: null, key: 'k1', value: 'v1' });
    expect(node.calls).toEqual(['put k1']);
    expect(await ask({ request: 'STORE', key: 'k2', value: { nested: [1, 2] }, ack: true })).toEqual({
      sender_name: 'Node2',
      request: 'STORE',
      key: 'k2',
      value: { nested: [1, 2] },
      term: 7,
      index: 2,
    });
    expect(node.committed.map((e) => e.command)).toEqual([
      { op: 'put', key: 'k1', value: 'v1' },
      { op: 'put', key: 'k2', value: { nested: [1, 2] } },
    ]);
  });

  it('refuses a STORE past the state quota with quota_exceeded, even without ack, and proposes nothing', async () => {
    await server.close();
    await startServer(undefined, undefined, 1024 * 1024);
    node.lead(3);
    node.stateBytes = 1024 * 1024 - 50;
    expect(await ask({ request: 'STORE', key: 'big', value: 'x'.repeat(200) })).toMatchObject({ request: 'STORE', key: 'big', error: 'quota_exceeded', term: 3 });
    expect(node.calls).toEqual([]);
    node.stateBytes = 0;
    await expectSilence({ request: 'STORE', key: 'big', value: 'x'.repeat(200) });
    expect(node.calls).toEqual(['put big']);
  });

  it('answers a STORE ack with error timeout when the entry does not commit in time', async () => {
    node.lead(7).proposeBehaviour = 'timeout';
    expect(await ask({ request: 'STORE', key: 'k', value: 1, ack: true })).toEqual({ sender_name: 'Node2', request: 'STORE', error: 'timeout', key: 'k', value: 1, term: 7 });
  });

  it('answers a STORE ack with LEADER_INFO naming the new leader when leadership is lost', async () => {
    node.lead(7).proposeBehaviour = 'lose-leadership';
    expect(await ask({ request: 'STORE', key: 'k', value: 1, ack: true })).toMatchObject({ request: 'LEADER_INFO', value: 'Node9' });
  });

  it('lists committed client entries on RETRIEVE in the course shape', async () => {
    node.lead(3);
    node.commit({ op: 'put', key: 'a', value: 'x' }, 1);
    node.commit({ op: 'delete', key: 'a' }, 2);
    node.commit({ op: 'cas', key: 'b', from: 1, to: 2 }, 2);
    node.commit({ op: 'quote', text: 'Keep going.', author: 'Ann', postedAt: '2024-01-01T00:00:00Z' }, 3);
    expect(await ask({ sender_name: 'Controller', request: 'RETRIEVE', term: null, key: null, value: null })).toEqual({
      sender_name: 'Node2',
      request: 'RETRIEVE',
      term: null,
      key: 'COMMITED_LOGS',
      value: [
        { Term: 1, Key: 'a', Value: 'x' },
        { Term: 2, Key: 'a', Value: null },
        { Term: 2, Key: 'b', Value: 2 },
        { Term: 3, Key: 'quote', Value: { text: 'Keep going.', author: 'Ann' } },
      ],
    });
    expect((await ask({ request: 'RETRIEVE', value: { from: 3 } })).value).toHaveLength(2);
    // A stale STORE value riding along (a reused course message dict) does not matter.
    expect((await ask({ request: 'RETRIEVE', key: 'k', value: 'v' })).value).toHaveLength(4);
  });

  it('pages RETRIEVE: every reply <= 60,000 bytes, "next" until the end, nothing lost or repeated', async () => {
    node.lead(2);
    for (let i = 1; i <= 1500; i++) node.commit({ op: 'put', key: `key-${i}`, value: 'x'.repeat(100) });
    const seen: string[] = [];
    let from: number | undefined;
    let pages = 0;
    do {
      await probe.send(port, { request: 'RETRIEVE', value: from === undefined ? null : { from } });
      const datagram = await probe.next();
      expect(datagram!.data.byteLength).toBeLessThanOrEqual(MAX_REPLY_BYTES);
      const reply = JSON.parse(datagram!.data.toString());
      seen.push(...reply.value.map((e: { Key: string }) => e.Key));
      from = reply.next;
      pages++;
    } while (from !== undefined);
    expect(pages).toBeGreaterThan(2);
    expect(seen).toEqual(Array.from({ length: 1500 }, (_, i) => `key-${i + 1}`));
  });

  it('answers STATUS with the node status, per-peer detail included', async () => {
    const reply = await ask({ request: 'STATUS' });
    expect(reply).toMatchObject({ sender_name: 'Node2', request: 'STATUS', term: 4, key: 'STATUS', value: { id: 'Node2', state: 'follower', leader: 'Node1', commitIndex: 0 } });
    expect(Object.keys(reply.value.peers)).toEqual(['Node1', 'Node3']);
  });

  it('drops per-peer detail from STATUS rather than exceed the datagram limit', async () => {
    node.extraPeers = 1_000;
    await probe.send(port, { request: 'STATUS' });
    const datagram = await probe.next();
    expect(datagram!.data.byteLength).toBeLessThanOrEqual(MAX_REPLY_BYTES);
    expect(JSON.parse(datagram!.data.toString()).value).toMatchObject({ peers: {}, peersOmitted: 1_002 });
  });

  const badDatagrams: Array<[string, string | Buffer | object, string | null, RegExp]> = [
    ['not JSON', 'LEADER_INFO please', null, /not JSON/],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), null, /UTF-8/],
    ['a JSON array', '[1,2]', null, /expected a JSON object, got array/],
    ['a JSON string', '"LEADER_INFO"', null, /got string/],
    ['JSON null', 'null', null, /got null/],
    ['no request field', { key: 'k' }, null, /request: missing/],
    ['a request that is not a string', { request: 7 }, null, /request: expected a string, got number/],
    ['an unknown request', { request: 'MAKE_COFFEE' }, 'MAKE_COFFEE', /unknown request "MAKE_COFFEE"/],
    ['a lower-case request', { request: 'leader_info' }, 'leader_info', /unknown request/],
    ['a term that is not a number', { request: 'LEADER_INFO', term: 'one' }, 'LEADER_INFO', /term: expected a number/],
    ['a sender_name that is not a string', { request: 'STATUS', sender_name: 5 }, 'STATUS', /sender_name/],
    ['a STORE key that is not a string', { request: 'STORE', key: 42, value: 'v' }, 'STORE', /key: expected a string, got number/],
    ['a STORE without a key', { request: 'STORE', value: 'v' }, 'STORE', /key: expected a string, got undefined/],
    ['a STORE key with a control character', { request: 'STORE', key: 'a\nb', value: 'v' }, 'STORE', /control characters/],
    ['a STORE key over 1024 bytes', { request: 'STORE', key: 'k'.repeat(1025), value: 'v' }, 'STORE', /at most 1024 bytes/],
    ['a STORE key with a C1 control character (refused by HTTP too)', { request: 'STORE', key: 'a\u0085b', value: 'v' }, 'STORE', /control characters/],
    ['a STORE without a value', { request: 'STORE', key: 'k' }, 'STORE', /value: missing/],
    ['a STORE with a non-boolean ack', { request: 'STORE', key: 'k', value: 1, ack: 'yes' }, 'STORE', /ack: expected true or false/],
    ['a RETRIEVE from a bad index', { request: 'RETRIEVE', value: { from: -1 } }, 'RETRIEVE', /value.from/],
    ['an oversized datagram', { request: 'STORE', key: 'k', value: 'x'.repeat(MAX_REQUEST_BYTES) }, null, /bytes; the limit is 60000/],
  ];

  for (const [what, datagram, key, reason] of badDatagrams) {
    it(`answers ${what} with exactly one ERROR reply and keeps running`, async () => {
      await probe.send(port, datagram);
      const replies = await probe.drain(200);
      expect(replies).toHaveLength(1);
      const reply = JSON.parse(replies[0]!.data.toString());
      expect(reply).toEqual({ sender_name: 'Node2', request: 'ERROR', key, value: expect.stringMatching(reason) });
      expect(logger.warnings.some((w) => reason.test(w))).toBe(true);
      expect((await ask({ request: 'LEADER_INFO' })).request).toBe('LEADER_INFO');
    });
  }

  it('truncates an absurdly long unknown request name in the ERROR reply', async () => {
    const reply = await ask({ request: 'X'.repeat(10_000) });
    expect(reply.key).toBe(`${'X'.repeat(64)}…`);
    expect(JSON.stringify(reply).length).toBeLessThan(COURSE_BUFFER_BYTES);
  });

  it('answers ERROR "internal error" when the node throws, and keeps running', async () => {
    node.lead(1).proposeBehaviour = 'throw';
    expect(await ask({ request: 'STORE', key: 'k', value: 1, ack: true })).toMatchObject({ request: 'ERROR', key: 'STORE', value: 'internal error: fake propose exploded' });
    expect(logger.errors).toHaveLength(1);
    expect((await ask({ request: 'LEADER_INFO' })).value).toBe('Node2');
  });

  it('drops datagrams from sources outside --controller-allow, with rate-limited warnings', async () => {
    await server.close();
    await startServer(['10.0.0.0/8']);
    for (let i = 0; i < 20; i++) await probe.send(port, { request: 'LEADER_INFO' });
    expect(await probe.drain(200)).toEqual([]);
    expect(logger.warnings.filter((w) => w.includes('not in --controller-allow'))).toHaveLength(5);
  });

  it('accepts loopback with the default allow list and fails to start on a port in use', async () => {
    expect((await ask({ request: 'LEADER_INFO' })).value).toBe('Node1');
    const clash = new ControllerServer({ node, host: '127.0.0.1', port });
    await expect(clash.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('refuses a bad CIDR at construction', () => {
    expect(() => new ControllerServer({ node, host: '127.0.0.1', port: 0, allow: ['10.0.0.0/33'] })).toThrow(/prefix length/);
  });

  it('never answers a source outside the allow list, not even with an ERROR', async () => {
    await server.close();
    await startServer(['127.0.0.1/32']);
    node.lead(3).commit({ op: 'put', key: 'k', value: 'v' });
    const outsider = await UdpProbe.open('127.0.0.2');
    try {
      for (const message of [{ request: 'RETRIEVE' }, { request: 'LEADER_INFO' }, 'not json', { request: 'FLY' }]) await outsider.send(port, message);
      expect(await outsider.drain(300)).toEqual([]);
      expect(server.stats()).toMatchObject({ refused: 4, replies: 0 });
      // The allowed address is still answered.
      expect((await ask({ request: 'RETRIEVE' })).value).toEqual([{ Term: 3, Key: 'k', Value: 'v' }]);
    } finally {
      outsider.close();
    }
  });

  it('bounds the reply bytes a RETRIEVE flood gets to the per-source budget; other sources keep theirs', async () => {
    await server.close();
    const burstBytes = 200_000;
    await startServer(undefined, { burstBytes, bytesPerSecond: 0 }); // no refill: the bound is exact
    node.lead(2);
    for (let i = 0; i < 1500; i++) node.commit({ op: 'put', key: `key-${i}`, value: 'x'.repeat(100) });
    const request = Buffer.from(JSON.stringify({ request: 'RETRIEVE' }));
    for (let i = 0; i < 200; i++) await probe.send(port, request);
    const replies = await probe.drain(500);
    const received = replies.reduce((sum, d) => sum + d.data.byteLength, 0);
    expect(received).toBeLessThanOrEqual(burstBytes);
    expect(replies.length).toBeGreaterThanOrEqual(3); // the course protocol still works up to the budget
    expect(server.stats().overBudget).toBe(200 - replies.length);
    expect(logger.warnings.filter((w) => w.includes('reply budget')).length).toBeLessThanOrEqual(5);
    const other = await UdpProbe.open('127.0.0.3');
    try {
      await other.send(port, request);
      expect((await other.json()).key).toBe('COMMITED_LOGS');
    } finally {
      other.close();
    }
  });
});
