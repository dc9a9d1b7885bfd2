/**
 * The process's own metrics under prom-client's standard names (process_*, nodejs_*), read
 * at scrape time only: nothing runs between scrapes (no timers, no GC observer, no
 * event-loop histogram), so a node that is never scraped pays nothing for them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';
import { Counter, Gauge, type Registry } from './prometheus.js';

/** Reads a /proc file, or null off Linux (or when it cannot be read). */
function readProc(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** A `Key:   123 kB` field of /proc/self/status, in bytes. */
function statusBytes(status: string | null, field: string): number | null {
  const match = status ? new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status) : null;
  return match ? Number(match[1]) * 1024 : null;
}

function openFds(): number | null {
  try {
    return readdirSync('/proc/self/fd').length - 1; // the directory handle readdir itself opened
  } catch {
    return null;
  }
}

function maxFds(): number | null {
  const match = /^Max open files\s+(\d+)/m.exec(readProc('/proc/self/limits') ?? '');
  return match ? Number(match[1]) : null;
}

/** Time from now until the event loop runs a setImmediate callback. */
function eventLoopLagSeconds(): Promise<number> {
  const start = process.hrtime.bigint();
  return new Promise((resolve) => setImmediate(() => resolve(Number(process.hrtime.bigint() - start) / 1e9)));
}

/** Registers the process metrics on `registry`; their values are read when it is scraped. */
export function collectProcessMetrics(registry: Registry): void {
  const registers = [registry];
  const cpu = (): NodeJS.CpuUsage => process.cpuUsage();
  const counter = (name: string, help: string, read: () => number): void => {
    const metric: Counter = new Counter({ name, help, registers, collect: () => setCounter(metric, read()) });
  };
  const gauge = (name: string, help: string, read: () => number | null): void => {
    const metric: Gauge = new Gauge({ name, help, registers, collect: () => {
      const value = read();
      if (value !== null) metric.set(value);
    } });
  };
  counter('process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', () => cpu().user / 1e6);
  counter('process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.', () => cpu().system / 1e6);
  counter('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', () => {
    const { user, system } = cpu();
    return (user + system) / 1e6;
  });
  const startSeconds = Math.round(Date.now() / 1000 - process.uptime());
  gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', () => startSeconds);
  gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => statusBytes(readProc('/proc/self/status'), 'VmRSS') ?? process.memoryUsage.rss());
  gauge('process_virtual_memory_bytes', 'Virtual memory size in bytes.', () => statusBytes(readProc('/proc/self/status'), 'VmSize'));
  gauge('process_heap_bytes', 'Process heap size in bytes.', () => statusBytes(readProc('/proc/self/status'), 'VmData'));
  gauge('process_open_fds', 'Number of open file descriptors.', openFds);
  gauge('process_max_fds', 'Maximum number of open file descriptors.', maxFds);
  gauge('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', () => process.memoryUsage().heapTotal);
  gauge('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', () => process.memoryUsage().heapUsed);
  gauge('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', () => process.memoryUsage().external);
  gauge('nodejs_active_resources_total', 'Number of active resources that are currently keeping the event loop alive.', () => process.getActiveResourcesInfo().length);
  heapSpaces(registers);
  const lag: Gauge = new Gauge({ name: 'nodejs_eventloop_lag_seconds', help: 'Lag of event loop in seconds.', registers, collect: async () => lag.set(await eventLoopLagSeconds()) });
  const [major, minor, patch] = process.versions.node.split('.');
  const version = new Gauge<'version' | 'major' | 'minor' | 'patch'>({ name: 'nodejs_version_info', help: 'Node.js version info.', labelNames: ['version', 'major', 'minor', 'patch'], registers });
  version.set({ version: process.version, major: major ?? '', minor: minor ?? '', patch: patch ?? '' }, 1);
}

/** nodejs_heap_space_size_{total,used,available}_bytes{space}: where the heap's committed memory sits. */
function heapSpaces(registers: Registry[]): void {
  const labelNames = ['space'] as const;
  const total = new Gauge<'space'>({ name: 'nodejs_heap_space_size_total_bytes', help: 'Process heap space size total from Node.js in bytes.', labelNames, registers, collect: () => {
    for (const space of getHeapSpaceStatistics()) {
      const name = space.space_name.replace(/_space$/, '');
      total.set({ space: name }, space.space_size);
      used.set({ space: name }, space.space_used_size);
      available.set({ space: name }, space.space_available_size);
    }
  } });
  const used = new Gauge<'space'>({ name: 'nodejs_heap_space_size_used_bytes', help: 'Process heap space size used from Node.js in bytes.', labelNames, registers });
  const available = new Gauge<'space'>({ name: 'nodejs_heap_space_size_available_bytes', help: 'Process heap space size available from Node.js in bytes.', labelNames, registers });
}

/** A counter read from a cumulative source: it moves by the difference (never down). */
function setCounter(metric: Counter, total: number): void {
  const current = metric.get().values[0]?.value ?? 0;
  if (total > current) metric.inc(total - current);
}
