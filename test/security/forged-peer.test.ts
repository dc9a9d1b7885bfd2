import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_TERM } from '@raftquotes/raft';
import { ForgerPeer, openRawPeerSocket, type ForgerPeerOptions } from '../support/forger-peer.js';
import { forgeHostile, MESSAGE_TYPES, viewOf, type TargetView } from '../support/hostile-messages.js';
import { http, sleep, TestCluster, waitFor, isAlive } from '../support/cluster.js';

/**
 * Issue 15, finding 2, as the attack: a member that holds the cluster's secret (trusted, but
 * hostile or compromised) speaks the peer protocol to a live 3-node cluster of real processes
 * and forges Raft messages. Each must be refused (counted in /metrics, logged) or harmless,
 * and never take a node down. Without the secret, the handshake is refused.
 *
 * --election-ms 2000: test (c) stops both followers and needs the leader to stay leader (it
 * steps down after an election timeout without a majority) while the forged reply arrives.
 * Ports 28000-28299 (HTTP 28000+i, Raft 28100+i, controller 28200+i).
 */
const PORTS = { httpBase: 28000, raftBase: 28100, controllerBase: 28200 };
const SEED = 15_002;
/** Far beyond any log index this test reaches, within MAX_INDEX. */
const FAR = 2 ** 40;

describe('forged peer messages from a member holding the secret', () => {
  let cluster: TestCluster;
  let clusterId: string;
  let secret: string;
  const ids = (): string[] => cluster.nodes.map((n) => n.id);

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 3, ...PORTS, nodeArgs: ['--rate-limit', '0', '--election-ms', '2000'] });
    clusterId = (JSON.parse(readFileSync(join(cluster.dataDir, 'cluster.json'), 'utf8')) as { clusterId: string }).clusterId;
    secret = readFileSync(join(cluster.dataDir, 'secret'), 'utf8').trim();
    await cluster.waitForLeader();
  }, 60_000);
  afterAll(async () => {
    for (const node of cluster?.nodes ?? []) signal(node.pid, 'SIGCONT');
    await cluster?.stop();
  });

  const peerOptions = (as: string, target: string): ForgerPeerOptions => {
    const [host, port] = cluster.node(target).raft.split(':') as [string, string];
    return { as, target, address: { host, port: Number(port) }, clusterId, secret, http: cluster.node(as).http };
  };

  const view = async (id: string): Promise<TargetView> => {
    const v = viewOf(await cluster.status(id));
    if (!v) throw new Error(`${id} gave no status`);
    return v;
  };

  /** raft_rejected_messages_total{reason} of one node, from its /metrics. */
  const rejected = async (id: string, reason: string): Promise<number> => {
    const text = (await http('GET', `${cluster.node(id).http}/metrics`)).body as string;
    const match = new RegExp(`^raft_rejected_messages_total\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)`, 'm').exec(text);
    return match ? Number(match[1]) : 0;
  };

  /** Lines in which `id`'s transport dropped a hostile message at the edge (before the core). */
  const droppedAtEdge = (id: string): number => cluster.output.split('\n').filter((line) => line.startsWith(id) && line.includes('dropped hostile or malformed message')).length;

  /**
   * Sends a forged message as `as` to `target` until `target` has refused it: counted by the
   * core as `reason`, or dropped by the transport's field checks first (a term above
   * MAX_TERM never reaches the core). Resent every 200 ms, up to 10 s: the forger's
   * connection and the real member's replace each other at the target, so one send can be
   * lost with its link, as on any lossy network.
   */
  const forgeOne = async (as: string, target: string, message: object, reason: string): Promise<void> => {
    const before = await rejected(target, reason);
    const edgeBefore = droppedAtEdge(target);
    const peer = await ForgerPeer.start(peerOptions(as, target));
    try {
      await waitFor(`${target} to refuse a forged ${reason}`, async () => {
        peer.send(message);
        await sleep(200);
        return (await rejected(target, reason)) > before || droppedAtEdge(target) > edgeBefore;
      }, 10_000, 0);
    } finally {
      await peer.close();
    }
  };

  /**
   * Waits until every live node's links to the other live nodes are up. Forging as a member
   * replaces that member's link to the target (one inbound connection per peer), so links
   * flap for up to about a second afterwards. A read forwarded to the leader while its link
   * was down is dropped and, as the runtime stands, not retried: it answers 504 after 5 s.
   */
  const waitLinksUp = (): Promise<true> => {
    const live = ids().filter((id) => isAlive(cluster.node(id).pid));
    return waitFor('every peer link up', async () => {
      const statuses = (await Promise.all(live.map((id) => cluster.status(id)))) as Array<{ id: string; peers: Record<string, { connected: boolean }> }>;
      return statuses.every((st) => live.every((peer) => peer === st.id || st.peers[peer]?.connected === true)) || undefined;
    }, 10_000, 50);
  };

  const putAndRead = async (key: string, value: unknown): Promise<void> => {
    await waitLinksUp();
    const put = await waitFor(`PUT ${key}`, async () => {
      const res = await http('PUT', `${cluster.node(ids()[0] as string).http}/api/kv/${key}`, { value }).catch(() => null);
      return res?.status === 200 ? res : undefined;
    }, 20_000, 200);
    expect(put.body.index).toBeGreaterThan(0);
    for (const id of ids()) {
      if (!isAlive(cluster.node(id).pid)) continue;
      const got = await http('GET', `${cluster.node(id).http}/api/kv/${key}`, undefined, {}, 10_000);
      expect(got.status, `linearizable read of ${key} through ${id}`).toBe(200);
      expect(got.body.value, `linearizable read of ${key} through ${id}`).toEqual(value);
    }
  };

  const expectAllAlive = (): void => {
    for (const node of cluster.nodes) expect(isAlive(node.pid), `${node.id} (pid ${node.pid}) exited:\n${cluster.output.slice(-3000)}`).toBe(true);
  };

  it('(a) a Heartbeat "from" a follower in the leader\'s own term: refused, logged and counted; the leader survives', async () => {
    const leader = await cluster.waitForLeader();
    const follower = ids().find((id) => id !== leader) as string;
    const { term } = await view(leader);
    // Before the core fix this threw RaftInvariantError outside any guard and the leader exited.
    await forgeOne(follower, leader, { type: 'Heartbeat', from: follower, to: leader, term, commit: 0, readRound: 0 }, 'second_leader');
    expectAllAlive();
    const logged = cluster.output.split('\n').find((line) => line.startsWith(leader) && line.includes('dropped peer message') && line.includes('second_leader'));
    expect(logged, `${leader} logs the rejection`).toBeDefined();
    expect(await cluster.waitForLeader()).toMatch(/^Node/);
    await putAndRead('after-heartbeat', 'a');
  }, 60_000);

  it('(c) an AppendEntriesResponse claiming a match far beyond the leader\'s log commits nothing unreplicated', async () => {
    const leader = await cluster.waitForLeader();
    const followers = ids().filter((id) => id !== leader);
    const before = await view(leader);
    // Stop both followers: from now on nothing the leader appends is replicated.
    for (const id of followers) signal(cluster.node(id).pid, 'SIGSTOP');
    let resumedAt = Infinity;
    try {
      let answeredOkAt = Infinity;
      const put = http('PUT', `${cluster.node(leader).http}/api/kv/unreplicated`, { value: 'must not commit' }, {}, 10_000)
        .then((res) => {
          if (res.status === 200) answeredOkAt = Date.now();
          return res.status;
        })
        .catch(() => 0);
      const appended = await waitFor('the leader to append the write', async () => {
        const v = await view(leader);
        return v.lastIndex > before.lastIndex ? v : undefined;
      }, 5_000, 10);
      const fake = { type: 'AppendEntriesResponse', from: followers[0], to: leader, term: appended.term, success: true, matchIndex: appended.lastIndex + FAR, rejectedIndex: 0, conflictIndex: 0, conflictTerm: null };
      await forgeOne(followers[0] as string, leader, fake, 'impossible_response');
      const after = await view(leader);
      expect(after.commitIndex, 'commit index after the forged ack').toBeLessThan(appended.lastIndex);
      expect(after.commitIndex).toBeLessThanOrEqual(after.lastIndex);
      const progress = ((await cluster.status(leader)).peers ?? {}) as Record<string, { matchIndex: number }>;
      for (const [peer, p] of Object.entries(progress)) expect(p.matchIndex, `${peer}'s match index as the leader sees it`).toBeLessThanOrEqual(after.lastIndex);
      for (const id of followers) signal(cluster.node(id).pid, 'SIGCONT');
      resumedAt = Date.now();
      await put;
      expect(answeredOkAt, 'the write was acknowledged while no follower could store it').toBeGreaterThanOrEqual(resumedAt);
    } finally {
      for (const id of followers) signal(cluster.node(id).pid, 'SIGCONT');
    }
    expectAllAlive();
    await cluster.waitForLeader();
    await putAndRead('after-fake-ack', 'c');
  }, 60_000);

  it('(d) ReadIndexResponses from a non-leader with a huge or a zero index are ignored; linearizable reads stay correct', async () => {
    const leader = await cluster.waitForLeader();
    const [reader, impostor] = ids().filter((id) => id !== leader) as [string, string];
    await putAndRead('read-target', 'fresh');
    const before = await rejected(reader, 'unsolicited_response');
    const { term } = await view(reader);
    // Read ids are r1, r2, ... per node: answer every id this node will use for a while,
    // some with an index no node reaches (the read would hang), some with 0 (a stale read).
    const reads = Array.from({ length: 30 }, () => http('GET', `${cluster.node(reader).http}/api/kv/read-target`, undefined, {}, 10_000));
    const peer = await ForgerPeer.start(peerOptions(impostor, reader));
    try {
      // Batches until the reads are done and the reader has counted some: the forger's link
      // and the real member's replace each other at the reader, so a batch can be lost.
      let sent = 0;
      const forging = waitFor('unsolicited_response counted', async () => {
        for (let n = 0; n < 300; n++, sent++) peer.send({ type: 'ReadIndexResponse', from: impostor, to: reader, term, requestId: `r${(sent % 3000) + 1}`, index: sent % 2 === 0 ? FAR : 0 });
        await sleep(100);
        return (await rejected(reader, 'unsolicited_response')) > before;
      }, 15_000, 0);
      for (const res of await Promise.all(reads)) {
        expect(res.status).toBe(200);
        expect(res.body.value).toBe('fresh');
      }
      await forging;
    } finally {
      await peer.close();
    }
    expectAllAlive();
    await putAndRead('after-read-forgery', 'd');
  }, 60_000);

  it('(e) seeded random and mutated messages from every member identity to every node: no node exits, the cluster still serves', async () => {
    const members = ids();
    const pairs = members.flatMap((as) => members.filter((t) => t !== as).map((target) => [as, target] as const));
    let forged = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...pairs), fc.gen(), async ([as, target], g) => {
        const choose = { int: (n: number): number => (n <= 1 ? 0 : g(fc.integer, { min: 0, max: n - 1 })) };
        const v = await view(target);
        const batch: unknown[] = [];
        for (let i = 0; i < 25; i++) batch.push(forgeHostile(choose, v, as, members, { keepConnection: true }).message);
        // Random fields of any shape on a random type, in a past or refused term.
        for (let i = 0; i < 10; i++) {
          const fields = g(fc.dictionary, fc.string({ maxLength: 12 }), fc.anything({ maxDepth: 2 }), { maxKeys: 6 });
          const term = v.term > 1 && choose.int(2) === 0 ? 1 + choose.int(v.term - 1) : MAX_TERM + 1 + choose.int(1000);
          batch.push({ ...fields, type: MESSAGE_TYPES[choose.int(MESSAGE_TYPES.length)], from: as, to: target, term });
        }
        // Last, what the transport refuses and answers by closing the connection.
        const other = members.find((m) => m !== as && m !== target) as string;
        batch.push({ type: 'Heartbeat', from: other, to: target, term: 1, commit: 0, readRound: 0 }, { type: 'Heartbeat', from: as, to: target, term: -1 }, { type: 'Nope', from: as, to: target, term: v.term });
        const peer = await ForgerPeer.start(peerOptions(as, target));
        try {
          for (const message of batch) peer.send(message);
          await peer.waitSent(batch.length, 2_000);
          forged += peer.sent;
          await sleep(100);
        } finally {
          await peer.close();
        }
        expect(isAlive(cluster.node(target).pid), `${target} exited:\n${cluster.output.slice(-3000)}`).toBe(true);
      }),
      { numRuns: 18, seed: SEED },
    );
    console.log(`(e) forged messages written: ${forged}`);
    expect(forged).toBeGreaterThan(200);
    expectAllAlive();
    expect(await cluster.waitForLeader(members, 20_000)).toMatch(/^Node/);
    await putAndRead('after-random-forgery', 'e');
  }, 120_000);

  it('without the secret, or with a wrong one, a dialer is refused and gets no message in', async () => {
    const leader = await cluster.waitForLeader();
    const follower = ids().find((id) => id !== leader) as string;
    for (const key of [undefined, 'not-the-secret-but-long-enough-0123456789']) {
      const peer = await ForgerPeer.start({ ...peerOptions(follower, leader), secret: key });
      try {
        peer.send({ type: 'Heartbeat', from: follower, to: leader, term: (await view(leader)).term, commit: 0, readRound: 0 });
        expect(await peer.waitConnected(3_000), `handshake with secret ${key ?? '(none)'}`).toBe(false);
        expect(peer.sent).toBe(0);
      } finally {
        await peer.close();
      }
      await expect(openRawPeerSocket({ ...peerOptions(follower, leader), secret: key }, 3_000)).rejects.toThrow(/refused|closed/);
    }
    const refusals = cluster.output.split('\n').filter((line) => line.startsWith(leader) && line.includes('refused'));
    expect(refusals.length, `${leader} logs the refusals`).toBeGreaterThan(0);
    expectAllAlive();
  }, 60_000);

  it('(b) a RequestVote with term 2^53-1 to every node changes no term; after kill -9 of the leader a new one is elected and takes writes', async () => {
    const leader = await cluster.waitForLeader();
    const before = new Map<string, number>();
    for (const id of ids()) before.set(id, (await view(id)).term);
    for (const target of ids()) {
      // Pose as a follower other than the target, so no real leader link is disturbed.
      const as = ids().find((id) => id !== target && id !== leader) as string;
      await forgeOne(as, target, { type: 'RequestVote', from: as, to: target, term: Number.MAX_SAFE_INTEGER, lastLogIndex: 1e9, lastLogTerm: Number.MAX_SAFE_INTEGER, force: true }, 'term_out_of_range');
    }
    for (const id of ids()) {
      const term = (await view(id)).term;
      // Before the fix every node moved to 2^53-1, where term + 1 === term and no election could succeed.
      expect(term, `${id}'s term`).toBe(before.get(id));
    }
    cluster.kill9(leader);
    const rest = ids().filter((id) => id !== leader);
    const next = await cluster.waitForLeader(rest, 20_000);
    expect(next).not.toBe(leader);
    expect((await view(next)).term).toBeLessThan(MAX_TERM);
    const put = await waitFor('a write on the new leader', async () => {
      const res = await http('PUT', `${cluster.node(next).http}/api/kv/after-kill`, { value: 'b' }).catch(() => null);
      return res?.status === 200 ? res : undefined;
    }, 20_000, 200);
    expect(put.body.index).toBeGreaterThan(0);
    for (const id of rest) expect((await http('GET', `${cluster.node(id).http}/api/kv/after-kill`)).body.value).toBe('b');
  }, 60_000);
});

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}
