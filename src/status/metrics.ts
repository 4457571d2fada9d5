import { collectDefaultMetrics, Counter, Gauge, Histogram as PromHistogram, Registry, type OpenMetricsContentType, type PrometheusContentType } from 'prom-client';
import type { HistogramView } from '../pm/histogram';
import { LATENCY_BUCKETS_S } from '../pm/histogram';
import type { Manager, ManagerSnapshot } from '../pm/manager';
import type { PoolSnapshot } from '../pm/pool';

/** What /metrics reads, at scrape time: the scoreboard and each pool's histograms and limits. */
export interface MetricsSource {
  snapshot(): ManagerSnapshot;
  pool: Manager['pool'];
}

export interface MetricsResponse {
  readonly contentType: string;
  readonly body: string;
}

type PoolHistograms = Map<string, HistogramView>;
type AnyRegistry = Registry<PrometheusContentType> | Registry<OpenMetricsContentType>;

/** One scrape's readings, shared by every collect() of that scrape. */
interface Reading {
  readonly snapshot: ManagerSnapshot;
  readonly wait: PoolHistograms;
  readonly duration: PoolHistograms;
}

/**
 * A histogram whose buckets live in the pool (pm/histogram.ts, counted on the request path)
 * and are only read here when scraped: prom-client formats it, nothing is copied per request.
 */
class PoolHistogram extends PromHistogram<'pool'> {
  constructor(
    private readonly metricName: string,
    private readonly metricHelp: string,
    registry: AnyRegistry,
    private readonly read: () => PoolHistograms,
  ) {
    super({ name: metricName, help: metricHelp, labelNames: ['pool'], buckets: [...LATENCY_BUCKETS_S], registers: [registry] });
  }

  override get(): ReturnType<PromHistogram<'pool'>['get']> {
    return Promise.resolve(this.values());
  }

  /** The registry prefers this one when a metric has it. */
  getForPromString(): ReturnType<PromHistogram<'pool'>['get']> {
    return Promise.resolve(this.values());
  }

  private values(): Awaited<ReturnType<PromHistogram<'pool'>['get']>> {
    const name = this.metricName;
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    for (const [pool, h] of this.read()) {
      let cumulative = 0;
      h.boundsS.forEach((le, i) => {
        cumulative += h.counts[i] ?? 0;
        values.push({ metricName: `${name}_bucket`, labels: { le, pool }, value: cumulative });
      });
      values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', pool }, value: h.count });
      values.push({ metricName: `${name}_sum`, labels: { pool }, value: h.sumS });
      values.push({ metricName: `${name}_count`, labels: { pool }, value: h.count });
    }
    // `as never`: prom-client's typings declare `type` a numeric enum, but its registry and its
    // own metrics use the strings ('histogram'), which is what the text format prints.
    return { name, help: this.metricHelp, type: 'histogram' as never, values, aggregator: 'sum', collect: () => undefined };
  }
}

type PoolField = (p: PoolSnapshot, source: MetricsSource) => number;

/** Gauges per pool: php-fpm's status fields (under fcgipm names), then the configured limits. */
const POOL_GAUGES: ReadonlyArray<readonly [name: string, help: string, read: PoolField]> = [
  ['fcgipm_pool_active_processes', 'Workers running a request now (php-fpm: active processes).', (p) => p.activeProcesses],
  ['fcgipm_pool_idle_processes', 'Workers ready and waiting for a request (php-fpm: idle processes).', (p) => p.idleProcesses],
  ['fcgipm_pool_processes', 'Live workers: starting, idle, busy and draining (php-fpm: total processes).', (p) => p.totalProcesses],
  ['fcgipm_pool_listen_queue', 'Requests waiting for a worker now (php-fpm: listen queue).', (p) => p.queued],
  ['fcgipm_pool_max_listen_queue', 'Most requests ever waiting at once since start (php-fpm: max listen queue).', (p) => p.maxQueued],
  ['fcgipm_pool_generation', 'The pool\'s generation (1 + reloads it has seen).', (p) => p.generation],
  ['fcgipm_pool_min_processes', 'Configured minProcesses.', (p) => p.minProcesses],
  ['fcgipm_pool_max_processes', 'Configured maxProcesses (php-fpm: pm.max_children).', (p) => p.maxProcesses],
  ['fcgipm_pool_max_queue', 'Configured maxQueue: requests allowed to wait at once (php-fpm: listen queue len).', (p, s) => s.pool(p.name)?.options.maxQueue ?? NaN],
  ['fcgipm_pool_queue_timeout_seconds', 'Configured queueTimeout: how long a request may wait for a worker.', (p, s) => (s.pool(p.name)?.options.queueTimeoutMs ?? NaN) / 1000],
  ['fcgipm_pool_busy_timeout_seconds', 'Configured busyTimeout: how long one request may hold a worker.', (p, s) => (s.pool(p.name)?.options.busyTimeoutMs ?? NaN) / 1000],
  ['fcgipm_pool_slow_request_timeout_seconds', 'Configured slowRequestTimeout (0: off; php-fpm: request_slowlog_timeout).', (p, s) => (s.pool(p.name)?.options.slowRequestTimeoutMs ?? NaN) / 1000],
  ['fcgipm_pool_max_requests_per_process', 'Configured maxRequestsPerProcess (0: unlimited; php-fpm: pm.max_requests).', (p, s) => s.pool(p.name)?.options.scaling.maxRequestsPerProcess ?? NaN],
];

/** Counters per pool, read from the scoreboard (which counts them since start). */
const POOL_COUNTERS: ReadonlyArray<readonly [name: string, help: string, read: (p: PoolSnapshot) => number]> = [
  ['fcgipm_pool_accepted_requests', 'Requests the pool accepted (php-fpm: accepted conn).', (p) => p.accepted],
  ['fcgipm_pool_completed_requests', 'Requests a worker answered to the end (FCGI_END_REQUEST).', (p) => p.completed],
  ['fcgipm_pool_aborted_requests', 'Requests whose client went away first.', (p) => p.aborted],
  ['fcgipm_pool_replayed_requests', 'Requests sent again because a worker closed or exited before taking them.', (p) => p.replayed],
  ['fcgipm_pool_max_processes_reached', 'Times requests had to wait with the pool at maxProcesses (php-fpm: max children reached).', (p) => p.maxProcessesReached],
  ['fcgipm_pool_slow_requests', 'Requests that held their worker slowRequestTimeout or longer (php-fpm: slow requests).', (p) => p.slowRequests],
  ['fcgipm_pool_spawns', 'Workers started.', (p) => p.spawned],
  ['fcgipm_pool_spawn_failures', 'Workers that could not be started at all (fork/exec failed).', (p) => p.spawnFailures],
];

/**
 * /metrics: the scoreboard, the latency histograms and Node's process metrics through
 * prom-client, on registries of our own (never its global one, which a library user's app may
 * fill). Two registries, one per format: prom-client renames a counter in place when it writes
 * OpenMetrics (dropping `_total`), so one set of metric objects cannot serve both formats.
 * Everything is read when scraped; nothing is updated per request here.
 */
export class Metrics {
  private readonly source: MetricsSource;
  private readonly prometheus = new Registry();
  private readonly openMetrics = new Registry<OpenMetricsContentType>();
  private reading: Reading | undefined;

  constructor(source: MetricsSource) {
    this.source = source;
    this.openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    this.register(this.prometheus);
    this.register(this.openMetrics);
    collectDefaultMetrics({ register: this.prometheus });
    collectDefaultMetrics({ register: this.openMetrics });
  }

  /** The exposition for an Accept header: OpenMetrics when the scraper prefers it. */
  async render(accept: string | undefined): Promise<MetricsResponse> {
    const registry = wantsOpenMetrics(accept) ? this.openMetrics : this.prometheus;
    this.reading = undefined;
    try {
      return { contentType: registry.contentType, body: await registry.metrics() };
    } finally {
      this.reading = undefined;
    }
  }

  /** One snapshot per scrape, taken by the first collect() that needs it. */
  private read(): Reading {
    if (this.reading) return this.reading;
    const snapshot = this.source.snapshot();
    const wait: PoolHistograms = new Map();
    const duration: PoolHistograms = new Map();
    for (const p of snapshot.pools) {
      const h = this.source.pool(p.name)?.histograms();
      if (!h) continue;
      wait.set(p.name, h.wait);
      duration.set(p.name, h.duration);
    }
    this.reading = { snapshot, wait, duration };
    return this.reading;
  }

  private register(registry: AnyRegistry): void {
    const registers = [registry];
    const read = (): Reading => this.read();
    const source = this.source;

    new Gauge({
      name: 'fcgipm_processes',
      help: 'Live workers in all pools.',
      registers,
      collect() {
        this.set(read().snapshot.totalProcesses);
      },
    });
    new Gauge({
      name: 'fcgipm_max_processes',
      help: 'Configured global cap of live workers (maxProcesses; mod_fcgid: FcgidMaxProcesses).',
      registers,
      collect() {
        this.set(read().snapshot.maxProcesses);
      },
    });
    new Gauge({
      name: 'fcgipm_generation',
      help: 'The manager\'s generation (1 + reloads).',
      registers,
      collect() {
        this.set(read().snapshot.generation);
      },
    });
    for (const [name, help, field] of POOL_GAUGES) {
      new Gauge({
        name,
        help,
        labelNames: ['pool'],
        registers,
        collect() {
          this.reset();
          for (const p of read().snapshot.pools) this.set({ pool: p.name }, field(p, source));
        },
      });
    }
    for (const [name, help, field] of POOL_COUNTERS) {
      new Counter({
        name: `${name}_total`,
        help,
        labelNames: ['pool'],
        registers,
        collect() {
          this.reset();
          for (const p of read().snapshot.pools) this.inc({ pool: p.name }, field(p));
        },
      });
    }
    new Counter({
      name: 'fcgipm_pool_exits_total',
      help: 'Workers that exited, by reason (max-requests, idle-timeout, crash, exit, busy-timeout…).',
      labelNames: ['pool', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const p of read().snapshot.pools) {
          for (const [reason, n] of Object.entries(p.exited)) this.inc({ pool: p.name, reason }, n);
        }
      },
    });
    new Counter({
      name: 'fcgipm_pool_error_responses_total',
      help: 'Requests the pool failed with a 502 (bad gateway), 503 (unavailable) or 504 (timeout), by status.',
      labelNames: ['pool', 'status'],
      registers,
      collect() {
        this.reset();
        for (const p of read().snapshot.pools) {
          this.inc({ pool: p.name, status: '502' }, p.responses502);
          this.inc({ pool: p.name, status: '503' }, p.responses503);
          this.inc({ pool: p.name, status: '504' }, p.responses504);
        }
      },
    });
    new PoolHistogram(
      'fcgipm_pool_queue_wait_seconds',
      'Time from acceptance until a worker took the request (0 when one was idle), for every request that reached a worker.',
      registry,
      () => read().wait,
    );
    new PoolHistogram(
      'fcgipm_pool_request_duration_seconds',
      'Time a completed request held its worker, from reaching it to FCGI_END_REQUEST (queue wait excluded).',
      registry,
      () => read().duration,
    );
  }
}

/**
 * Whether an Accept header prefers OpenMetrics to the Prometheus text format: the media range
 * with the higher q wins, OpenMetrics on a tie (Prometheus itself asks for
 * `application/openmetrics-text;version=1.0.0,…;q=0.75,text/plain;version=0.0.4;q=0.5,*\/*;q=0.1`).
 */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  if (!accept) return false;
  let open = 0;
  let text = 0;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';').map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q)) continue;
    if (type === 'application/openmetrics-text') open = Math.max(open, q);
    else if (type === 'text/plain') text = Math.max(text, q);
  }
  return open > 0 && open >= text;
}
