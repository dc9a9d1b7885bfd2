import { ForgerNemesis, type ForgerStats } from './forger-nemesis.js';
import type { ProcessCluster } from './harness-cluster.js';
import { httpCall } from './http-client.js';
import { MemberNemesis } from './member-nemesis.js';
import { describeEvent, faultyNodes, isInstant, swapNodes, type Fault, type NemesisEvent, type NemesisSchedule } from './nemesis.js';
import { Prng } from '../../src/checker/prng.js';
import { sleep } from '../support/cluster.js';

/** Deadline of an admin request (timeout, transfer-leadership). */
const ADMIN_TIMEOUT_MS = 3_000;

/** What the runner did, with the real time it did it. */
export interface NemesisLogLine {
  atMs: number;
  scheduledMs: number;
  text: string;
  error?: string;
}

/** A fault window on the run's clock (for the timeline and the summary). */
export interface AppliedFault {
  faultId: number;
  kind: Fault['kind'];
  fromMs: number;
  toMs: number | null;
  text: string;
}

/**
 * Plays a NemesisSchedule against a ProcessCluster, event by event at its time (a late
 * event runs at once: a restart can take seconds). Faults aimed at the leader (see
 * aimAtLeader) are renamed onto the leader the monitor knows, with swapNodes, so the
 * schedule keeps its fault budget. Every action is logged with its real time.
 */
export class NemesisRunner {
  readonly log: NemesisLogLine[] = [];
  readonly faults: AppliedFault[] = [];
  /** What the forger faults did, summed over the run. */
  readonly forged: ForgerStats = { forged: 0, written: 0, byExpected: {} };
  private readonly forgers = new Map<number, ForgerNemesis>();
  /** The member nemesis (issue 17): changes run in the background, one at a time. */
  readonly members: MemberNemesis;
  private schedule: NemesisSchedule;
  private stopping = false;
  private done: Promise<void> | null = null;

  constructor(
    schedule: NemesisSchedule,
    private readonly cluster: ProcessCluster,
    private readonly clock: () => number,
    private readonly currentLeader: () => string | null,
  ) {
    this.schedule = schedule;
    this.members = new MemberNemesis(cluster, currentLeader, (text, error) => this.log.push({ atMs: this.clock(), scheduledMs: this.clock(), text: `  … ${text}`, ...(error === undefined ? {} : { error }) }));
  }

  /** The schedule as run (after any renaming onto the leader). */
  get effectiveSchedule(): NemesisSchedule {
    return this.schedule;
  }

  start(): void {
    this.done = this.run();
  }

  /** Waits for the remaining events (they all end by the schedule's duration) or stops early. */
  async finish(early = false): Promise<void> {
    if (early) this.stopping = true;
    await this.done;
    // Only an early stop leaves forgers running (every fault heals by the schedule's end).
    for (const id of [...this.forgers.keys()]) await this.stopForger(id);
    await this.members.finish();
  }

  private async run(): Promise<void> {
    for (let i = 0; i < this.schedule.events.length && !this.stopping; i++) {
      const scheduledMs = (this.schedule.events[i] as NemesisEvent).atMs;
      while (!this.stopping && this.clock() < scheduledMs) await sleep(Math.min(100, scheduledMs - this.clock()));
      if (this.stopping) break;
      this.aimAtLeader(i);
      const event = this.schedule.events[i] as NemesisEvent;
      const atMs = this.clock();
      const text = `${describeEvent(event).trim()}  (leader seen: ${this.currentLeader() ?? 'none'})`;
      try {
        await this.apply(event);
        this.log.push({ atMs, scheduledMs, text });
      } catch (err) {
        this.log.push({ atMs, scheduledMs, text, error: (err as Error).message });
      }
    }
  }

  /**
   * Renames the fault onto the current leader: a process fault that asks for it
   * (preferLeader), an isolation (always: "isolate the leader"), and every other
   * minority/majority split (the leader lands on the minority side).
   */
  private aimAtLeader(index: number): void {
    const event = this.schedule.events[index] as NemesisEvent;
    const fault = event.fault;
    if (event.action !== 'start' || isInstant(fault)) return;
    const leader = this.currentLeader();
    if (!leader) return;
    let victim: string | undefined;
    if (fault.kind === 'partition') {
      const minority = fault.groups[1];
      const aimed = fault.shape === 'isolate' || (fault.shape === 'split' && event.faultId % 2 === 0);
      if (aimed && minority && !minority.includes(leader)) victim = minority[0];
    } else if (fault.kind === 'forger') {
      // Every other forger at the leader: second-leader traffic and impossible replies are for it.
      if (event.faultId % 2 === 0 && fault.target !== leader) victim = fault.target;
    } else if (fault.preferLeader && !fault.nodes.includes(leader)) victim = fault.nodes[0];
    if (!victim) return;
    try {
      this.schedule = swapNodes(this.schedule, index, victim, leader);
    } catch {
      // The leader is already faulty (e.g. cut off): keep the schedule's choice.
    }
  }

  private async apply(event: NemesisEvent): Promise<void> {
    const fault = event.fault;
    if (event.action === 'start') this.faults.push({ faultId: event.faultId, kind: fault.kind, fromMs: this.clock(), toMs: isInstant(fault) ? this.clock() : null, text: describeEvent(event).replace(/^\s*\d+ ms\s+start\s+/, '') });
    else {
      const open = this.faults.find((f) => f.faultId === event.faultId);
      if (open) open.toMs = this.clock();
    }
    const c = this.cluster;
    switch (fault.kind) {
      // A spare (not a member: never started, or removed) is left alone; a heal restarts members only.
      case 'kill':
        if (event.action === 'start') await Promise.all(fault.nodes.map((id) => c.kill(id)));
        else await Promise.all(fault.nodes.map((id) => (c.node(id).child || !c.node(id).member ? undefined : c.startNode(id))));
        return;
      case 'restart':
        if (event.action === 'start') await Promise.all(fault.nodes.map((id) => c.terminate(id)));
        else await Promise.all(fault.nodes.map((id) => (c.node(id).child || !c.node(id).member ? undefined : c.startNode(id))));
        return;
      case 'member': {
        const started = this.members.start(fault);
        if (started !== 'started') throw new Error(started);
        return;
      }
      case 'pause':
        for (const id of fault.nodes) {
          if (event.action === 'start') c.pause(id);
          else c.resume(id);
        }
        return;
      case 'partition': {
        if (event.action === 'heal') return c.network.healAll();
        // Spares are in the network too (their links go through their entrances, harness-cluster.ts).
        const groups = fault.groups.filter((g) => g.length > 0);
        if (fault.bridge && groups.length === 2) c.network.bridge(groups[0] as string[], groups[1] as string[], fault.bridge);
        else if (groups.length > 1) c.network.partition(fault.bridge ? [...groups, [fault.bridge]] : groups);
        return;
      }
      case 'leader-change':
        return this.changeLeader(fault);
      case 'forger':
        if (event.action === 'start') {
          const forger = new ForgerNemesis(fault, c, new Prng(this.schedule.seed ^ Math.imul(event.faultId + 1, 0x9e3779b1)));
          this.forgers.set(event.faultId, forger);
          forger.start();
        } else await this.stopForger(event.faultId);
        return;
    }
  }

  private async stopForger(faultId: number): Promise<void> {
    const forger = this.forgers.get(faultId);
    if (!forger) return;
    this.forgers.delete(faultId);
    const stats = await forger.stop();
    this.forged.forged += stats.forged;
    this.forged.written += stats.written;
    for (const [expected, n] of Object.entries(stats.byExpected)) this.forged.byExpected[expected] = (this.forged.byExpected[expected] ?? 0) + n;
  }

  /** transfer: ask the leader (any node forwards) to hand over to the target; timeout: a forced campaign on the target. */
  private async changeLeader(fault: Extract<Fault, { kind: 'leader-change' }>): Promise<void> {
    const leader = this.currentLeader();
    const via = fault.via === 'transfer' ? (leader ?? fault.target) : fault.target;
    const node = this.cluster.node(via);
    const path = fault.via === 'transfer' ? '/api/admin/transfer-leadership' : '/api/admin/timeout';
    // A transfer "to" the leader itself would be refused: let the leader pick the best peer instead.
    const body = fault.via === 'transfer' && fault.target !== leader ? { to: fault.target } : {};
    const result = await httpCall({ method: 'POST', url: `${node.http}${path}`, body, timeoutMs: ADMIN_TIMEOUT_MS });
    if (result.kind === 'error') throw new Error(`${path} on ${via}: ${result.error} (${result.message})`);
    if (result.status !== 200) throw new Error(`${path} on ${via}: HTTP ${result.status} ${JSON.stringify(result.body).slice(0, 160)}`);
  }
}

/** Nodes a schedule has faulty at the end (should be none: every fault heals by the duration). */
export function unhealedAtEnd(schedule: NemesisSchedule): string[] {
  const active = new Map<number, Set<string>>();
  for (const event of schedule.events) {
    if (event.action === 'heal') active.delete(event.faultId);
    else if (!isInstant(event.fault)) active.set(event.faultId, faultyNodes(event.fault, schedule.nodes));
  }
  return [...new Set([...active.values()].flatMap((s) => [...s]))];
}

