import type { ManagerSnapshot } from '../pm/manager';

/** One pool in one sample: rates over the interval before it, gauges at its instant. */
export interface PoolSample {
  /** Requests completed per second over the interval. */
  readonly rps: number;
  /** Mean queue wait (ms) of the requests that reached a worker in the interval; null if none did. */
  readonly waitMs: number | null;
  /** Workers running a request at the sample's instant. */
  readonly busy: number;
  /** Requests waiting for a worker at the sample's instant. */
  readonly queued: number;
}

export interface Sample {
  /** Unix time, ms. */
  readonly t: number;
  readonly pools: ReadonlyMap<string, PoolSample>;
}

/** The counters a sample needs from the previous one to turn totals into rates. */
export interface PoolTotals {
  readonly completed: number;
  readonly waitedRequests: number;
  readonly waitTimeTotalMs: number;
}

/**
 * /status/history.json, column-wise as uPlot wants it: `t` (Unix seconds) and, per pool
 * and per series, one value per `t` (null where the pool did not exist yet or any more).
 */
export interface HistoryColumns {
  readonly intervalS: number;
  readonly t: number[];
  readonly pools: Record<string, Record<keyof PoolSample, Array<number | null>>>;
}

export interface HistoryOptions {
  /** How often a sample is taken (default 1 s). */
  readonly intervalMs?: number;
  /** Samples kept (default 600: ten minutes at 1 s). */
  readonly capacity?: number;
  readonly now?: () => number;
}

/** Pure: a sample from the scoreboard and the totals of the sample before it. */
export function takeSample(
  snapshot: ManagerSnapshot,
  previous: ReadonlyMap<string, PoolTotals>,
  elapsedMs: number,
  t: number,
): { sample: Sample; totals: Map<string, PoolTotals> } {
  const pools = new Map<string, PoolSample>();
  const totals = new Map<string, PoolTotals>();
  for (const p of snapshot.pools) {
    const now: PoolTotals = { completed: p.completed, waitedRequests: p.waitedRequests, waitTimeTotalMs: p.waitTimeTotalMs };
    // A pool seen for the first time (or the very first sample) has no interval behind it.
    const before = previous.get(p.name) ?? now;
    const waited = now.waitedRequests - before.waitedRequests;
    pools.set(p.name, {
      rps: elapsedMs > 0 ? round((now.completed - before.completed) / (elapsedMs / 1000)) : 0,
      waitMs: waited > 0 ? round((now.waitTimeTotalMs - before.waitTimeTotalMs) / waited) : null,
      busy: p.activeProcesses,
      queued: p.queued,
    });
    totals.set(p.name, now);
  }
  return { sample: { t, pools }, totals };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

const SERIES: ReadonlyArray<keyof PoolSample> = ['rps', 'waitMs', 'busy', 'queued'];

/**
 * The last minutes of the pools, one sample per interval in a ring buffer, for the /status
 * page's charts. Runs only while the admin listener does; its timer never holds the process
 * open. Lifecycle: new History() → start() → close().
 */
export class History {
  private readonly source: { snapshot(): ManagerSnapshot };
  private readonly intervalMs: number;
  private readonly capacity: number;
  private readonly now: () => number;
  private readonly ring: Sample[] = [];
  private head = 0;
  private totals: ReadonlyMap<string, PoolTotals> = new Map();
  private lastAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(source: { snapshot(): ManagerSnapshot }, options: HistoryOptions = {}) {
    this.source = source;
    this.intervalMs = options.intervalMs ?? 1_000;
    this.capacity = options.capacity ?? 600;
    this.now = options.now ?? Date.now;
  }

  /** Takes the first sample now, then one per interval. */
  start(): void {
    if (this.closed || this.timer) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  sample(): void {
    const t = this.now();
    const { sample, totals } = takeSample(this.source.snapshot(), this.totals, this.lastAt === undefined ? 0 : t - this.lastAt, t);
    this.totals = totals;
    this.lastAt = t;
    if (this.ring.length < this.capacity) {
      this.ring.push(sample);
    } else {
      this.ring[this.head] = sample;
      this.head = (this.head + 1) % this.capacity;
    }
  }

  /** Oldest first. */
  samples(): Sample[] {
    return [...this.ring.slice(this.head), ...this.ring.slice(0, this.head)];
  }

  columns(): HistoryColumns {
    const samples = this.samples();
    // No prototype: a pool may be named anything, __proto__ included.
    const pools = Object.create(null) as HistoryColumns['pools'];
    samples.forEach((s, i) => {
      for (const [name, p] of s.pools) {
        const cols = (pools[name] ??= Object.fromEntries(SERIES.map((k) => [k, new Array<number | null>(samples.length).fill(null)])) as Record<keyof PoolSample, Array<number | null>>);
        for (const k of SERIES) cols[k][i] = p[k];
      }
    });
    return { intervalS: this.intervalMs / 1000, t: samples.map((s) => Math.round(s.t / 100) / 10), pools };
  }

  /** Stops sampling. Idempotent. */
  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
