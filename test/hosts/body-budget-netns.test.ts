import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES_PER_S_PER_ADDRESS } from '../../src/api/limits.js';
import { waitFor } from '../support/cluster.js';
import { httpTo, killHard, MAIN_JS, startIn, type HostProcess } from './hosts-support.js';
import { HostNetwork, namespaceProblem } from './netns.js';

/**
 * The request body budget as a remote client meets it: the node runs in its own network
 * namespace and the test process posts from the bridge's address, which is not loopback, so
 * the per-address budget applies (loopback has a larger one of its own).
 */
const problem = namespaceProblem();
if (problem) console.log(`body-budget-netns: skipped, cannot create network namespaces here: ${problem}`);

const PREFIX = '10.78.0';
const BODY_TEXT_BYTES = 900 * 1024;
const PARALLEL = 16;
const SECRET = 'body-budget-netns-secret-0123456789';

describe.skipIf(problem !== null)('request body bytes from a remote address (network namespace)', () => {
  const hosts = new HostNetwork({ names: ['Node1'], prefix: PREFIX });
  const scratch = mkdtempSync(join(tmpdir(), 'rq-body-netns-'));
  let node: HostProcess | null = null;
  const url = `http://${PREFIX}.11:8080`;

  beforeAll(async () => {
    hosts.setUp();
    const address = hosts.host('Node1').address;
    node = startIn(hosts, 'Node1', [process.execPath, MAIN_JS, 'node', '--id', 'Node1', '--peers', `Node1=${address}:7000`, '--data-dir', join(scratch, 'Node1'), '--init',
      '--http', `${address}:8080`, '--raft', `${address}:7000`, '--controller', `${address}:5555`], { ...process.env, RAFTQUOTES_SECRET: SECRET });
    await waitFor('Node1 to lead', async () => (await httpTo(hosts, `${url}/api/status`).catch(() => null))?.body?.state === 'leader', 30_000, 200).catch((err: Error) => {
      throw new Error(`${err.message}\n${node?.output.slice(-2000)}`);
    });
  }, 60_000);

  afterAll(async () => {
    if (node) await killHard(node);
    const problems = hosts.tearDown();
    rmSync(scratch, { recursive: true, force: true });
    expect(problems).toEqual([]);
  }, 30_000);

  it('refuses with 429 the bodies past 4 MiB a second, before reading them, and admits again later', async () => {
    const body = { text: 'x'.repeat(BODY_TEXT_BYTES) };
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: PARALLEL }, () => httpTo(hosts, `${url}/api/quotes`, 'POST', body, {}, 20_000)));
    const seconds = (performance.now() - started) / 1000;
    const refused = answers.filter((a) => a.status === 429);
    const read = answers.filter((a) => a.status !== 429);
    // Read bodies are refused for their text (too long); refused ones were never read.
    expect(new Set(read.map((a) => a.body?.field))).toEqual(new Set(['text']));
    expect(refused.length).toBeGreaterThan(0);
    for (const answer of refused) {
      expect(answer.body).toMatchObject({ error: 'too_many_requests', field: 'body' });
      expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    // No more was read than the bucket held plus what it earned meanwhile.
    expect(read.length * BODY_TEXT_BYTES).toBeLessThanOrEqual(MAX_BODY_BYTES_PER_S_PER_ADDRESS * (1 + seconds));
    console.log(`body-budget-netns: ${PARALLEL} parallel posts of ${BODY_TEXT_BYTES} bytes in ${seconds.toFixed(2)} s: ${read.length} read, ${refused.length} refused with 429`);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await httpTo(hosts, `${url}/api/quotes`, 'POST', { text: 'after the refill' })).status).toBe(201);
  }, 60_000);
});
