import type { TimerHandle } from './clock';
import type { RetireReason as PolicyRetireReason } from './policy/scaling';
import type { WorkerState } from './policy/snapshot';
import type { ChildProcess, WorkerConnection } from './worker-launcher';

export type { WorkerState };

/**
 * Why a worker was asked to leave: the policy's reasons (idle-timeout, lifetime,
 * max-requests, spare, generation) and the mechanism's own. Shown in logs and in the
 * scoreboard's exit counters (mod_fcgid's "diewhy").
 */
export type RetireReason =
  | PolicyRetireReason
  | 'busy-timeout'
  | 'io-timeout'
  | 'connect-error'
  | 'protocol-error'
  | 'startup-timeout'
  | 'global-max'
  | 'shutdown';

export interface CurrentRequest {
  readonly method: string;
  readonly uri: string;
  readonly startedAt: number;
}

/**
 * One worker process as the pool sees it: its state, its kept FastCGI connection and its
 * counters. Mechanism only; the pool decides every transition.
 */
export class Worker {
  readonly id: number;
  readonly process: ChildProcess;
  readonly generation: number;
  /** When it was spawned, on the pool's clock (lifetime and crash checks count from it). */
  readonly startedAt: number;
  state: WorkerState = 'starting';
  /** It was seen accepting connections (readiness), so a death now is not a start failure. */
  becameReady = false;
  requests = 0;
  /** When it last started a request, or became idle. */
  lastUsedAt: number;
  /**
   * Requests it takes at once: 1 for a classic FastCGI process; N for a shared-socket backend
   * such as php-cgi with PHP_FCGI_CHILDREN=N (its children accept on the same socket).
   */
  slots = 1;
  /** Requests running on it now. */
  active = 0;
  /** It sits in the pool's stack of workers with a free slot. */
  parked = false;
  /** Further processes accepting on the same socket (processesPerSocket > 1), with their start times. */
  readonly siblings = new Map<ChildProcess, number>();
  /** Kept (FCGI_KEEP_CONN) connections not carrying a request; at most one per slot. */
  readonly idleConnections: WorkerConnection[] = [];
  /** The request it started most recently, while any runs. */
  current: CurrentRequest | undefined;
  retireReason: RetireReason | undefined;
  killTimer: TimerHandle | undefined;
  cancelReadiness: (() => void) | undefined;

  constructor(id: number, process: ChildProcess, generation: number, startedAt: number) {
    this.id = id;
    this.process = process;
    this.generation = generation;
    this.startedAt = startedAt;
    this.lastUsedAt = startedAt;
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get hasFreeSlot(): boolean {
    return this.active < this.slots;
  }

  /** Closes (or, with `destroy`, resets) every kept connection. */
  dropConnections(destroy = false): void {
    for (const c of this.idleConnections.splice(0)) {
      if (destroy) c.destroy();
      else c.close();
    }
  }
}
