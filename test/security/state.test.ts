/**
 * Issue 15, written as the attacks, against a real 3-node cluster (ports 21000-21299 on
 * 127.0.0.1): a poison entry (finding 1), Idempotency-Key reuse (7), the state quota and a
 * corrupted state row (10). Run under the cluster lock: flock /tmp/rq-cluster.lock npx vitest run <file>
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_FILE, openNodeDatabase } from '../../src/storage/sqlite-storage.js';
import { http, sleep, TestCluster, waitFor } from '../support/cluster.js';

const QUOTA_BYTES = 1024 * 1024; // the smallest --quota-bytes allowed
const NODES = ['Node1', 'Node2', 'Node3'];

/** `[[[...1...]]]` nested `depth` deep, as text (the attack's 7 KB body). */
const deepText = (depth: number): string => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

/** A raw JSON body (the helper's JSON.stringify would refuse nothing, but this is what an attacker sends). */
async function rawPost(method: string, url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method, headers: { 'content-type': 'application/json', ...headers }, body, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

describe('state machine attacks (issue 15) on a real 3-node cluster', () => {
  let cluster: TestCluster;
  let leader: string;
  const url = (id: string, path: string): string => `${cluster.node(id).http}${path}`;
  const follower = (): string => NODES.find((id) => id !== leader) as string;

  /** Every node answers /api/status (none exited), and all have applied at least `index`. */
  async function allUpAndApplied(index: number): Promise<void> {
    await waitFor(`all nodes up and applied >= ${index}`, async () => {
      const statuses = await Promise.all(NODES.map((id) => cluster.status(id)));
      return statuses.every((s) => s.appliedIndex >= index);
    }, 15_000, 100);
  }

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 3, httpBase: 21000, raftBase: 21100, controllerBase: 21200, nodeArgs: ['--quota-bytes', String(QUOTA_BYTES)] });
    leader = await cluster.waitForLeader();
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);

  it('finding 1: a cas/put with a value nested 3,500 deep gets 400 naming the field on every node; every node stays up and the cluster still takes writes', async () => {
    expect((await http('PUT', url(leader, '/api/kv/k'), { value: 1 })).status).toBe(200);
    for (const id of NODES) {
      const cas = await rawPost('POST', url(id, '/api/kv/k/cas'), `{"from":${deepText(3_500)},"to":2}`);
      expect(cas.status, `${id} cas from`).toBe(400);
      expect(cas.body).toMatchObject({ error: 'bad_request', field: 'from' });
      const casTo = await rawPost('POST', url(id, '/api/kv/k/cas'), `{"from":1,"to":${deepText(3_500)}}`);
      expect(casTo.body).toMatchObject({ error: 'bad_request', field: 'to' });
      const put = await rawPost('PUT', url(id, '/api/kv/k'), `{"value":${deepText(65)}}`);
      expect(put.body).toMatchObject({ error: 'bad_request', field: 'value' });
    }
    expect((await rawPost('PUT', url(leader, '/api/kv/deep'), `{"value":${deepText(64)}}`)).status).toBe(200); // exactly the limit
    const after = await http('PUT', url(follower(), '/api/kv/k'), { value: 3 });
    expect(after.status).toBe(200);
    await allUpAndApplied(Number(after.headers.get('x-raft-index')));
    expect(cluster.output).not.toMatch(/fatal/);
  });

  it('finding 7: a reused Idempotency-Key with a different request gets 422 idempotency_key_reused, the same request its first result', async () => {
    const key = { 'idempotency-key': 'attack-7' };
    const first = await http('PUT', url(leader, '/api/kv/a'), { value: 'a' }, key);
    expect(first.status).toBe(200);
    const other = await http('PUT', url(leader, '/api/kv/b'), { value: 'b' }, key);
    expect(other.status).toBe(422);
    expect(other.body).toMatchObject({ error: 'idempotency_key_reused', field: 'Idempotency-Key' });
    const otherValue = await http('PUT', url(follower(), '/api/kv/a'), { value: 'changed' }, key); // forwarded to the leader
    expect(otherValue.status).toBe(422);
    expect((await http('GET', url(leader, '/api/kv/b'))).status).toBe(404);
    expect((await http('GET', url(leader, '/api/kv/a'))).body.value).toBe('a');
    const retry = await http('PUT', url(follower(), '/api/kv/a'), { value: 'a' }, key);
    expect(retry.status).toBe(200);
    expect(retry.body.index).toBe(first.body.index);
    const quoteKey = { 'idempotency-key': 'attack-7-quote' };
    const quote = await http('POST', url(leader, '/api/quotes'), { text: 'Once.', author: 'A' }, quoteKey);
    expect(quote.status).toBe(201);
    expect((await http('POST', url(leader, '/api/quotes'), { text: 'Once.', author: 'A' }, quoteKey)).body.quote).toEqual(quote.body.quote);
    expect((await http('POST', url(leader, '/api/quotes'), { text: 'Twice.', author: 'A' }, quoteKey)).status).toBe(422);
  });

  it('finding 10 (quota): a node at its 1 MiB --quota-bytes answers 507 quota_exceeded; a delete works, then a write fits again', async () => {
    const value = 'x'.repeat(60_000);
    let refused: { status: number; body: any } | null = null;
    let written = 0;
    for (let i = 0; i < 40 && !refused; i++) {
      const res = await http('PUT', url(i % 2 === 0 ? leader : follower(), `/api/kv/fill-${i}`), { value });
      if (res.status === 200) written++;
      else refused = res;
    }
    expect(written).toBeGreaterThanOrEqual(15); // ~60 KB each: about 17 fit in 1 MiB
    expect(refused?.status).toBe(507);
    expect(refused?.body).toMatchObject({ error: 'quota_exceeded' });
    // Still full for new data, through a follower (forwarded) and for quotes...
    expect((await http('PUT', url(follower(), '/api/kv/more'), { value })).status).toBe(507);
    // ...but a shrinking write and a delete work.
    expect((await http('PUT', url(leader, '/api/kv/fill-0'), { value: 'small' })).status).toBe(200);
    expect((await http('DELETE', url(leader, '/api/kv/fill-1'))).status).toBe(200);
    expect((await http('PUT', url(leader, '/api/kv/more'), { value })).status).toBe(200);
    await allUpAndApplied(1);
  });

  it('finding 10 (checksums): a follower whose stored value had a byte flipped on disk does not serve it, and stops', async () => {
    const written = await http('PUT', url(leader, '/api/kv/victim'), { value: 'balance-100' });
    expect(written.status).toBe(200);
    const victim = follower();
    await allUpAndApplied(Number(written.headers.get('x-raft-index')));
    cluster.kill9(victim);
    await sleep(300);
    const db = new Database(join(cluster.node(victim).dataDir, DATABASE_FILE));
    try {
      const changes = db.prepare(`UPDATE sm_kv SET value = '"balance-900"' WHERE key = 'victim'`).run().changes;
      expect(changes).toBe(1);
    } finally {
      db.close();
    }
    await cluster.restart(victim);
    for (const path of ['/api/kv/victim?consistency=stale', '/api/kv/victim']) {
      const read = await http('GET', url(victim, path)).catch(() => null); // a node that stopped answers nothing
      expect(read?.status).not.toBe(200);
      expect(JSON.stringify(read?.body ?? '')).not.toContain('balance-900');
    }
    await waitFor(`${victim} stopped`, async () => (await http('GET', url(victim, '/healthz'), undefined, {}, 500).catch(() => null)) === null, 5_000, 100);
    expect(cluster.output).toMatch(/checksum mismatch in kv key \\?"victim\\?"/);
    await cluster.restart(victim).catch(() => undefined); // it starts (the row is only read when asked for), for the next test
    
    expect((await http('GET', url(leader, '/api/kv/victim?consistency=stale'))).body.value).toBe('balance-100');
  });

  it('finding 1: a poison entry already in every log is applied after a restart without crashing, recorded as failed the same on every node', async () => {
    const outputBefore = cluster.output.length;
    const before = await http('PUT', url(leader, '/api/kv/poisoned'), { value: 'intact' });
    expect(before.status).toBe(200);
    await allUpAndApplied(Number(before.headers.get('x-raft-index')));
    await sleep(300); // heartbeats carry the commit index to every follower
    for (const id of NODES) cluster.kill9(id);
    await sleep(500);
    // The entry the old API let through (a cas whose `from` is nested 3,500 deep), written
    // through the storage API at the end of every node's log, as if it had been replicated.
    const { clusterId } = JSON.parse(readFileSync(join(cluster.dataDir, 'cluster.json'), 'utf8')) as { clusterId: string };
    const poison = `{"op":"cas","key":"poisoned","from":${deepText(3_500)},"to":"overwritten"}`;
    let poisonIndex = 0;
    for (const id of NODES) {
      const { storage } = openNodeDatabase(cluster.node(id).dataDir, { clusterId, nodeId: id });
      try {
        const log = storage.recover();
        const last = log.entries.at(-1) ?? { index: log.offset, term: log.offsetTerm };
        if (poisonIndex === 0) poisonIndex = last.index + 1;
        expect(last.index + 1, `${id}'s log ends where the others' do`).toBe(poisonIndex);
        storage.persist({ hardState: null, snapshot: null, entries: [{ index: poisonIndex, term: last.term, type: 'normal', data: poison }] });
      } finally {
        storage.close();
      }
    }
    for (const id of NODES) await cluster.restart(id);
    // A new leader's first entry commits the poison entry (§5.4.2), and every node applies past it.
    leader = await cluster.waitForLeader();
    await allUpAndApplied(poisonIndex + 1);
    const write = await http('PUT', url(leader, '/api/kv/after-poison'), { value: 1 });
    expect(write.status).toBe(200);
    await allUpAndApplied(Number(write.headers.get('x-raft-index')));
    await sleep(1_000); // a node that crashed on apply would be gone by now
    for (const id of NODES) {
      expect((await http('GET', url(id, '/api/kv/poisoned?consistency=stale'))).body.value, id).toBe('intact');
      expect((await cluster.status(id)).appliedIndex, id).toBeGreaterThan(poisonIndex);
    }
    expect(cluster.output.slice(outputBefore)).not.toMatch(/fatal|exited \(code 70\)/);
  });
});
