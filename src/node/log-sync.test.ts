import { afterEach, describe, expect, it } from 'vitest';
import type { Configuration, NodeId } from '@raftquotes/raft';
import { MemoryStateMachine } from '../state/memory-state-machine.js';
import { MemoryRaftStorage } from '../storage/memory-storage.js';
import type { PersistBatch, UnsyncedWrites } from '../storage/types.js';
import { NodeMetrics } from './metrics.js';
import { MAX_SYNCS_IN_FLIGHT } from './log-sync.js';
import { RaftNode } from './raft-node.js';
import { MemoryHub, waitUntil } from '../../test/support/memory-hub.js';

/**
 * Memory storage whose unsynced writes land at once (as SQLite's do, in the page cache) and
 * whose syncs complete only when the test releases them: what the leader may count, and when.
 */
class HeldSyncStorage extends MemoryRaftStorage implements UnsyncedWrites {
  unsyncedWrites = 0;
  syncsNow = 0;
  readonly held: Array<(err: Error | null) => void> = [];

  persistUnsynced(batch: PersistBatch): void {
    this.unsyncedWrites++;
    this.persist(batch);
  }

  syncAsync(done: (err: Error | null) => void): void {
    this.held.push(done);
  }

  syncNow(): void {
    this.syncsNow++;
  }

  release(err: Error | null = null): void {
    for (const done of this.held.splice(0)) done(err);
  }
}

const QUIET = { info: () => undefined, warn: () => undefined, error: () => undefined };
const running: RaftNode[] = [];
afterEach(async () => {
  for (const node of running.splice(0)) await node.stop();
});

function member(id: NodeId): { id: NodeId; raft: string; http: string } {
  return { id, raft: `127.0.0.1:1${id.slice(4)}`, http: `http://${id}` };
}

async function start(hub: MemoryHub, id: NodeId, ids: NodeId[], storage: MemoryRaftStorage, onFatal?: (err: unknown) => void): Promise<RaftNode> {
  const config: Configuration = { voters: ids.map(member), learners: [], outgoing: null };
  const node = new RaftNode(
    { id, voters: ids, initialConfiguration: config, httpUrl: `http://${id}`, tickMs: 5, snapshotEvery: 1_000, defaultTimeoutMs: 5_000, raft: { electionTicks: 40, heartbeatTicks: 4 } },
    { storage, stateMachine: new MemoryStateMachine(), transport: hub.transport(id, ids), logger: QUIET, metrics: new NodeMetrics(id, { processMetrics: false }), onFatal },
  );
  running.push(node);
  await node.start();
  return node;
}

/** Waits until `node` leads with its no-op committed, releasing the syncs it asks for meanwhile. */
async function leading(node: RaftNode, storage: HeldSyncStorage): Promise<void> {
  await waitUntil('leader', () => {
    storage.release();
    return node.status().state === 'leader' && node.status().commitIndex >= 1;
  });
}

describe('a leader writes its appends without waiting for the disk (LogSync)', () => {
  it('alone, it commits an entry only once the sync reports it durable', async () => {
    const storage = new HeldSyncStorage();
    const node = await start(new MemoryHub(), 'Node1', ['Node1'], storage);
    await leading(node, storage);
    let done = false;
    const write = node.propose({ op: 'put', key: 'k', value: 1 }).then(() => (done = true));
    await waitUntil('the write written', () => storage.held.length > 0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(done).toBe(false); // written, not durable: not committed
    expect(node.status().commitIndex).toBe(1);
    storage.release();
    await write;
    expect(node.stateMachine.get('k')?.value).toBe(1);
    expect(storage.unsyncedWrites).toBe(1); // the write; the no-op went out with the new term, synced
  });

  it('with followers, writes commit on their durable copies while the leader\'s sync is out, and are answered once it is in (SPEC §2)', async () => {
    const hub = new MemoryHub();
    const ids = ['Node1', 'Node2', 'Node3'];
    const storages = ids.map(() => new HeldSyncStorage());
    const nodes = await Promise.all(ids.map((id, i) => start(hub, id, ids, storages[i] as HeldSyncStorage)));
    const leader = await waitUntil('a leader', () => {
      for (const s of storages) s.release();
      return nodes.find((n) => n.status().state === 'leader' && n.status().commitIndex >= 1);
    });
    const storage = storages[nodes.indexOf(leader)] as HeldSyncStorage;
    const answered: number[] = [];
    const writes = Array.from({ length: 20 }, (_, i) => leader.propose({ op: 'put', key: `k${i}`, value: i }).then(() => void answered.push(i)));
    const last = leader.status().lastIndex;
    await waitUntil('committed and applied on the followers\' copies', () => leader.status().commitIndex >= last && leader.stateMachine.appliedIndex() >= last);
    expect(storage.held.length).toBeGreaterThan(0); // not released yet
    expect(storage.held.length).toBeLessThanOrEqual(MAX_SYNCS_IN_FLIGHT);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(answered).toEqual([]); // applied, but not on the leader's own disk: no client answered
    while (storage.held.length > 0) storage.release();
    await Promise.all(writes);
    expect(answered).toHaveLength(20);
    for (const [i, s] of storages.entries()) if (s !== storage) expect(s.unsyncedWrites, `follower ${ids[i]} syncs what it acknowledges`).toBe(0);
    await leader.readBarrier(); // a linearizable read is answered: everything it reflects is on disk
    void leader.propose({ op: 'put', key: 'late', value: 1 }).catch(() => undefined);
    await waitUntil('the late write written', () => storage.held.length > 0);
    await leader.stop();
    expect(storage.syncsNow).toBe(1); // a clean stop syncs what is pending
  });

  it('a failed sync stops the node', async () => {
    const storage = new HeldSyncStorage();
    const fatal: unknown[] = [];
    const node = await start(new MemoryHub(), 'Node1', ['Node1'], storage, (err) => fatal.push(err));
    await leading(node, storage);
    void node.propose({ op: 'put', key: 'k', value: 1 }).catch(() => undefined);
    await waitUntil('the write written', () => storage.held.length > 0);
    storage.release(new Error('EIO'));
    expect(fatal).toHaveLength(1);
    expect(String(fatal[0])).toMatch(/EIO/);
  });
});
