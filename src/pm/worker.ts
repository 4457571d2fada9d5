import type { Connection } from '../client/connection';
import type { WorkerProcess } from '../spawn/worker-process';
import type { RetireReason as PolicyRetireReason } from './policy/scaling';

/** The scoreboard states of DESIGN.md's /status.json contract. */
export type WorkerState = 'starting' | 'idle' | 'busy' | 'draining';

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
  readonly process: WorkerProcess;
  readonly generation: number;
  state: WorkerState = 'starting';
  /** It was seen accepting connections (readiness), so a death now is not a start failure. */
  becameReady = false;
  requests = 0;
  /** When it last started a request, or became idle. */
  lastUsedAt: number;
  connection: Connection | undefined;
  current: CurrentRequest | undefined;
  retireReason: RetireReason | undefined;
  killTimer: NodeJS.Timeout | undefined;
  cancelReadiness: (() => void) | undefined;

  constructor(id: number, process: WorkerProcess, generation: number) {
    this.id = id;
    this.process = process;
    this.generation = generation;
    this.lastUsedAt = process.startedAt;
  }

  get pid(): number | undefined {
    return this.process.pid;
  }
}
