import { createHash } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Message, NodeId } from '@raftquotes/raft';
import { RawPeer } from '../../test/support/raw-peer.js';
import { BULK_FRAME_MARKER, encodeBulkFrame, encodeFrame, FrameDecoder, decodePayload } from './frame-codec.js';
import { newNonce } from './handshake.js';
import type { TransportLimits } from './limits.js';
import type { TransportLogger } from './log.js';
import { TcpTransport } from './tcp-transport.js';
import { waitFor } from '../../test/support/wait.js';

// ---------------------------------------------------------------- helpers

const HOST = '127.0.0.1';
const CLUSTER = 'test-cluster';
/** The group's shared secret unless a test says otherwise. */
const SECRET = 'test-secret-0123456789';
/** Upper bound for any awaited condition: generous, so a loaded machine is not a failure. */
const WAIT_MS = 15_000;

interface LogLine {
  level: string;
  fields: object;
  message: string;
}

function recordingLogger(): TransportLogger & { lines: LogLine[]; text(): string } {
  const lines: LogLine[] = [];
  const at = (level: string) => (fields: object, message: string) => lines.push({ level, fields, message });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), text: () => lines.map((l) => `${l.level} ${l.message}`).join('\n') };
}

/** Ports the kernel just handed out and that are free again (all reserved at once, so distinct). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, HOST, () => resolve(server));
    })),
  );
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface TestNode {
  id: NodeId;
  transport: TcpTransport;
  inbox: Message[];
  down: NodeId[];
  logger: ReturnType<typeof recordingLogger>;
}

interface NodeOverrides {
  /** null: run with insecure: true (no authentication). */
  secret?: string | null;
  clusterId?: string;
  limits?: Partial<TransportLimits>;
  /** Extra peers not in the group (e.g. a raw test server). */
  extraPeers?: Record<NodeId, { host: string; port: number }>;
  /** Peers this node is told of (default: the whole group). */
  only?: NodeId[];
  /** Tell peers our Raft address in the hello. */
  advertiseRaft?: boolean;
}

function httpOf(id: NodeId): string {
  return `http://${HOST}:${8000 + Number(id.replace(/\D/g, '') || 0)}`;
}

/** Creates (without starting) a node of a group whose members listen on the given ports. */
function makeNode(id: NodeId, ports: Record<NodeId, number>, overrides: NodeOverrides = {}): TestNode {
  const peers = Object.fromEntries(Object.entries(ports).filter(([peer]) => peer !== id && (overrides.only?.includes(peer) ?? true)).map(([peer, port]) => [peer, { host: HOST, port }]));
  const logger = recordingLogger();
  const transport = new TcpTransport({
    selfId: id,
    clusterId: overrides.clusterId ?? CLUSTER,
    listen: { host: HOST, port: ports[id] as number },
    peers: { ...peers, ...overrides.extraPeers },
    ...(overrides.secret === null ? { insecure: true } : { secret: overrides.secret ?? SECRET }),
    advertise: { http: httpOf(id), ...(overrides.advertiseRaft ? { raft: `${HOST}:${ports[id]}` } : {}) },
    logger,
    limits: { backoffMaxMs: 200, ...overrides.limits },
  });
  const node: TestNode = { id, transport, inbox: [], down: [], logger };
  transport.onMessage((message) => node.inbox.push(message as Message));
  transport.onPeerDown((peer) => node.down.push(peer));
  cleanups.push(() => transport.close());
  return node;
}

async function startGroup(ids: NodeId[], overrides: Record<NodeId, NodeOverrides> = {}): Promise<{ nodes: Record<NodeId, TestNode>; ports: Record<NodeId, number> }> {
  const portList = await freePorts(ids.length);
  const ports = Object.fromEntries(ids.map((id, i) => [id, portList[i] as number]));
  const nodes = Object.fromEntries(ids.map((id) => [id, makeNode(id, ports, overrides[id])]));
  await Promise.all(Object.values(nodes).map((node) => node.transport.start()));
  return { nodes, ports };
}

function link(node: TestNode, peer: NodeId) {
  const stats = node.transport.stats().find((s) => s.peer === peer);
  if (!stats) throw new Error(`${node.id} has no link to ${peer}`);
  return stats;
}

async function connected(node: TestNode, peer: NodeId): Promise<void> {
  await waitFor(`${node.id} → ${peer} connected`, () => link(node, peer).connected, WAIT_MS, 5);
}

function heartbeat(from: NodeId, to: NodeId, commit: number): Message {
  return { type: 'Heartbeat', from, to, term: 1, commit, readRound: 0 };
}

/** One message of every type, from Node1 to Node2. */
function everyMessageType(): Message[] {
  const base = { from: 'Node1', to: 'Node2', term: 7 };
  const chunk = new Uint8Array(300_000).map((_, i) => (i * 31) % 251);
  return [
    { ...base, type: 'PreVote', lastLogIndex: 10, lastLogTerm: 6 },
    { ...base, type: 'PreVoteResponse', granted: true },
    { ...base, type: 'RequestVote', lastLogIndex: 10, lastLogTerm: 6, force: true },
    { ...base, type: 'RequestVoteResponse', granted: false },
    { ...base, type: 'AppendEntries', prevLogIndex: 10, prevLogTerm: 6, commit: 9, entries: [{ index: 11, term: 7, type: 'normal', data: '{"quote":"ça va ✓"}' }, { index: 12, term: 7, type: 'noop', data: '' }] },
    { ...base, type: 'AppendEntriesResponse', success: false, matchIndex: 0, rejectedIndex: 12, conflictIndex: 5, conflictTerm: null },
    { ...base, type: 'Heartbeat', commit: 12, readRound: 3 },
    { ...base, type: 'HeartbeatResponse', readRound: 3 },
    { ...base, type: 'InstallSnapshot', meta: { index: 500, term: 6, voters: ['Node1', 'Node2', 'Node3'] }, offset: 0, chunk, done: false },
    { ...base, type: 'InstallSnapshot', meta: { index: 500, term: 6, voters: ['Node1', 'Node2', 'Node3'] }, offset: 300_000, chunk: new Uint8Array(0), done: true },
    { ...base, type: 'InstallSnapshotResponse', snapshotIndex: 500, nextOffset: 300_000, done: true, lastLogIndex: 500 },
    { ...base, type: 'TimeoutNow' },
    { ...base, type: 'ReadIndex', requestId: 'r-1' },
    { ...base, type: 'ReadIndexResponse', requestId: 'r-1', index: null },
  ];
}

/** Replaces byte arrays by a digest, so Buffer and Uint8Array compare equal and diffs stay short. */
function normalize(value: unknown): unknown {
  if (value instanceof Uint8Array) return `bytes(${value.length}):${createHash('sha256').update(value).digest('hex')}`;
  if (Array.isArray(value)) return value.map(normalize);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  return value;
}

/** A raw dialer connected to `port`, closed after the test. */
async function rawDialer(port: number): Promise<RawPeer> {
  const peer = await RawPeer.connect(port);
  cleanups.push(() => peer.destroy());
  return peer;
}

/** A raw dialer that completes the secret handshake as `from` (to Node2), then writes whatever it is given. */
async function authenticatedRawDialer(port: number, from: NodeId, secret = SECRET): Promise<RawPeer> {
  const dialer = await rawDialer(port);
  const answer = await dialer.handshake(secret, { clusterId: CLUSTER, from, to: 'Node2' });
  expect(answer).toMatchObject({ kind: 'welcome', from: 'Node2' });
  return dialer;
}

/**
 * A hand-driven acceptor: answers each hello with `answer` (frames to send back), then
 * never reads again, so its socket buffers fill and the sender sees backpressure.
 */
async function scriptedAcceptor(answer: (hello: Record<string, unknown>) => unknown[]): Promise<{ port: number; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    const decoder = new FrameDecoder(1 << 20);
    socket.on('data', (chunk: Buffer) => {
      for (const payload of decoder.push(chunk)) {
        const frame = decodePayload(payload) as Record<string, unknown>;
        if (frame.kind !== 'hello') continue;
        for (const reply of answer(frame)) socket.write(encodeFrame(reply));
        socket.pause();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  cleanups.push(() => {
    sockets.forEach((socket) => socket.destroy());
    return new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as net.AddressInfo).port, sockets };
}

/** A peer that completes the insecure handshake as `id`, then never reads again. */
function silentPeer(id: NodeId): Promise<{ port: number; sockets: net.Socket[] }> {
  return scriptedAcceptor(() => [{ kind: 'welcome', from: id, http: 'http://127.0.0.1:9', mac: null }]);
}

/**
 * Tracks timers armed through the global setTimeout from now on (the transport's own), until
 * they fire or are cleared. Restored after the test.
 */
function trackTimers(): Set<unknown> {
  const live = new Set<unknown>();
  const realSetTimeout = globalThis.setTimeout;
  const realClearTimeout = globalThis.clearTimeout;
  vi.spyOn(globalThis, 'setTimeout').mockImplementation(((callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const timer = realSetTimeout(() => {
      live.delete(timer);
      callback(...args);
    }, ms);
    live.add(timer);
    return timer;
  }) as typeof setTimeout);
  vi.spyOn(globalThis, 'clearTimeout').mockImplementation((timer) => {
    live.delete(timer);
    realClearTimeout(timer);
  });
  cleanups.push(() => void vi.restoreAllMocks());
  return live;
}

// ---------------------------------------------------------------- tests

describe('TcpTransport delivery', () => {
  it('round-trips every message type, byte arrays included, and learns peer HTTP URLs', async () => {
    const { nodes } = await startGroup(['Node1', 'Node2']);
    const [a, b] = [nodes.Node1 as TestNode, nodes.Node2 as TestNode];
    await connected(a, 'Node2');
    const messages = everyMessageType();
    for (const message of messages) a.transport.send('Node2', message);
    await waitFor('every message delivered', () => b.inbox.length === messages.length, WAIT_MS, 5);
    expect(b.inbox.map(normalize)).toEqual(messages.map(normalize));
    const snapshot = b.inbox.find((m) => m.type === 'InstallSnapshot');
    expect(snapshot?.type === 'InstallSnapshot' && snapshot.chunk).toBeInstanceOf(Uint8Array);
    expect(link(a, 'Node2')).toMatchObject({ sentMessages: messages.length, droppedMessages: 0, queuedMessages: 0, queuedBytes: 0 });
    expect(a.transport.peerHttpUrl('Node2')).toBe(httpOf('Node2')); // from the acceptor's authenticated welcome
    await waitFor('Node2 learns Node1 URL', () => b.transport.peerHttpUrl('Node1') !== null, WAIT_MS, 5);
    expect(b.transport.peerHttpUrl('Node1')).toBe(httpOf('Node1')); // from its own dial to Node1
    expect(a.transport.peerHttpUrl('Node9')).toBeNull();
  });

  it.each([['secret', SECRET] as const, ['insecure', null] as const])('delivers multi-MiB snapshot chunks as bulk frames byte for byte, in order with other messages (%s mode)', async (_mode, secret) => {
    const image = createHash('sha256').update('image').digest();
    const bytes = Buffer.alloc(9 * 1024 * 1024).map((_, i) => (image[i % 32] as number) ^ (i >> 10));
    const chunkBytes = 2 * 1024 * 1024;
    const { nodes } = await startGroup(['Node1', 'Node2'], { Node1: { secret }, Node2: { secret } });
    const [a, b] = [nodes.Node1 as TestNode, nodes.Node2 as TestNode];
    await connected(a, 'Node2');
    const sent: Message[] = [];
    for (let offset = 0, i = 1; offset < bytes.length; offset += chunkBytes, i++) {
      const chunk = bytes.subarray(offset, Math.min(offset + chunkBytes, bytes.length));
      sent.push({ type: 'InstallSnapshot', from: 'Node1', to: 'Node2', term: 3, meta: { index: 77, term: 3, voters: ['Node1', 'Node2'] }, offset, chunk, done: offset + chunk.length >= bytes.length } as Message);
      sent.push(heartbeat('Node1', 'Node2', i));
    }
    for (const message of sent) a.transport.send('Node2', message);
    await waitFor('every chunk delivered', () => b.inbox.length === sent.length, WAIT_MS, 5);
    expect(b.inbox.map((m) => m.type)).toEqual(sent.map((m) => m.type));
    const received = Buffer.concat(b.inbox.flatMap((m) => (m.type === 'InstallSnapshot' ? [m.chunk] : [])));
    expect(received.equals(bytes)).toBe(true);
    expect(link(a, 'Node2')).toMatchObject({ sentMessages: sent.length, droppedMessages: 0, queuedBytes: 0 });
    expect(encodeBulkFrame(sent[0] as unknown as Record<string, unknown> & { type: string }).body).toBe((sent[0] as { chunk: Uint8Array }).chunk);
  });

  it('keeps order per link, in both directions, over thousands of messages', async () => {
    const { nodes } = await startGroup(['Node1', 'Node2', 'Node3']);
    const [a, b, c] = [nodes.Node1 as TestNode, nodes.Node2 as TestNode, nodes.Node3 as TestNode];
    await Promise.all([connected(a, 'Node2'), connected(a, 'Node3'), connected(b, 'Node1'), connected(c, 'Node1')]);
    const count = 3000;
    for (let i = 1; i <= count; i++) {
      a.transport.send('Node2', heartbeat('Node1', 'Node2', i));
      a.transport.send('Node3', heartbeat('Node1', 'Node3', i));
      b.transport.send('Node1', heartbeat('Node2', 'Node1', i));
      c.transport.send('Node1', heartbeat('Node3', 'Node1', i));
      if (i % 500 === 0) await new Promise((resolve) => setImmediate(resolve)); // let the sockets drain
    }
    await waitFor('all delivered', () => b.inbox.length === count && c.inbox.length === count && a.inbox.length === 2 * count, WAIT_MS, 5);
    const commits = (inbox: Message[], from: NodeId) => inbox.filter((m) => m.from === from).map((m) => (m as { commit: number }).commit);
    const ascending = Array.from({ length: count }, (_, i) => i + 1);
    expect(commits(b.inbox, 'Node1')).toEqual(ascending);
    expect(commits(c.inbox, 'Node1')).toEqual(ascending);
    expect(commits(a.inbox, 'Node2')).toEqual(ascending);
    expect(commits(a.inbox, 'Node3')).toEqual(ascending);
  });

  it('reports the peer down and reconnects once the peer restarts on the same port', async () => {
    const { nodes, ports } = await startGroup(['Node1', 'Node2']);
    const a = nodes.Node1 as TestNode;
    await connected(a, 'Node2');
    await (nodes.Node2 as TestNode).transport.close();
    await waitFor('onPeerDown(Node2)', () => a.down.includes('Node2'), WAIT_MS, 5);
    expect(link(a, 'Node2').connected).toBe(false);

    const restarted = makeNode('Node2', ports);
    await restarted.transport.start();
    await connected(a, 'Node2');
    a.transport.send('Node2', heartbeat('Node1', 'Node2', 42));
    await waitFor('delivery after restart', () => restarted.inbox.length === 1, WAIT_MS, 5);
    expect(restarted.inbox[0]).toMatchObject({ type: 'Heartbeat', commit: 42 });
    expect(a.logger.text()).toMatch(/link to Node2 down/);
  });
});

describe('TcpTransport handshake', () => {
  it('requires a secret or TLS unless insecure is explicit', () => {
    const base = { selfId: 'Node1', clusterId: CLUSTER, listen: { host: HOST, port: 0 }, peers: { Node2: { host: HOST, port: 1 } }, advertise: { http: httpOf('Node1') }, logger: recordingLogger() };
    expect(() => new TcpTransport(base)).toThrow(/needs a secret or a TLS configuration/);
    expect(() => new TcpTransport({ ...base, insecure: true })).not.toThrow();
    expect(new TcpTransport({ ...base, secret: SECRET }).authMode).toBe('secret');
  });

  it('accepts peers that share the secret', async () => {
    const { nodes } = await startGroup(['Node1', 'Node2'], { Node1: { secret: 'right-secret-0001' }, Node2: { secret: 'right-secret-0001' } });
    const [a, b] = [nodes.Node1 as TestNode, nodes.Node2 as TestNode];
    await Promise.all([connected(a, 'Node2'), connected(b, 'Node1')]);
    a.transport.send('Node2', heartbeat('Node1', 'Node2', 1));
    await waitFor('delivery', () => b.inbox.length === 1, WAIT_MS, 5);
    expect(a.transport.peerHttpUrl('Node2')).toBe(httpOf('Node2'));
    expect(a.logger.lines.filter((l) => l.level === 'warn')).toEqual([]);
  });

  it('refuses a peer with the wrong secret, and logs it', async () => {
    const { nodes } = await startGroup(['Node1', 'Node2'], { Node1: { secret: 'alpha-7f3k-000000' }, Node2: { secret: 'bravo-9x2q-000000' } });
    const [a, b] = [nodes.Node1 as TestNode, nodes.Node2 as TestNode];
    await waitFor('Node1 refusal logged', () => /refused peer connection.*authentication failed/i.test(a.logger.text()), WAIT_MS, 5);
    await waitFor('Node2 refusal logged', () => /refused peer connection.*authentication failed/i.test(b.logger.text()), WAIT_MS, 5);
    await waitFor('dialer notes the refusal', () => /Node1 refused our handshake/.test(b.logger.text()), WAIT_MS, 5);
    for (let i = 0; i < 10; i++) b.transport.send('Node1', heartbeat('Node2', 'Node1', i));
    await waitFor('messages dropped', () => link(b, 'Node1').droppedMessages === 10, WAIT_MS, 5);
    expect(a.inbox).toEqual([]);
    expect(link(a, 'Node2').connected).toBe(false);
    expect(a.transport.peerHttpUrl('Node2')).toBeNull(); // nothing an unauthenticated peer says is kept
    // The secret itself never appears in logs.
    expect(a.logger.text() + b.logger.text()).not.toMatch(/alpha-7f3k|bravo-9x2q/);
  });

  it('refuses an insecure peer when this node requires a secret', async () => {
    const { nodes } = await startGroup(['Node1', 'Node2'], { Node2: { secret: null } });
    await waitFor('refusal logged', () => /refused peer connection.*uses insecure authentication, this node secret/i.test((nodes.Node1 as TestNode).logger.text()), WAIT_MS, 5);
    await waitFor('refusal logged', () => /refused peer connection.*uses secret authentication, this node insecure/i.test((nodes.Node2 as TestNode).logger.text()), WAIT_MS, 5);
    expect(link(nodes.Node2 as TestNode, 'Node1').connected).toBe(false);
  });

  it('refuses a peer of another cluster (after it authenticated), telling it nothing', async () => {
    const { nodes } = await startGroup(['Node1', 'Node2'], { Node2: { clusterId: 'other-cluster' } });
    const [a, b] = [nodes.Node1 as TestNode, nodes.Node2 as TestNode];
    await waitFor('refusal logged', () => /refused peer connection.*wrong cluster id "other-cluster"/i.test(a.logger.text()), WAIT_MS, 5);
    await waitFor('dialer notes the refusal', () => /Node1 refused our handshake/i.test(b.logger.text()), WAIT_MS, 5);
    expect(b.logger.lines.filter((l) => /refused our handshake/.test(l.message)).map((l) => l.message).join()).not.toContain(CLUSTER);
    expect(link(b, 'Node1').connected).toBe(false);
  });

  it('an unauthenticated dialer learns nothing: the same bare challenge for any claim, then a bare refusal', async () => {
    const { nodes, ports } = await startGroup(['Node1', 'Node2']);
    const b = nodes.Node2 as TestNode;
    const claims = [
      { clusterId: CLUSTER, from: 'Node1', to: 'Node2' },
      { clusterId: 'guess', from: 'Node9', to: 'Node7' },
    ];
    for (const ids of claims) {
      const dialer = await rawDialer(ports.Node2 as number);
      const answer = await dialer.handshake('not-the-secret-000', ids);
      expect(dialer.received.map((f) => Object.keys(f).sort())).toEqual([['kind', 'nonce'], ['kind']]);
      expect(answer).toEqual({ kind: 'refused' });
      await dialer.waitClosed();
      const bytes = dialer.allBytes().toString('latin1');
      for (const secretInfo of [CLUSTER, 'Node2', 'Node1', httpOf('Node2')]) expect(bytes).not.toContain(secretInfo);
    }
    // Logged with the real reason (once: refusals are rate-limited per source address).
    expect(b.logger.text()).toMatch(/refused peer connection .*claims to be "Node1".*authentication failed/);
  });

  it.each([
    ['an unknown node id', { from: 'Node9', to: 'Node2' }, /refused peer connection .*"Node9" is not a configured peer/],
    ['a hello meant for another node', { from: 'Node1', to: 'Node3' }, /refused peer connection .*dialed "Node3"/],
  ])('with the secret, still refuses %s', async (_name, ids, logged) => {
    const { nodes, ports } = await startGroup(['Node1', 'Node2']);
    const dialer = await rawDialer(ports.Node2 as number);
    expect(await dialer.handshake(SECRET, { clusterId: CLUSTER, ...ids })).toEqual({ kind: 'refused' });
    expect((nodes.Node2 as TestNode).logger.text()).toMatch(logged);
  });

  it('never takes a peer URL from an inbound connection', async () => {
    const [deadPort] = await freePorts(1);
    const { nodes, ports } = await startGroup(['Node2'], { Node2: { extraPeers: { Node1: { host: HOST, port: deadPort as number } } } });
    await authenticatedRawDialer(ports.Node2 as number, 'Node1');
    expect((nodes.Node2 as TestNode).transport.peerHttpUrl('Node1')).toBeNull();
  });
});

describe('TcpTransport as a dialer', () => {
  it('refuses an acceptor that answers as another node', async () => {
    const impostor = await silentPeer('Node7');
    const { nodes } = await startGroup(['Node1'], { Node1: { secret: null, extraPeers: { Node3: { host: HOST, port: impostor.port } } } });
    const a = nodes.Node1 as TestNode;
    await waitFor('refusal logged', () => /refused peer connection to Node3 .*answered as "Node7"/.test(a.logger.text()), WAIT_MS, 5);
    expect(link(a, 'Node3').connected).toBe(false);
    expect(a.transport.peerHttpUrl('Node3')).toBeNull();
  });

  it('refuses an acceptor that cannot prove it knows the secret (no impostor URL is learned)', async () => {
    const impostor = await scriptedAcceptor(() => [
      { kind: 'challenge', nonce: newNonce() },
      { kind: 'welcome', from: 'Node3', http: 'http://evil.example:80', mac: new Uint8Array(32) },
    ]);
    const { nodes } = await startGroup(['Node1'], { Node1: { extraPeers: { Node3: { host: HOST, port: impostor.port } } } });
    const a = nodes.Node1 as TestNode;
    await waitFor('refusal logged', () => /refused peer connection to Node3 .*failed authentication/.test(a.logger.text()), WAIT_MS, 5);
    expect(link(a, 'Node3').connected).toBe(false);
    expect(a.transport.peerHttpUrl('Node3')).toBeNull();
  });

  it('keeps one inbound connection per peer: a newer one replaces the older', async () => {
    const [deadPort] = await freePorts(1);
    const { nodes, ports } = await startGroup(['Node2'], { Node2: { extraPeers: { Node1: { host: HOST, port: deadPort as number } } } });
    const b = nodes.Node2 as TestNode;
    const first = await authenticatedRawDialer(ports.Node2 as number, 'Node1');
    const second = await authenticatedRawDialer(ports.Node2 as number, 'Node1');
    expect(await first.waitClosed()).toBe(true);
    second.sendSealed(heartbeat('Node1', 'Node2', 5));
    await waitFor('newer connection delivers', () => b.inbox.length === 1, WAIT_MS, 5);
    expect(second.isClosed).toBe(false);
  });
});

describe('TcpTransport against bad input', () => {
  it('closes a connection that sends garbage, and keeps serving the others', async () => {
    const { nodes, ports } = await startGroup(['Node1', 'Node2']);
    const [a, b] = [nodes.Node1 as TestNode, nodes.Node2 as TestNode];
    const garbage = await rawDialer(ports.Node2 as number);
    garbage.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await garbage.waitClosed()).toBe(true);
    expect(b.logger.text()).toMatch(/refused peer connection .*exceeds the limit/);
    await connected(a, 'Node2');
    a.transport.send('Node2', heartbeat('Node1', 'Node2', 1));
    await waitFor('delivery still works', () => b.inbox.length === 1, WAIT_MS, 5);
  });

  type Attack = { raw: Buffer } | { sealed: unknown } | { sealedPayload: Buffer };
  it.each<[string, (peer: RawPeer) => Attack, RegExp]>([
    ['an oversized length', () => ({ raw: Buffer.from([0xff, 0xff, 0xff, 0xff]) }), /exceeds the limit/],
    ['an empty frame', () => ({ raw: Buffer.alloc(4) }), /empty frame/],
    ['an unsealed frame', () => ({ raw: encodeFrame(heartbeat('Node1', 'Node2', 8)) }), /bad frame MAC/],
    ['a replayed frame', (peer) => ({ raw: peer.sealed(heartbeat('Node1', 'Node2', 7)) }), /bad frame MAC/],
    ['one flipped byte', (peer) => ({ raw: flipLastPayloadByte(peer.sealed(heartbeat('Node1', 'Node2', 8))) }), /bad frame MAC/],
    ['undecodable msgpack', () => ({ sealed: null }), /undecodable|not an object|unknown message type/],
    ['a non-message value', () => ({ sealed: [1, 2, 3] }), /not an object/],
    ['an unknown message type', () => ({ sealed: { ...heartbeat('Node1', 'Node2', 8), type: 'Exec' } }), /unknown message type "Exec"/],
    ['a forged sender', () => ({ sealed: heartbeat('Node3', 'Node2', 1) }), /from "Node3" on the connection of Node1/],
    ['a wrong recipient', () => ({ sealed: heartbeat('Node1', 'Node3', 1) }), /addressed to "Node3"/],
    ['a term of 2^53-1', () => ({ sealed: { type: 'RequestVote', from: 'Node1', to: 'Node2', term: Number.MAX_SAFE_INTEGER, lastLogIndex: 0, lastLogTerm: 0, force: false } }), /RequestVote: term 9007199254740991 must be an integer/],
    ['a missing field', () => ({ sealed: { type: 'Heartbeat', from: 'Node1', to: 'Node2', term: 1, commit: 1 } }), /Heartbeat: readRound must be/],
    ['a string index', () => ({ sealed: { type: 'PreVote', from: 'Node1', to: 'Node2', term: 1, lastLogIndex: '5', lastLogTerm: 0 } }), /lastLogIndex must be/],
    ['a bulk frame carrying another message type', () => ({ sealedPayload: bulkPayloadOf({ ...heartbeat('Node1', 'Node2', 8) }, Buffer.alloc(10)) }), /undecodable bulk frame: carries a message that is not InstallSnapshot/],
    ['a bulk frame whose header overruns it', () => ({ sealedPayload: bulkPayloadOf(bulkSnapshot(), Buffer.alloc(0), 9999) }), /undecodable bulk frame: header of 9999 bytes overruns/],
    ['a bulk frame with a hostile field', () => ({ sealedPayload: bulkPayloadOf({ ...bulkSnapshot(), offset: -5 }, Buffer.alloc(10)) }), /InstallSnapshot: offset must be/],
    ['entries out of sequence', () => ({ sealed: { type: 'AppendEntries', from: 'Node1', to: 'Node2', term: 2, prevLogIndex: 3, prevLogTerm: 1, commit: 0, entries: [{ index: 9, term: 2, type: 'normal', data: '' }] } }), /entries\[0\]\.index is 9, expected 4/],
  ])('closes an authenticated connection that sends %s', async (_name, attack, logged) => {
    // Node1 is played by a raw dialer (its configured address is dead, so no real Node1 competes).
    const [deadPort] = await freePorts(1);
    const { nodes, ports } = await startGroup(['Node2', 'Node3'], { Node2: { extraPeers: { Node1: { host: HOST, port: deadPort as number } } } });
    const [b, c] = [nodes.Node2 as TestNode, nodes.Node3 as TestNode];
    const dialer = await authenticatedRawDialer(ports.Node2 as number, 'Node1');
    const replay = dialer.sealed(heartbeat('Node1', 'Node2', 7));
    dialer.socket.write(replay);
    const bad = attack(dialer);
    dialer.socket.write('sealedPayload' in bad ? dialer.sealedPayload(bad.sealedPayload) : 'raw' in bad ? (_name === 'a replayed frame' ? replay : bad.raw) : bad.sealed === null ? sealedGarbage(dialer) : dialer.sealed(bad.sealed));
    expect(await dialer.waitClosed(WAIT_MS)).toBe(true);
    expect(b.logger.text()).toMatch(logged);
    expect(b.inbox.map((m) => (m as { commit: number }).commit)).toEqual([7]); // the good frame before it was delivered
    await connected(c, 'Node2');
    c.transport.send('Node2', heartbeat('Node3', 'Node2', 8));
    await waitFor('another peer still delivers', () => b.inbox.length === 2, WAIT_MS, 5);
  });

  it('times out a dialer that never completes the handshake', async () => {
    const { nodes, ports } = await startGroup(['Node1', 'Node2'], { Node2: { limits: { acceptHandshakeTimeoutMs: 200 } } });
    const mute = await rawDialer(ports.Node2 as number);
    expect(await mute.waitClosed()).toBe(true);
    expect((nodes.Node2 as TestNode).logger.text()).toMatch(/refused peer connection .*handshake not done within 200 ms/);
  });

  it('a flood of silent sockets never keeps a peer out: the oldest unauthenticated ones are dropped', async () => {
    const limits = { maxUnauthenticatedConnections: 8, maxUnauthenticatedPerAddress: 4, acceptHandshakeTimeoutMs: 60_000 };
    const { nodes, ports } = await startGroup(['Node1', 'Node2'], { Node2: { limits } });
    const [a, b] = [nodes.Node1 as TestNode, nodes.Node2 as TestNode];
    await connected(a, 'Node2');
    const flood = await Promise.all(Array.from({ length: 50 }, () => rawDialer(ports.Node2 as number)));
    await waitFor('flood trimmed to the per-address limit', () => flood.filter((peer) => !peer.isClosed).length <= limits.maxUnauthenticatedPerAddress, WAIT_MS, 5);
    // The established link was never touched; a redial (as after a restart) gets in too.
    a.transport.send('Node2', heartbeat('Node1', 'Node2', 1));
    await waitFor('delivery during the flood', () => b.inbox.length === 1, WAIT_MS, 5);
    const late = await authenticatedRawDialer(ports.Node2 as number, 'Node1');
    expect(late.isClosed).toBe(false);
    expect(b.logger.text()).toMatch(/too many unauthenticated connections/);
    expect(b.logger.lines.filter((l) => /too many unauthenticated/.test(l.message)).length).toBe(1); // rate-limited
  });

  it('past the total limit the busiest address loses its oldest: a lone dial from another address keeps its place', async () => {
    const limits = { maxUnauthenticatedConnections: 8, maxUnauthenticatedPerAddress: 6, acceptHandshakeTimeoutMs: 60_000 };
    const { ports } = await startGroup(['Node1', 'Node2'], { Node2: { limits } });
    let closed = 0;
    const open = (localAddress: string): Promise<net.Socket> =>
      new Promise((resolve) => {
        const socket = net.connect({ host: HOST, port: ports.Node2 as number, localAddress }, () => resolve(socket));
        socket.on('error', () => undefined).once('close', () => closed++);
        cleanups.push(() => {
          socket.destroy();
        });
      });
    // The oldest unauthenticated connection of all, alone on its address (a member mid-handshake).
    const lone = await open('127.0.0.3');
    for (let i = 0; i < 30; i++) await open(i % 2 === 0 ? '127.0.0.2' : '127.0.0.4');
    await waitFor('flood trimmed to the total limit', () => closed >= 30 - (limits.maxUnauthenticatedConnections - 1), WAIT_MS, 5);
    expect(lone.destroyed).toBe(false);
    expect(lone.readyState).toBe('open');
  });
});

/** A sealed frame whose payload is not msgpack (a holder of the secret sending junk). */
/** An InstallSnapshot header without its chunk, from Node1 to Node2. */
function bulkSnapshot(): Record<string, unknown> {
  return { type: 'InstallSnapshot', from: 'Node1', to: 'Node2', term: 1, meta: { index: 9, term: 1, voters: ['Node1', 'Node2'] }, offset: 0, done: false };
}

/** A bulk frame payload: marker, header length (as declared), msgpack header, raw body. */
function bulkPayloadOf(header: unknown, body: Buffer, declaredHeaderBytes?: number): Buffer {
  const packed = encodeFrame(header).subarray(4);
  const prefix = Buffer.alloc(5);
  prefix[0] = BULK_FRAME_MARKER;
  prefix.writeUInt32BE(declaredHeaderBytes ?? packed.length, 1);
  return Buffer.concat([prefix, packed, body]);
}

function sealedGarbage(peer: RawPeer): Buffer {
  return peer.sealedPayload(Buffer.from([0xc1]));
}

/** Flips the last payload byte of a sealed frame (a man in the middle). */
function flipLastPayloadByte(sealed: Buffer): Buffer {
  const copy = Buffer.from(sealed);
  const at = copy.length - 17;
  copy[at] = (copy[at] as number) ^ 0x01;
  return copy;
}

describe('TcpTransport bounded queues', () => {
  it('drops and counts messages for a peer that is down', async () => {
    const [deadPort] = await freePorts(1);
    const { nodes } = await startGroup(['Node1'], { Node1: { extraPeers: { Node2: { host: HOST, port: deadPort as number } } } });
    const a = nodes.Node1 as TestNode;
    for (let i = 0; i < 100; i++) a.transport.send('Node2', heartbeat('Node1', 'Node2', i));
    await waitFor('all dropped', () => link(a, 'Node2').droppedMessages === 100, WAIT_MS, 5);
    expect(link(a, 'Node2')).toMatchObject({ connected: false, queuedMessages: 0, queuedBytes: 0, sentMessages: 0 });
    expect(a.down).toEqual([]); // never up, so never reported down
  });

  it('queues at most maxQueuedMessages while a handshake is pending', async () => {
    const muteSockets: net.Socket[] = [];
    const mute = net.createServer((socket) => muteSockets.push(socket.pause())); // accepts, never answers the hello
    await new Promise<void>((resolve) => mute.listen(0, HOST, resolve));
    const mutePort = (mute.address() as net.AddressInfo).port;
    cleanups.push(() => {
      muteSockets.forEach((socket) => socket.destroy());
      return new Promise((resolve) => mute.close(resolve));
    });
    const { nodes } = await startGroup(['Node1'], { Node1: { extraPeers: { Node2: { host: HOST, port: mutePort } }, limits: { maxQueuedMessages: 10, handshakeTimeoutMs: 60_000 } } });
    const a = nodes.Node1 as TestNode;
    for (let i = 0; i < 50; i++) a.transport.send('Node2', heartbeat('Node1', 'Node2', i));
    expect(link(a, 'Node2')).toMatchObject({ connected: false, queuedMessages: 10, droppedMessages: 40 });
  });

  it('a peer that never reads neither blocks the others nor grows memory past the limit', async () => {
    const maxQueuedBytes = 1024 * 1024;
    const silent = await silentPeer('Node3');
    const { nodes } = await startGroup(['Node1', 'Node2'], { Node1: { secret: null, extraPeers: { Node3: { host: HOST, port: silent.port } }, limits: { maxQueuedBytes } }, Node2: { secret: null } });
    const [a, b] = [nodes.Node1 as TestNode, nodes.Node2 as TestNode];
    await Promise.all([connected(a, 'Node2'), connected(a, 'Node3')]);
    const chunk = new Uint8Array(64 * 1024);
    const snapshotChunk = (offset: number): Message => ({ type: 'InstallSnapshot', from: 'Node1', to: 'Node3', term: 1, meta: { index: 1, term: 1, voters: [] }, offset, chunk, done: false });
    let maxSeen = 0;
    let offset = 0;
    const deadline = Date.now() + WAIT_MS;
    // Keep sending, in rounds smaller than the queue, until the kernel buffers are full,
    // the socket pushes back, and the queue overflows.
    while (link(a, 'Node3').droppedMessages === 0) {
      if (Date.now() > deadline) throw new Error('the silent peer never pushed back');
      for (let i = 0; i < 8; i++) a.transport.send('Node3', snapshotChunk((offset += chunk.length)));
      maxSeen = Math.max(maxSeen, link(a, 'Node3').queuedBytes);
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (let i = 1; i <= 100; i++) a.transport.send('Node2', heartbeat('Node1', 'Node2', i));
    await waitFor('delivery to the healthy peer', () => b.inbox.length === 100, WAIT_MS, 5);
    const stats = link(a, 'Node3');
    expect(stats.connected).toBe(true);
    expect(maxSeen).toBeLessThanOrEqual(maxQueuedBytes);
    expect(stats.queuedBytes).toBeLessThanOrEqual(maxQueuedBytes);
    expect(stats.queuedMessages).toBeGreaterThan(0);
    expect(link(a, 'Node2').droppedMessages).toBe(0);
  });
});

describe('TcpTransport lifecycle', () => {
  it('rejects start with the raw listen error when the port is taken', async () => {
    const [port] = await freePorts(1);
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(port, HOST, resolve));
    cleanups.push(() => new Promise((resolve) => blocker.close(resolve)));
    const node = makeNode('Node1', { Node1: port as number, Node2: 1 });
    await expect(node.transport.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('close leaves no timer, socket or server behind, even mid-reconnect and mid-handshake', async () => {
    const liveTimers = trackTimers();
    const sockets = () => process.getActiveResourcesInfo().filter((name) => /TCP|Connect/.test(name)).length;
    const socketsBefore = sockets();
    const [deadPort] = await freePorts(1);
    const { nodes, ports } = await startGroup(['Node1', 'Node2'], { Node1: { extraPeers: { Node3: { host: HOST, port: deadPort as number } } } });
    await connected(nodes.Node1 as TestNode, 'Node2');
    await rawDialer(ports.Node1 as number); // an inbound connection stuck in its handshake
    await waitFor('a reconnect pending', () => (nodes.Node1 as TestNode).logger.text().includes('cannot reach Node3'), WAIT_MS, 5);
    expect(liveTimers.size).toBeGreaterThan(0);
    for (const node of Object.values(nodes)) await node.transport.close();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    expect(liveTimers.size).toBe(0);
    await waitFor('sockets released', () => sockets() <= socketsBefore, WAIT_MS, 5);
  });

  it('close is idempotent, and send after close drops without throwing', async () => {
    const { nodes } = await startGroup(['Node1', 'Node2']);
    const a = nodes.Node1 as TestNode;
    await connected(a, 'Node2');
    await Promise.all([a.transport.close(), a.transport.close()]);
    await a.transport.close();
    expect(() => a.transport.send('Node2', heartbeat('Node1', 'Node2', 1))).not.toThrow();
    expect(link(a, 'Node2')).toMatchObject({ connected: false, droppedMessages: 1 });
    expect(() => a.transport.send('Node7', heartbeat('Node1', 'Node7', 1))).not.toThrow();
  });
});

describe('TcpTransport: an authenticated member added later (issue 17, sim seed 274)', () => {
  it('is admitted by a node that does not know it, which links back to the Raft address its hello names', async () => {
    const { nodes } = await startGroup(['Node1', 'Node3'], { Node1: { only: [] }, Node3: { advertiseRaft: true } });
    const [old, added] = [nodes['Node1'] as TestNode, nodes['Node3'] as TestNode];
    added.transport.send('Node1', heartbeat('Node3', 'Node1', 4));
    await waitFor('Node1 hears the stranger', () => old.inbox.length === 1, WAIT_MS, 5);
    expect(old.inbox[0]).toMatchObject({ from: 'Node3', commit: 4 });
    expect(old.logger.text()).toContain('admitted Node3');
    old.transport.send('Node3', { type: 'RequestVoteResponse', from: 'Node1', to: 'Node3', term: 1, granted: true });
    await waitFor('the answer reaches Node3 over the link back', () => added.inbox.length === 1, WAIT_MS, 5);
    // Learning a configuration (setPeers) ends the stranger's link unless it is a member there.
    old.transport.setPeers([]);
    expect(old.transport.stats().map((l) => l.peer)).toEqual([]);
  });

  it('a stranger with the wrong secret, or whose hello names no Raft address, is refused', async () => {
    const { nodes } = await startGroup(['Node1', 'Node3', 'Node4'], { Node1: { only: [] }, Node3: { advertiseRaft: true, secret: 'another-secret-0123456789' }, Node4: { only: ['Node1'] } });
    const old = nodes['Node1'] as TestNode;
    (nodes['Node3'] as TestNode).transport.send('Node1', heartbeat('Node3', 'Node1', 1));
    (nodes['Node4'] as TestNode).transport.send('Node1', heartbeat('Node4', 'Node1', 1));
    await waitFor('both refused', () => (old.logger.text().match(/refused peer connection/g) ?? []).length >= 2, WAIT_MS, 5);
    expect(old.logger.text()).toContain('authentication failed');
    expect(old.logger.text()).toContain('"Node4" is not a configured peer');
    expect(old.inbox).toEqual([]);
    expect(old.transport.stats()).toEqual([]);
  });
});
