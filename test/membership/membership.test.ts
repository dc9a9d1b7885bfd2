import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, REPO_ROOT, sleep, TestCluster, waitFor } from '../support/cluster.js';

/**
 * Membership changes on real node processes (SPEC §9), under write load: a node joins with
 * --join (learner, caught up, promoted), a follower is removed, the leader is removed, and a
 * kill -9'd node is replaced with `member replace`. No acknowledged write is lost. Ports
 * 29100-29399 (this suite's range), 127.0.0.1 only. Run under the cluster lock.
 */

const MAIN_JS = join(REPO_ROOT, 'dist/cli/main.js');
const HTTP_BASE = 29100;
const RAFT_BASE = 29200;
const CONTROLLER_BASE = 29300;

let cluster: TestCluster;
const extra: ChildProcess[] = [];
/** Each joiner's own output (chunks of one process stay together, so log lines are whole). */
const joinerOutput = new Map<string, string>();
const acked = new Map<string, number>();
let writing = true;
let writer: Promise<void> = Promise.resolve();

/** Starts a node outside the cluster process: `node --join` with the cluster's secret file. */
function startJoiner(i: number, args: string[], via: number): ChildProcess {
  const id = `Node${i}`;
  const argv = [MAIN_JS, 'node', '--id', id, '--join', url(via), '--data-dir', join(cluster.dataDir, id), '--raft', `127.0.0.1:${RAFT_BASE + i}`, '--http', `127.0.0.1:${HTTP_BASE + i}`, '--controller', `127.0.0.1:${CONTROLLER_BASE + i}`, '--secret-file', join(cluster.dataDir, 'secret'), '--cluster-id', clusterId(), ...args];
  const child = spawn(process.execPath, argv, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const record = (c: Buffer): void => {
    cluster.output += `${id} | ${c.toString()}`;
    joinerOutput.set(id, (joinerOutput.get(id) ?? '') + c.toString());
  };
  child.stdout?.on('data', record);
  child.stderr?.on('data', record);
  extra.push(child);
  return child;
}

/** The cluster id `cluster` generated (SPEC §9: a joining node passes --cluster-id). */
const clusterId = (): string => (JSON.parse(readFileSync(join(cluster.dataDir, 'cluster.json'), 'utf8')) as { clusterId: string }).clusterId;
const url = (i: number): string => `http://127.0.0.1:${HTTP_BASE + i}`;
const members = async (i: number): Promise<any> => (await http('GET', `${url(i)}/api/members`)).body;
const change = (i: number, changes: unknown[]): Promise<{ status: number; body: any }> => http('POST', `${url(i)}/api/members`, { changes }, {}, 15_000);
const statusOf = async (i: number): Promise<any> => (await http('GET', `${url(i)}/api/status`, undefined, {}, 1_000)).body;
const leaderIndex = async (among: number[]): Promise<number> => Number((await waitFor('a leader', async () => {
  for (const i of among) {
    const s = await statusOf(i).catch(() => null);
    if (s?.state === 'leader') return s.id as string;
  }
  return undefined;
}, 15_000)).slice(4));

/** Writes through whichever of `targets()` answers, recording every acknowledged write. */
function startWriter(targets: () => number[]): void {
  let n = 0;
  writer = (async () => {
    while (writing) {
      const key = `w${n++}`;
      for (const i of targets()) {
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

let voters = [1, 2, 3];

beforeAll(async () => {
  cluster = await TestCluster.start({ nodes: 3, httpBase: HTTP_BASE, raftBase: RAFT_BASE, controllerBase: CONTROLLER_BASE, nodeArgs: ['--snapshot-every', '200'] });
  await cluster.waitForLeader();
  startWriter(() => voters);
}, 60_000);

afterAll(async () => {
  writing = false;
  await writer;
  for (const child of extra) if (child.exitCode === null) child.kill('SIGKILL');
  await cluster?.stop();
});

describe('membership on real processes (SPEC §9)', () => {
  it('Node4 joins with --join after the log is compacted, catches up by InstallSnapshot and is promoted', async () => {
    await waitFor('the log compacted (writes past --snapshot-every)', () => acked.size > 300, 60_000);
    startJoiner(4, [], 1);
    await waitFor('Node4 a voter', async () => (await members(1).catch(() => null))?.voters?.some((m: any) => m.id === 'Node4'), 60_000);
    voters = [1, 2, 3, 4];
    const s = await statusOf(4);
    expect(s.state === 'follower' || s.state === 'leader').toBe(true);
    // The leader's log no longer held the start: Node4 was sent a snapshot, not entries 1..n.
    const installed = /installed snapshot index=(\d+)/.exec(joinerOutput.get('Node4') ?? '');
    expect(installed, (joinerOutput.get('Node4') ?? '').slice(-2_000)).not.toBeNull();
    expect(Number(installed?.[1])).toBeGreaterThanOrEqual(200);
  }, 90_000);

  it('removes a follower, which reports "removed" within 5 s and never disturbs the cluster', async () => {
    const leader = await leaderIndex(voters);
    const follower = voters.find((i) => i !== leader && i !== 4) as number;
    const res = await change(leader, [{ op: 'remove', id: `Node${follower}` }]);
    expect(res.status).toBe(200);
    voters = voters.filter((i) => i !== follower);
    await waitFor(`Node${follower} removed`, async () => (await statusOf(follower).catch(() => null))?.state === 'removed', 5_000);
    const before = await statusOf(leader);
    await sleep(2_000);
    const after = await statusOf(leader);
    expect([after.state, after.term]).toEqual(['leader', before.term]);
  }, 30_000);

  it('removes the leader: a new leader within 1.5 s of the answer', async () => {
    const leader = await leaderIndex(voters);
    const res = await change(leader, [{ op: 'remove', id: `Node${leader}` }]);
    expect(res.status).toBe(200);
    const answeredAt = Date.now();
    voters = voters.filter((i) => i !== leader);
    await leaderIndex(voters);
    expect(Date.now() - answeredAt).toBeLessThan(1_500);
    await waitFor(`Node${leader} removed`, async () => (await statusOf(leader).catch(() => null))?.state === 'removed', 5_000);
  }, 30_000);

  it('replaces a kill -9\'d voter whose data dir is wiped with member replace; writes keep working and no acknowledged write is lost', async () => {
    // Two voters left: grow to three first, so one can die without losing the quorum.
    startJoiner(5, [], voters[0] as number);
    await waitFor('Node5 a voter', async () => (await members(voters[0] as number).catch(() => null))?.voters?.some((m: any) => m.id === 'Node5'), 60_000);
    voters = [...voters, 5];
    const leader = await leaderIndex(voters);
    const victim = voters.find((i) => i !== leader) as number;
    const victimProcess = extra.find((c) => c.spawnargs.includes(`Node${victim}`));
    if (victimProcess) victimProcess.kill('SIGKILL');
    else cluster.kill9(`Node${victim}`);
    // The machine is gone for good: its disk too (the runbook replaces it, never restarts it).
    await sleep(200);
    rmSync(join(cluster.dataDir, `Node${victim}`), { recursive: true, force: true });
    voters = voters.filter((i) => i !== victim);
    const replace = spawn(process.execPath, [MAIN_JS, 'member', 'replace', `Node${victim}`, '--with', 'Node6', '--raft', `127.0.0.1:${RAFT_BASE + 6}`, '--http', url(6), '--via', url(leader)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let replaceOutput = '';
    replace.stdout?.on('data', (c: Buffer) => (replaceOutput += c.toString()));
    replace.stderr?.on('data', (c: Buffer) => (replaceOutput += c.toString()));
    await waitFor('Node6 added', async () => (await members(leader).catch(() => null))?.learners?.some((m: any) => m.id === 'Node6'), 20_000);
    startJoiner(6, ['--learner'], leader);
    const code = await new Promise<number | null>((resolve) => replace.once('exit', resolve));
    expect(replaceOutput).toContain('3/3 removed');
    expect(code).toBe(0);
    voters = [...voters, 6];
    const final = await members(6);
    expect(final.voters.map((m: any) => m.id).sort()).toEqual(voters.map((i) => `Node${i}`).sort());

    writing = false;
    await writer;
    const reader = await leaderIndex(voters);
    for (const [key, value] of acked) {
      const res = await http('GET', `${url(reader)}/api/kv/${key}`);
      expect([key, res.body.value]).toEqual([key, value]);
    }
  }, 120_000);
});
