import type { HandoffSession } from '../client/handoff';
import type { FcgiRequest, ResponseHandler } from '../client/request';
import type { OutputLines } from '../spawn/output-lines';
import type { TimerHandle } from './clock';
import type { Waiter } from './wait-queue';
import type { Worker } from './worker';
import type { WorkerConnection } from './worker-launcher';

export interface RequestInfo {
  readonly method: string;
  readonly uri: string;
  /** The front end's request id, for log lines. */
  readonly id?: string;
}

/** What a front end holds while its request is in the pool. */
export interface DispatchHandle {
  /** The client went away: drop the request from the queue, or close its worker connection. */
  abort(): void;
  /**
   * After the handler's onStdout returned false (the client is slow): the client can take the
   * app's output again.
   */
  resumeResponse(): void;
  /** The pool's name, for the access log. */
  readonly pool: string;
  /** Pid of the worker the request last went to; undefined until one took it. */
  readonly workerPid: number | undefined;
  /**
   * Ms between dispatch() and a worker taking the request (or its refusal, or the client
   * leaving while it waited); undefined until then. Whole ms on the pool's clock.
   */
  readonly queueWaitMs: number | undefined;
}

export type JobState = 'new' | 'queued' | 'running' | 'replay-check' | 'done';

/** One request in the pool (php-fpm's fpm_request), from dispatch() to its one answer. */
export interface Job {
  readonly id: number;
  readonly request: FcgiRequest;
  readonly handler: ResponseHandler;
  readonly info: RequestInfo;
  readonly acceptedAt: number;
  /** When its current attempt reached a worker. */
  startedAt: number;
  /** Set when a worker takes it (run), kept after the job is done: the access log reads them. */
  waitedMs: number | undefined;
  workerPid: number | undefined;
  state: JobState;
  attempts: number;
  waiter: Waiter<Job> | undefined;
  worker: Worker | undefined;
  connection: WorkerConnection | undefined;
  /** A handed-off client socket's session with the worker, until END_REQUEST. */
  handoff: HandoffSession | undefined;
  busyTimer: TimerHandle | undefined;
  stderr: OutputLines | undefined;
}

export function newJob(id: number, request: FcgiRequest, handler: ResponseHandler, info: RequestInfo, acceptedAt: number): Job {
  return {
    id,
    request,
    handler,
    info,
    acceptedAt,
    startedAt: 0,
    waitedMs: undefined,
    workerPid: undefined,
    state: 'new',
    attempts: 0,
    waiter: undefined,
    worker: undefined,
    connection: undefined,
    handoff: undefined,
    busyTimer: undefined,
    stderr: undefined,
  };
}

/** Who a JobHandle reports to. */
export interface JobOwner {
  readonly name: string;
  abortJob(job: Job): void;
}

/** A DispatchHandle: one object per request, no closures (it lives as long as the request). */
export class JobHandle implements DispatchHandle {
  constructor(
    private readonly owner: JobOwner,
    private readonly job: Job,
  ) {}

  abort(): void {
    this.owner.abortJob(this.job);
  }

  resumeResponse(): void {
    this.job.connection?.resumeResponse();
  }

  get pool(): string {
    return this.owner.name;
  }

  get workerPid(): number | undefined {
    return this.job.workerPid;
  }

  get queueWaitMs(): number | undefined {
    return this.job.waitedMs;
  }
}
