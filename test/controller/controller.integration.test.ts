import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControllerClient, type ControllerTarget } from '../../src/controller/client.js';
import { MAX_REPLY_BYTES } from '../../src/controller/protocol.js';
import { REPO_ROOT, TestCluster, http, waitFor } from '../support/cluster.js';
import { UdpProbe, type JsonReply } from './udp-probe.js';

const MAIN_JS = join(REPO_ROOT, 'dist/cli/main.js');
const HAS_PYTHON = spawnSync('python3', ['--version']).status === 0;

/** A request in the course template (Message.json) plus extra fields. */
const message = (request: string, fields: Record<string, unknown> = {}): Record<string, unknown> => ({ sender_name: 'Controller', request, term: null, key: null, value: null, ...fields });
const leaderInfo = (sender: string, term: number, leader: string | null): JsonReply => ({ sender_name: sender, request: 'LEADER_INFO', term, key: 'LEADER', value: leader });

/**
 * SPEC §4 on real processes: `raftquotes cluster` on the default ports (controller 5555..5559),
 * driven over UDP exactly as a course controller does. The grading sequence runs first, on an
 * empty log, so its RETRIEVE is exact.
 */
describe('the UDP controller on a real 5-node cluster', () => {
  let cluster: TestCluster;
  let probe: UdpProbe;

  const ids = (): string[] => cluster.nodes.map((n) => n.id);
  const port = (id: string): number => Number(cluster.node(id).controller.split(':').at(-1));
  const ask = (id: string, request: string, fields: Record<string, unknown> = {}, timeoutMs = 2_000): Promise<JsonReply | null> => probe.exchange(port(id), message(request, fields), { timeoutMs });
  /** As a course grader reads: recvfrom(1024); throws if the reply is longer. */
  const course = (id: string, request: string, fields: Record<string, unknown> = {}, timeoutMs = 2_000): Promise<JsonReply | null> => probe.exchange(port(id), message(request, fields), { timeoutMs, course: true });
  const expectNoReply = async (id: string, request: string, fields: Record<string, unknown> = {}): Promise<void> => {
    expect(await ask(id, request, fields, 400), `${request} to ${id} must not be answered`).toBeNull();
  };
  const status = async (id: string): Promise<JsonReply> => (await ask(id, 'STATUS'))?.value;
  const targets = (): ControllerTarget[] => cluster.nodes.map((n) => ({ id: n.id, host: '127.0.0.1', port: port(n.id) }));

  /** The leader as LEADER_INFO shows it: named by a node in `among`, and naming itself. */
  const controllerLeader = (among: string[] = ids(), notThis?: string): Promise<{ leader: string; term: number }> =>
    waitFor('a leader over LEADER_INFO', async () => {
      for (const id of among) {
        const named = (await ask(id, 'LEADER_INFO', {}, 500))?.value;
        if (typeof named !== 'string' || named === notThis || !among.includes(named)) continue;
        const own = await ask(named, 'LEADER_INFO', {}, 500);
        if (own?.value === named) return { leader: named, term: own.term as number };
      }
      return undefined;
    }, 20_000, 100);

  /** Waits until `id` is a caught-up follower of `leader`. */
  const caughtUp = (id: string, leader: string): Promise<boolean> =>
    waitFor(`${id} caught up with ${leader}`, async () => {
      const [mine, theirs] = [await status(id), await status(leader)];
      return mine?.state === 'follower' && mine.leader === leader && mine.appliedIndex >= theirs?.commitIndex;
    }, 20_000, 100);

  /** Runs the built CLI: `raftquotes ctl ...` against this cluster's cluster.json. */
  const ctl = (args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = execFile(process.execPath, [MAIN_JS, 'ctl', ...args, '--cluster-file', join(cluster.dataDir, 'cluster.json')], { cwd: REPO_ROOT, timeout: 30_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      child.stdin?.end(input ?? '');
    });

  beforeAll(async () => {
    cluster = await TestCluster.start();
    probe = await UdpProbe.open();
    await cluster.waitForLeader();
  });

  afterAll(async () => {
    probe?.close();
    await cluster?.stop();
  });

  it('replays the course grading sequence, every reply read into a 1024-byte buffer', async () => {
    // LEADER_INFO
    const { leader: first, term: t1 } = await controllerLeader();
    const bystander = ids().find((id) => id !== first) as string;
    expect(await course(bystander, 'LEADER_INFO')).toEqual(leaderInfo(bystander, t1, first));

    // STORE to the leader: no reply without "ack"; it commits before the leader goes away.
    await expectNoReply(first, 'STORE', { key: 'grade-1', value: 'v1' });
    await waitFor('grade-1 committed', async () => (await ask(first, 'RETRIEVE'))?.value?.some((e: JsonReply) => e.Key === 'grade-1'));

    // SHUTDOWN the leader: no reply; its listener stays up and knows no leader.
    await expectNoReply(first, 'SHUTDOWN');
    expect(await course(first, 'LEADER_INFO')).toEqual(leaderInfo(first, t1, null));
    expect(await course(first, 'STORE', { key: 'lost', value: 0 })).toEqual(leaderInfo(first, t1, null));

    // STORE to the new leader, acknowledged once committed.
    const { leader: second, term: t2 } = await controllerLeader(ids().filter((id) => id !== first), first);
    expect(t2).toBeGreaterThan(t1);
    const ack2 = await course(second, 'STORE', { key: 'grade-2', value: { n: 2 }, ack: true }, 6_000);
    expect(ack2).toEqual({ sender_name: second, request: 'STORE', key: 'grade-2', value: { n: 2 }, term: t2, index: expect.any(Number) });

    // CONVERT_FOLLOWER the old leader: it resumes with its persisted term and learns the new leader.
    await expectNoReply(first, 'CONVERT_FOLLOWER');
    await waitFor(`${first} follows ${second}`, async () => (await course(first, 'LEADER_INFO'))?.value === second);
    expect(await course(first, 'LEADER_INFO')).toEqual(leaderInfo(first, t2, second));

    // STORE through the old leader redirects; then to the leader.
    expect(await course(first, 'STORE', { key: 'grade-3', value: 'v3' })).toEqual(leaderInfo(first, t2, second));
    const ack3 = await course(second, 'STORE', { key: 'grade-3', value: 'v3', ack: true }, 6_000);
    expect(ack3).toEqual({ sender_name: second, request: 'STORE', key: 'grade-3', value: 'v3', term: t2, index: ack2.index + 1 });

    // RETRIEVE: exactly the committed client entries, no-ops left out.
    expect(await course(second, 'RETRIEVE')).toEqual({
      sender_name: second,
      request: 'RETRIEVE',
      term: null,
      key: 'COMMITED_LOGS',
      value: [
        { Term: t1, Key: 'grade-1', Value: 'v1' },
        { Term: t2, Key: 'grade-2', Value: { n: 2 } },
        { Term: t2, Key: 'grade-3', Value: 'v3' },
      ],
    });
  });

  it.skipIf(!HAS_PYTHON)('passes the same sequence driven by the standard-library Python course controller', async () => {
    await controllerLeader();
    const run = await new Promise<{ code: number; output: string }>((resolve) =>
      execFile('python3', ['test/controller/course_controller.py', '--base-port', String(port('Node1')), '--nodes', String(ids().length)], { cwd: REPO_ROOT, timeout: 110_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
      ),
    );
    expect(run.output).toMatch(/PASS/);
    expect(run.code).toBe(0);
  }, 120_000);

  it('answers LEADER_INFO and STATUS on every node', async () => {
    const { leader, term } = await controllerLeader();
    for (const id of ids()) if (id !== leader) await caughtUp(id, leader);
    for (const id of ids()) {
      expect(await course(id, 'LEADER_INFO')).toEqual(leaderInfo(id, term, leader));
      const reply = await ask(id, 'STATUS');
      expect(reply).toMatchObject({ sender_name: id, request: 'STATUS', term, key: 'STATUS', value: { id, state: id === leader ? 'leader' : 'follower', term, leader } });
      expect(reply.value.commitIndex).toBeGreaterThanOrEqual(3);
    }
  });

  it('runs the seed aliases PLAYDEAD, FOLLOW and TRYLEAD', async () => {
    const { leader } = await controllerLeader();
    const node = ids().find((id) => id !== leader) as string;
    await expectNoReply(node, 'PLAYDEAD');
    expect((await status(node)).state).toBe('shutdown');
    await expectNoReply(node, 'FOLLOW');
    await caughtUp(node, leader);
    await expectNoReply(node, 'TRYLEAD');
    await waitFor(`${node} leads after TRYLEAD`, async () => (await ask(node, 'LEADER_INFO', {}, 500))?.value === node);
  });

  it('makes a caught-up follower leader with a forced TIMEOUT, although pre-vote protects the sitting leader', async () => {
    const { leader, term } = await controllerLeader();
    const target = ids().find((id) => id !== leader) as string;
    await caughtUp(target, leader);
    await expectNoReply(target, 'TIMEOUT');
    await waitFor(`${target} elected`, async () => (await ask(target, 'LEADER_INFO', {}, 500))?.value === target);
    const after = await controllerLeader();
    expect(after.leader).toBe(target);
    expect(after.term).toBeGreaterThan(term);
    await waitFor(`${leader} stepped down`, async () => (await status(leader))?.state === 'follower');
  });

  it('redirects STORE and RETRIEVE from a follower, and ctl follows the redirect', async () => {
    const { leader, term } = await controllerLeader();
    const follower = ids().find((id) => id !== leader) as string;
    await caughtUp(follower, leader);
    expect(await course(follower, 'STORE', { key: 'r', value: 1 })).toEqual(leaderInfo(follower, term, leader));
    expect(await course(follower, 'RETRIEVE')).toEqual(leaderInfo(follower, term, leader));

    const stored = await ctl(['STORE', '--node', follower, '--key', 'via-ctl', '--value', '{"a":1}', '--ack']);
    expect(stored.code).toBe(0);
    expect(JSON.parse(stored.stdout)).toEqual({ sender_name: leader, request: 'STORE', key: 'via-ctl', value: { a: 1 }, term, index: expect.any(Number) });
    const retrieved = await ctl(['RETRIEVE', '--node', follower]);
    expect(retrieved.code).toBe(0);
    expect(JSON.parse(retrieved.stdout).value.at(-1)).toEqual({ Term: term, Key: 'via-ctl', Value: { a: 1 } });
    expect(JSON.parse((await ctl(['LEADER_INFO'])).stdout)).toEqual(leaderInfo(leader, term, leader));
    expect(await ctl(['TIMEOUT'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/TIMEOUT needs --node/) });
    expect((await ctl(['LEADER_INFO', '--nodes', 'Ghost=127.0.0.1:9', '--timeout', '200'])).code).toBe(1);
    const repl = await ctl([], `LEADER_INFO ${follower}\nexit\n`);
    expect(repl.stdout).toContain(`[${follower}] ${JSON.stringify(leaderInfo(follower, term, leader))}`);
  });

  it('keeps the listener up through SHUTDOWN, and CONVERT_FOLLOWER revives a node that then catches up', async () => {
    const { leader } = await controllerLeader();
    const node = ids().find((id) => id !== leader) as string;
    await expectNoReply(node, 'SHUTDOWN');
    expect(await ask(node, 'LEADER_INFO')).toMatchObject({ sender_name: node, value: null });
    expect((await status(node)).state).toBe('shutdown');
    const api = await http('GET', `${cluster.node(node).http}/api/kv/anything`);
    expect(api.status).toBe(503);
    expect(api.body.error).toBe('unavailable');

    const client = new ControllerClient({ nodes: targets(), timeoutMs: 2_000 });
    try {
      const outcome = await client.store('while-down', 7, { ack: true });
      if (outcome.kind !== 'reply') throw new Error(`STORE: ${outcome.kind}`);
      expect(outcome.reply.message).toMatchObject({ request: 'STORE', key: 'while-down', value: 7 });
      await expectNoReply(node, 'CONVERT_FOLLOWER');
      await waitFor(`${node} applied the write made while it was down`, async () => {
        const s = await status(node);
        return s?.state === 'follower' && s.appliedIndex >= (outcome.reply.message.index as number);
      }, 20_000, 100);
    } finally {
      client.close();
    }
  });

  it('pages RETRIEVE when the committed entries exceed 60,000 bytes', async () => {
    const { leader } = await controllerLeader();
    const client = new ControllerClient({ nodes: targets(), timeoutMs: 2_000 });
    const keys = Array.from({ length: 80 }, (_, i) => `page-${String(i).padStart(2, '0')}`);
    try {
      for (const key of keys) {
        const outcome = await client.store(key, 'p'.repeat(1_000), { ack: true, node: leader });
        expect(outcome.kind === 'reply' && outcome.reply.message.request === 'STORE' && !outcome.reply.message.error, `STORE ${key}`).toBe(true);
      }
      const seen: string[] = [];
      let from: number | undefined;
      let pages = 0;
      do {
        const reply = await ask(leader, 'RETRIEVE', from === undefined ? {} : { value: { from } });
        expect(Buffer.byteLength(JSON.stringify(reply))).toBeLessThanOrEqual(MAX_REPLY_BYTES);
        seen.push(...reply.value.map((e: JsonReply) => e.Key));
        from = reply.next;
        pages++;
      } while (from !== undefined && pages < 100);
      expect(pages).toBeGreaterThanOrEqual(2);
      expect(seen.filter((k) => k.startsWith('page-'))).toEqual(keys);

      const merged = await client.retrieve();
      if (merged.kind !== 'reply') throw new Error(`RETRIEVE: ${merged.kind}`);
      expect(merged.pages).toBe(pages);
      expect((merged.reply.message.value as JsonReply[]).map((e) => e.Key)).toEqual(seen);
    } finally {
      client.close();
    }
  });

  it('answers each kind of bad datagram with exactly one ERROR reply and keeps running', async () => {
    const id = ids()[0] as string;
    const cases: Array<[string, unknown, string | null]> = [
      ['not JSON', 'LEADER_INFO please', null],
      ['invalid UTF-8', Buffer.from([0x7b, 0xc3, 0x28, 0x7d]), null],
      ['not an object', '[1, 2, 3]', null],
      ['no request', { key: 'k' }, null],
      ['request not a string', { request: ['STORE'] }, null],
      ['unknown request', message('MAKE_COFFEE'), 'MAKE_COFFEE'],
      ['STORE key not a string', message('STORE', { key: 12, value: 'v' }), 'STORE'],
      ['STORE without value', { request: 'STORE', key: 'k' }, 'STORE'],
      ['term not a number', message('LEADER_INFO', { term: 'three' }), 'LEADER_INFO'],
      ['RETRIEVE from a bad index', message('RETRIEVE', { value: { from: 'start' } }), 'RETRIEVE'],
      ['oversized', message('STORE', { key: 'k', value: 'x'.repeat(61_000) }), null],
    ];
    for (const [what, datagram, key] of cases) {
      await probe.send(port(id), datagram);
      const replies = (await probe.drain(300)).filter((d) => d.from.port === port(id));
      expect(replies.length, what).toBe(1);
      expect(JSON.parse(replies[0]!.data.toString()), what).toEqual({ sender_name: id, request: 'ERROR', key, value: expect.any(String) });
    }
    expect(await ask(id, 'LEADER_INFO')).toMatchObject({ sender_name: id, request: 'LEADER_INFO' });
    expect((await http('GET', `${cluster.node(id).http}/healthz`)).status).toBe(200);
  });
});
