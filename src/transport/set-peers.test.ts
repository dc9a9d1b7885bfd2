import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message, NodeId } from '@raftquotes/raft';
import type { TransportLogger } from './log.js';
import { TcpTransport } from './tcp-transport.js';

/**
 * The transport follows the configuration (SPEC §9, issue 17): setPeers opens a link to a
 * member added at run time, at the Raft address the configuration records, and closes the
 * link of a removed one, whose connections are then refused at the handshake.
 */

const HOST = '127.0.0.1';
const SECRET = 'set-peers-secret-0123456789';
const WAIT_MS = 15_000;

interface Node {
  id: NodeId;
  port: number;
  transport: TcpTransport;
  inbox: Message[];
  log: string[];
}

const started: TcpTransport[] = [];
afterEach(async () => {
  for (const transport of started.splice(0)) await transport.close();
});

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<net.Server>((resolve) => {
    const server = net.createServer();
    server.listen(0, HOST, () => resolve(server));
  })));
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

async function startNode(id: NodeId, port: number, peers: Record<NodeId, number>): Promise<Node> {
  const log: string[] = [];
  const at = (level: string) => (_fields: object, message: string) => void log.push(`${level} ${message}`);
  const logger: TransportLogger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  const transport = new TcpTransport({
    selfId: id,
    clusterId: 'set-peers',
    listen: { host: HOST, port },
    peers: Object.fromEntries(Object.entries(peers).map(([peer, p]) => [peer, { host: HOST, port: p }])),
    secret: SECRET,
    advertise: { http: `http://${HOST}:${8000 + Number(id.slice(4))}` },
    logger,
    limits: { backoffMaxMs: 200 },
  });
  const node: Node = { id, port, transport, inbox: [], log };
  transport.onMessage((message) => node.inbox.push(message as Message));
  started.push(transport);
  await transport.start();
  return node;
}

const connected = (node: Node, peer: NodeId): Promise<void> => waitFor(() => node.transport.stats().some((s) => s.peer === peer && s.connected), `${node.id} → ${peer} connected`);

const heartbeat = (from: NodeId, to: NodeId, commit: number): Message => ({ type: 'Heartbeat', from, to, term: 1, commit, readRound: 0 });

describe('TcpTransport.setPeers (membership at run time)', () => {
  it('links to a member added later at its recorded address, and cuts a removed one off', async () => {
    const [p1, p2, p3] = (await freePorts(3)) as [number, number, number];
    const node1 = await startNode('Node1', p1, { Node2: p2 });
    const node2 = await startNode('Node2', p2, { Node1: p1 });
    const node3 = await startNode('Node3', p3, { Node1: p1 });
    await connected(node1, 'Node2');
    node1.transport.send('Node2', heartbeat('Node1', 'Node2', 1));
    await waitFor(() => node2.inbox.length === 1, 'Node2 hears Node1');

    // Node3 is added: Node1 learns its address from the configuration and links to it.
    node1.transport.setPeers([{ id: 'Node2', raft: `${HOST}:${p2}` }, { id: 'Node3', raft: `${HOST}:${p3}` }]);
    await connected(node1, 'Node3');
    node1.transport.send('Node3', heartbeat('Node1', 'Node3', 2));
    await waitFor(() => node3.inbox.some((m) => m.from === 'Node1'), 'Node3 hears Node1 over the new link');
    expect(node1.log.join('\n')).toContain('linking to member Node3');

    // Node2 is removed: its link is closed, and what it sends is refused at the handshake.
    node1.transport.setPeers([{ id: 'Node3', raft: `${HOST}:${p3}` }]);
    expect(node1.transport.stats().map((s) => s.peer)).toEqual(['Node3']);
    expect(node1.log.join('\n')).toContain('closed the link to Node2: no longer a member');
    const before = node1.inbox.length;
    node2.transport.send('Node1', heartbeat('Node2', 'Node1', 3));
    // (Node1 logs its refusals rate-limited by reason; the dialer's own log says it at once.)
    await waitFor(() => node2.log.some((line) => line.includes('Node1 refused our handshake')), 'Node1 refuses Node2');
    expect(node1.inbox.slice(before).filter((m) => m.from === 'Node2')).toEqual([]);
    // Node3, still a member, gets through.
    await connected(node3, 'Node1');
    node3.transport.send('Node1', heartbeat('Node3', 'Node1', 4));
    await waitFor(() => node1.inbox.some((m) => m.from === 'Node3'), 'Node1 hears Node3');
  });
});
