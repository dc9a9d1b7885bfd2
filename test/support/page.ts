import type { Page } from 'playwright-core';
import { waitFor } from './cluster.js';

/** Elements the pages mark for tests with data-testid. */
export function byTestId(page: Page, testId: string) {
  return page.locator(`[data-testid="${testId}"]`);
}

/** The trimmed text of the first element with this test id. */
export async function textOf(page: Page, testId: string, timeoutMs = 10_000): Promise<string> {
  return ((await byTestId(page, testId).first().textContent({ timeout: timeoutMs })) ?? '').trim();
}

/** Polls until the element's text satisfies `accept`; returns the text (the last one seen is in the error). */
export async function waitForText(page: Page, testId: string, accept: (text: string) => boolean, timeoutMs = 15_000): Promise<string> {
  let last = '';
  try {
    return await waitFor(`text of ${testId}`, async () => {
      last = await textOf(page, testId);
      return accept(last) ? last : undefined;
    }, timeoutMs, 100);
  } catch (err) {
    throw new Error(`${(err as Error).message}; last text was ${JSON.stringify(last)}`);
  }
}
