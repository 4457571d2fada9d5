import { EventEmitter } from 'node:events';
import type { FcgiRequest, ResponseHandler } from '../client/request';
import { ClosedError, FcgipmError, QueueFullError } from '../errors';
import type { Logger } from '../log';
import type { IpcDir } from '../spawn/ipc-dir';
import type { WorkerExit } from '../spawn/worker-process';
import { Children, type ChildrenHost } from './children';
import { REAL_CLOCK, type Clock } from './clock';
import { IdleWorkers } from './idle-workers';
import { JobHandle, newJob, type DispatchHandle, type Job, type RequestInfo } from './job';
import { retireAfterRequest } from './policy/scaling';
import type { PoolView } from './policy/snapshot';
import type { PoolOptions } from './pool-options';
import { PoolStats } from './pool-stats';
import { ProcessControl } from './process-ctl';
import { RequestRun, type RequestRunHost } from './request-run';
import { poolSnapshot, workerView, type PoolSnapshot } from './scoreboard';
import { WaitQueue } from './wait-queue';
import type { RetireReason, Worker } from './worker';
import { REAL_LAUNCHER, type WorkerLauncher } from './worker-launcher';

export type { DispatchHandle, RequestInfo } from './job';
export type { PoolSnapshot, ProcessSnapshot } from './scoreboard';

/** How the pool shares a global process cap with others (a manager's FcgidMaxProcesses). */
export interface PoolHost {
  /** Processes this pool may still start under the global cap. */
  room(): number;
  /** The pool is at the global cap with requests waiting: free a process elsewhere if possible. */
  needRoom(pool: Pool): void;
  /** A worker of this pool exited: room may have opened for others. */
  workerExited(pool: Pool): void;
}

const UNLIMITED_HOST: PoolHost = {
  room: () => Number.MAX_SAFE_INTEGER,
  needRoom: () => undefined,
  workerExited: () => undefined,
};

export interface PoolDeps {
  readonly ipcDir: Pick<IpcDir, 'nextSocketPath'>;
  readonly logger: Logger;
  readonly host?: PoolHost;
  /** Time and timers (default: Date.now() and Node's timers). */
  readonly clock?: Clock;
  /** Processes and connections (default: the real ones; unit tests pass in-memory fakes). */
  readonly launcher?: WorkerLauncher;
}

export interface PoolEvents {
  'worker-start': [pid: number | undefined];
  'worker-ready': [pid: number | undefined];
  'worker-exit': [pid: number | undefined, exit: WorkerExit, reason: RetireReason | undefined];
  'generation-end': [generation: number];
}

/**
 * One pool of identical workers (a mod_fcgid process class): hands each request to an idle
 * worker, or queues it (bounded FIFO with a deadline) and spawns workers — in parallel, up to
 * maxProcesses, the moment a request waits. One request per worker at a time. Requests wake
 * on events (a release, a ready worker, an exit); a 1-s tick runs the reaping policy only.
 *
 * This file is the facade and the dispatch: which worker takes which request, and what a
 * worker does after one. Its parts: process-ctl.ts (when to spawn and retire, asking the
 * pure policy in ./policy), children.ts (the processes), request-run.ts (a request's
 * attempts on workers), scoreboard.ts (snapshots), wait-queue.ts, idle-workers.ts,
 * pool-stats.ts.
 *
 * Lifecycle: new Pool() → start() → dispatch()… [reload()…] → close() (drain, stop workers).
 */
export class Pool extends EventEmitter<PoolEvents> {
  readonly options: PoolOptions;
  private readonly log: Logger;
  private readonly host: PoolHost;
  private readonly clock: Clock;
  private readonly children: Children;
  private readonly idle = new IdleWorkers();
  private readonly queue: WaitQueue<Job>;
  private readonly requests: RequestRun;
  private readonly control: ProcessControl;
  private readonly stats = new PoolStats();
  private jobSeq = 0;
  private generationNo = 1;
  /** Generations before this one have ended (all their workers are gone). */
  private endedThrough = 0;
  private closing = false;
  private closed: Promise<void> | undefined;
  private drainWaiters: Array<() => void> = [];

  constructor(options: PoolOptions, deps: PoolDeps) {
    super();
    this.options = options;
    this.host = deps.host ?? UNLIMITED_HOST;
    this.clock = deps.clock ?? REAL_CLOCK;
    this.log = deps.logger.child({ pool: options.name });
    const launcher = deps.launcher ?? REAL_LAUNCHER;
    this.queue = new WaitQueue<Job>({
      maxLength: options.maxQueue,
      timeoutMs: options.queueTimeoutMs,
      clock: this.clock,
      onTimeout: (job, err) => {
        this.log.warn({ reqId: job.info.id, uri: job.info.uri, waitedMs: options.queueTimeoutMs }, 'request timed out in the wait queue');
        this.requests.finish(job, err);
      },
    });
    this.children = new Children(options, { ipcDir: deps.ipcDir, log: this.log, clock: this.clock, launcher, stats: this.stats, host: this.childrenHost() });
    this.requests = new RequestRun(options, this.log, this.clock, launcher, this.stats, this.children, this.idle, this.queue, this.runHost());
    this.control = new ProcessControl(options, this.log, this.clock, this.children, this.queue, this.stats, {
      view: () => this.view(),
      generation: () => this.generationNo,
      room: () => this.host.room(),
      needRoom: () => this.host.needRoom(this),
      failQueued: (err) => this.failQueued(err),
    });
  }

  get name(): string {
    return this.options.name;
  }

  get generation(): number {
    return this.generationNo;
  }

  /** Starts the minimum processes and the maintenance tick. */
  start(): void {
    if (!this.closing) this.control.start();
  }

  dispatch(request: FcgiRequest, handler: ResponseHandler, info: RequestInfo): DispatchHandle {
    const job = newJob(++this.jobSeq, request, handler, info, this.clock.now());
    const handle = new JobHandle(this, job);
    this.stats.accepted += 1;
    if (this.closing) {
      process.nextTick(() => this.requests.finish(job, new ClosedError(`pool ${this.options.name} is shutting down`)));
      return handle;
    }
    this.schedule(job, false);
    return handle;
  }

  /** @internal JobHandle.abort. */
  abortJob(job: Job): void {
    this.requests.abort(job);
  }

  /**
   * Starts a new generation (SIGHUP): new requests go to new workers at once; idle workers of
   * older generations are retired now, busy ones when their request is done. Nothing
   * accepted is dropped. Returns the new generation number.
   */
  reload(): number {
    this.generationNo += 1;
    this.log.info({ generation: this.generationNo }, 'new generation');
    for (const w of [...this.children.workers]) {
      if (w.generation < this.generationNo && w.state === 'idle') this.children.retire(w, 'generation');
    }
    this.control.runTick(false);
    this.control.spawnForQueue();
    this.checkGenerationsEnded();
    return this.generationNo;
  }

  /** The policy's view of this pool (src/pm/policy/snapshot.ts). */
  view(): PoolView {
    return {
      workers: [...this.children.workers].map(workerView),
      queued: this.queue.length,
      generation: this.generationNo,
    };
  }

  /** Retire one idle worker so another pool can use its slot under the global cap. */
  retireForRoom(workerId: number): boolean {
    for (const w of this.children.workers) {
      if (w.id === workerId && w.state === 'idle') {
        this.children.retire(w, 'global-max');
        return true;
      }
    }
    return false;
  }

  /** Another pool's worker exited: spawn for waiting requests if room opened. */
  wake(): void {
    this.control.spawnForQueue();
  }

  /** Queue-wait and request-duration histograms (status/metrics.ts reads them at scrape time). */
  histograms(): ReturnType<PoolStats['histograms']> {
    return this.stats.histograms();
  }

  snapshot(): PoolSnapshot {
    return poolSnapshot(this.options, this.generationNo, this.queue.length, this.children.workers, this.stats.snapshot(this.queue.maxLength));
  }

  /**
   * Graceful stop: takes no new requests, lets running and queued ones finish (up to
   * drainTimeoutMs, then they fail with ClosedError), then SIGTERMs every worker and
   * SIGKILLs those still alive after killGraceMs. Idempotent.
   */
  close(drainTimeoutMs = 30_000): Promise<void> {
    this.closed ??= this.doClose(drainTimeoutMs);
    return this.closed;
  }

  /**
   * Stops now: what waits or runs fails with ClosedError at once, then every worker is stopped
   * as by close() (SIGTERM, SIGKILL after killGraceMs). Idempotent; also ends a close() that
   * is still draining.
   */
  destroy(): Promise<void> {
    this.closing = true;
    this.failQueued(new ClosedError('pool destroyed before the request was served'));
    this.requests.failRunning(new ClosedError('pool destroyed before the request finished'));
    return this.close(0);
  }

  private async doClose(drainTimeoutMs: number): Promise<void> {
    this.closing = true;
    this.control.stop();
    const drained = await this.waitDrained(drainTimeoutMs);
    if (!drained) {
      this.log.warn({ running: this.requests.running.size, queued: this.queue.length }, 'drain timeout: failing unfinished requests');
      this.failQueued(new ClosedError('pool stopped before the request was served'));
      this.requests.failRunning(new ClosedError('pool stopped before the request finished'));
    }
    const exits = [...this.children.workers].flatMap((w) => {
      this.children.retire(w, 'shutdown');
      return [w.process.exited, ...[...w.siblings.keys()].map((p) => p.exited)];
    });
    await Promise.all(exits);
  }

  private waitDrained(timeoutMs: number): Promise<boolean> {
    if (this.isDrained()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => resolve(false), timeoutMs);
      this.drainWaiters.push(() => {
        this.clock.clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private isDrained(): boolean {
    return this.requests.running.size === 0 && this.queue.length === 0;
  }

  private checkDrained(): void {
    if (this.closing && this.drainWaiters.length > 0 && this.isDrained()) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Emits 'generation-end' for every older generation whose last worker is gone. */
  private checkGenerationsEnded(): void {
    while (this.endedThrough < this.generationNo - 1) {
      const g = this.endedThrough + 1;
      for (const w of this.children.workers) if (w.generation <= g) return;
      this.endedThrough = g;
      this.log.info({ generation: g }, 'generation ended');
      this.emit('generation-end', g);
    }
  }

  private failQueued(err: FcgipmError): void {
    for (const job of this.queue.drain()) this.requests.finish(job, err);
  }

  // ---- the parts' callbacks (made once per pool) -------------------------------------------

  private childrenHost(): ChildrenHost {
    return {
      started: (worker) => this.emit('worker-start', worker.pid),
      ready: (worker) => {
        this.emit('worker-ready', worker.pid);
        if (worker.generation < this.generationNo) this.children.retire(worker, 'generation');
        else this.offer(worker);
      },
      slotsGrew: (worker) => this.offer(worker),
      failing: (err) => this.failQueued(err),
      exited: (worker, exit, reason) => this.emit('worker-exit', worker.pid, exit, reason),
      gone: () => {
        this.host.workerExited(this);
        this.control.spawnForQueue();
        this.control.runTick(false);
        this.checkDrained();
        this.checkGenerationsEnded();
      },
    };
  }

  private runHost(): RequestRunHost {
    return {
      release: (worker) => this.release(worker),
      requeue: (job) => this.schedule(job, true),
      settled: () => this.checkDrained(),
    };
  }

  // ---- dispatch ---------------------------------------------------------------------------

  private schedule(job: Job, front: boolean): void {
    const worker = this.idle.take();
    if (worker) {
      this.requests.run(worker, job);
      return;
    }
    if (this.control.startsFailing()) {
      // The app keeps dying at start-up: answer now instead of letting requests wait out
      // the queue deadline (mod_fcgid keeps them for ~64 s).
      this.requests.finish(job, this.children.startFailureError());
      return;
    }
    const waiter = this.queue.push(job, front);
    if (waiter instanceof QueueFullError) {
      this.log.warn({ reqId: job.info.id, queued: this.queue.length }, 'wait queue full');
      this.requests.finish(job, waiter);
      return;
    }
    job.state = 'queued';
    job.waiter = waiter;
    this.control.spawnForQueue();
  }

  /** Gives a worker with free slots the oldest waiting requests, then parks it if a slot is left. */
  private offer(worker: Worker): void {
    while (worker.hasFreeSlot) {
      const waiter = this.queue.shift();
      if (!waiter) break;
      this.requests.run(worker, waiter.value);
    }
    if (worker.active === 0) {
      worker.state = 'idle';
      worker.lastUsedAt = this.clock.now();
      this.control.workerIdle();
    }
    if (worker.hasFreeSlot) this.idle.park(worker);
  }

  /** A request left this worker (finished, failed or aborted): free its slot, then decide. */
  private release(worker: Worker): void {
    if (worker.state === 'draining' || !this.children.workers.has(worker) || !worker.process.alive) return;
    if (worker.generation < this.generationNo) {
      if (worker.active === 0) this.children.retire(worker, 'generation');
      return;
    }
    const reason = worker.slots === 1 ? retireAfterRequest(workerView(worker), this.options.scaling, this.clock.now()) : undefined;
    if (reason) {
      this.children.retire(worker, reason);
      if (reason === 'max-requests' || reason === 'lifetime') this.control.spawnForRecycling();
      // Deliberate recycling must not slow the pool (mod_fcgid: 51 s for 25 requests).
      this.control.spawnForQueue();
      return;
    }
    this.offer(worker);
  }
}
