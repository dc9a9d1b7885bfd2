import type { ProcessCluster } from './harness-cluster.js';
import { httpCall } from './http-client.js';
import type { Fault } from './nemesis.js';

/** Deadline of one POST /api/members (it answers once the change committed, SPEC §9). */
const CHANGE_TIMEOUT_MS = 10_000;
/** How long `replace` waits for its new learner to catch up before it gives up (leaving a learner). */
const REPLACE_CATCH_UP_MS = 30_000;
const PROMOTE_RETRY_MS = 500;
/** The nemesis never shrinks the voters below this (removing the last voters is refused anyway, and 3 keeps a fault budget of one). */
const MIN_VOTERS = 3;

/** The configuration as GET /api/members shows it. */
export interface MembersAnswer {
  configIndex: number;
  voters: Array<{ id: string }>;
  learners: Array<{ id: string }>;
  joint: null | { outgoing: string[] };
}

/**
 * The `member` nemesis (issue 17): add a spare (it starts with `--join --learner`), promote a
 * learner, remove a member (then stop it and wipe its data: a spare again), or replace a voter
 * (a spare joins, catches up, is promoted, then the old voter is removed: `member replace`).
 * The schedule says which op and a random `pick`; the candidates come from the live
 * configuration when it runs, so the ops always make sense whatever the other faults did.
 * One op at a time (the cluster allows one change at a time anyway); a member fault that
 * comes while one runs is skipped. Refusals and timeouts are logged as nemesis errors: under
 * kills and partitions many changes cannot commit, which is part of the test.
 */
export class MemberNemesis {
  /** Configuration changes the cluster answered 200 to (a join counts as one, a replace as up to three). */
  changesApplied = 0;
  private running: Promise<void> | null = null;

  constructor(
    private readonly cluster: ProcessCluster,
    private readonly currentLeader: () => string | null,
    private readonly report: (text: string, error?: string) => void,
  ) {}

  /** Starts the op in the background unless one is running; returns what it started. */
  start(fault: Extract<Fault, { kind: 'member' }>): string {
    if (this.running) return 'skipped: a member change is still running';
    this.running = this.run(fault)
      .then((text) => this.report(text))
      .catch((err: unknown) => this.report(`member ${fault.op}`, (err as Error).message))
      .finally(() => {
        this.running = null;
      });
    return 'started';
  }

  /** Waits for the op in progress, if any. */
  async finish(): Promise<void> {
    await this.running;
  }

  private async run(fault: Extract<Fault, { kind: 'member' }>): Promise<string> {
    const members = await this.members();
    const voters = members.voters.map((m) => m.id);
    const learners = members.learners.map((m) => m.id);
    const spares = this.cluster.spareIds();
    const choose = (ids: string[]): string => ids[fault.pick % ids.length] as string;
    switch (fault.op) {
      case 'add':
        if (spares.length === 0) return 'member add: no spare left';
        return this.add(choose(spares));
      case 'promote':
        if (learners.length === 0) return 'member promote: no learner';
        return this.promote(choose(learners), 0);
      case 'remove': {
        const removable = [...learners, ...(voters.length > MIN_VOTERS ? voters : [])];
        if (removable.length === 0) return 'member remove: nothing removable';
        return this.remove(choose(removable));
      }
      case 'replace': {
        if (spares.length === 0) return 'member replace: no spare left';
        const old = choose(voters);
        const spare = choose(spares);
        await this.add(spare);
        await this.promote(spare, REPLACE_CATCH_UP_MS);
        await this.remove(old);
        return `member replace ${old} with ${spare}: done`;
      }
    }
  }

  private async add(id: string): Promise<string> {
    await this.cluster.joinSpare(id, this.via());
    this.changesApplied++;
    return `member add ${id}: joined as a learner`;
  }

  /** Promotes, retrying while the learner lags (409 with lag) for up to `waitMs`. */
  private async promote(id: string, waitMs: number): Promise<string> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const result = await this.change({ op: 'promote', id });
      if (result.ok) return `member promote ${id}: voter`;
      if (Date.now() > deadline || !result.lagging) throw new Error(`promote ${id}: ${result.detail}`);
      await new Promise((resolve) => setTimeout(resolve, PROMOTE_RETRY_MS));
    }
  }

  private async remove(id: string): Promise<string> {
    const result = await this.change({ op: 'remove', id });
    if (!result.ok) throw new Error(`remove ${id}: ${result.detail}`);
    await this.cluster.retire(id);
    return `member remove ${id}: removed, stopped, data wiped`;
  }

  private async change(change: { op: string; id: string }): Promise<{ ok: boolean; lagging: boolean; detail: string }> {
    const result = await httpCall({ method: 'POST', url: `${this.via()}/api/members`, body: { changes: [change] }, timeoutMs: CHANGE_TIMEOUT_MS });
    if (result.kind === 'error') return { ok: false, lagging: false, detail: `${result.error} (${result.message})` };
    if (result.status === 200) {
      this.changesApplied++;
      return { ok: true, lagging: false, detail: '' };
    }
    return { ok: false, lagging: result.body?.lag !== undefined, detail: `HTTP ${result.status} ${JSON.stringify(result.body).slice(0, 200)}` };
  }

  /** The configuration, from the leader the monitor sees (else any running member). */
  async members(): Promise<MembersAnswer> {
    const result = await httpCall({ method: 'GET', url: `${this.via()}/api/members`, timeoutMs: CHANGE_TIMEOUT_MS });
    if (result.kind === 'error' || result.status !== 200) throw new Error(`GET /api/members: ${result.kind === 'error' ? result.message : `HTTP ${result.status}`}`);
    return result.body as unknown as MembersAnswer;
  }

  /** A running member to talk to: the leader if known (a follower forwards changes anyway). */
  private via(): string {
    const leader = this.currentLeader();
    const running = this.cluster.nodes.filter((n) => n.member && n.state === 'running');
    const node = running.find((n) => n.id === leader) ?? running[0];
    if (!node) throw new Error('no running member to talk to');
    return node.http;
  }
}
