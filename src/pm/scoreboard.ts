import type { WorkerView } from './policy/snapshot';
import type { PoolOptions } from './pool-options';
import type { PoolStatsSnapshot } from './pool-stats';
import type { Worker, WorkerState } from './worker';

/**
 * The scoreboard (php-fpm's fpm_scoreboard): what /status.json, /metrics and `fcgipm status`
 * show of a pool and its processes, and the policy's view of a worker. Built on request from
 * the pool's live objects; nothing here is kept between two calls.
 */

export interface ProcessSnapshot {
  readonly pid: number | undefined;
  readonly state: WorkerState;
  readonly generation: number;
  readonly requests: number;
  readonly slots: number;
  readonly active: number;
  /** Pids of further processes on the same socket. */
  readonly siblings: number[];
  readonly startedAt: string;
  readonly currentRequest: { method: string; uri: string; startedAt: string } | undefined;
}

export interface PoolSnapshot extends PoolStatsSnapshot {
  readonly name: string;
  readonly command: string;
  readonly mode: string;
  readonly generation: number;
  readonly minProcesses: number;
  readonly maxProcesses: number;
  readonly queued: number;
  readonly idleProcesses: number;
  readonly activeProcesses: number;
  readonly totalProcesses: number;
  readonly processes: ProcessSnapshot[];
}

/** The policy's view of one worker (policy/snapshot.ts). */
export function workerView(w: Worker): WorkerView {
  return {
    id: w.id,
    phase: w.state,
    startedAt: w.startedAt,
    idleSince: w.state === 'idle' ? w.lastUsedAt : undefined,
    requests: w.requests,
    generation: w.generation,
  };
}

export function processSnapshot(w: Worker): ProcessSnapshot {
  return {
    pid: w.pid,
    state: w.state,
    generation: w.generation,
    requests: w.requests,
    slots: w.slots,
    active: w.active,
    siblings: [...w.siblings.keys()].flatMap((p) => (p.pid !== undefined ? [p.pid] : [])),
    startedAt: new Date(w.startedAt).toISOString(),
    currentRequest: w.current && {
      method: w.current.method,
      uri: w.current.uri,
      startedAt: new Date(w.current.startedAt).toISOString(),
    },
  };
}

export function poolSnapshot(
  options: PoolOptions,
  generation: number,
  queued: number,
  workers: Iterable<Worker>,
  stats: PoolStatsSnapshot,
): PoolSnapshot {
  const processes = [...workers].map(processSnapshot);
  return {
    name: options.name,
    command: options.command,
    mode: options.scaling.mode,
    generation,
    minProcesses: options.scaling.minProcesses,
    maxProcesses: options.scaling.maxProcesses,
    queued,
    idleProcesses: processes.filter((p) => p.state === 'idle').length,
    activeProcesses: processes.filter((p) => p.state === 'busy').length,
    totalProcesses: processes.length,
    ...stats,
    processes,
  };
}
