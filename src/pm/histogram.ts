/**
 * Upper bounds (seconds) of the latency histograms: Prometheus client libraries' defaults
 * (5 ms … 10 s) plus 30 s and 60 s, because a FastCGI request or its wait in the queue can
 * last that long (the queue's default deadline is 60 s, mod_fcgid's busy timeout 300 s).
 */
export const LATENCY_BUCKETS_S: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** A read-only view of a histogram: per-bucket (not cumulative) counts, the +Inf rest last. */
export interface HistogramView {
  readonly boundsS: readonly number[];
  /** counts[i] observations fell in (bounds[i-1], bounds[i]]; counts[bounds.length] above the last. */
  readonly counts: readonly number[];
  readonly count: number;
  readonly sumS: number;
}

/**
 * A fixed-bucket histogram of durations, cheap enough for the request path (a short scan
 * and two additions per observation). The exposition format (status/metrics.ts) reads it at
 * scrape time, so src/pm/ needs no metrics library.
 */
export class Histogram implements HistogramView {
  readonly boundsS: readonly number[];
  private readonly bucketCounts: number[];
  count = 0;
  sumS = 0;

  constructor(boundsS: readonly number[] = LATENCY_BUCKETS_S) {
    this.boundsS = boundsS;
    this.bucketCounts = new Array<number>(boundsS.length + 1).fill(0);
  }

  get counts(): readonly number[] {
    return this.bucketCounts;
  }

  observeMs(ms: number): void {
    const s = ms / 1000;
    let i = 0;
    while (i < this.boundsS.length && s > this.boundsS[i]!) i += 1;
    this.bucketCounts[i]! += 1;
    this.count += 1;
    this.sumS += s;
  }
}
