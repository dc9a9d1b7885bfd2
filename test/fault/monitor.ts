import { httpCall } from './http-client.js';
import type { Target } from './clients.js';

/** Log entries each status poll asks for (GET /api/status?logTail=N; the API's max is 200). */
const LOG_TAIL = 64;
/** Per-poll deadline: a paused node must not hold the poller up for long. */
const POLL_TIMEOUT_MS = 500;

/** One node's answer to a status poll. */
interface StatusSample {
  atMs: number;
  nodeId: string;
  state: string;
  term: number;
  leader: string | null;
  commitIndex: number;
  appliedIndex: number;
  log?: { entries: Array<{ index: number; term: number; type: string }> };
  /** The leader's view of each peer's replication (probe | replicate | snapshot). */
  peers?: Record<string, { progress?: string }>;
}

/** A committed entry as one node reported it. */
interface CommittedEntry {
  term: number;
  type: string;
  nodeId: string;
  atMs: number;
}

/** What the monitor saw during the run. */
export interface MonitorReport {
  samples: number;
  /** Distinct terms in which some node said it was the leader. */
  leaderTerms: number[];
  /** Leaderships seen, in term order: "term 7: Node3". */
  leaders: string[];
  /** Safety problems: two leaders in one term, two different committed entries at one index. */
  problems: string[];
  /** Committed indexes compared across at least two nodes. */
  committedIndexesCompared: number;
  /** (leader term, peer) pairs seen catching up by InstallSnapshot. */
  snapshotCatchUps: number;
}

/**
 * Polls every node's /api/status (with the log tail) about three times a second, each
 * node on its own loop so a paused node delays only itself. From the answers it checks,
 * during the run, two Raft safety properties of SPEC §2 that the clients cannot see:
 * election safety (at most one leader per term) and, for state machine safety, that no
 * two nodes report different entries (term, type) at a committed index. It also counts
 * leaderships for the summary.
 */
export class StatusMonitor {
  private readonly leaderOfTerm = new Map<number, string>();
  private readonly committed = new Map<number, CommittedEntry>();
  private readonly problems: string[] = [];
  private readonly compared = new Set<number>();
  private readonly snapshotCatchUps = new Set<string>();
  private samples = 0;
  private stopping = false;
  private loops: Promise<void>[] = [];

  constructor(private readonly targets: readonly Target[], private readonly clock: () => number, private readonly intervalMs = 300) {}

  start(): void {
    this.loops = this.targets.map((target) => this.loop(target));
  }

  async stop(): Promise<MonitorReport> {
    this.stopping = true;
    await Promise.all(this.loops);
    return this.report();
  }

  /** The leader of the highest term seen so far (the harness aims "prefer leader" faults at it). */
  currentLeader(): string | null {
    let best: [number, string] | null = null;
    for (const [term, leader] of this.leaderOfTerm) if (!best || term > best[0]) best = [term, leader];
    return best ? best[1] : null;
  }

  /** Feeds one status answer (also used for the final statuses). */
  ingest(sample: StatusSample): void {
    this.samples++;
    if (sample.state === 'leader') {
      const other = this.leaderOfTerm.get(sample.term);
      if (other && other !== sample.nodeId) this.problems.push(`election safety: ${other} and ${sample.nodeId} both reported being leader in term ${sample.term} (at ${sample.atMs} ms)`);
      else this.leaderOfTerm.set(sample.term, sample.nodeId);
      for (const [peer, progress] of Object.entries(sample.peers ?? {})) if (progress?.progress === 'snapshot') this.snapshotCatchUps.add(`${sample.term}/${peer}`);
    }
    for (const entry of sample.log?.entries ?? []) {
      if (entry.index > sample.commitIndex) continue;
      const seen = this.committed.get(entry.index);
      if (!seen) {
        this.committed.set(entry.index, { term: entry.term, type: entry.type, nodeId: sample.nodeId, atMs: sample.atMs });
        continue;
      }
      if (seen.nodeId !== sample.nodeId) this.compared.add(entry.index);
      if (seen.term !== entry.term || seen.type !== entry.type) {
        this.problems.push(
          `state machine safety: committed index ${entry.index} is (term ${seen.term}, ${seen.type}) on ${seen.nodeId} at ${seen.atMs} ms but (term ${entry.term}, ${entry.type}) on ${sample.nodeId} at ${sample.atMs} ms`,
        );
      }
    }
  }

  report(): MonitorReport {
    const terms = [...this.leaderOfTerm.keys()].sort((a, b) => a - b);
    return {
      samples: this.samples,
      leaderTerms: terms,
      leaders: terms.map((t) => `term ${t}: ${this.leaderOfTerm.get(t)}`),
      problems: [...this.problems],
      committedIndexesCompared: this.compared.size,
      snapshotCatchUps: this.snapshotCatchUps.size,
    };
  }

  private async loop(target: Target): Promise<void> {
    while (!this.stopping) {
      const sample = await pollStatus(target, this.clock);
      if (sample) this.ingest(sample);
      await new Promise((resolve) => setTimeout(resolve, this.intervalMs));
    }
  }
}

/** One GET /api/status?logTail=N, or null when the node does not answer in time. */
export async function pollStatus(target: Target, clock: () => number, timeoutMs = POLL_TIMEOUT_MS): Promise<StatusSample | null> {
  const atMs = clock();
  const result = await httpCall({ method: 'GET', url: `${target.http}/api/status?logTail=${LOG_TAIL}`, timeoutMs });
  if (result.kind !== 'response' || result.status !== 200 || typeof result.body !== 'object' || result.body === null) return null;
  const b = result.body as Record<string, any>;
  return { atMs, nodeId: target.id, state: String(b.state), term: Number(b.term), leader: (b.leader as string | null) ?? null, commitIndex: Number(b.commitIndex), appliedIndex: Number(b.appliedIndex), log: b.log, peers: b.peers };
}
