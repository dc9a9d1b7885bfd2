import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCtl, type CtlIo } from '../../src/cli/ctl.js';
import { completeReplLine, parseReplLine } from '../../src/cli/ctl-repl.js';
import { ControllerClient, type ControllerTarget } from '../../src/controller/client.js';
import { ControllerServer } from '../../src/controller/server.js';
import { FakeRaftNode } from './fake-raft-node.js';
import type { JsonReply } from './udp-probe.js';

/**
 * The client and `raftquotes ctl` against real ControllerServers on 127.0.0.1 ephemeral ports,
 * each driving a FakeRaftNode test double: Node1 and Node3 follow Node2, the leader.
 */
describe('controller client and ctl', () => {
  let nodes: Record<string, FakeRaftNode>;
  let servers: ControllerServer[];
  let targets: ControllerTarget[];
  let clients: ControllerClient[];

  const nodesFlag = (): string => targets.map((t) => `${t.id}=${t.host}:${t.port}`).join(',');
  const client = (timeoutMs = 500): ControllerClient => {
    const c = new ControllerClient({ nodes: targets, timeoutMs });
    clients.push(c);
    return c;
  };

  /** Runs `raftquotes ctl ...` in-process; stdin is `input` (ended), output captured. */
  async function ctl(args: string[], input = '', env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const chunks = { out: '', err: '' };
    stdout.on('data', (c: Buffer) => (chunks.out += c.toString()));
    stderr.on('data', (c: Buffer) => (chunks.err += c.toString()));
    const stdin = new PassThrough();
    stdin.end(input);
    const io: CtlIo = { stdin, stdout, stderr, env };
    const code = await runCtl(args, io);
    return { code, stdout: chunks.out, stderr: chunks.err };
  }
  const lines = (text: string): JsonReply[] => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

  beforeEach(async () => {
    const voters = ['Node1', 'Node2', 'Node3'];
    nodes = { Node1: new FakeRaftNode('Node1', voters).follow('Node2', 3), Node2: new FakeRaftNode('Node2', voters).lead(3), Node3: new FakeRaftNode('Node3', voters).follow('Node2', 3) };
    servers = [];
    targets = [];
    clients = [];
    for (const id of voters) {
      const server = new ControllerServer({ node: nodes[id]!, host: '127.0.0.1', port: 0, storeAckTimeoutMs: 200 });
      await server.start();
      servers.push(server);
      targets.push({ id, host: '127.0.0.1', port: server.address().port });
    }
  });

  afterEach(async () => {
    clients.forEach((c) => c.close());
    await Promise.all(servers.map((s) => s.close()));
  });

  it('finds the leader by asking every node', async () => {
    expect((await client().findLeader())?.id).toBe('Node2');
  });

  it('follows a LEADER_INFO redirect from a follower to the leader for STORE with ack', async () => {
    const outcome = await client().store('k', { a: 1 }, { ack: true, node: 'Node1' });
    expect(outcome).toMatchObject({ kind: 'reply', reply: { node: 'Node2', message: { request: 'STORE', key: 'k', value: { a: 1 }, term: 3, index: 1 } } });
    expect(nodes.Node2!.calls).toEqual(['put k']);
  });

  it('reports a STORE without ack as sent once the leader stays silent', async () => {
    const outcome = await client().store('k', 'v', { node: 'Node3' });
    expect(outcome).toMatchObject({ kind: 'sent', node: 'Node2', message: { request: 'STORE', key: 'k', value: 'v' } });
    expect(nodes.Node2!.committed).toHaveLength(1);
  });

  it('retrieves every page from the leader and concatenates them', async () => {
    for (let i = 0; i < 1200; i++) nodes.Node2!.commit({ op: 'put', key: `k${i}`, value: 'y'.repeat(120) });
    const outcome = await client().retrieve({ node: 'Node3' });
    if (outcome.kind !== 'reply') throw new Error(`unexpected ${outcome.kind}`);
    expect(outcome.pages).toBeGreaterThan(2);
    expect(outcome.reply.message).toMatchObject({ sender_name: 'Node2', request: 'RETRIEVE', term: null, key: 'COMMITED_LOGS' });
    expect(outcome.reply.message.next).toBeUndefined();
    expect((outcome.reply.message.value as Array<{ Key: string }>).map((e) => e.Key)).toEqual(Array.from({ length: 1200 }, (_, i) => `k${i}`));
  });

  it('gives up after a bounded number of redirects when no node knows a leader', async () => {
    for (const n of Object.values(nodes)) n.follow(null);
    const started = Date.now();
    const outcome = await client(100).retrieve();
    expect(outcome).toMatchObject({ kind: 'reply', reply: { message: { request: 'LEADER_INFO', value: null } } });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('reports no reply from a node that is not there', async () => {
    const gone = new ControllerClient({ nodes: [{ id: 'Ghost', host: '127.0.0.1', port: 9 }], timeoutMs: 100 });
    clients.push(gone);
    expect(await gone.ask('Ghost', 'LEADER_INFO')).toMatchObject({ kind: 'no_reply', node: 'Ghost' });
  });

  it('ctl LEADER_INFO prints the leader reply as one JSON line', async () => {
    const { code, stdout } = await ctl(['LEADER_INFO', '--nodes', nodesFlag()]);
    expect(code).toBe(0);
    expect(lines(stdout)).toEqual([{ sender_name: 'Node2', request: 'LEADER_INFO', term: 3, key: 'LEADER', value: 'Node2' }]);
  });

  it('ctl STORE parses --value as JSON when it can, follows the redirect, and prints the ack', async () => {
    const { code, stdout } = await ctl(['STORE', '--node', 'Node1', '--key', 'n', '--value', '42', '--ack', '--nodes', nodesFlag()]);
    expect(code).toBe(0);
    expect(lines(stdout)).toEqual([{ sender_name: 'Node2', request: 'STORE', key: 'n', value: 42, term: 3, index: 1 }]);
    await ctl(['STORE', '--key', 's', '--value', 'plain text', '--ack', '--nodes', nodesFlag()]);
    expect(nodes.Node2!.committed.map((e) => e.command)).toEqual([
      { op: 'put', key: 'n', value: 42 },
      { op: 'put', key: 's', value: 'plain text' },
    ]);
  });

  it('ctl prints {"sent": ...} and exits 0 for requests without a reply', async () => {
    const store = await ctl(['STORE', '--key', 'k', '--value', 'v', '--nodes', nodesFlag()]);
    expect(store.code).toBe(0);
    expect(lines(store.stdout)[0]).toMatchObject({ sent: { sender_name: 'Controller', request: 'STORE', key: 'k', value: 'v' }, node: 'Node2' });
    const timeout = await ctl(['TRYLEAD', '--node', 'Node3', '--nodes', nodesFlag()]);
    expect(timeout.code).toBe(0);
    expect(lines(timeout.stdout)).toEqual([{ sent: { sender_name: 'Controller', request: 'TRYLEAD', term: null, key: null, value: null }, node: 'Node3' }]);
    await new Promise((r) => setTimeout(r, 50));
    expect(nodes.Node3!.calls).toEqual(['campaign']);
  });

  it('ctl STATUS without --node prints every node, and RETRIEVE prints the merged log', async () => {
    nodes.Node2!.commit({ op: 'put', key: 'a', value: 1 });
    const status = await ctl(['STATUS', '--nodes', nodesFlag()]);
    expect(lines(status.stdout).map((r) => r.sender_name).sort()).toEqual(['Node1', 'Node2', 'Node3']);
    const retrieve = await ctl(['RETRIEVE', '--nodes', nodesFlag()]);
    expect(lines(retrieve.stdout)).toEqual([{ sender_name: 'Node2', request: 'RETRIEVE', term: null, key: 'COMMITED_LOGS', value: [{ Term: 3, Key: 'a', Value: 1 }] }]);
  });

  it('ctl passes an unknown request through and exits 1 on the ERROR reply', async () => {
    const { code, stdout } = await ctl(['BOGUS', '--node', 'Node1', '--nodes', nodesFlag()]);
    expect(code).toBe(1);
    expect(lines(stdout)[0]).toMatchObject({ request: 'ERROR', key: 'BOGUS' });
  });

  it('ctl exits non-zero with one clear line on usage mistakes and when no node answers', async () => {
    expect(await ctl(['TIMEOUT', '--nodes', nodesFlag()])).toMatchObject({ code: 2, stderr: expect.stringMatching(/TIMEOUT needs --node/) });
    expect(await ctl(['STORE', '--key', 'k', '--nodes', nodesFlag()])).toMatchObject({ code: 2, stderr: expect.stringMatching(/needs --value/) });
    expect(await ctl(['LEADER_INFO', '--node', 'Node7', '--nodes', nodesFlag()])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown node "Node7"/) });
    expect(await ctl(['LEADER_INFO', '--nodes', 'Node1=nonsense'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--nodes/) });
    expect(await ctl(['LEADER_INFO', '--timeout', 'soon', '--nodes', nodesFlag()])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--timeout/) });
    expect(await ctl(['LEADER_INFO', '--cluster-file', '/nonexistent/cluster.json'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/not found/) });
    const silent = await ctl(['LEADER_INFO', '--nodes', 'Ghost=127.0.0.1:9', '--timeout', '100']);
    expect(silent.code).toBe(1);
    expect(silent.stderr).toMatch(/no reply to LEADER_INFO from Ghost/);
  });

  it('ctl finds nodes through cluster.json and through RAFTQUOTES_NODES', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctl-test-'));
    try {
      const file = join(dir, 'cluster.json');
      writeFileSync(file, JSON.stringify({ clusterId: 'x', nodes: targets.map((t) => ({ id: t.id, pid: 1, controller: `${t.host}:${t.port}` })) }));
      expect(lines((await ctl(['LEADER_INFO', '--node', 'Node3', '--cluster-file', file])).stdout)[0]).toMatchObject({ sender_name: 'Node3', value: 'Node2' });
      expect(lines((await ctl(['LEADER_INFO', '--node', 'node1'], '', { RAFTQUOTES_NODES: nodesFlag() })).stdout)[0]).toMatchObject({ sender_name: 'Node1' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs a REPL on piped input that prints every reply as it arrives', async () => {
    const script = ['help', 'LEADER_INFO Node1', 'STORE greeting hello  world --ack', 'TIMEOUT Node3', 'RETRIEVE', 'SEND Node1 not json', 'FLY Node1', ''].join('\n');
    const { code, stdout } = await ctl(['--nodes', nodesFlag()], script);
    expect(code).toBe(0);
    expect(stdout).toContain('CONVERT_FOLLOWER <Node|all>');
    expect(stdout).toContain('[Node1] {"sender_name":"Node1","request":"LEADER_INFO","term":3,"key":"LEADER","value":"Node2"}');
    expect(stdout).toContain('[Node2] {"sender_name":"Node2","request":"STORE","key":"greeting","value":"hello  world","term":3,"index":1}');
    expect(stdout).toContain('→ sent TIMEOUT to Node3 (no reply expected)');
    expect(stdout).toContain('"key":"COMMITED_LOGS","value":[{"Term":3,"Key":"greeting","Value":"hello  world"}]');
    expect(stdout).toMatch(/\[Node1\] \{"sender_name":"Node1","request":"ERROR","key":null,"value":"datagram is not JSON/);
    expect(stdout).toContain('! unknown command "FLY"; type help');
    expect(nodes.Node3!.calls).toEqual(['campaign']);
  });

  it('parses REPL lines: node names, all, aliases, --ack, values with spaces', () => {
    const ids = ['Node1', 'Node2'];
    expect(parseReplLine('store node2 k {"a": [1, 2]} --ack', ids)).toEqual({ kind: 'request', request: 'STORE', wire: 'STORE', targets: ['Node2'], key: 'k', value: { a: [1, 2] }, ack: true });
    expect(parseReplLine('STORE k v', ids)).toMatchObject({ targets: 'leader', key: 'k', value: 'v', ack: false });
    expect(parseReplLine('PLAYDEAD all', ids)).toMatchObject({ request: 'SHUTDOWN', wire: 'PLAYDEAD', targets: 'all' });
    expect(parseReplLine('TIMEOUT', ids)).toEqual({ kind: 'error', message: 'usage: TIMEOUT <Node|all>' });
    expect(parseReplLine('LEADER_INFO', ids)).toMatchObject({ request: 'LEADER_INFO', targets: 'all' });
    expect(parseReplLine('RETRIEVE Node1 5', ids)).toMatchObject({ request: 'RETRIEVE', targets: ['Node1'], from: 5 });
    expect(parseReplLine('RETRIEVE x', ids)).toMatchObject({ kind: 'error' });
    expect(parseReplLine('STORE onlykey', ids)).toMatchObject({ kind: 'error' });
    expect(parseReplLine('   ', ids)).toEqual({ kind: 'empty' });
  });

  it('completes requests first, then node names', () => {
    const ids = ['Node1', 'Node2'];
    expect(completeReplLine('LEA', ids)).toEqual([['LEADER_INFO'], 'LEA']);
    expect(completeReplLine('co', ids)).toEqual([['CONVERT_FOLLOWER'], 'co']);
    expect(completeReplLine('TIMEOUT No', ids)).toEqual([['Node1', 'Node2'], 'No']);
    expect(completeReplLine('STORE k v --a', ids)).toEqual([['--ack'], '--a']);
  });
});
