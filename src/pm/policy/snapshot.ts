/**
 * What the policy sees of a pool: plain numbers, copied by the mechanism at the moment it
 * asks. Times are milliseconds on whatever clock the mechanism passes as `now` (tests pass
 * plain numbers); the policy never reads a clock itself.
 */

/** The scoreboard states of /status.json (docs/config.md, the admin listener). */
export type WorkerState = 'starting' | 'idle' | 'busy' | 'draining';

export interface WorkerView {
  readonly id: number;
  readonly phase: WorkerState;
  readonly startedAt: number;
  /** When it last became idle; undefined unless idle (an idle worker without one counts from startedAt). */
  readonly idleSince: number | undefined;
  /** Requests finished so far. */
  readonly requests: number;
  readonly generation: number;
}

export interface PoolView {
  readonly workers: readonly WorkerView[];
  /** Requests waiting for a worker. */
  readonly queued: number;
  /**
   * The current generation. Workers of older generations are the mechanism's business (they
   * drain) and count only toward maxProcesses.
   */
  readonly generation: number;
}

/** Current-generation workers by phase, and every live worker whatever its generation. */
export interface PoolCounts {
  /** Every worker in the view, draining and older generations included: what maxProcesses caps. */
  readonly live: number;
  /** Current generation, not draining: what the floor (minProcesses) counts. */
  readonly serving: number;
  readonly starting: number;
  readonly idle: number;
  readonly busy: number;
}

export function isCurrent(view: PoolView, worker: WorkerView): boolean {
  return worker.generation === view.generation;
}

export function countWorkers(view: PoolView): PoolCounts {
  let starting = 0;
  let idle = 0;
  let busy = 0;
  for (const w of view.workers) {
    if (!isCurrent(view, w)) continue;
    if (w.phase === 'starting') starting += 1;
    else if (w.phase === 'idle') idle += 1;
    else if (w.phase === 'busy') busy += 1;
  }
  return { live: view.workers.length, serving: starting + idle + busy, starting, idle, busy };
}

/** When the worker's idle spell began (mod_fcgid measures it from the last request's start; we from its end). */
export function idleStart(worker: WorkerView): number {
  return worker.idleSince ?? worker.startedAt;
}

/** Longest idle first; ties by id, so every decision is deterministic. */
export function byLongestIdle(a: WorkerView, b: WorkerView): number {
  return idleStart(a) - idleStart(b) || a.id - b.id;
}
