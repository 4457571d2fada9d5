import { resolveScalingOptions, type ScalingOptions } from '../../../src/pm/policy/options';
import type { PolicyAction } from '../../../src/pm/policy/scaling';
import type { PoolView, WorkerState, WorkerView } from '../../../src/pm/policy/snapshot';

/** Builders for policy snapshots: plain numbers, a fake clock that is just `now`. */

let seq = 1000;

export function w(phase: WorkerState, over: Partial<WorkerView> = {}): WorkerView {
  return {
    id: over.id ?? ++seq,
    phase,
    startedAt: over.startedAt ?? 0,
    idleSince: over.idleSince ?? (phase === 'idle' ? (over.startedAt ?? 0) : undefined),
    requests: over.requests ?? 0,
    generation: over.generation ?? 1,
  };
}

export function pool(workers: readonly WorkerView[], queued = 0, generation = 1): PoolView {
  return { workers, queued, generation };
}

/** Options with a fixed maxProcesses (the default depends on the CPU count) and reaping off. */
export function opts(over: Partial<ScalingOptions> = {}): ScalingOptions {
  return resolveScalingOptions({ maxProcesses: 8, idleTimeoutMs: 0, ...over });
}

export function spawned(actions: readonly PolicyAction[]): number {
  return actions.reduce((n, a) => (a.kind === 'spawn' ? n + a.count : n), 0);
}

export function retiredIds(actions: readonly PolicyAction[]): number[] {
  return actions.flatMap((a) => (a.kind === 'retire' ? [a.workerId] : []));
}
