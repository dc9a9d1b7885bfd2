import { afterEach, describe, expect, it } from 'vitest';
import { FaultNetwork } from './network.js';
import { linkWorksFrom, startEchoServer, type EchoServer } from './socket-helpers.js';

/** "Did not arrive" wait for a cut link; a working link answers well within ARRIVES_MS. */
const SILENCE_MS = 300;
const ARRIVES_MS = 3_000;

let echoes: EchoServer[] = [];
let network: FaultNetwork | undefined;

afterEach(async () => {
  await network?.close();
  network = undefined;
  await Promise.all(echoes.map((echo) => echo.close()));
  echoes = [];
});

/** n echo servers standing in for the nodes' Raft ports, each answering with its node id. */
async function startNetwork(n: number): Promise<FaultNetwork> {
  const ids = Array.from({ length: n }, (_, i) => `Node${i + 1}`);
  echoes = await Promise.all(ids.map((id) => startEchoServer(id)));
  network = await FaultNetwork.start(ids.map((id, i) => ({ id, raft: { host: '127.0.0.1', port: (echoes[i] as EchoServer).port } })));
  return network;
}

/**
 * Probes every directed link at once and returns the ones that work, as "A→B".
 * A working link must answer within ARRIVES_MS; a cut one must stay silent for SILENCE_MS.
 */
async function workingLinks(net: FaultNetwork): Promise<string[]> {
  const links = net.nodeIds.flatMap((from) => net.nodeIds.filter((to) => to !== from).map((to) => [from, to] as const));
  const results = await Promise.all(
    links.map(async ([from, to]) => {
      const cut = net.link(from, to).isCut();
      const works = await linkWorksFrom(net.link(from, to).port, from, to, cut ? SILENCE_MS : ARRIVES_MS);
      return works ? `${from}→${to}` : undefined;
    }),
  );
  return results.filter((link): link is string => link !== undefined);
}

function allLinksExcept(ids: readonly string[], cut: (from: string, to: string) => boolean): string[] {
  return ids.flatMap((from) => ids.filter((to) => to !== from && !cut(from, to)).map((to) => `${from}→${to}`));
}

describe('FaultNetwork', () => {
  it('gives every node the same --peers list of entrances, and forwards each connection to the right node', async () => {
    const net = await startNetwork(3);
    const flag = net.peersFlag('Node2');
    expect(flag.split(',').map((entry) => entry.split('=')[0])).toEqual(['Node1', 'Node2', 'Node3']);
    expect(net.peersFlag('Node1')).toBe(flag);
    expect(flag).toContain(`Node2=${net.entranceOf('Node2')}`);
    expect(flag).not.toContain(`:${echoes[1]?.port}`);
    expect(net.link('Node2', 'Node1').address).toBe(net.entranceOf('Node1'));
    expect(await workingLinks(net)).toHaveLength(6);
  });

  it('tells dialers of one entrance apart by their hello: cutting Node1→Node3 leaves Node2→Node3 up', async () => {
    const net = await startNetwork(3);
    net.cutLink('Node1', 'Node3');
    expect(await workingLinks(net)).toEqual(allLinksExcept(net.nodeIds, (a, b) => a === 'Node1' && b === 'Node3'));
  });

  it('puts a node added at run time behind the same faults: isolated by partition(), and back after healAll()', async () => {
    const net = await startNetwork(3);
    const late = await startEchoServer('Node4');
    echoes.push(late);
    await net.addNode({ id: 'Node4', raft: { host: '127.0.0.1', port: late.port } });
    expect(net.peersFlag('Node1')).toContain(`Node4=${net.entranceOf('Node4')}`);
    expect(await workingLinks(net)).toHaveLength(12);
    net.partition([['Node1', 'Node2', 'Node3'], ['Node4']]);
    expect(await workingLinks(net)).toEqual(allLinksExcept(net.nodeIds, (a, b) => (a === 'Node4') !== (b === 'Node4')));
    expect(net.describe()).toContain('Node1→Node4');
    expect(net.describe()).toContain('Node4→Node1');
    net.healAll();
    expect(await workingLinks(net)).toHaveLength(12);
  });

  it('partition() cuts exactly the links between groups', async () => {
    const net = await startNetwork(5);
    const groups = [['Node1', 'Node2'], ['Node3', 'Node4', 'Node5']];
    net.partition(groups);
    const side = (id: string) => (groups[0]?.includes(id) ? 0 : 1);
    expect(await workingLinks(net)).toEqual(allLinksExcept(net.nodeIds, (a, b) => side(a) !== side(b)));
    expect(net.cutLinks()).toHaveLength(12);
    net.partition([['Node1', 'Node2', 'Node3', 'Node4', 'Node5']]);
    expect(net.describe()).toBe('all links up');
    expect(await workingLinks(net)).toHaveLength(20);
  });

  it('bridge() lets both sides see the bridge node but not each other', async () => {
    const net = await startNetwork(5);
    net.bridge(['Node1', 'Node2'], ['Node4', 'Node5'], 'Node3');
    const side = (id: string) => (id === 'Node3' ? 'bridge' : ['Node1', 'Node2'].includes(id) ? 'a' : 'b');
    const blocked = (a: string, b: string) => side(a) !== 'bridge' && side(b) !== 'bridge' && side(a) !== side(b);
    expect(await workingLinks(net)).toEqual(allLinksExcept(net.nodeIds, blocked));
  });

  it('isolate() cuts only the links of one node, and healAll() restores everything', async () => {
    const net = await startNetwork(3);
    net.cutLink('Node1', 'Node3');
    net.isolate('Node2');
    expect(await workingLinks(net)).toEqual(['Node3→Node1']);
    expect(net.describe()).toBe('cut: Node1→Node2, Node1→Node3, Node2→Node1, Node2→Node3, Node3→Node2');
    net.healAll();
    expect(await workingLinks(net)).toHaveLength(6);
  });

  it('refuses topologies that do not list every node exactly once', async () => {
    const net = await startNetwork(3);
    expect(() => net.partition([['Node1'], ['Node2']])).toThrow(/missing: Node3/);
    expect(() => net.partition([['Node1', 'Node2'], ['Node2', 'Node3']])).toThrow(/listed twice: Node2/);
    expect(() => net.bridge(['Node1'], ['Node2'], 'Node9')).toThrow(/unknown node Node9/);
    expect(() => net.isolate('Node7')).toThrow(/unknown node Node7/);
  });
});
