/**
 * The one sleep and the poll-until helpers of the tests and benchmarks. Every wait is bounded:
 * a poll gives up after its timeout (these are bounds, never timing assertions).
 */

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What a poll may return: a value ends the wait; undefined, null or false keep polling. */
type Polled<T> = T | undefined | null | false;

/**
 * Polls `check` every `intervalMs` until it returns a value, and returns it; throws after
 * `timeoutMs`, naming `what` and the last error `check` threw (a throw counts as "not yet").
 */
export async function waitFor<T>(what: string, check: () => Promise<Polled<T>> | Polled<T>, timeoutMs = 15_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) break;
    await sleep(intervalMs);
  }
  const cause = lastError === undefined ? '' : ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
}

/** Polls `condition` every `intervalMs`; resolves whether it held before `timeoutMs` passed. */
export async function becomesTrue(condition: () => boolean, timeoutMs: number, intervalMs = 10): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
  return true;
}
