import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RawPeer } from '../../test/support/raw-peer.js';
import { makeCa, makeNodeCert, type CertPair } from '../cli/certs.js';
import type { Message, NodeId } from '@raftquotes/raft';
import type { TransportLogger } from './log.js';
import { TcpTransport } from './tcp-transport.js';
import type { PeerTlsFiles } from './tls-identity.js';
import { waitFor } from '../../test/support/wait.js';

const HOST = '127.0.0.1';
const CLUSTER = 'tls-cluster';
const WAIT_MS = 15_000;
const dir = mkdtempSync(join(tmpdir(), 'rq-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ca = makeCa();
const otherCa = makeCa('another CA');
let fileCount = 0;

/** Writes a certificate pair and a CA to files, as the node reads them. */
function files(pair: CertPair, caPair: CertPair = ca): PeerTlsFiles {
  const n = fileCount++;
  const paths = { cert: join(dir, `${n}.crt`), key: join(dir, `${n}.key`), ca: join(dir, `${n}-ca.crt`) };
  writeFileSync(paths.cert, pair.cert);
  writeFileSync(paths.key, pair.key, { mode: 0o600 });
  writeFileSync(paths.ca, caPair.cert);
  return paths;
}

function recordingLogger(): TransportLogger & { text(): string } {
  const lines: string[] = [];
  const at = (level: string) => (_fields: object, message: string) => void lines.push(`${level} ${message}`);
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), text: () => lines.join('\n') };
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

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface TlsNode {
  transport: TcpTransport;
  inbox: Message[];
  logger: ReturnType<typeof recordingLogger>;
}

function makeTlsNode(id: NodeId, ports: Record<NodeId, number>, tlsFiles: PeerTlsFiles): TlsNode {
  const logger = recordingLogger();
  const peers = Object.fromEntries(Object.keys(ports).filter((p) => p !== id).map((p) => [p, { host: HOST, port: ports[p] as number }]));
  const transport = new TcpTransport({ selfId: id, clusterId: CLUSTER, listen: { host: HOST, port: ports[id] as number }, peers, tls: tlsFiles, secret: 'ignored-under-tls-0000', advertise: { http: `https://${id}.example:8443` }, logger, limits: { backoffMaxMs: 200 } });
  const node: TlsNode = { transport, inbox: [], logger };
  transport.onMessage((m) => node.inbox.push(m as Message));
  cleanups.push(() => transport.close());
  return node;
}

async function startTlsGroup(ids: NodeId[], tlsOf: (id: NodeId) => PeerTlsFiles): Promise<{ nodes: Record<NodeId, TlsNode>; ports: Record<NodeId, number> }> {
  const portList = await freePorts(ids.length);
  const ports = Object.fromEntries(ids.map((id, i) => [id, portList[i] as number]));
  const nodes = Object.fromEntries(ids.map((id) => [id, makeTlsNode(id, ports, tlsOf(id))]));
  await Promise.all(Object.values(nodes).map((n) => n.transport.start()));
  return { nodes, ports };
}

const connected = (node: TlsNode, peer: NodeId): boolean => node.transport.stats().some((s) => s.peer === peer && s.connected);
const heartbeat = (from: NodeId, to: NodeId, commit: number): Message => ({ type: 'Heartbeat', from, to, term: 1, commit, readRound: 0 });

/** A raw TLS dialer presenting `pair`, that says hello as `from`. */
async function tlsDialer(port: number, pair: CertPair, from: NodeId, trust: CertPair = ca): Promise<RawPeer> {
  const peer = await RawPeer.connect(port, { cert: pair.cert, key: pair.key, ca: trust.cert, checkServerIdentity: () => undefined });
  cleanups.push(() => peer.destroy());
  if (!peer.isClosed) peer.sendHello({ clusterId: CLUSTER, from, to: 'Node2', mode: 'tls' });
  return peer;
}

describe('TcpTransport over mutual TLS', () => {
  const certs = Object.fromEntries(['Node1', 'Node2', 'Node3'].map((id) => [id, makeNodeCert(ca, id, ['127.0.0.1'])]));

  it('delivers between peers whose certificates name them, and learns URLs from the verified acceptor', async () => {
    const { nodes } = await startTlsGroup(['Node1', 'Node2'], (id) => files(certs[id] as CertPair));
    const [a, b] = [nodes.Node1 as TlsNode, nodes.Node2 as TlsNode];
    expect(a.transport.authMode).toBe('tls');
    await waitFor('links up', () => connected(a, 'Node2') && connected(b, 'Node1'), WAIT_MS, 5);
    a.transport.send('Node2', heartbeat('Node1', 'Node2', 3));
    await waitFor('delivery', () => b.inbox.length === 1, WAIT_MS, 5);
    expect(a.transport.peerHttpUrl('Node2')).toBe('https://Node2.example:8443');
    expect(a.logger.text()).toMatch(/shared secret is not used/);
  });

  it.each([
    ['a plaintext peer', async (port: number) => {
      const peer = await RawPeer.connect(port);
      cleanups.push(() => peer.destroy());
      peer.sendHello({ clusterId: CLUSTER, from: 'Node1', to: 'Node2', mode: 'tls' });
      return peer;
    }, /refused peer connection .*TLS handshake failed/],
    ['a certificate from another CA', (port: number) => tlsDialer(port, makeNodeCert(otherCa, 'Node1'), 'Node1', ca), /refused peer connection .*certificate not accepted/],
    ['a valid certificate whose name is not the claimed id', (port: number) => tlsDialer(port, certs.Node3 as CertPair, 'Node1'), /refused peer connection .*claims to be "Node1" but its certificate names \["Node3"/],
  ])('refuses %s, and logs why', async (_name, dial, logged) => {
    const { nodes, ports } = await startTlsGroup(['Node1', 'Node2'], (id) => files(certs[id] as CertPair));
    const b = nodes.Node2 as TlsNode;
    const peer = await dial(ports.Node2 as number);
    expect(await peer.waitClosed(WAIT_MS)).toBe(true);
    await waitFor('refusal logged', () => logged.test(b.logger.text()), WAIT_MS, 5);
    expect(peer.received.filter((f) => f.kind === 'welcome')).toEqual([]);
  });

  it('the dialer refuses an acceptor whose certificate names another node', async () => {
    // Node1 dials Node2's address, but Node2 presents Node3's certificate.
    const { nodes } = await startTlsGroup(['Node1', 'Node2'], (id) => files((id === 'Node2' ? certs.Node3 : certs[id]) as CertPair));
    const a = nodes.Node1 as TlsNode;
    await waitFor('dialer refusal logged', () => /refused peer connection to Node2 .*certificate names \["Node3"/.test(a.logger.text()), WAIT_MS, 5);
    expect(connected(a, 'Node2')).toBe(false);
    expect(a.transport.peerHttpUrl('Node2')).toBeNull();
  });

  it('reloadTls swaps certificates for new connections, and keeps the old ones when the files are bad', async () => {
    const paths: Record<NodeId, PeerTlsFiles> = {};
    const { nodes, ports } = await startTlsGroup(['Node1', 'Node2'], (id) => (paths[id] = files(certs[id] as CertPair)));
    const a = nodes.Node1 as TlsNode;
    const mine = paths.Node1 as PeerTlsFiles;
    await waitFor('link up', () => connected(a, 'Node2'), WAIT_MS, 5);
    const install = (pair: CertPair): void => {
      writeFileSync(mine.cert, pair.cert);
      writeFileSync(mine.key, pair.key);
    };
    /** Replaces Node2 by a fresh process-like transport on the same port, so Node1 must dial anew. */
    const restartNode2 = async (): Promise<TlsNode> => {
      await (nodes.Node2 as TlsNode).transport.close();
      await waitFor('link down', () => !connected(a, 'Node2'), WAIT_MS, 5);
      const fresh = makeTlsNode('Node2', ports, paths.Node2 as PeerTlsFiles);
      await fresh.transport.start();
      nodes.Node2 = fresh;
      return fresh;
    };
    writeFileSync(mine.cert, 'not a certificate');
    expect(() => a.transport.reloadTls()).toThrow(/unusable peer TLS files/);
    // A certificate of another CA, loaded: new dials use it, so Node2 refuses them.
    install(makeNodeCert(otherCa, 'Node1'));
    a.transport.reloadTls();
    let b = await restartNode2();
    await waitFor('new dial uses the reloaded certificate', () => /refused peer connection .*certificate not accepted/.test(b.logger.text()), WAIT_MS, 5);
    // A renewed certificate of the right CA: the next dial gets in.
    install(makeNodeCert(ca, 'Node1', ['127.0.0.1']));
    a.transport.reloadTls();
    b = await restartNode2();
    await waitFor('link up with the renewed certificate', () => connected(a, 'Node2'), WAIT_MS, 5);
    a.transport.send('Node2', heartbeat('Node1', 'Node2', 9));
    await waitFor('delivery', () => b.inbox.length === 1, WAIT_MS, 5);
  });
});
