import { Histogram, type HistogramView } from './histogram';

/**
 * A pool's counters for the scoreboard (/status.json). Field names follow php-fpm's status
 * page where one exists (accepted conn, max listen queue, max children reached), because
 * operators already read those.
 */
export interface PoolStatsSnapshot {
  readonly accepted: number;
  readonly completed: number;
  readonly aborted: number;
  readonly replayed: number;
  readonly maxQueued: number;
  readonly waitedRequests: number;
  readonly waitTimeTotalMs: number;
  readonly maxWaitMs: number;
  readonly spawned: number;
  readonly spawnFailures: number;
  readonly exited: Readonly<Record<string, number>>;
  readonly responses502: number;
  readonly responses503: number;
  readonly responses504: number;
  readonly maxProcessesReached: number;
  /** Requests that held their worker slowRequestTimeout or longer (php-fpm's slow requests). */
  readonly slowRequests: number;
  /** The most recent worker exit: who, why, how. */
  readonly lastExit: LastExit | undefined;
}

export interface LastExit {
  readonly pid: number | undefined;
  readonly reason: string;
  readonly code: number | null;
  readonly signal: string | null;
  readonly requests: number;
  readonly at: string;
}

export class PoolStats {
  accepted = 0;
  completed = 0;
  aborted = 0;
  replayed = 0;
  waitedRequests = 0;
  waitTimeTotalMs = 0;
  maxWaitMs = 0;
  spawned = 0;
  spawnFailures = 0;
  maxProcessesReached = 0;
  slowRequests = 0;
  lastExit: LastExit | undefined;
  private readonly exits = new Map<string, number>();
  private readonly failures = new Map<number, number>();
  private readonly waits = new Histogram();
  private readonly durations = new Histogram();

  /** Time a request spent between acceptance and reaching a worker. */
  recordWait(ms: number): void {
    this.waitedRequests += 1;
    this.waitTimeTotalMs += ms;
    if (ms > this.maxWaitMs) this.maxWaitMs = ms;
    this.waits.observeMs(ms);
  }

  /** Time a completed request spent on its worker, from reaching it to FCGI_END_REQUEST. */
  recordDuration(ms: number): void {
    this.durations.observeMs(ms);
  }

  /** The latency histograms (for /metrics; not part of the /status.json scoreboard). */
  histograms(): { readonly wait: HistogramView; readonly duration: HistogramView } {
    return { wait: this.waits, duration: this.durations };
  }

  recordExit(reason: string): void {
    this.exits.set(reason, (this.exits.get(reason) ?? 0) + 1);
  }

  recordFailure(httpStatus: number): void {
    this.failures.set(httpStatus, (this.failures.get(httpStatus) ?? 0) + 1);
  }

  snapshot(maxQueued: number): PoolStatsSnapshot {
    return {
      accepted: this.accepted,
      completed: this.completed,
      aborted: this.aborted,
      replayed: this.replayed,
      maxQueued,
      waitedRequests: this.waitedRequests,
      waitTimeTotalMs: this.waitTimeTotalMs,
      maxWaitMs: this.maxWaitMs,
      spawned: this.spawned,
      spawnFailures: this.spawnFailures,
      exited: Object.fromEntries(this.exits),
      responses502: this.failures.get(502) ?? 0,
      responses503: this.failures.get(503) ?? 0,
      responses504: this.failures.get(504) ?? 0,
      maxProcessesReached: this.maxProcessesReached,
      slowRequests: this.slowRequests,
      lastExit: this.lastExit,
    };
  }
}
