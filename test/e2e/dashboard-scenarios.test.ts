// The dashboard's narrated scenarios (SPEC §11, web/dashboard-scenarios.js) run end to end in
// real Chromium on a real 5-node cluster, pressing Next step by step, and after every step the
// cluster is checked against what the step's sentence promises: who is candidate, who voted,
// which messages wait on which link, who has which entry and what is committed. Needs dist/
// (`npm run build`). Every wait is bounded.

import chromium from '@sparticuz/chromium';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium as pw, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { byTestId, textOf, waitForText } from '../support/page.js';
import { leaderOf } from '../support/dashboard-view.js';
import { TestCluster, http, waitFor } from '../support/cluster.js';

/** This file's ports (node i listens on base + i), in the teaching pages' range 31000-31999. */
const PORTS = { httpBase: 31400, raftBase: 31500, controllerBase: 31600 };
/** Events read per request (the page reads the same). */
const EVENTS_PAGE = 2_000;

let cluster: TestCluster;
let browser: Browser;
let dashboard: Page;
const pageErrors: string[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'raftquotes-scenarios-'));
/** The election scenario's cast and term, for the recording test. */
const election = { L: '', A: '', term: 0 };

/** The scenario's cast as the page picks it: the leader, then the others in configuration order. */
interface Cast {
  L: string;
  A: string;
  B: string;
  C: string;
  D: string;
  others: string[];
}

function castFor(leader: string): Cast {
  const others = cluster.nodes.map((n) => n.id).filter((id) => id !== leader);
  const [A, B, C, D] = others as [string, string, string, string];
  return { L: leader, A, B, C, D, others };
}

async function status(id: string, logTail = 0): Promise<any> {
  const res = await http('GET', `${cluster.node(id).http}/api/status${logTail ? `?logTail=${logTail}` : ''}`, undefined, {}, 2_000);
  return res.body;
}

/** The term of the entry at `index` in a node's log (from its status' log tail). */
async function termAt(id: string, index: number): Promise<number | undefined> {
  const s = await status(id, 20);
  return (s.log.entries as Array<{ index: number; term: number }>).find((e) => e.index === index)?.term;
}

async function held(from: string, to: string): Promise<any[]> {
  return ((await status(from)).held?.[to] ?? []) as any[];
}

/** Every node's events after a sequence number of each (the `after` map), tagged with the node. */
async function eventsSince(after: Map<string, number>): Promise<any[]> {
  const all: any[] = [];
  for (const { id, http: url } of cluster.nodes) {
    let seq = after.get(id) ?? 0;
    for (let page = 0; page < 10; page++) {
      const res = await http('GET', `${url}/api/events?after=${seq}&limit=${EVENTS_PAGE}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const events = res.body.events as any[];
      for (const e of events) all.push({ ...e, node: id });
      if (events.length < EVENTS_PAGE) break;
      seq = events[events.length - 1].seq;
    }
  }
  return all.sort((a, b) => a.at - b.at);
}

async function lastSeqs(): Promise<Map<string, number>> {
  const seqs = new Map<string, number>();
  for (const { id, http: url } of cluster.nodes) seqs.set(id, (await http('GET', `${url}/api/events?after=0&limit=1`)).body.lastSeq);
  return seqs;
}

/**
 * Waits until one leader is agreed by all five and every node has applied all it committed
 * and holds the leader's whole log, and the dashboard shows that leader; returns it.
 */
async function settled(): Promise<string> {
  const leader = await waitFor('a settled cluster', async () => {
    const all = await Promise.all(cluster.nodes.map((n) => status(n.id)));
    const leaders = all.filter((s) => s.state === 'leader');
    if (leaders.length !== 1) return undefined;
    const l = leaders[0];
    const agreed = all.every((s) => s.leader === l.id && s.term === l.term && s.lastIndex === l.lastIndex && s.commitIndex === l.commitIndex && s.appliedIndex === s.commitIndex && s.clock.rate === 1 && s.links.default === 'open');
    return agreed ? (l.id as string) : undefined;
  }, 30_000, 100);
  await waitForText(dashboard, 'leader-id', (t) => t === leader, 10_000);
  return leader;
}

async function waitPaused(paused: boolean): Promise<void> {
  await waitFor(paused ? 'every node paused' : 'every node running', async () => {
    const all = await Promise.all(cluster.nodes.map((n) => status(n.id)));
    return all.every((s) => (paused ? s.clock.rate === 0 && s.links.default === 'hold' : s.clock.rate === 1 && s.links.default === 'open'));
  }, 15_000, 100);
}

/** Picks a scenario and presses Start; returns its number of steps. */
async function startScenario(name: string): Promise<number> {
  await byTestId(dashboard, 'scenario-select').selectOption(name);
  await byTestId(dashboard, 'scenario-start').click();
  const progress = await waitForText(dashboard, 'scenario-progress', (t) => /^step 0 of \d+$/.test(t));
  expect(await textOf(dashboard, 'scenario-text')).toBe('Press Next to run the first step.');
  return Number(/of (\d+)/.exec(progress)?.[1]);
}

/** Presses Next and waits for step `k` of `n` to have run; returns its sentence. */
async function next(k: number, n: number): Promise<string> {
  const button = byTestId(dashboard, 'scenario-next');
  await waitFor('Next enabled', async () => button.isEnabled(), 10_000, 50);
  await button.click();
  try {
    await waitForText(dashboard, 'scenario-progress', (t) => t === `step ${k} of ${n}`, 20_000);
  } catch (err) {
    throw new Error(`step ${k} did not run (${await textOf(dashboard, 'action-status')}): ${(err as Error).message}`);
  }
  return textOf(dashboard, 'scenario-text');
}

/** The types of the messages the ring draws in flight (SVG dots in the held layer). */
async function drawnInFlight(): Promise<string[]> {
  return dashboard.locator('[data-testid="held-layer"] g.held-msg').evaluateAll((dots) => dots.map((d) => d.getAttribute('data-type') ?? ''));
}

beforeAll(async () => {
  cluster = await TestCluster.start(PORTS);
  await cluster.waitForLeader();
  browser = await pw.launch({ executablePath: await chromium.executablePath(), args: chromium.args, headless: true });
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true });
  await context.newPage(); // keeps the context alive (--single-process)
  dashboard = await context.newPage();
  dashboard.on('pageerror', (err) => pageErrors.push(err.message));
  await dashboard.goto(`${cluster.node('Node1').http}/dashboard`);
  await waitForText(dashboard, 'leader-id', (t) => /^Node\d$/.test(t));
}, 90_000);

// A failed step must not leave the next test a paused or cut cluster: open every link, run every clock.
afterEach(async () => {
  for (const { id, http: url } of cluster.nodes) {
    for (const to of ['*', ...cluster.nodes.map((n) => n.id).filter((peer) => peer !== id)]) {
      await http('POST', `${url}/api/admin/link`, { to, mode: 'open' }).catch(() => undefined);
    }
    await http('POST', `${url}/api/admin/clock`, { rate: 1 }).catch(() => undefined);
  }
});

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await cluster?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('dashboard scenarios on the real cluster (SPEC §11)', () => {
  it('leader election: paused, a forced candidate sends RequestVotes that wait on the links, collects the votes one delivery at a time, and leads', async () => {
    const c = castFor(await settled());
    const before = await status(c.L);
    const t = before.term as number;
    Object.assign(election, { L: c.L, A: c.A, term: t + 1 });
    const seqs = await lastSeqs();
    const n = await startScenario('election');
    expect(n).toBe(6);

    expect(await next(1, n)).toContain(`${c.L} leads`);
    await waitPaused(true);

    expect(await next(2, n)).toContain(`${c.A}'s election timer fires`);
    await waitFor(`${c.A} a candidate in term ${t + 1}`, async () => {
      const s = await status(c.A);
      return s.state === 'candidate' && s.term === t + 1;
    }, 10_000);
    for (const peer of [c.L, ...c.others.filter((id) => id !== c.A)]) {
      await waitFor(`RequestVote held on ${c.A} → ${peer}`, async () => (await held(c.A, peer)).some((m) => m.type === 'RequestVote' && m.term === t + 1), 10_000);
      expect((await status(peer)).term, `${peer} has seen nothing yet`).toBe(t);
    }
    // The page draws them in flight on the ring.
    await waitFor('RequestVotes drawn on the ring', async () => (await drawnInFlight()).filter((type) => type === 'RequestVote').length >= 4, 10_000);

    expect(await next(3, n)).toContain('The RequestVotes arrive');
    for (const peer of c.others.filter((id) => id !== c.A).concat(c.L)) {
      await waitFor(`${peer} a follower in term ${t + 1}, its answer held`, async () => {
        const s = await status(peer);
        return s.term === t + 1 && s.state === 'follower' && (await held(peer, c.A)).some((m) => m.type === 'RequestVoteResponse');
      }, 10_000);
    }
    const votes = (await eventsSince(seqs)).filter((e) => e.type === 'vote' && e.term === t + 1);
    expect(new Set(votes.filter((e) => e.vote === c.A).map((e) => e.node))).toEqual(new Set(cluster.nodes.map((x) => x.id)));
    expect((await status(c.A)).state, 'no answer has reached the candidate yet').toBe('candidate');

    expect(await next(4, n)).toContain(`With a majority it becomes leader`);
    await waitFor(`${c.A} leads term ${t + 1} with its no-op appended`, async () => {
      const s = await status(c.A);
      return s.state === 'leader' && s.term === t + 1 && s.lastIndex === before.lastIndex + 1;
    }, 10_000);
    expect(await termAt(c.A, before.lastIndex + 1)).toBe(t + 1);
    await waitForText(dashboard, 'leader-id', (text) => text === c.A, 10_000);

    expect(await next(5, n)).toContain('reach the followers');
    for (const peer of c.others.filter((id) => id !== c.A).concat(c.L)) {
      await waitFor(`${peer} follows ${c.A} and has its no-op`, async () => {
        const s = await status(peer);
        return s.leader === c.A && s.lastIndex === before.lastIndex + 1;
      }, 10_000);
    }

    expect(await next(6, n)).toContain('Resume');
    await waitPaused(false);
    expect(await byTestId(dashboard, 'scenario-next').isDisabled()).toBe(true);
    expect((await http('PUT', `${cluster.node(c.A).http}/api/kv/after-election`, { value: 1 }, {}, 15_000)).status).toBe(200);
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it('the exported recording holds that election in order: the candidate, the votes for it, then it as leader, and the leader change', async () => {
    const downloading = dashboard.waitForEvent('download', { timeout: 20_000 });
    await byTestId(dashboard, 'lab-export').click();
    const file = join(tmp, 'election.json');
    await (await downloading).saveAs(file);
    const recording = JSON.parse(readFileSync(file, 'utf8'));
    const { L, A, term } = election;
    const events = (recording.events as any[]).filter((e) => (e.type === 'state' || e.type === 'vote') && e.term === term);
    const candidate = events.findIndex((e) => e.type === 'state' && e.node === A && e.state === 'candidate');
    const votes = events.map((e, i) => (e.type === 'vote' && e.vote === A && e.node !== A ? i : -1)).filter((i) => i >= 0);
    const won = events.findIndex((e) => e.type === 'state' && e.node === A && e.state === 'leader');
    expect(candidate).toBeGreaterThanOrEqual(0);
    expect(votes.length).toBe(4);
    expect(Math.min(...votes)).toBeGreaterThan(candidate);
    expect(won).toBeGreaterThan(Math.min(...votes));
    // The recorded views show the leader change L → A.
    const leaders = (recording.frames as any[]).map((f) => leaderOf(f.cluster)).filter((x, i, all) => i === 0 || x !== all[i - 1]);
    const from = leaders.lastIndexOf(L);
    expect(from).toBeGreaterThanOrEqual(0);
    expect(leaders.indexOf(A, from)).toBeGreaterThan(from);
  }, 60_000);

  it('log replication and commit: the entry reaches two followers, commits on their acknowledgements, and the commit index reaches everyone on the next heartbeat', async () => {
    const c = castFor(await settled());
    const n0 = (await status(c.L)).lastIndex as number;
    const n = await startScenario('replication');
    expect(n).toBe(7);

    expect(await next(1, n)).toContain(`${c.L} is the leader`);
    await waitPaused(true);

    expect(await next(2, n)).toContain('A client writes a key');
    await waitFor(`${c.L} appended the write at ${n0 + 1}`, async () => (await status(c.L)).lastIndex === n0 + 1, 10_000);
    for (const f of c.others) {
      await waitFor(`AppendEntries held on ${c.L} → ${f}`, async () => (await held(c.L, f)).some((m) => m.type === 'AppendEntries' && m.entries >= 1), 10_000);
    }
    await waitFor('AppendEntries drawn on the ring', async () => (await drawnInFlight()).filter((type) => type === 'AppendEntries').length >= 4, 10_000);
    expect((await status(c.L)).commitIndex).toBe(n0);

    expect(await next(3, n)).toContain(`${c.A} and ${c.B} receive it`);
    for (const f of [c.A, c.B]) await waitFor(`${f} has ${n0 + 1}`, async () => (await status(f)).lastIndex === n0 + 1, 10_000);
    for (const f of [c.C, c.D]) expect((await status(f)).lastIndex, `${f} still waits`).toBe(n0);
    expect((await status(c.L)).commitIndex, 'two acknowledgements still held').toBe(n0);

    expect(await next(4, n)).toContain('it is committed');
    await waitFor(`${c.L} commits ${n0 + 1}`, async () => (await status(c.L)).commitIndex === n0 + 1, 10_000);
    for (const f of c.others) expect((await status(f)).commitIndex, `${f} has not learned the commit`).toBe(n0);

    expect(await next(5, n)).toContain('it is now on every node');
    for (const f of [c.C, c.D]) await waitFor(`${f} has ${n0 + 1}`, async () => (await status(f)).lastIndex === n0 + 1, 10_000);

    expect(await next(6, n)).toContain('every follower learns the commit');
    for (const f of c.others) await waitFor(`${f} learns commit ${n0 + 1} and applies it`, async () => (await status(f)).appliedIndex === n0 + 1, 10_000);

    expect(await next(7, n)).toContain('Resume');
    await waitPaused(false);
    await settled();
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it('a partitioned leader: the others elect a new leader, the old one steps down and falls behind, and after the heal it follows and catches up without deposing anyone', async () => {
    const c = castFor(await settled());
    const t = (await status(c.L)).term as number;
    const n = await startScenario('partition');
    expect(n).toBe(3);

    expect(await next(1, n)).toContain(`${c.L}, the leader, is cut off`);
    const newLeader = await waitFor('a new leader among the others', async () => {
      const all = await Promise.all(c.others.map((id) => status(id)));
      const l = all.find((s) => s.state === 'leader' && s.term > t);
      return l && all.every((s) => s.leader === l.id) ? (l.id as string) : undefined;
    }, 20_000, 100);
    await waitFor(`${c.L} steps down (check-quorum)`, async () => (await status(c.L)).state !== 'leader', 10_000);
    for (let i = 0; i < 5; i++) {
      expect((await http('PUT', `${cluster.node(newLeader).http}/api/kv/while-cut-${i}`, { value: i }, {}, 15_000)).status).toBe(200);
    }
    const leaderNow = await status(newLeader);
    const cut = await status(c.L);
    expect(cut.lastIndex, `${c.L} falls behind`).toBeLessThan(leaderNow.lastIndex);
    expect(cut.commitIndex).toBeLessThan(leaderNow.commitIndex);
    await waitForText(dashboard, 'leader-id', (text) => text === newLeader, 10_000);

    expect(await next(2, n)).toContain('check-quorum');

    expect(await next(3, n)).toContain('The links heal');
    await waitFor(`${c.L} follows ${newLeader} and catches up`, async () => {
      const s = await status(c.L);
      const l = await status(newLeader);
      return s.state === 'follower' && s.leader === newLeader && s.term === l.term && s.lastIndex === l.lastIndex && s.commitIndex === l.commitIndex;
    }, 20_000, 100);
    // Pre-vote: the node that was cut off did not raise the term and depose the new leader.
    const after = await status(newLeader);
    expect(after.state).toBe('leader');
    expect(after.term).toBe(leaderNow.term);
    expect((await http('GET', `${cluster.node(c.L).http}/api/kv/while-cut-4?consistency=stale`)).body).toMatchObject({ value: 4 });
    expect(await settled()).toBe(newLeader);
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it('Figure 8: an old-term entry on a majority is not committed by counting; it commits with an entry of the leader\'s term', async () => {
    const c = castFor(await settled());
    const t = (await status(c.L)).term as number;
    const start = (await status(c.L)).lastIndex as number;
    const idx = start + 1;
    const seqs = await lastSeqs();
    const n = await startScenario('figure8');
    expect(n).toBe(8);

    expect(await next(1, n)).toContain(`${c.L} appends the entry at index n in its term t`);
    await waitPaused(true);
    await waitFor(`${c.L} appended ${idx}`, async () => (await status(c.L)).lastIndex === idx, 10_000);
    expect(await termAt(c.L, idx)).toBe(t);

    expect(await next(2, n)).toContain(`reaches only ${c.A}`);
    await waitFor(`${c.A} has ${idx}`, async () => (await status(c.A)).lastIndex === idx, 10_000);
    for (const id of [c.B, c.C, c.D]) expect((await status(id)).lastIndex).toBe(start);

    expect(await next(3, n)).toContain(`${c.B} campaigns in term t+1`);
    await waitFor('votes of C and D for B', async () => {
      const votes = (await eventsSince(seqs)).filter((e) => e.type === 'vote' && e.term === t + 1 && e.vote === c.B);
      return new Set(votes.map((e) => e.node)).size === 3; // B, C, D
    }, 10_000);
    const votesForB = (await eventsSince(seqs)).filter((e) => e.type === 'vote' && e.term === t + 1 && e.vote === c.B).map((e) => e.node);
    expect(new Set(votesForB)).toEqual(new Set([c.B, c.C, c.D]));
    expect((await status(c.A)).term, `${c.A} saw term t+1 and refused`).toBe(t + 1);

    expect(await next(4, n)).toContain(`${c.B} gets 3 votes and leads term t+1`);
    await waitFor(`${c.B} leads t+1 with its no-op at ${idx}`, async () => {
      const s = await status(c.B);
      return s.state === 'leader' && s.term === t + 1 && s.lastIndex === idx;
    }, 10_000);
    expect(await termAt(c.B, idx)).toBe(t + 1);

    expect(await next(5, n)).toContain(`${c.L} leads term t+2`);
    await waitFor(`${c.L} leads t+2 with its no-op at ${idx + 1}`, async () => {
      const s = await status(c.L);
      return s.state === 'leader' && s.term === t + 2 && s.lastIndex === idx + 1;
    }, 10_000);
    expect(await termAt(c.L, idx)).toBe(t);
    expect(await termAt(c.L, idx + 1)).toBe(t + 2);

    expect(await next(6, n)).toContain('still NOT committed');
    await waitFor(`${c.C} holds ${idx} of term t and ${idx + 1} of term t+2`, async () => (await termAt(c.C, idx)) === t && (await termAt(c.C, idx + 1)) === t + 2, 10_000);
    // On a majority (L, A, C) and still not committed: §5.4.2.
    expect(await termAt(c.A, idx)).toBe(t);
    expect((await status(c.L)).commitIndex).toBeLessThan(idx);

    expect(await next(7, n)).toContain('it commits, and n with it');
    await waitFor(`${c.L} commits ${idx + 1}`, async () => (await status(c.L)).commitIndex >= idx + 1, 10_000);

    expect(await next(8, n)).toContain('Heal and resume');
    await waitPaused(false);
    await waitFor(`${c.B}'s no-op at ${idx} replaced by term t`, async () => (await termAt(c.B, idx)) === t, 20_000);
    await settled();
    expect(pageErrors).toEqual([]);
  }, 150_000);
});
