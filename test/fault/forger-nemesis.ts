import { ForgerPeer } from '../support/forger-peer.js';
import { forgeHostile, viewOf, type TargetView } from '../support/hostile-messages.js';
import { HARNESS_CLUSTER_ID, HARNESS_SECRET, type ProcessCluster } from './harness-cluster.js';
import { httpCall } from './http-client.js';
import type { Prng } from '../../src/checker/prng.js';
import { sleep } from '../support/cluster.js';

/** Messages per burst, and the pause between bursts: up to ~250 forged messages a second. */
const BURST = 5;
const BURST_GAP_MS = 20;
/** How often the forger re-reads the target's status (term, role, leader, last index). */
const VIEW_EVERY_MS = 250;
const STATUS_TIMEOUT_MS = 300;
/**
 * One message in this many names another sender than the member the connection authenticated
 * as: the transport closes the connection for it, so it is kept rare (the forger would spend
 * its time redialing) but present.
 */
const WRONG_SENDER_EVERY = 100;

/** What one forger fault did. */
export interface ForgerStats {
  /** Messages handed to the forger's transport. */
  forged: number;
  /** Messages written on an authenticated connection (the rest were dropped while it redialed). */
  written: number;
  /** Forged messages by how they must be refused (hostile-messages.ts `Expected`). */
  byExpected: Record<string, number>;
}

/**
 * The `forger` nemesis (issue 15): while its fault lasts it is member `as`, holding the
 * harness's secret, connected to `target`'s Raft port directly (not through the link
 * proxies: it is anyone who can reach the port), sending bursts of hostile messages made
 * from what the target last reported about itself (hostile-messages.ts).
 *
 * It sends only what validation must refuse, or what Raft's rules make harmless: terms above
 * MAX_TERM or 0, broken fields, a second leader's heartbeats, leader traffic from a node that
 * is not the target's leader, TimeoutNow from a non-leader, ReadIndexResponses to reads never
 * forwarded to it, replies naming indexes the leader never sent, messages of past terms, and
 * now and then another sender than the authenticated one. It never sends what the real member
 * could send in the current term, say a plausible AppendEntries or Heartbeat from the real
 * leader's identity, or a plausible ack: a shared secret proves membership, not honesty, and
 * no system keyed on a shared secret (or on certificates) can tell those apart. Raft does not
 * tolerate Byzantine members; what the campaign shows is that everything else is refused or
 * harmless and never fatal: no node exits, the history stays linearizable, no acknowledged
 * write is lost.
 *
 * Side effect, by design of the transport: a node keeps one inbound connection per peer, so
 * the forger's connection and the real member's link to the target replace each other while
 * the fault lasts (a flapping link from `as` to `target`), which the schedule counts as `as`
 * being faulty.
 */
export class ForgerNemesis {
  private stopped = false;
  private loop: Promise<void> | null = null;
  private readonly stats: ForgerStats = { forged: 0, written: 0, byExpected: {} };

  constructor(
    private readonly fault: { as: string; target: string },
    private readonly cluster: ProcessCluster,
    private readonly prng: Prng,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  /** Stops sending, closes the connection; resolves with what it did. */
  async stop(): Promise<ForgerStats> {
    this.stopped = true;
    await this.loop;
    return this.stats;
  }

  private async run(): Promise<void> {
    const { as, target } = this.fault;
    const members = this.cluster.ids;
    const peer = await ForgerPeer.start({
      as,
      target,
      address: { host: '127.0.0.1', port: this.cluster.node(target).raftPort },
      clusterId: HARNESS_CLUSTER_ID,
      secret: HARNESS_SECRET,
      http: this.cluster.node(as).http,
    });
    try {
      let view: TargetView | null = null;
      let viewAt = -Infinity;
      while (!this.stopped) {
        if (Date.now() - viewAt >= VIEW_EVERY_MS) {
          view = (await this.readView()) ?? view;
          viewAt = Date.now();
        }
        if (view) this.burst(peer, view, members);
        await sleep(BURST_GAP_MS);
      }
    } finally {
      this.stats.written = peer.sent;
      await peer.close();
    }
  }

  private burst(peer: ForgerPeer, view: TargetView, members: readonly string[]): void {
    for (let i = 0; i < BURST; i++) {
      const wrongSender = this.prng.int(WRONG_SENDER_EVERY) === 0;
      const hostile = forgeHostile(this.prng, view, this.fault.as, members, wrongSender ? { kind: 'wrong sender' } : { keepConnection: true });
      peer.send(hostile.message);
      this.stats.forged++;
      this.stats.byExpected[hostile.expected] = (this.stats.byExpected[hostile.expected] ?? 0) + 1;
    }
  }

  private async readView(): Promise<TargetView | null> {
    const result = await httpCall({ method: 'GET', url: `${this.cluster.node(this.fault.target).http}/api/status`, timeoutMs: STATUS_TIMEOUT_MS });
    return result.kind === 'response' && result.status === 200 ? viewOf(result.body) : null;
  }
}

