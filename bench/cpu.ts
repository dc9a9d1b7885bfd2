/**
 * CPU per operation by role (issue 19): the leader, each follower, the load generator (this
 * process), and etcd's members alike, read from /proc/<pid>/stat (utime + stime) over the
 * measured window of a closed loop. It shows where the next gain is: a role's µs per write
 * is the floor its CPU sets on throughput (2 cores shared by everything).
 */
import { readFileSync } from 'node:fs';

/** `getconf CLK_TCK` on Linux (100 on every distribution we run on). */
export const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) a process has used so far, or null when it is gone. */
export function cpuSecondsOf(pid: number | null): number | null {
  if (!pid) return null;
  try {
    return statCpuSeconds(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
}

/** User + system CPU seconds in a /proc stat file: a process's, or one thread's (/proc/<pid>/task/<tid>/stat). Throws if it is gone. */
export function statCpuSeconds(path: string): number {
  // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/**
 * Cores a system's processes use with no load (ticks, heartbeats, timers), over `seconds`: a
 * fixed cost per second, which a row's CPU per operation includes in proportion to how few
 * operations that row completed.
 */
export async function idleCores(pids: ReadonlyArray<number | null>, seconds: number): Promise<number> {
  const sum = (xs: Array<number | null>): number => xs.reduce<number>((n, x) => n + (x ?? 0), 0);
  const before = sum(pids.map(cpuSecondsOf));
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  return (sum(pids.map(cpuSecondsOf)) - before) / seconds;
}

/** µs of CPU per operation, by role, over one measured window. */
export interface CpuPerOp {
  leader: number | null;
  /** Each follower's, in node order. */
  followers: Array<number | null>;
  loadGenerator: number;
  /** Everything above. */
  total: number;
}

/** Reads the CPU of a system's processes and of this process at the start and end of a window. */
export class CpuMeter {
  private startCpu: Array<number | null> = [];
  private startSelf: NodeJS.CpuUsage | null = null;
  private endCpu: Array<number | null> = [];
  private self: NodeJS.CpuUsage | null = null;

  /** `pids` in node order; `leader` is the leader's node number. */
  constructor(private readonly pids: ReadonlyArray<number | null>, private readonly leader: number) {}

  readonly window = {
    onStart: (): void => {
      this.startCpu = this.pids.map(cpuSecondsOf);
      this.startSelf = process.cpuUsage();
    },
    onEnd: (): void => {
      this.endCpu = this.pids.map(cpuSecondsOf);
      this.self = this.startSelf ? process.cpuUsage(this.startSelf) : null;
    },
  };

  /** The window's CPU per operation, or null when the window never closed or no op completed. */
  perOp(ops: number): CpuPerOp | null {
    if (ops <= 0 || !this.self || this.endCpu.length === 0) return null;
    const us = (seconds: number | null): number | null => (seconds === null ? null : Math.round((seconds * 1e6) / ops));
    const used = this.pids.map((_, i) => {
      const a = this.startCpu[i];
      const b = this.endCpu[i];
      return a === null || a === undefined || b === null || b === undefined ? null : b - a;
    });
    const loadGenerator = Math.round((this.self.user + this.self.system) / ops);
    const perNode = used.map(us);
    const total = perNode.reduce<number>((sum, v) => sum + (v ?? 0), 0) + loadGenerator;
    return { leader: perNode[this.leader] ?? null, followers: perNode.filter((_, i) => i !== this.leader), loadGenerator, total };
  }
}
