import { afterEach, describe, expect, it } from 'vitest';
import type { Configuration, NodeId } from '@raftquotes/raft';
import { MemoryStateMachine } from '../state/memory-state-machine.js';
import type { SnapshotImage } from '../state/types.js';
import { MemoryRaftStorage } from '../storage/memory-storage.js';
import { NodeMetrics } from './metrics.js';
import { RaftNode, type NodeLogger } from './raft-node.js';
import { MemoryHub, waitUntil } from '../../test/support/memory-hub.js';

const SEED: Configuration = { voters: ['Node1', 'Node2', 'Node3'].map(member), learners: [], outgoing: null };

function member(id: NodeId): { id: NodeId; raft: string; http: string } {
  return { id, raft: `127.0.0.1:1${id.slice(4)}`, http: `http://${id}` };
}

/** The real in-memory state machine, counting the InstallSnapshot images it was asked to build. */
class CountingStateMachine extends MemoryStateMachine {
  builds = 0;
  /** Makes each build take at least this long, as a large state does. */
  buildDelayMs = 0;
  override async buildImage(): Promise<SnapshotImage> {
    this.builds++;
    const image = await super.buildImage();
    if (this.buildDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.buildDelayMs));
    return image;
  }
}

interface TestNode {
  node: RaftNode;
  stateMachine: CountingStateMachine;
  lines: string[];
}

let running: TestNode[] = [];

afterEach(async () => {
  for (const n of running) await n.node.stop();
  running = [];
});

function recordingLogger(lines: string[]): NodeLogger {
  const record = (...args: unknown[]): void => void lines.push(String(args[args.length - 1]));
  return { info: record, warn: record, error: record };
}

async function startNode(hub: MemoryHub, id: NodeId, config: Configuration): Promise<TestNode> {
  const stateMachine = new CountingStateMachine();
  const lines: string[] = [];
  const ids = [...config.voters, ...config.learners].map((m) => m.id);
  const node = new RaftNode(
    { id, voters: config.voters.map((m) => m.id), initialConfiguration: config, httpUrl: `http://${id}`, tickMs: 5, snapshotEvery: 50, defaultTimeoutMs: 5_000, raft: { electionTicks: 60, heartbeatTicks: 4, compactionTrailingEntries: 10, snapshotChunkBytes: 300 } },
    { storage: new MemoryRaftStorage(), stateMachine, transport: hub.transport(id, ids), logger: recordingLogger(lines), metrics: new NodeMetrics(id) },
  );
  const started = { node, stateMachine, lines };
  running.push(started);
  await node.start();
  return started;
}

const leaderOf = (nodes: TestNode[]): TestNode | undefined => nodes.find((n) => n.node.status().state === 'leader');

async function putAll(nodes: TestNode[], from: number, count: number): Promise<TestNode> {
  const leader = await waitUntil('a leader', () => leaderOf(nodes));
  for (let i = from; i < from + count; i++) await leader.node.propose({ op: 'put', key: `k${i}`, value: i });
  return leader;
}

/** Adds `id` as a learner and waits until it has applied everything the leader had committed. */
async function addLearner(hub: MemoryHub, nodes: TestNode[], id: NodeId, learners: NodeId[]): Promise<TestNode> {
  const leader = await waitUntil('a leader', () => leaderOf(nodes));
  await leader.node.changeMembers([{ op: 'add-learner', id, raft: member(id).raft, http: member(id).http }]);
  const added = await startNode(hub, id, { ...SEED, learners: [...learners, id].map(member) });
  nodes.push(added);
  await waitUntil(`${id} caught up`, () => added.stateMachine.appliedIndex() >= leader.node.status().commitIndex);
  return added;
}

describe('InstallSnapshot images on the node runtime', () => {
  it('a second follower behind the log gets the image already built; once the log is compacted past it, a new one is built; every install equals the leader state', async () => {
    const hub = new MemoryHub();
    const nodes = await Promise.all(SEED.voters.map((m) => startNode(hub, m.id, SEED)));
    let leader = await putAll(nodes, 0, 120); // past snapshotEvery and the trailing window: a new member needs InstallSnapshot

    await addLearner(hub, nodes, 'Node4', []);
    expect(leader.stateMachine.builds).toBe(1);
    await addLearner(hub, nodes, 'Node5', ['Node4']); // the log still holds everything after the image
    expect(leader.stateMachine.builds).toBe(1);
    expect(leader.lines.some((line) => line.startsWith('snapshot image for InstallSnapshot reused'))).toBe(true);

    leader = await putAll(nodes, 120, 120); // the configuration at the image's index (Node5 was added since) is compacted away
    await addLearner(hub, nodes, 'Node6', ['Node4', 'Node5']);
    expect(leader.stateMachine.builds).toBe(2);

    await waitUntil('all applied alike', () => nodes.every((n) => n.stateMachine.appliedIndex() === leader.stateMachine.appliedIndex()));
    const image = Buffer.from(leader.stateMachine.snapshot());
    for (const n of nodes) expect(Buffer.from(n.stateMachine.snapshot()).equals(image), `${n.node.id} state equals the leader's`).toBe(true);
    expect(nodes[5]?.stateMachine.get('k239')?.value).toBe(239);
  }, 60_000);

  it('a follower cut off past a compaction finds its image built ahead of time, and catches up from it', async () => {
    const hub = new MemoryHub();
    const nodes = await Promise.all(SEED.voters.map((m) => startNode(hub, m.id, SEED)));
    const leader = await putAll(nodes, 0, 5);
    const follower = nodes.find((n) => n !== leader) as TestNode;
    const cut = [`${leader.node.id}>${follower.node.id}`, `${follower.node.id}>${leader.node.id}`];
    for (const link of cut) hub.cut.add(link);
    await putAll(nodes, 5, 120); // two compactions while it is away
    await waitUntil('an image built ahead of time', () => leader.lines.some((line) => / ms, ahead of time\)$/.test(line)));
    expect(leader.stateMachine.builds).toBeGreaterThanOrEqual(1);
    expect(follower.lines.some((line) => line.startsWith('installed snapshot'))).toBe(false);
    const builtBefore = leader.stateMachine.builds;

    for (const link of cut) hub.cut.delete(link);
    await waitUntil('the follower caught up', () => follower.stateMachine.appliedIndex() >= leader.node.status().commitIndex);
    expect(leader.lines.some((line) => line.startsWith('snapshot image for InstallSnapshot reused'))).toBe(true);
    expect(leader.stateMachine.builds).toBe(builtBefore);
    expect(follower.stateMachine.get('k124')?.value).toBe(124);
    expect(Buffer.from(follower.stateMachine.snapshot()).equals(Buffer.from(leader.stateMachine.snapshot()))).toBe(true);
  }, 60_000);

  it('a follower that comes back after compactions whose builds the budget skipped gets the last image, held with the log after it, not a build on demand', async () => {
    const hub = new MemoryHub();
    const nodes = await Promise.all(SEED.voters.map((m) => startNode(hub, m.id, SEED)));
    const leader = await putAll(nodes, 0, 5);
    leader.stateMachine.buildDelayMs = 2_000; // the budget then allows one build ahead per 8 s
    const follower = nodes.find((n) => n !== leader) as TestNode;
    const cut = [`${leader.node.id}>${follower.node.id}`, `${follower.node.id}>${leader.node.id}`];
    for (const link of cut) hub.cut.add(link);
    await putAll(nodes, 5, 60);
    await waitUntil('an image built ahead of time', () => leader.lines.some((line) => / ms, ahead of time\)$/.test(line)), 20_000);
    const imageIndex = leader.stateMachine.appliedIndex();
    await putAll(nodes, 65, 110); // two more compactions within the budget's 8 s
    expect(leader.node.status().snapshotIndex).toBeGreaterThan(imageIndex + 50);

    for (const link of cut) hub.cut.delete(link);
    await waitUntil('the follower caught up', () => follower.stateMachine.appliedIndex() >= leader.node.status().commitIndex);
    expect(leader.lines.filter((line) => /^snapshot image for InstallSnapshot at .* ms\)$/.test(line))).toEqual([]); // none built on demand
    expect(leader.lines.some((line) => line.startsWith('snapshot image for InstallSnapshot reused'))).toBe(true);
    expect(follower.stateMachine.get('k174')?.value).toBe(174);
    expect(Buffer.from(follower.stateMachine.snapshot()).equals(Buffer.from(leader.stateMachine.snapshot()))).toBe(true);
  }, 60_000);

  it('images built ahead of time for a silent peer take at most a quarter of the leader\'s time, and the peer still catches up', async () => {
    const hub = new MemoryHub();
    const nodes = await Promise.all(SEED.voters.map((m) => startNode(hub, m.id, SEED)));
    const leader = await putAll(nodes, 0, 5);
    const BUILD_MS = 150;
    leader.stateMachine.buildDelayMs = BUILD_MS;
    const follower = nodes.find((n) => n !== leader) as TestNode;
    const cut = [`${leader.node.id}>${follower.node.id}`, `${follower.node.id}>${leader.node.id}`];
    for (const link of cut) hub.cut.add(link);
    const started = Date.now();
    // Eight compactions while it is away, spread over about 1.3 s, each able to start a build.
    for (let from = 5; from < 405; from += 25) {
      await putAll(nodes, from, 25);
      await new Promise((resolve) => setTimeout(resolve, 80));
    }
    const aheadBuilds = (): number => leader.lines.filter((line) => / ms, ahead of time\)$/.test(line)).length;
    await waitUntil('an image built ahead of time', () => aheadBuilds() > 0);
    const elapsed = Date.now() - started;
    // One build per compaction would be up to one per BUILD_MS; the budget allows one per 4 × BUILD_MS.
    expect(aheadBuilds()).toBeLessThanOrEqual(1 + Math.floor(elapsed / (4 * BUILD_MS)));

    for (const link of cut) hub.cut.delete(link);
    await waitUntil('the follower caught up', () => follower.stateMachine.appliedIndex() >= leader.node.status().commitIndex);
    expect(follower.stateMachine.get('k404')?.value).toBe(404);
  }, 60_000);
});
