/**
 * Membership benchmark (issue 17), run by hand: `npx tsx bench/membership.ts [--entries 100000]`
 * (needs dist/: `npm run build`). Not part of `npm run bench`.
 *
 * 1. Join: a 3-node cluster gets `--entries` writes, then Node4 starts with `--join` on an empty
 *    data dir: time to be a learner, to catch up (applied the leader's commit index as of the
 *    join), and to be promoted (a voter).
 * 2. Write pauses: under a steady closed-loop write load (8 clients), each kind of change in
 *    turn (add learner, promote, remove follower, remove leader, replace); for each, the longest
 *    gap between two acknowledged writes from the change's request to 2 s after its answer,
 *    next to the longest gap over a quiet second before it. Prints JSON lines.
 * Ports 33810+ (HTTP), 33830+ (Raft), 33850+ (controller), 127.0.0.1 only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { waitFor as pollFor } from '../test/support/wait.js';

const ROOT = resolve(import.meta.dirname, '..');
const MAIN_JS = join(ROOT, 'dist/cli/main.js');
const PORTS = { http: 33810, raft: 33830, controller: 33850 };
const WRITERS = 8;
/** How long after a change's answer its pause is looked for. */
const AFTER_MS = 2_000;
const STEP_TIMEOUT_MS = 600_000;

const { values } = parseArgs({ options: { entries: { type: 'string', default: '100000' } } });
const ENTRIES = Number(values.entries);
if (!Number.isInteger(ENTRIES) || ENTRIES < 1 || ENTRIES > 10_000_000) throw new RangeError('--entries must be an integer in [1, 10000000]');

const dataDir = mkdtempSync(join(tmpdir(), 'raftquotes-bench-members-'));
const children: ChildProcess[] = [];
const url = (i: number): string => `http://127.0.0.1:${PORTS.http + i}`;

function spawnDetached(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [MAIN_JS, ...args], { cwd: ROOT, detached: true, stdio: 'ignore' });
  children.push(child);
  return child;
}

function stopAll(): void {
  for (const child of children) if (child.pid && child.exitCode === null) try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
}
process.on('exit', () => {
  stopAll();
  rmSync(dataDir, { recursive: true, force: true });
});

async function json(method: string, target: string, body?: unknown, timeoutMs = 15_000): Promise<{ status: number; body: any }> {
  const res = await fetch(target, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.json().catch(() => null) };
}

/** A step of the run, polled for at most STEP_TIMEOUT_MS unless told otherwise. */
function waitFor<T>(what: string, check: () => Promise<T | null | undefined | false>, timeoutMs = STEP_TIMEOUT_MS): Promise<T> {
  return pollFor(what, check, timeoutMs);
}

const status = (i: number): Promise<any> => json('GET', `${url(i)}/api/status`, undefined, 2_000).then((r) => r.body);
async function leaderOf(ids: number[]): Promise<number> {
  return waitFor('a leader', async () => {
    for (const i of ids) if ((await status(i).catch(() => null))?.state === 'leader') return i;
    return null;
  });
}

function startJoiner(i: number, learner: boolean, via: number): void {
  const cluster = JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as { clusterId: string };
  spawnDetached(['node', '--id', `Node${i}`, '--join', url(via), '--data-dir', join(dataDir, `Node${i}`), '--raft', `127.0.0.1:${PORTS.raft + i}`, '--http', `127.0.0.1:${PORTS.http + i}`, '--controller', `127.0.0.1:${PORTS.controller + i}`, '--secret-file', join(dataDir, 'secret'), '--cluster-id', cluster.clusterId, ...(learner ? ['--learner'] : [])]);
}

/** Closed-loop writers through any live member; records the time of every acknowledged write. */
class Load {
  readonly acked: number[] = [];
  private running = true;
  private readonly loops: Promise<void>[] = [];
  constructor(private readonly targets: () => number[]) {
    for (let w = 0; w < WRITERS; w++) this.loops.push(this.loop(w));
  }
  private async loop(w: number): Promise<void> {
    let n = 0;
    while (this.running) {
      const ids = this.targets();
      const i = ids[(w + n) % ids.length] as number;
      const ok = await json('PUT', `${url(i)}/api/kv/load${w}`, { value: n++ }, 5_000).then((r) => r.status === 200).catch(() => false);
      if (ok) this.acked.push(performance.now());
      else await new Promise((r) => setTimeout(r, 20));
    }
  }
  /** Longest gap between acknowledged writes (or the window's edges) within [from, to]. */
  longestGap(from: number, to: number): number {
    const times = [from, ...this.acked.filter((t) => t > from && t < to).sort((a, b) => a - b), to];
    let best = 0;
    for (let k = 1; k < times.length; k++) best = Math.max(best, (times[k] as number) - (times[k - 1] as number));
    return Math.round(best);
  }
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

async function fill(leader: number): Promise<void> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < ENTRIES) {
      const k = next++;
      const res = await json('PUT', `${url(leader)}/api/kv/fill${k % 1000}`, { value: 'x'.repeat(100) }, 10_000).catch(() => null);
      if (res?.status !== 200) next--; // retried (a PUT of the same key again is harmless)
    }
  }));
  console.log(JSON.stringify({ bench: 'membership-fill', entries: ENTRIES, seconds: Math.round((performance.now() - started) / 100) / 10 }));
}

async function measureJoin(): Promise<void> {
  const leader = await leaderOf([1, 2, 3]);
  await fill(leader);
  const target = (await status(leader)).commitIndex as number;
  const t0 = performance.now();
  startJoiner(4, false, leader);
  const learnerMs = await waitFor('Node4 a learner', async () => ((await json('GET', `${url(leader)}/api/members`)).body?.learners?.some((m: { id: string }) => m.id === 'Node4') || (await status(4))?.members?.voters.includes('Node4') ? performance.now() - t0 : null));
  const caughtUpMs = await waitFor('Node4 caught up', async () => ((await status(4))?.appliedIndex >= target ? performance.now() - t0 : null));
  const promotedMs = await waitFor('Node4 promoted', async () => ((await json('GET', `${url(leader)}/api/members`)).body?.voters?.some((m: { id: string }) => m.id === 'Node4') ? performance.now() - t0 : null));
  console.log(JSON.stringify({ bench: 'membership-join', behind: target, learnerMs: Math.round(learnerMs), caughtUpMs: Math.round(caughtUpMs), promotedMs: Math.round(promotedMs) }));
}

async function change(kind: string, load: Load, act: () => Promise<unknown>): Promise<void> {
  await new Promise((r) => setTimeout(r, 1_000));
  const quietFrom = performance.now() - 1_000;
  const baseline = load.longestGap(quietFrom, performance.now());
  const t0 = performance.now();
  await act();
  const t1 = performance.now();
  await new Promise((r) => setTimeout(r, AFTER_MS));
  console.log(JSON.stringify({ bench: 'membership-pause', change: kind, changeMs: Math.round(t1 - t0), longestWritePauseMs: load.longestGap(t0, t1 + AFTER_MS), quietLongestGapMs: baseline }));
}

async function post(via: number, changes: unknown[]): Promise<void> {
  const res = await json('POST', `${url(via)}/api/members`, { changes }, 30_000);
  if (res.status !== 200) throw new Error(`POST /api/members ${JSON.stringify(changes)}: ${res.status} ${JSON.stringify(res.body)}`);
}

async function promoteWhenCaughtUp(via: () => number, id: string): Promise<void> {
  await waitFor(`${id} promoted`, async () => (await json('POST', `${url(via())}/api/members`, { changes: [{ op: 'promote', id }] }, 30_000)).status === 200, 120_000);
}

async function measurePauses(): Promise<void> {
  let members = [1, 2, 3, 4];
  let leader = await leaderOf(members);
  const load = new Load(() => members);
  const member = (i: number) => ({ id: `Node${i}`, raft: `127.0.0.1:${PORTS.raft + i}`, http: url(i) });
  await change('add learner', load, async () => {
    startJoiner(5, true, leader);
    await waitFor('Node5 a learner', async () => (await json('GET', `${url(leader)}/api/members`)).body?.learners?.some((m: { id: string }) => m.id === 'Node5'));
    members = [...members, 5];
  });
  await change('promote', load, () => promoteWhenCaughtUp(() => leader, 'Node5'));
  const follower = members.find((i) => i !== leader) as number;
  await change('remove follower', load, async () => {
    await post(leader, [{ op: 'remove', id: `Node${follower}` }]);
    members = members.filter((i) => i !== follower);
  });
  const old = leader;
  await change('remove leader', load, async () => {
    await post(old, [{ op: 'remove', id: `Node${old}` }]);
    members = members.filter((i) => i !== old);
    leader = await leaderOf(members);
  });
  const replaced = members.find((i) => i !== leader) as number;
  await change('replace', load, async () => {
    await post(leader, [{ op: 'add-learner', ...member(6) }]);
    startJoiner(6, true, leader);
    await promoteWhenCaughtUp(() => leader, 'Node6');
    await post(leader, [{ op: 'remove', id: `Node${replaced}` }]);
    members = [...members.filter((i) => i !== replaced), 6];
  });
  await load.stop();
}

async function main(): Promise<void> {
  spawnDetached(['cluster', '--nodes', '3', '--data-dir', dataDir, '--http-base', String(PORTS.http), '--raft-base', String(PORTS.raft), '--controller-base', String(PORTS.controller)]);
  await measureJoin();
  await measurePauses();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench/membership: ${(err as Error).message}`);
    process.exit(1);
  },
);
