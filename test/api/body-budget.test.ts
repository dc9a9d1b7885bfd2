import { afterEach, describe, expect, it } from 'vitest';
import { FakeNode } from './fake-node.js';
import { call, startApi, type Started } from './helpers.js';

const started: Started[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()));
});

/** A quote body of about `bytes` bytes (too long a text: 400, but its bytes were sent and read). */
function bigQuote(bytes: number): string {
  return JSON.stringify({ text: 'x'.repeat(bytes - 32), author: 'big' });
}

describe('request body bytes per client address', () => {
  it('refuses (429, Retry-After, field body) bodies past the address budget before reading them, and admits again a second later', async () => {
    const node = new FakeNode('Node1').lead();
    // The test client is on loopback, which has its own budget: 2 MiB a second here.
    const server = await startApi(node, { tuning: { bodyBytesPerSecondLoopback: 2 * 1024 * 1024 } });
    started.push(server);
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await call(server.url, 'POST', '/api/quotes', bigQuote(900 * 1024)));
    expect(answers.map((a) => a.status)).toEqual([400, 400, 429]);
    expect(answers[0]?.body.field).toBe('text');
    expect(answers[2]?.body).toMatchObject({ error: 'too_many_requests', field: 'body' });
    expect(Number(answers[2]?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Requests without a body are not charged, nor are bodies refused unread as too large (413).
    expect((await call(server.url, 'GET', '/api/status')).status).toBe(200);
    expect((await call(server.url, 'POST', '/api/quotes', bigQuote(1024 * 1024 + 100))).status).toBe(413);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const small = await call(server.url, 'POST', '/api/quotes', { text: 'after the refill' });
    expect(small.status).toBe(201);
  });

  it('gives loopback its own budget, apart from other addresses', async () => {
    const node = new FakeNode('Node1').lead();
    const server = await startApi(node, { tuning: { bodyBytesPerSecond: 1, bodyBytesPerSecondLoopback: 64 * 1024 * 1024 } });
    started.push(server);
    // Far past what another address may send (a bucket of one 1 MiB body), all from loopback.
    for (let i = 0; i < 4; i++) expect((await call(server.url, 'POST', '/api/quotes', bigQuote(900 * 1024))).status).toBe(400);
  });
});
