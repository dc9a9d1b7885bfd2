/**
 * Prometheus metrics in the text exposition format (version 0.0.4), written by hand: the
 * slice of prom-client's API the node uses (Registry, Counter, Gauge, Histogram, label
 * children), the same metric names, types and output. prom-client and its dependencies cost
 * every node a few MB of heap from the start (issue 19), for features the node never used.
 * A leaf: it imports only node built-ins.
 */

/** Label values by label name; numbers are printed as given. */
export type Labels<L extends string = string> = Partial<Record<L, string | number>>;

/**
 * Series (label sets) one metric keeps. Label values here come from bounded sets (routes,
 * reasons, members), so the cap is never reached in practice; it keeps a bug that labels by
 * an outsider's value from growing the heap without end. A series past the cap is not recorded.
 */
export const MAX_SERIES_PER_METRIC = 2_000;

/** What `get()` returns: the prom-client shape the tests read. */
export interface MetricSnapshot {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>;
}

/** Thrown for a programming mistake: a duplicate name, an unknown label, a negative counter step. */
export class MetricsError extends Error {
  readonly code = 'METRICS_MISUSE';
  constructor(message: string) {
    super(message);
    this.name = 'MetricsError';
  }
}

interface Metric {
  readonly name: string;
  /** Lines of this metric (HELP, TYPE, samples) with `extra` label pairs appended to each sample. */
  render(extra: string): Promise<string>;
}

interface MetricOptions<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
  registers?: Registry[];
  /** Called before each scrape to refresh the values (process metrics). */
  collect?: () => void | Promise<void>;
}

/** A set of metrics served together on /metrics. */
export class Registry {
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';
  private readonly byName = new Map<string, Metric>();
  private defaultPairs = '';

  /** Adds a metric; a second metric of the same name is a programming mistake. */
  registerMetric(metric: Metric): void {
    if (this.byName.has(metric.name)) throw new MetricsError(`a metric named ${metric.name} is already registered`);
    this.byName.set(metric.name, metric);
  }

  /** The metric registered under `name`, if any. */
  getSingleMetric(name: string): Metric | undefined {
    return this.byName.get(name);
  }

  /** Labels added to every sample of every metric (e.g. the node id). */
  setDefaultLabels(labels: Record<string, string | number>): void {
    this.defaultPairs = Object.entries(labels).map(([k, v]) => labelPair(k, v)).join(',');
  }

  /** The whole registry as Prometheus text. */
  async metrics(): Promise<string> {
    const parts: string[] = [];
    for (const metric of this.byName.values()) parts.push(await metric.render(this.defaultPairs));
    return parts.join('\n\n') + '\n';
  }
}

/** One series' cumulative bucket counts, sum and count. */
interface HistogramSeries {
  buckets: number[];
  sum: number;
  count: number;
}

abstract class BaseMetric<L extends string, S> implements Metric {
  readonly name: string;
  readonly help: string;
  protected readonly labelNames: readonly L[];
  protected readonly series = new Map<string, { labels: Record<string, string | number>; state: S }>();
  private readonly collect: (() => void | Promise<void>) | undefined;

  constructor(options: MetricOptions<L>) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(options.name)) throw new MetricsError(`invalid metric name ${options.name}`);
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames ?? [];
    this.collect = options.collect;
    for (const registry of options.registers ?? []) registry.registerMetric(this);
  }

  protected abstract readonly type: MetricSnapshot['type'];
  protected abstract fresh(): S;

  /** The state of the series with these labels, made on first use (null past the cap). */
  protected stateOf(labels: Labels<L> | undefined): S | null {
    const given: Labels<L> = labels ?? {};
    for (const key of Object.keys(given)) if (!this.labelNames.includes(key as L)) throw new MetricsError(`${this.name} has no label ${key}`);
    const key = this.labelNames.map((name) => String(given[name] ?? '')).join('\u0000');
    let entry = this.series.get(key);
    if (!entry) {
      if (this.series.size >= MAX_SERIES_PER_METRIC) return null;
      entry = { labels: { ...given } as Record<string, string | number>, state: this.fresh() };
      this.series.set(key, entry);
    }
    return entry.state;
  }

  protected labelsFromValues(values: Array<string | number>): Labels<L> {
    const labels: Labels<L> = {};
    this.labelNames.forEach((name, i) => {
      const value = values[i];
      if (value !== undefined) labels[name] = value;
    });
    return labels;
  }

  async render(extra: string): Promise<string> {
    await this.collect?.();
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    // An unlabelled metric shows its zero before the first update, as prom-client does.
    if (this.labelNames.length === 0) this.stateOf(undefined);
    for (const { labels, state } of this.series.values()) this.sampleLines(lines, labels, state, extra);
    return lines.join('\n');
  }

  protected abstract sampleLines(lines: string[], labels: Record<string, string | number>, state: S, extra: string): void;
}

/** A value that only goes up (resets with the process). */
export class Counter<L extends string = string> extends BaseMetric<L, { value: number }> {
  protected readonly type = 'counter';
  protected fresh(): { value: number } {
    return { value: 0 };
  }

  /** `inc()`, `inc(2)`, `inc({ reason: 'x' })` or `inc({ reason: 'x' }, 2)`. */
  inc(labelsOrValue?: Labels<L> | number, value?: number): void {
    const labels = typeof labelsOrValue === 'object' ? labelsOrValue : undefined;
    const step = typeof labelsOrValue === 'number' ? labelsOrValue : (value ?? 1);
    if (!(step >= 0)) throw new MetricsError(`${this.name}: a counter cannot go down (${step})`);
    const state = this.stateOf(labels);
    if (state) state.value += step;
  }

  /** The child for these label values (in labelNames order): a map lookup per count saved. */
  labels(...values: Array<string | number>): { inc(value?: number): void } {
    const state = this.stateOf(this.labelsFromValues(values));
    return {
      inc: (value = 1) => {
        if (!(value >= 0)) throw new MetricsError(`${this.name}: a counter cannot go down (${value})`);
        if (state) state.value += value;
      },
    };
  }

  get(): MetricSnapshot {
    return snapshot(this, this.type, [...this.series.values()].map(({ labels, state }) => ({ value: state.value, labels })));
  }

  protected sampleLines(lines: string[], labels: Record<string, string | number>, state: { value: number }, extra: string): void {
    lines.push(`${this.name}${labelText(labels, extra)} ${formatValue(state.value)}`);
  }
}

/** A value that goes up and down. */
export class Gauge<L extends string = string> extends BaseMetric<L, { value: number }> {
  protected readonly type = 'gauge';
  protected fresh(): { value: number } {
    return { value: 0 };
  }

  /** `set(3)` or `set({ peer: 'Node2' }, 3)`. */
  set(labelsOrValue: Labels<L> | number, value?: number): void {
    const labels = typeof labelsOrValue === 'object' ? labelsOrValue : undefined;
    const state = this.stateOf(labels);
    if (state) state.value = typeof labelsOrValue === 'number' ? labelsOrValue : (value ?? 0);
  }

  /** `inc()`, `inc(2)` or `inc({ peer: 'Node2' }, 2)`. */
  inc(labelsOrValue?: Labels<L> | number, value?: number): void {
    const labels = typeof labelsOrValue === 'object' ? labelsOrValue : undefined;
    const state = this.stateOf(labels);
    if (state) state.value += typeof labelsOrValue === 'number' ? labelsOrValue : (value ?? 1);
  }

  get(): MetricSnapshot {
    return snapshot(this, this.type, [...this.series.values()].map(({ labels, state }) => ({ value: state.value, labels })));
  }

  protected sampleLines(lines: string[], labels: Record<string, string | number>, state: { value: number }, extra: string): void {
    lines.push(`${this.name}${labelText(labels, extra)} ${formatValue(state.value)}`);
  }
}

/** Observations counted into cumulative buckets, with their sum and count. */
export class Histogram<L extends string = string> extends BaseMetric<L, HistogramSeries> {
  protected readonly type = 'histogram';
  private readonly upperBounds: readonly number[];

  constructor(options: MetricOptions<L> & { buckets: readonly number[] }) {
    const bounds = [...options.buckets].sort((a, b) => a - b);
    if (bounds.length === 0 || bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b === bounds[i - 1]))) throw new MetricsError(`${options.name}: buckets must be distinct finite numbers`);
    if (options.labelNames?.includes('le' as L)) throw new MetricsError(`${options.name}: "le" is reserved for buckets`);
    super(options);
    this.upperBounds = bounds;
  }

  protected fresh(): HistogramSeries {
    return { buckets: new Array<number>(this.upperBounds.length).fill(0), sum: 0, count: 0 };
  }

  /** `observe(0.2)` or `observe({ route: '/x' }, 0.2)`. */
  observe(labelsOrValue: Labels<L> | number, value?: number): void {
    const labels = typeof labelsOrValue === 'object' ? labelsOrValue : undefined;
    const observed = typeof labelsOrValue === 'number' ? labelsOrValue : (value ?? NaN);
    const state = this.stateOf(labels);
    if (state) this.record(state, observed);
  }

  private record(state: HistogramSeries, observed: number): void {
    if (Number.isNaN(observed)) return;
    const at = this.upperBounds.findIndex((bound) => observed <= bound);
    if (at >= 0) state.buckets[at] = (state.buckets[at] ?? 0) + 1;
    state.sum += observed;
    state.count++;
  }

  /** The child for these label values (in labelNames order). */
  labels(...values: Array<string | number>): { observe(value: number): void } {
    const state = this.stateOf(this.labelsFromValues(values));
    return { observe: (value) => state && this.record(state, value) };
  }

  get(): MetricSnapshot {
    const values: MetricSnapshot['values'] = [];
    for (const { labels, state } of this.series.values()) {
      let cumulative = 0;
      this.upperBounds.forEach((le, i) => {
        cumulative += state.buckets[i] ?? 0;
        values.push({ value: cumulative, labels: { ...labels, le }, metricName: `${this.name}_bucket` });
      });
      values.push({ value: state.count, labels: { ...labels, le: '+Inf' }, metricName: `${this.name}_bucket` });
      values.push({ value: state.sum, labels, metricName: `${this.name}_sum` }, { value: state.count, labels, metricName: `${this.name}_count` });
    }
    return snapshot(this, this.type, values);
  }

  protected sampleLines(lines: string[], labels: Record<string, string | number>, state: HistogramSeries, extra: string): void {
    let cumulative = 0;
    this.upperBounds.forEach((le, i) => {
      cumulative += state.buckets[i] ?? 0;
      lines.push(`${this.name}_bucket${labelText({ ...labels, le: formatValue(le) }, extra)} ${cumulative}`);
    });
    lines.push(`${this.name}_bucket${labelText({ ...labels, le: '+Inf' }, extra)} ${state.count}`);
    lines.push(`${this.name}_sum${labelText(labels, extra)} ${formatValue(state.sum)}`);
    lines.push(`${this.name}_count${labelText(labels, extra)} ${state.count}`);
  }
}

function snapshot(metric: { name: string; help: string }, type: MetricSnapshot['type'], values: MetricSnapshot['values']): MetricSnapshot {
  return { name: metric.name, help: metric.help, type, values };
}

/** `{a="1",b="2"}` with the registry's default pairs last, or nothing when there are none. */
function labelText(labels: Record<string, string | number>, extra: string): string {
  const own = Object.entries(labels).map(([k, v]) => labelPair(k, v)).join(',');
  const all = own && extra ? `${own},${extra}` : own || extra;
  return all ? `{${all}}` : '';
}

function labelPair(name: string, value: string | number): string {
  return `${name}="${String(value).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`;
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
