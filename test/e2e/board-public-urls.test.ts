// The Docker layout's failover (issue 20, SPEC §3 "Other nodes' pages"): each node advertises
// an internal URL to its peers but is reached by browsers at its own --public-url. Here every
// node of a real cluster is restarted with a distinct public name (nodeK.board.test, which
// Chromium maps to 127.0.0.1) and the browser may NOT reach the advertised 127.0.0.1 URLs, as
// a browser outside the Docker network cannot reach http://Node2:8080. Peers learn each
// other's public URLs in the authenticated handshake: /api/cluster lists them per member,
// every member accepts pages from the others' public origins, and the board fails over to them.

import chromium from '@sparticuz/chromium';
import { chromium as pw, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textOf, waitForText } from '../support/page.js';
import { TestCluster, http, isAlive, waitFor } from '../support/cluster.js';

/** This file's ports (node i listens on base + i), in the teaching pages' range 31000-31999. */
const PORTS = { httpBase: 31700, raftBase: 31720, controllerBase: 31740 };
/** The public names; Chromium resolves them to 127.0.0.1 (--host-resolver-rules). */
const PUBLIC_DOMAIN = 'board.test';

let cluster: TestCluster;
let browser: Browser;
let context: BrowserContext;
const pageErrors: string[] = [];
/** Requests the browser tried to send to an advertised (internal) URL. */
const internalRequests: string[] = [];
/** Nodes a test killed for good (the later tests run on the rest). */
const killed: string[] = [];

function publicUrl(id: string): string {
  return `http://${id.toLowerCase()}.${PUBLIC_DOMAIN}:${new URL(cluster.node(id).http).port}`;
}

async function shownQuotes(page: Page): Promise<Array<{ index: number; text: string }>> {
  return page.locator('[data-testid="quote"]').evaluateAll((items) =>
    items.map((item) => ({ index: Number(item.getAttribute('data-index')), text: item.querySelector('[data-testid="quote-text"]')?.textContent ?? '' })),
  );
}

/** Restarts every node, one at a time, with its own --public-url. */
async function restartWithPublicUrls(): Promise<void> {
  for (const { id, pid } of cluster.nodes) {
    cluster.kill9(id);
    await waitFor(`${id} gone`, () => !isAlive(pid), 10_000);
    await cluster.restart(id, {}, (argv) => [...argv, '--public-url', publicUrl(id)]);
    await cluster.waitForLeader(cluster.nodes.map((n) => n.id), 20_000);
  }
}

beforeAll(async () => {
  cluster = await TestCluster.start(PORTS);
  await cluster.waitForLeader();
  await restartWithPublicUrls();
  browser = await pw.launch({ executablePath: await chromium.executablePath(), args: [...chromium.args, `--host-resolver-rules=MAP *.${PUBLIC_DOMAIN} 127.0.0.1`], headless: true });
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // The advertised URLs are internal: the browser cannot reach them.
  await context.route('http://127.0.0.1:*/**', (route) => {
    internalRequests.push(route.request().url());
    return route.abort('addressunreachable');
  });
  await context.newPage(); // keeps the context open (--single-process)
}, 180_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await cluster?.stop();
});

describe('public URLs in the Docker layout', () => {
  it('/api/cluster on every node gives each member its own --public-url, learned from the peer handshake', async () => {
    for (const { id } of cluster.nodes) {
      await waitFor(`${id} knows every member's public URL`, async () => {
        const body = (await http('GET', `${cluster.node(id).http}/api/cluster`)).body;
        return cluster.nodes.every((n) => {
          const entry = body.nodes.find((e: any) => e.id === n.id);
          return entry && JSON.stringify(entry.publicUrls) === JSON.stringify([publicUrl(n.id)]) && entry.http === cluster.node(n.id).http;
        });
      }, 20_000, 200);
    }
  });

  it("every member accepts a page from another member's public URL (CORS), and no other origin", async () => {
    const [a, b] = cluster.nodes.map((n) => n.id) as [string, string];
    const ok = await fetch(`${cluster.node(b).http}/api/status`, { headers: { origin: publicUrl(a) } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(publicUrl(a));
    const evil = await fetch(`${cluster.node(b).http}/api/status`, { headers: { origin: `http://evil.${PUBLIC_DOMAIN}:1` } });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  });

  it("a board opened on a node's public URL fails over to another member's public URL when that node is killed", async () => {
    const leader = await cluster.waitForLeader();
    const ids = cluster.nodes.map((n) => n.id);
    const pageNode = ids.find((id) => id !== leader) as string;
    const postNode = ids.find((id) => id !== leader && id !== pageNode) as string;
    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${publicUrl(pageNode)}/`);
    await waitForText(page, 'connection-state', (t) => t === 'live');
    await waitForText(page, 'connection-node', (t) => t === pageNode);

    cluster.kill9(pageNode);
    killed.push(pageNode);
    const survivors = ids.filter((id) => id !== pageNode);
    await cluster.waitForLeader(survivors, 20_000);
    const text = `Through the public URLs (${Date.now()}).`;
    const res = await http('POST', `${cluster.node(postNode).http}/api/quotes`, { text }, { 'idempotency-key': `public-${text}` }, 15_000);
    expect(res.status).toBe(201);

    const moved = await waitForText(page, 'connection-node', (t) => survivors.includes(t), 30_000);
    await waitForText(page, 'connection-state', (t) => t === 'live', 20_000);
    expect(await textOf(page, 'connection-moved')).toContain(pageNode);
    const shown = await waitFor('the new quote, once', async () => {
      const quotes = await shownQuotes(page);
      return quotes.some((q) => q.text === text) ? quotes : undefined;
    }, 20_000, 100);
    expect(shown.filter((q) => q.text === text).map((q) => q.index)).toEqual([res.body.quote.index]);
    const indexes = shown.map((q) => q.index);
    expect(new Set(indexes).size).toBe(indexes.length);
    // It moved to the member's public URL: the internal one was never even tried.
    const origins = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => new URL(e.name).origin));
    expect(origins).toContain(publicUrl(moved));
    expect(internalRequests).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 120_000);

  it('fails over even when its first GET /api/cluster failed: a page that learned no member asks again soon', async () => {
    const alive = cluster.nodes.map((n) => n.id).filter((id) => !killed.includes(id));
    const leader = await cluster.waitForLeader(alive, 20_000);
    const pageNode = alive.find((id) => id !== leader) as string;
    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    // A slow or restarting node: the page's first ask for the members fails (it waited 30 s to ask again).
    let asked = 0;
    await page.route('**/api/cluster', (route) => (asked++ === 0 ? route.abort('connectionreset') : route.continue()));
    await page.goto(`${publicUrl(pageNode)}/`);
    await waitForText(page, 'connection-node', (t) => t === pageNode);
    await waitFor('the members asked for again', () => asked >= 2, 10_000, 100);

    cluster.kill9(pageNode);
    killed.push(pageNode);
    const survivors = alive.filter((id) => id !== pageNode);
    await waitForText(page, 'connection-node', (t) => survivors.includes(t), 20_000);
    expect(internalRequests).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 90_000);
});
