import { describe, expect, it } from 'vitest';
import { collectProcessMetrics } from './process-metrics.js';
import { Counter, Gauge, Histogram, MAX_SERIES_PER_METRIC, MetricsError, Registry } from './prometheus.js';

describe('Prometheus text exposition', () => {
  it('writes counters, gauges and histograms in the 0.0.4 text format, default labels last', async () => {
    const registry = new Registry();
    registry.setDefaultLabels({ node: 'Node1' });
    const plain = new Counter({ name: 'a_total', help: 'A "help"\\ with\nnewline', registers: [registry] });
    const byReason = new Counter<'reason'>({ name: 'b_total', help: 'B', labelNames: ['reason'], registers: [registry] });
    const lag = new Gauge<'peer'>({ name: 'lag', help: 'L', labelNames: ['peer'], registers: [registry] });
    const latency = new Histogram({ name: 'h_seconds', help: 'H', buckets: [0.01, 0.001, 1], registers: [registry] });
    const byRoute = new Histogram<'route'>({ name: 'r_seconds', help: 'R', labelNames: ['route'], buckets: [1, 2], registers: [registry] });
    plain.inc();
    byReason.inc({ reason: 'x"y\\z\n' });
    byReason.inc({ reason: 'z' }, 3);
    byReason.labels('z').inc();
    lag.set({ peer: 'Node2' }, 5);
    lag.set({ peer: 'Node2' }, 4);
    latency.observe(0.005);
    latency.observe(2);
    byRoute.labels('/x').observe(1.5);
    byRoute.observe({ route: '/x' }, 0.5);
    expect(registry.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await registry.metrics()).toBe([
      '# HELP a_total A "help"\\\\ with\\nnewline',
      '# TYPE a_total counter',
      'a_total{node="Node1"} 1',
      '',
      '# HELP b_total B',
      '# TYPE b_total counter',
      'b_total{reason="x\\"y\\\\z\\n",node="Node1"} 1',
      'b_total{reason="z",node="Node1"} 4',
      '',
      '# HELP lag L',
      '# TYPE lag gauge',
      'lag{peer="Node2",node="Node1"} 4',
      '',
      '# HELP h_seconds H',
      '# TYPE h_seconds histogram',
      'h_seconds_bucket{le="0.001",node="Node1"} 0',
      'h_seconds_bucket{le="0.01",node="Node1"} 1',
      'h_seconds_bucket{le="1",node="Node1"} 1',
      'h_seconds_bucket{le="+Inf",node="Node1"} 2',
      'h_seconds_sum{node="Node1"} 2.005',
      'h_seconds_count{node="Node1"} 2',
      '',
      '# HELP r_seconds R',
      '# TYPE r_seconds histogram',
      'r_seconds_bucket{route="/x",le="1",node="Node1"} 1',
      'r_seconds_bucket{route="/x",le="2",node="Node1"} 2',
      'r_seconds_bucket{route="/x",le="+Inf",node="Node1"} 2',
      'r_seconds_sum{route="/x",node="Node1"} 2',
      'r_seconds_count{route="/x",node="Node1"} 2',
      '',
    ].join('\n'));
  });

  it('shows an unlabelled metric at zero before its first update, and a labelled one with no series', async () => {
    const registry = new Registry();
    new Counter({ name: 'c_total', help: 'C', registers: [registry] });
    new Gauge<'peer'>({ name: 'g', help: 'G', labelNames: ['peer'], registers: [registry] });
    expect(await registry.metrics()).toBe('# HELP c_total C\n# TYPE c_total counter\nc_total 0\n\n# HELP g G\n# TYPE g gauge\n');
  });

  it('gives the values prom-client\'s get() gave (what the tests read)', () => {
    const counter = new Counter<'reason'>({ name: 'x_total', help: 'X', labelNames: ['reason'] });
    counter.inc({ reason: 'a' });
    counter.inc({ reason: 'a' });
    expect(counter.get().values).toEqual([{ value: 2, labels: { reason: 'a' } }]);
  });

  it('refuses a duplicate name, an unknown label, a counter step below zero and bad buckets', () => {
    const registry = new Registry();
    new Counter({ name: 'd_total', help: 'D', registers: [registry] });
    expect(() => new Gauge({ name: 'd_total', help: 'D', registers: [registry] })).toThrow(MetricsError);
    const counter = new Counter<'reason'>({ name: 'e_total', help: 'E', labelNames: ['reason'] });
    expect(() => counter.inc({ other: 'x' } as never)).toThrow(/no label other/);
    expect(() => counter.inc(-1)).toThrow(MetricsError);
    expect(() => counter.labels('a').inc(-1)).toThrow(MetricsError);
    expect(() => new Histogram({ name: 'h', help: 'H', buckets: [] })).toThrow(MetricsError);
    expect(() => new Histogram({ name: 'h', help: 'H', buckets: [1, 1] })).toThrow(MetricsError);
    expect(() => new Histogram<'le'>({ name: 'h', help: 'H', labelNames: ['le'], buckets: [1] })).toThrow(MetricsError);
    expect(() => new Counter({ name: 'bad name', help: 'B' })).toThrow(MetricsError);
  });

  it(`keeps at most ${MAX_SERIES_PER_METRIC} series per metric`, () => {
    const counter = new Counter<'key'>({ name: 'f_total', help: 'F', labelNames: ['key'] });
    for (let i = 0; i < MAX_SERIES_PER_METRIC + 10; i++) counter.inc({ key: String(i) });
    expect(counter.get().values).toHaveLength(MAX_SERIES_PER_METRIC);
  });

  it('reads the process metrics at scrape time under prom-client\'s names', async () => {
    const registry = new Registry();
    collectProcessMetrics(registry);
    const text = await registry.metrics();
    for (const name of ['process_cpu_seconds_total', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds', 'process_resident_memory_bytes']) {
      expect(text).toMatch(new RegExp(`^${name} \\d`, 'm'));
    }
    const cpu = (t: string): number => Number(/^process_cpu_seconds_total (\S+)/m.exec(t)?.[1]);
    const first = cpu(text);
    for (let spin = Date.now(); Date.now() - spin < 20;); // some CPU, so the counter moves
    expect(cpu(await registry.metrics())).toBeGreaterThan(first);
    expect(text).toContain(`nodejs_version_info{version="${process.version}"`);
  });
});
