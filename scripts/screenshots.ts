// `npm run screenshots`: starts a real 5-node cluster, posts a few quotes, and captures
// docs/board.png, docs/dashboard.png (1280×800), docs/dashboard-paused.png (the Lab: a paused
// cluster with messages in flight, 1280×1000) and docs/sim.png (1280×900) with a headless
// Chromium. Stops the cluster (by pid, through TestCluster) whatever happens.

import chromium from '@sparticuz/chromium';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium as pw, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT, TestCluster, http, waitFor } from '../test/support/cluster.js';

/** Ports no test uses (the teaching pages' range), so a screenshot run never collides with a test run. */
const PORTS = { httpBase: 31800, raftBase: 31820, controllerBase: 31840 };
const VIEWPORT = { width: 1280, height: 800 };
const DOCS = join(REPO_ROOT, 'docs');
/** Pictures asked for on the command line (board, dashboard, dashboard-paused, sim); none means all. */
const ONLY = process.argv.slice(2);

const QUOTES_BEFORE_TRANSFER: Array<[string, string]> = [
  ['Well done is better than well said.', 'Benjamin Franklin'],
  ['What we achieve inwardly will change outer reality.', 'Plutarch'],
];
const QUOTES_AFTER_TRANSFER: Array<[string, string]> = [
  ['It always seems impossible until it is done.', 'Nelson Mandela'],
  ['Act as if what you do makes a difference. It does.', 'William James'],
  ['Small steps, every day.', ''],
  ['The secret of getting ahead is getting started.', 'Mark Twain'],
];

async function postQuotes(cluster: TestCluster, via: string, quotes: Array<[string, string]>): Promise<void> {
  for (const [text, author] of quotes) {
    const body = author ? { text, author } : { text };
    const res = await http('POST', `${cluster.node(via).http}/api/quotes`, body, { 'idempotency-key': `screenshot-${text}` }, 10_000);
    if (res.status !== 201) throw new Error(`POST /api/quotes answered ${res.status}: ${JSON.stringify(res.body)}`);
  }
}

/** Moves leadership once, so the dashboard's log shows entries of two terms. */
async function transferLeadership(cluster: TestCluster): Promise<string> {
  const leader = await cluster.waitForLeader();
  const to = cluster.nodes.map((n) => n.id).find((id) => id !== leader)!;
  const res = await http('POST', `${cluster.node(leader).http}/api/admin/transfer-leadership`, { node: leader, to }, {}, 10_000);
  if (res.status !== 200) console.warn(`transfer-leadership answered ${res.status}: ${JSON.stringify(res.body)} (continuing)`);
  await waitFor(`${to} to lead`, async () => (await cluster.waitForLeader()) === to, 15_000, 100).catch(() => undefined);
  return cluster.waitForLeader();
}

async function captureBoard(context: BrowserContext, cluster: TestCluster, via: string, expected: number): Promise<void> {
  const page = await context.newPage();
  await page.goto(`${cluster.node(via).http}/`);
  await waitFor('the board to be live with every quote', async () => {
    const state = await page.locator('[data-testid="connection-state"]').textContent();
    return state === 'live' && (await page.locator('[data-testid="quote"]').count()) >= expected;
  }, 20_000, 100);
  await settle(page);
  await page.screenshot({ path: join(DOCS, 'board.png') });
  await page.close();
}

async function captureDashboard(context: BrowserContext, cluster: TestCluster, via: string): Promise<void> {
  const page = await context.newPage();
  await page.goto(`${cluster.node(via).http}/dashboard`);
  await waitFor('five nodes and one leader on the dashboard', async () => {
    const states = await page.locator('[data-testid^="node-"]').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-state')));
    const leaders = await page.locator('[data-testid^="node-"][data-leader="true"]').count();
    return states.length === 5 && states.every((s) => s === 'leader' || s === 'follower') && leaders === 1;
  }, 20_000, 100);
  await page.locator('[data-testid="btn-burst"]').click();
  await waitFor('the burst result', async () => /ok in/.test((await page.locator('[data-testid="burst-result"]').textContent()) ?? ''), 20_000, 100);
  // A new term after the burst, so the log tail shows two terms and the new leader's no-op.
  const leader = await transferLeadership(cluster);
  await postQuotes(cluster, via, [['Nothing will work unless you do.', 'Maya Angelou']]);
  await waitFor('the dashboard to show the new leader', async () => (await page.locator('[data-testid="leader-id"]').textContent()) === leader, 10_000, 100);
  await settle(page);
  await page.screenshot({ path: join(DOCS, 'dashboard.png') });
  await page.close();
}

/**
 * The Lab on a paused cluster with messages in flight: pause from the page, then a client
 * write (the leader's AppendEntries wait on every link) and a forced campaign (a candidate's
 * RequestVotes wait too), drawn on the ring and listed in the Held table. Resumes afterwards.
 */
async function captureDashboardPaused(context: BrowserContext, cluster: TestCluster, via: string): Promise<void> {
  const page = await context.newPage();
  await page.setViewportSize({ width: VIEWPORT.width, height: 1000 });
  await page.goto(`${cluster.node(via).http}/dashboard`);
  const leader = await cluster.waitForLeader();
  await waitFor('the dashboard to show the leader', async () => (await page.locator('[data-testid="leader-id"]').textContent()) === leader, 15_000, 100);
  await page.locator('[data-testid="lab-pause"]').click();
  await waitFor('the cluster paused', async () => (await page.locator('[data-testid="lab-pause"]').getAttribute('data-paused')) === 'true', 15_000, 100);
  // Left pending on purpose: it commits once the cluster resumes below.
  const write = http('PUT', `${cluster.node(leader).http}/api/kv/teaching`, { value: 'paused' }, {}, 30_000).catch(() => undefined);
  const candidate = cluster.nodes.map((n) => n.id).find((id) => id !== leader)!;
  await waitFor('AppendEntries in flight', async () => (await page.locator('g.held-msg[data-type="AppendEntries"]').count()) >= 4, 15_000, 100);
  await http('POST', `${cluster.node(candidate).http}/api/admin/timeout`, { node: candidate }, {}, 10_000);
  await waitFor('RequestVotes in flight', async () => (await page.locator('g.held-msg[data-type="RequestVote"]').count()) >= 4, 15_000, 100);
  await page.locator('[data-testid="ring"]').scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollBy(0, -80));
  await settle(page);
  await page.screenshot({ path: join(DOCS, 'dashboard-paused.png') });
  await page.locator('[data-testid="lab-pause"]').click();
  await waitFor('the cluster running', async () => (await page.locator('[data-testid="lab-pause"]').getAttribute('data-paused')) === 'false', 15_000, 100);
  await write;
  await page.close();
}

/**
 * /sim: the browser simulator with seed 7, paused at a moment with messages on the wire: two
 * client writes committed, then the leader crashed, a link cut, and a new leader elected.
 */
async function captureSim(context: BrowserContext, cluster: TestCluster, via: string): Promise<void> {
  const page = await context.newPage();
  await page.setViewportSize({ width: VIEWPORT.width, height: 900 });
  await page.goto(`${cluster.node(via).http}/sim?seed=7&paused=1`);
  await page.locator('[data-testid="ring-Node5"]').waitFor({ timeout: 10_000 });
  const runUntil = (ms: number) => page.evaluate((t) => (window as unknown as { raftSim: { runUntil(ms: number): string } }).raftSim.runUntil(t), ms);
  await runUntil(1_500);
  for (const text of ['stay curious', 'small steps']) {
    await page.locator('[data-testid="sim-write-text"]').fill(text);
    await page.locator('[data-testid="sim-write"]').click();
  }
  await runUntil(2_000);
  const leader = await page.locator('[data-testid="sim-status"]').getAttribute('data-leader');
  if (leader) await page.locator(`[data-testid="sim-crash-${leader}"]`).click();
  await page.locator('[data-testid="link-Node1-Node2"]').click();
  await runUntil(SIM_SHOT_AT_MS);
  await page.evaluate(() => window.scrollTo(0, 0));
  await settle(page);
  await page.screenshot({ path: join(DOCS, 'sim.png') });
  await page.close();
}

/** Simulated time of the /sim picture: with seed 7, Node3 has just won a second election (after a split vote) and sends its first AppendEntries. */
const SIM_SHOT_AT_MS = 2_900;

/** Lets entry animations finish before a capture (cosmetic, not a correctness wait). */
async function settle(page: Page): Promise<void> {
  await page.waitForTimeout(900);
}

async function main(): Promise<void> {
  mkdirSync(DOCS, { recursive: true });
  const cluster = await TestCluster.start(PORTS);
  let browser: Browser | undefined;
  try {
    const leader = await cluster.waitForLeader();
    const via = cluster.nodes.map((n) => n.id).find((id) => id !== leader)!;
    await postQuotes(cluster, via, QUOTES_BEFORE_TRANSFER);
    await transferLeadership(cluster);
    await postQuotes(cluster, via, QUOTES_AFTER_TRANSFER);
    browser = await pw.launch({ executablePath: await chromium.executablePath(), args: chromium.args, headless: true });
    // One context for both pages: with --single-process (in chromium.args), closing a context ends the browser.
    const context = await browser.newContext({ viewport: VIEWPORT });
    await context.newPage();
    // `npm run screenshots -- board sim` captures only those; no argument captures all.
    const wanted = (name: string) => ONLY.length === 0 || ONLY.includes(name);
    if (wanted('board')) await captureBoard(context, cluster, via, QUOTES_BEFORE_TRANSFER.length + QUOTES_AFTER_TRANSFER.length);
    if (wanted('dashboard')) await captureDashboard(context, cluster, via);
    if (wanted('dashboard-paused')) await captureDashboardPaused(context, cluster, via);
    if (wanted('sim')) await captureSim(context, cluster, via);
    console.log(`wrote ${['board', 'dashboard', 'dashboard-paused', 'sim'].filter(wanted).map((name) => join('docs', `${name}.png`)).join(', ')}`);
  } finally {
    await browser?.close().catch(() => undefined);
    await cluster.stop();
  }
}

main().catch((err: unknown) => {
  console.error(`screenshots failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
