import { collectProcessMetrics } from '../metrics/process-metrics.js';
import { Counter, Gauge, Histogram, Registry } from '../metrics/prometheus.js';
import type { RaftCore } from '@raftquotes/raft';

/** What the core gauges show. */
interface CoreGauges {
  term: number;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  state: string;
}

/** Prometheus metrics of one node (SPEC §3 /metrics): Raft state, queues and latencies. */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly term = this.gauge('raft_term', 'Current Raft term', (c) => c.term);
  readonly commitIndex = this.gauge('raft_commit_index', 'Highest log index known committed', (c) => c.commitIndex);
  readonly appliedIndex = this.gauge('raft_applied_index', 'Highest log index applied to the state machine', (c) => c.appliedIndex);
  readonly lastIndex = this.gauge('raft_last_index', 'Last log index', (c) => c.lastIndex);
  readonly isLeader = this.gauge('raft_is_leader', '1 when this node is the leader', (c) => (c.state === 'leader' ? 1 : 0));
  readonly peerLag = new Gauge<'peer'>({ name: 'raft_peer_lag_entries', help: 'Leader lastIndex minus the peer matchIndex', labelNames: ['peer'], registers: [this.registry] });
  readonly leaderChanges = new Counter({ name: 'raft_leader_changes_total', help: 'Times this node became leader', registers: [this.registry] });
  readonly rejectedMessages = new Counter<'reason'>({
    name: 'raft_rejected_messages_total',
    help: 'Peer messages dropped by validation before the core stepped them, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly proposals = new Counter({ name: 'raft_proposals_total', help: 'Client proposals accepted by this leader', registers: [this.registry] });
  readonly persistSeconds = new Histogram({
    name: 'raft_persist_seconds',
    help: 'Latency of one group-committed persist (one fsync)',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
    registers: [this.registry],
  });
  readonly appendBatch = new Histogram({
    name: 'raft_append_batch_entries',
    help: 'Entries persisted per group commit',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096],
    registers: [this.registry],
  });

  /** `processMetrics: false` leaves out the process's own (CPU, event-loop lag): the simulator runs many nodes in one process. */
  constructor(nodeId: string, { processMetrics = true }: { processMetrics?: boolean } = {}) {
    this.registry.setDefaultLabels({ node: nodeId });
    if (processMetrics) collectProcessMetrics(this.registry);
  }

  /** Where the core gauges read from at scrape time (see watchCore). */
  private coreSource: (() => CoreGauges) | null = null;

  /** A gauge of the core's state, read when scraped (0 until watchCore). */
  private gauge(name: string, help: string, read: (c: CoreGauges) => number): Gauge {
    const gauge: Gauge = new Gauge({ name, help, registers: [this.registry], collect: () => {
      const source = this.coreSource;
      if (source) gauge.set(read(source()));
    } });
    return gauge;
  }

  /**
   * The core gauges read `core` (and the state machine's applied index) when /metrics is
   * scraped, instead of being set after every Ready: a scrape comes every few seconds, a Ready
   * several times per write.
   */
  watchCore(core: RaftCore, appliedIndex: () => number): void {
    this.coreSource = () => ({ ...core.basicStatus(), appliedIndex: appliedIndex() });
  }

  /** Refreshes per-peer lag (called on a slower timer: label lookups are not free). */
  observePeers(core: RaftCore): void {
    for (const [peer, progress] of core.progressView()) this.peerLag.set({ peer }, core.log.lastIndex() - progress.matchIndex);
  }
}
