import type { Connection } from '../client/connection';
import type { WorkerProcess } from '../spawn/worker-process';

/** The scoreboard states of DESIGN.md's /status.json contract. */
export type WorkerState = 'starting' | 'idle' | 'busy' | 'draining';

/** Why a worker left the pool; shown in logs and, later, the status page. */
export type RetireReason =
  | 'max-requests'
  | 'busy-timeout'
  | 'io-timeout'
  | 'connect-error'
  | 'protocol-error'
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
  state: WorkerState = 'idle';
  requests = 0;
  lastUsedAt: number;
  connection: Connection | undefined;
  current: CurrentRequest | undefined;
  retireReason: RetireReason | undefined;
  killTimer: NodeJS.Timeout | undefined;

  constructor(id: number, process: WorkerProcess) {
    this.id = id;
    this.process = process;
    this.lastUsedAt = process.startedAt;
  }

  get pid(): number | undefined {
    return this.process.pid;
  }
}
