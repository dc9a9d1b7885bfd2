// GET /sim in a real headless Chromium: the page runs five simulated nodes of the src/raft core
// by itself. The node that served it is killed before the simulations run, so nothing but the
// page is involved. Same seed twice: same hash of the event sequence; another seed: another
// hash. Crashing the leader from the page elects another. Replay reproduces the run.

import chromium from '@sparticuz/chromium';
import { chromium as pw, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, waitFor } from '../support/cluster.js';

/** This file's ports (node i listens on base + i), inside the 31000-31999 range. */
const PORTS = { httpBase: 31400, raftBase: 31500, controllerBase: 31600 };
/** Simulated time each hash is taken at. */
const UNTIL_MS = 4_000;

let cluster: TestCluster;
let browser: Browser;
let context: BrowserContext;
const pageErrors: string[] = [];
const pages: Page[] = [];

async function openSim(query: string): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`/sim${query}: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(`/sim${query} console: ${msg.text()}`);
  });
  await page.goto(`${cluster.nodes[0]!.http}/sim${query}`);
  await page.locator('[data-testid="ring-Node5"]').waitFor({ timeout: 15_000 });
  pages.push(page);
  return page;
}

const testId = (page: Page, id: string) => page.locator(`[data-testid="${id}"]`);

/** Runs the page's simulation to `ms` simulated ms (the page is paused) and returns the hash it shows. */
async function hashAt(page: Page, ms: number): Promise<string> {
  await page.evaluate((t) => (window as unknown as { raftSim: { runUntil(ms: number): string } }).raftSim.runUntil(t), ms);
  return (await testId(page, 'sim-status').getAttribute('data-hash'))!;
}

beforeAll(async () => {
  cluster = await TestCluster.start({ ...PORTS, nodes: 1 });
  browser = await pw.launch({ executablePath: await chromium.executablePath(), args: chromium.args, headless: true });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.newPage(); // keeps the context open (--single-process)
});

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await cluster?.stop();
});

describe('/sim, the Raft core in the browser', () => {
  let first: Page;
  let second: Page;
  let third: Page;

  it('serves the page, and the page needs no server once loaded', async () => {
    first = await openSim('?seed=42&paused=1');
    second = await openSim('?seed=42&paused=1');
    third = await openSim('?paused=1');
    cluster.kill9(cluster.nodes[0]!.id);
    await waitFor('the node to be gone', async () => (await fetch(`${cluster.nodes[0]!.http}/healthz`).then(() => false, () => true)) || undefined, 5_000, 100);
    expect(await testId(first, 'sim-seed-shown').textContent()).toBe('42');
    expect(await first.locator('[data-testid^="ring-Node"]').count()).toBe(5);
  });

  it('the same seed gives the same sequence of events; another seed another', async () => {
    const a = await hashAt(first, UNTIL_MS);
    const b = await hashAt(second, UNTIL_MS);
    expect(a).toMatch(/^[0-9a-f]{8}$/);
    expect(b).toBe(a);
    expect(Number(await testId(first, 'sim-status').getAttribute('data-steps'))).toBeGreaterThan(100);
    // The seed field: 43 gives another run, and 42 typed in again gives the first one back.
    await testId(third, 'sim-seed').fill('43');
    await testId(third, 'sim-restart').click();
    expect(await testId(third, 'sim-seed-shown').textContent()).toBe('43');
    const c = await hashAt(third, UNTIL_MS);
    expect(c).not.toBe(a);
    await testId(third, 'sim-seed').fill('42');
    await testId(third, 'sim-restart').click();
    expect(await hashAt(third, UNTIL_MS)).toBe(a);
    expect(pageErrors).toEqual([]);
  });

  it('crashing the leader from the page leads to a new leader; replaying the recording gives the same run', async () => {
    const page = first;
    const leader = (await testId(page, 'sim-status').getAttribute('data-leader'))!;
    expect(leader).toMatch(/^Node[1-5]$/);
    expect(await testId(page, `ring-${leader}`).getAttribute('data-leader')).toBe('true');
    await page.getByRole('button', { name: `Crash ${leader}`, exact: true }).click();
    await waitFor('the crashed node drawn down', async () => ((await testId(page, `ring-${leader}`).getAttribute('data-state')) === 'down') || undefined, 5_000, 50);
    // Step one message and one tick by hand, then let it run fast.
    const steps = Number(await testId(page, 'sim-status').getAttribute('data-steps'));
    await testId(page, 'sim-step-message').click();
    expect(Number(await testId(page, 'sim-status').getAttribute('data-steps'))).toBeGreaterThan(steps);
    const time = Number(await testId(page, 'sim-time').textContent());
    await testId(page, 'sim-step-tick').click();
    expect(Number(await testId(page, 'sim-time').textContent())).toBeCloseTo(time + 10, 1);
    await testId(page, 'sim-speed').selectOption('20');
    await testId(page, 'sim-play').click();
    const next = await waitFor('a new leader', async () => {
      const shown = await testId(page, 'sim-status').getAttribute('data-leader');
      return shown && shown !== leader ? shown : undefined;
    }, 30_000, 100);
    await waitFor('the ring to crown it', async () => ((await testId(page, `ring-${next}`).getAttribute('data-leader')) === 'true') || undefined, 5_000, 50);
    await testId(page, 'sim-play').click(); // pause
    expect(await testId(page, 'sim-play').textContent()).toBe('Play');
    expect(await testId(page, 'sim-actions').textContent()).toBe('1');

    const hash = await testId(page, 'sim-status').getAttribute('data-hash');
    await testId(page, 'sim-replay').click();
    expect(await testId(page, 'sim-message').textContent()).toMatch(/the same run/);
    expect(await testId(page, 'sim-status').getAttribute('data-hash')).toBe(hash);
    expect(await testId(page, 'sim-status').getAttribute('data-leader')).toBe(next);
    expect(pageErrors).toEqual([]);
  });

  it('a message in flight can be dropped by hand, and a client write commits', async () => {
    const page = second;
    const dropButtons = page.locator('[data-testid^="drop-"]');
    await waitFor('a message in flight', async () => {
      if ((await dropButtons.count()) > 0) return true;
      await testId(page, 'sim-step-tick').click();
      return undefined;
    }, 10_000, 20);
    const id = (await dropButtons.first().getAttribute('data-testid'))!.slice('drop-'.length);
    await dropButtons.first().click();
    await expect.poll(() => testId(page, 'sim-events').textContent(), { timeout: 5_000 }).toContain(`message #${id} dropped by hand`);
    await testId(page, 'sim-write-text').fill('<b>stay</b> curious');
    await testId(page, 'sim-write').click();
    await expect.poll(() => testId(page, 'sim-events').textContent(), { timeout: 5_000 }).toMatch(/proposed "<b>stay<\/b> curious" at index \d+/);
    expect(await page.locator('[data-testid="sim-events"] b').count()).toBe(0);
    await hashAt(page, UNTIL_MS + 1_000);
    const applied = await page.evaluate(() => [...(window as unknown as { raftSim: { sim: { applied: Map<number, string> } } }).raftSim.sim.applied.values()]);
    expect(applied).toEqual(['<b>stay</b> curious']);
    expect(await page.locator('[data-testid^="sim-log-"] .cell.committed').count()).toBeGreaterThan(5);
    expect(pageErrors).toEqual([]);
  });
});
