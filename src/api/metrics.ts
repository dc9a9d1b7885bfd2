/**
 * The API's Prometheus metrics, registered on the node's registry. Registration is idempotent
 * (a second API server on the same registry, e.g. in tests, reuses the metrics), and label
 * children are cached so counting a request is a map lookup.
 */
import { Counter, Gauge, Histogram, type Registry } from '../metrics/prometheus.js';

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS']);
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Finer around the 250 ms fan-out target, so a p99 can be read off the buckets. */
const FANOUT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 0.75, 1, 1.5, 2.5, 5, 10];

function registered<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/** Request counts and latencies by route, WebSocket clients, forwards. */
export class ApiMetrics {
  private readonly requests: Counter<'route' | 'method' | 'code'>;
  private readonly duration: Histogram<'route'>;
  readonly wsClients: Gauge;
  /** Apply of a run of quotes to its write to the last live client: the server's share of fan-out latency. */
  readonly wsFanout: Histogram;
  readonly forwards: Counter<'outcome'>;
  private readonly requestChildren = new Map<string, { inc(): void }>();
  private readonly durationChildren = new Map<string, { observe(seconds: number): void }>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = registered(registry, 'raftquotes_http_requests_total', () =>
      new Counter({ name: 'raftquotes_http_requests_total', help: 'HTTP requests answered, by route, method and status code', labelNames: ['route', 'method', 'code'] as const, registers }),
    );
    this.duration = registered(registry, 'raftquotes_http_request_duration_seconds', () =>
      new Histogram({ name: 'raftquotes_http_request_duration_seconds', help: 'Time to answer an HTTP request, by route', labelNames: ['route'] as const, buckets: DURATION_BUCKETS, registers }),
    );
    this.wsClients = registered(registry, 'raftquotes_ws_clients', () => new Gauge({ name: 'raftquotes_ws_clients', help: 'Open WebSocket clients on /api/live', registers }));
    this.wsFanout = registered(registry, 'raftquotes_ws_fanout_seconds', () =>
      new Histogram({ name: 'raftquotes_ws_fanout_seconds', help: 'Time from the apply of quotes to their write to the last live WebSocket client', buckets: FANOUT_BUCKETS, registers }),
    );
    this.forwards = registered(registry, 'raftquotes_http_forwarded_total', () =>
      new Counter({ name: 'raftquotes_http_forwarded_total', help: 'Requests forwarded to the leader, by outcome', labelNames: ['outcome'] as const, registers }),
    );
  }

  /** Requests answered so far (the heap trimmer's sign that the node is serving). */
  answered = 0;

  /** Counts one answered request; `route` is a route template, never a raw path (bounded labels). */
  observe(route: string, method: string, status: number, seconds: number): void {
    this.answered++;
    const methodLabel = KNOWN_METHODS.has(method) ? method : 'other';
    const key = `${route} ${methodLabel} ${status}`;
    let counter = this.requestChildren.get(key);
    if (!counter) {
      counter = this.requests.labels(route, methodLabel, String(status));
      this.requestChildren.set(key, counter);
    }
    counter.inc();
    let histogram = this.durationChildren.get(route);
    if (!histogram) {
      histogram = this.duration.labels(route);
      this.durationChildren.set(route, histogram);
    }
    histogram.observe(seconds);
  }
}
