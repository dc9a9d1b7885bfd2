import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, REPO_ROOT, sleep, TestCluster, waitFor } from '../support/cluster.js';

/**
 * Growing and shrinking on real node processes under write load (SPEC §9, issue 17): a
 * 3-voter cluster grows to 5 (Node4 with `node --join --learner`, Node5 with `member add
 * --learner` then `node --join`; both promoted with `member promote`), a follower forwards
 * a write to Node4 once it leads (known only from the configuration), and the cluster
 * shrinks back to 3 (one joint change removes both, the leader Node4 among them), with Node5
 * killed before its removal. That node is then restarted with its old data, still believing
 * it is a voter: it must cause no election (pre-vote keeps it out), so leader and term stay.
 * No acknowledged write is lost. Ports 11900-11959 (this file's range), 127.0.0.1 only. Run
 * under the cluster lock.
 */

const MAIN_JS = join(REPO_ROOT, 'dist/cli/main.js');
const HTTP_BASE = 11900;
const RAFT_BASE = 11920;
const CONTROLLER_BASE = 11940;
/** Long enough for many election timeouts (300-600 ms) of a node that wants to campaign. */
const QUIET_WINDOW_MS = 5_000;

let cluster: TestCluster;
const joiners = new Map<number, ChildProcess>();
const acked = new Map<string, number>();
let writing = true;
let writer: Promise<void> = Promise.resolve();
let voters = [1, 2, 3];

const url = (i: number): string => `http://127.0.0.1:${HTTP_BASE + i}`;
const clusterId = (): string => (JSON.parse(readFileSync(join(cluster.dataDir, 'cluster.json'), 'utf8')) as { clusterId: string }).clusterId;
const members = async (i: number): Promise<any> => (await http('GET', `${url(i)}/api/members`, undefined, {}, 2_000)).body;
const change = (i: number, changes: unknown[]): Promise<{ status: number; body: any }> => http('POST', `${url(i)}/api/members`, { changes }, {}, 15_000);
const statusOf = async (i: number): Promise<any> => (await http('GET', `${url(i)}/api/status`, undefined, {}, 1_000)).body;
const leaderIndex = async (among: number[]): Promise<number> => Number((await waitFor('a leader', async () => {
  for (const i of among) {
    const s = await statusOf(i).catch(() => null);
    if (s?.state === 'leader') return s.id as string;
  }
  return undefined;
}, 15_000)).slice(4));

/** `node --join` on an empty data dir (or a restart on the same one: --join is then ignored). */
function startJoiner(i: number, via: number, extra: string[] = []): ChildProcess {
  const id = `Node${i}`;
  const argv = [MAIN_JS, 'node', '--id', id, '--join', url(via), '--data-dir', join(cluster.dataDir, id), '--raft', `127.0.0.1:${RAFT_BASE + i}`, '--http', `127.0.0.1:${HTTP_BASE + i}`, '--controller', `127.0.0.1:${CONTROLLER_BASE + i}`, '--secret-file', join(cluster.dataDir, 'secret'), '--cluster-id', clusterId(), ...extra];
  const child = spawn(process.execPath, argv, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (c: Buffer) => (cluster.output += `${id} | ${c.toString()}`));
  child.stderr?.on('data', (c: Buffer) => (cluster.output += `${id} | ${c.toString()}`));
  joiners.set(i, child);
  return child;
}

/** `raftquotes member ...`, asynchronously (the writer keeps writing), killed after 90 s. */
function member(args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [MAIN_JS, 'member', ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 90_000 });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out })));
}

function startWriter(): void {
  let n = 0;
  writer = (async () => {
    while (writing) {
      const key = `g${n++}`;
      for (const i of voters) {
        const res = await http('PUT', `${url(i)}/api/kv/${key}`, { value: n }, {}, 3_000).catch(() => null);
        if (res?.status === 200) {
          acked.set(key, n);
          break;
        }
      }
      await sleep(20);
    }
  })();
}

beforeAll(async () => {
  cluster = await TestCluster.start({ nodes: 3, httpBase: HTTP_BASE, raftBase: RAFT_BASE, controllerBase: CONTROLLER_BASE, nodeArgs: ['--snapshot-every', '200'] });
  await cluster.waitForLeader();
  startWriter();
}, 60_000);

afterAll(async () => {
  writing = false;
  await writer;
  for (const child of joiners.values()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await cluster?.stop();
});

describe('growing and shrinking on real processes (SPEC §9)', () => {
  it('grows from 3 to 5 voters with `member add` / `node --join` and `member promote`', async () => {
    await waitFor('some writes', () => acked.size > 50, 30_000);
    // Node4 asks to be added itself while the operator adds Node5 (then starts it). SPEC §9
    // allows one change at a time, so whichever reaches the leader second gets 409: the joiner
    // retries on its own; `member add` reports it in one line and exits non-zero, and the
    // operator runs it again, as this test does.
    startJoiner(4, 1, ['--learner']);
    const addNode5 = ['add', 'Node5', '--raft', `127.0.0.1:${RAFT_BASE + 5}`, '--http', url(5), '--learner', '--via', url(2)];
    let add = await member(addNode5);
    for (let attempt = 1; attempt < 20 && add.code !== 0 && add.out.includes('precondition_failed'); attempt++) {
      expect(add.out).toMatch(/precondition_failed: the configuration change at index \d+ is not finished/);
      await sleep(250);
      add = await member(addNode5);
    }
    expect(add.out).toContain('added Node5 as a learner');
    expect(add.code, add.out).toBe(0);
    startJoiner(5, 2, ['--learner']);
    await waitFor('Node4 and Node5 learners', async () => (await members(1).catch(() => null))?.learners?.length === 2, 60_000);
    for (const id of ['Node4', 'Node5']) {
      const promote = await member(['promote', id, '--via', url(3)]);
      expect(promote.out).toContain(`promoted ${id} to voter`);
      expect(promote.code, promote.out).toBe(0);
    }
    voters = [1, 2, 3, 4, 5];
    const final = await members(1);
    expect(final.voters.map((m: any) => m.id).sort()).toEqual(['Node1', 'Node2', 'Node3', 'Node4', 'Node5']);
    expect(final.joint).toBeNull();
    for (const i of [4, 5]) expect(['follower', 'leader']).toContain((await statusOf(i)).state);
  }, 180_000);

  it('forwards to a leader that joined later, through the HTTP URL in the configuration', async () => {
    const leader = await leaderIndex(voters);
    if (leader !== 4) {
      const res = await http('POST', `${url(leader)}/api/admin/transfer-leadership`, { to: 'Node4' }, {}, 10_000);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    }
    await waitFor('Node4 leads', async () => (await statusOf(4).catch(() => null))?.state === 'leader', 15_000);
    // Node1 learns the new leader from its first append; until then it answers 503 no_leader, as SPEC §3 says.
    await waitFor('Node1 knows Node4 leads', async () => (await statusOf(1).catch(() => null))?.leader === 'Node4', 15_000);
    // Node1 knows Node4 only from the configuration entry that added it (not from --peers).
    const put = await http('PUT', `${url(1)}/api/kv/through-node1`, { value: 'forwarded' }, {}, 10_000);
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect((await http('GET', `${url(4)}/api/kv/through-node1`)).body.value).toBe('forwarded');
  }, 60_000);

  it('shrinks back to 3 in one joint change, with Node5 killed first', async () => {
    joiners.get(5)?.kill('SIGKILL');
    voters = [1, 2, 3, 4];
    const leader = await leaderIndex(voters);
    const res = await change(leader, [{ op: 'remove', id: 'Node4' }, { op: 'remove', id: 'Node5' }]);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    voters = [1, 2, 3];
    await waitFor('3 voters, not joint', async () => {
      const m = await members(voters[0] as number).catch(() => null);
      return m?.joint === null && m.voters.map((v: any) => v.id).sort().join() === 'Node1,Node2,Node3';
    }, 10_000);
    await waitFor('Node4 removed', async () => (await statusOf(4).catch(() => null))?.state === 'removed', 10_000);
  }, 60_000);

  it('a removed node restarted with its old data (it still thinks it is a voter) causes no election', async () => {
    await waitFor('Node5 exited', () => joiners.get(5)?.exitCode !== null || joiners.get(5)?.signalCode !== null, 5_000);
    const leader = await leaderIndex(voters);
    const before = await statusOf(leader);
    startJoiner(5, 1);
    await waitFor('Node5 answers', async () => (await statusOf(5).catch(() => null)) !== null, 30_000);
    // Its data ends before its removal: it still counts itself a voter of five, so its election timer runs.
    expect((await statusOf(5)).members?.voters).toContain('Node5');
    await sleep(QUIET_WINDOW_MS);
    for (const i of voters) {
      const s = await statusOf(i);
      expect([`Node${i}`, s.leader, s.term]).toEqual([`Node${i}`, `Node${leader}`, before.term]);
    }
    expect((await statusOf(5)).state).not.toBe('leader');
  }, 60_000);

  it('loses no acknowledged write', async () => {
    writing = false;
    await writer;
    expect(acked.size).toBeGreaterThan(100);
    const reader = await leaderIndex(voters);
    for (const [key, value] of acked) {
      const res = await http('GET', `${url(reader)}/api/kv/${key}`);
      expect([key, res.body.value]).toEqual([key, value]);
    }
  }, 60_000);
});
