// The quote board survives its own node (issue 20): a page opened on one node whose node is
// killed with SIGKILL, and never restarted, moves to another member, resumes the live stream
// from the last index it has (no gap, no duplicate), posts there, and says which node it is on.
// Also the board's accessibility: the connection indicator is quiet while nothing changes, and
// the dashboard's per-node buttons name their node. Real cluster (dist/), headless Chromium.

import chromium from '@sparticuz/chromium';
import { chromium as pw, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textOf, waitForText } from '../support/page.js';
import { TestCluster, http, sleep, waitFor } from '../support/cluster.js';

/** This file's ports (node i listens on base + i), inside the 31000-31999 range no other test uses. */
const PORTS = { httpBase: 31100, raftBase: 31200, controllerBase: 31300 };

let cluster: TestCluster;
let browser: Browser;
let context: BrowserContext;
const pageErrors: string[] = [];

async function openPage(nodeId: string, path = '/'): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${nodeId}${path}: ${err.message}`));
  await page.goto(`${cluster.node(nodeId).http}${path}`);
  return page;
}

async function shownQuotes(page: Page): Promise<Array<{ index: number; text: string }>> {
  return page.locator('[data-testid="quote"]').evaluateAll((items) =>
    items.map((item) => ({ index: Number(item.getAttribute('data-index')), text: item.querySelector('[data-testid="quote-text"]')?.textContent ?? '' })),
  );
}

async function committedQuotes(nodeId: string): Promise<Array<{ index: number; text: string }>> {
  const res = await http('GET', `${cluster.node(nodeId).http}/api/quotes?after=0&limit=1000`);
  expect(res.status).toBe(200);
  return res.body.quotes;
}

async function postVia(nodeId: string, text: string): Promise<number> {
  const res = await http('POST', `${cluster.node(nodeId).http}/api/quotes`, { text }, { 'idempotency-key': `failover-${text}` }, 15_000);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.quote.index;
}

/** The nodes that answer (the failover test kills one for good). */
async function liveNodes(): Promise<string[]> {
  const answers = await Promise.all(cluster.nodes.map(async (n) => ((await cluster.status(n.id).catch(() => null)) ? n.id : null)));
  return answers.filter((id): id is string => id !== null);
}

beforeAll(async () => {
  cluster = await TestCluster.start(PORTS);
  await cluster.waitForLeader();
  browser = await pw.launch({ executablePath: await chromium.executablePath(), args: chromium.args, headless: true });
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.newPage(); // keeps the context open (--single-process)
});

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await cluster?.stop();
});

describe('board failover', () => {
  it('a page whose node is killed (never restarted) moves to another node: the next quote appears once, nothing earlier twice, and it says where it is', async () => {
    const leader = await cluster.waitForLeader();
    const ids = cluster.nodes.map((n) => n.id);
    // The page's node is a follower; quotes are posted through yet another node.
    const pageNode = ids.find((id) => id !== leader)!;
    const postNode = ids.find((id) => id !== leader && id !== pageNode)!;
    for (const text of ['Before one.', 'Before two.', 'Before three.']) await postVia(postNode, text);

    const page = await openPage(pageNode);
    await waitForText(page, 'connection-state', (t) => t === 'live');
    await waitForText(page, 'connection-node', (t) => t === pageNode);
    await waitFor('the three earlier quotes', async () => ((await shownQuotes(page)).length >= 3 ? true : undefined), 15_000, 100);
    expect(await page.locator('[data-testid="connection-moved"]').isHidden()).toBe(true);

    cluster.kill9(pageNode);
    const survivors = ids.filter((id) => id !== pageNode);
    await cluster.waitForLeader(survivors, 20_000);
    const after = `After the kill (${Date.now()}).`;
    const afterIndex = await postVia(postNode, after);

    const moved = await waitForText(page, 'connection-node', (t) => survivors.includes(t), 20_000);
    await waitForText(page, 'connection-state', (t) => t === 'live', 20_000);
    expect(await textOf(page, 'connection-moved')).toContain(pageNode);
    const shown = await waitFor('the new quote on the page', async () => {
      const quotes = await shownQuotes(page);
      return quotes.some((q) => q.text === after) ? quotes : undefined;
    }, 20_000, 100);
    expect(shown.filter((q) => q.text === after).map((q) => q.index)).toEqual([afterIndex]);
    const committed = await committedQuotes(moved);
    const indexes = shown.map((q) => q.index);
    expect(new Set(indexes).size).toBe(indexes.length);
    expect(indexes).toEqual(committed.map((q) => q.index).sort((a, b) => b - a));

    // Posting from the page goes to the node it moved to.
    const fromPage = `Posted from the moved page (${Date.now()}).`;
    const posts: string[] = [];
    page.on('request', (req) => {
      if (req.method() === 'POST' && req.url().endsWith('/api/quotes')) posts.push(new URL(req.url()).origin);
    });
    await page.locator('[data-testid="quote-input"]').fill(fromPage);
    await page.locator('[data-testid="quote-submit"]').click();
    await waitFor('the post outcome', async () => ((await page.locator('[data-testid="post-status"]').getAttribute('data-tone')) === 'ok' ? true : undefined), 20_000, 100);
    expect(posts).toEqual([new URL(cluster.node(moved).http).origin]);
    const final = await waitFor('the posted quote exactly once, from the stream too', async () => {
      const quotes = await shownQuotes(page);
      const all = await committedQuotes(moved);
      return all.some((q) => q.text === fromPage) && quotes.length === all.length ? { quotes, all } : undefined;
    }, 20_000, 200);
    expect(final.quotes.filter((q) => q.text === fromPage)).toHaveLength(1);
    expect(final.all.filter((q) => q.text === fromPage)).toHaveLength(1);
    expect(final.quotes.map((q) => q.index)).toEqual(final.all.map((q) => q.index).sort((a, b) => b - a));
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});

describe('board and dashboard accessibility', () => {
  it('the connection indicator announces only real changes, not every status message', async () => {
    const live = await liveNodes();
    const leader = await cluster.waitForLeader(live, 20_000);
    const page = await openPage(live[0]!);
    await waitForText(page, 'connection-state', (t) => t === 'live');
    await waitForText(page, 'connection-leader', (t) => t === leader);
    // Only the dedicated announcer is a live region; the indicator itself is not.
    expect(await page.locator('#connection').getAttribute('aria-live')).toBeNull();
    expect(await page.locator('[aria-live="polite"], [aria-live="assertive"], [role="status"], [role="alert"]').evaluateAll((els) => els.map((e) => e.id))).toEqual(['connection-announce', 'post-status']);
    await page.evaluate(() => {
      const w = window as unknown as { __mutations: number };
      w.__mutations = 0;
      new MutationObserver((records) => (w.__mutations += records.length)).observe(document.getElementById('connection-announce')!, { childList: true, characterData: true, subtree: true });
    });
    // Status arrives ~5 times a second: 3 s is ~15 messages, with no leader change meanwhile.
    await sleep(3_000);
    expect(await page.evaluate(() => (window as unknown as { __mutations: number }).__mutations)).toBe(0);
    // The announcer says only what changed since its last sentence: the last one is about the state or the leader.
    expect(await textOf(page, 'connection-announce')).toMatch(new RegExp(`Updates are live\\.|Leader is ${leader}\\.`));
    await page.close();
  });

  it("the dashboard's per-node buttons have accessible names that say which node they act on", async () => {
    const page = await openPage((await liveNodes())[0]!, '/dashboard');
    for (const node of cluster.nodes) {
      await page.locator(`[data-testid="btn-timeout-${node.id}"]`).waitFor({ timeout: 15_000 });
      for (const name of ['Timeout', 'Step down', 'Shutdown', 'Resume', 'Lead here']) {
        expect(await page.getByRole('button', { name: `${name} ${node.id}`, exact: true }).count(), `${name} ${node.id}`).toBe(1);
      }
    }
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
