import { EventEmitter } from 'node:events';
import { Connection } from '../client/connection';
import type { EndRequest, FcgiRequest, ResponseHandler } from '../client/request';
import {
  BusyTimeoutError,
  ClosedError,
  ConnectError,
  FcgipmError,
  IoTimeoutError,
  ProtocolError,
  QueueFullError,
  SpawnError,
  WorkerClosedError,
} from '../errors';
import type { Logger } from '../log';
import type { IpcDir } from '../spawn/ipc-dir';
import { OutputLines } from '../spawn/output-lines';
import { WorkerProcess, type WorkerExit } from '../spawn/worker-process';
import type { PoolOptions } from './pool-options';
import { WaitQueue, type Waiter } from './wait-queue';
import { Worker, type RetireReason, type WorkerState } from './worker';

/** A request is tried on at most this many workers (only when it never reached one). */
const MAX_ATTEMPTS = 3;
/** Consecutive workers that die before serving anything before the pool stops spawning. */
const START_FAILURE_LIMIT = 3;
const BACKOFF_MAX_MS = 30_000;
/** How long to wait for a worker's exit when deciding whether a closed connection is replayable. */
const EXIT_WAIT_MS = 500;

/** What became of a worker that closed a kept connection without answering. */
type WorkerFate = 'exited-cleanly' | 'crashed' | 'alive';

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
  /** Back-pressure from the client: stop / restart reading the app's output. */
  pauseResponse(): void;
  resumeResponse(): void;
}

export interface ProcessSnapshot {
  readonly pid: number | undefined;
  readonly state: WorkerState;
  readonly requests: number;
  readonly startedAt: string;
  readonly currentRequest: { method: string; uri: string; startedAt: string } | undefined;
}

export interface PoolSnapshot {
  readonly name: string;
  readonly command: string;
  readonly minProcesses: number;
  readonly maxProcesses: number;
  readonly queued: number;
  readonly maxQueued: number;
  readonly accepted: number;
  readonly spawned: number;
  readonly maxProcessesReached: number;
  readonly processes: ProcessSnapshot[];
}

type JobState = 'new' | 'queued' | 'running' | 'replay-check' | 'done';

interface Job {
  readonly id: number;
  readonly request: FcgiRequest;
  readonly handler: ResponseHandler;
  readonly info: RequestInfo;
  state: JobState;
  attempts: number;
  waiter: Waiter<Job> | undefined;
  worker: Worker | undefined;
  connection: Connection | undefined;
  busyTimer: NodeJS.Timeout | undefined;
  stderr: OutputLines | undefined;
}

export interface PoolEvents {
  'worker-start': [pid: number | undefined];
  'worker-exit': [pid: number | undefined, exit: WorkerExit, reason: RetireReason | undefined];
}

/**
 * One pool of identical workers (a mod_fcgid process class): hands each request to an idle
 * worker, or queues it (bounded FIFO with a deadline) and spawns more workers up to
 * maxProcesses. One request per worker at a time. Every wake-up is an event — a release, a
 * spawn, an exit — never a timer poll.
 *
 * Lifecycle: new Pool() → start() → dispatch()… → close() (drain, then stop workers).
 */
export class Pool extends EventEmitter<PoolEvents> {
  readonly options: PoolOptions;
  private readonly ipcDir: IpcDir;
  private readonly log: Logger;
  private readonly workers = new Set<Worker>();
  private readonly idle: Worker[] = [];
  private readonly queue: WaitQueue<Job>;
  private readonly running = new Set<Job>();
  private workerSeq = 0;
  private jobSeq = 0;
  private accepted = 0;
  private spawned = 0;
  private maxReachedEpisodes = 0;
  private atMax = false;
  private startFailures = 0;
  private lastStartFailure: SpawnError | undefined;
  private backoffUntil = 0;
  private minTimer: NodeJS.Timeout | undefined;
  /** FCGI_KEEP_CONN in use; turned off once the app shows it closes connections anyway. */
  private keepConn: boolean;
  private closing = false;
  private closed: Promise<void> | undefined;
  private drainWaiters: Array<() => void> = [];

  constructor(options: PoolOptions, deps: { ipcDir: IpcDir; logger: Logger }) {
    super();
    this.options = options;
    this.ipcDir = deps.ipcDir;
    this.log = deps.logger.child({ pool: options.name });
    this.keepConn = options.keepConn;
    this.queue = new WaitQueue<Job>({
      maxLength: options.maxQueue,
      timeoutMs: options.queueTimeoutMs,
      onTimeout: (job, err) => {
        this.log.warn({ reqId: job.info.id, uri: job.info.uri, waitedMs: options.queueTimeoutMs }, 'request timed out in the wait queue');
        this.finish(job, err);
      },
    });
  }

  /** Starts the minimum processes. */
  start(): void {
    this.ensureMin();
  }

  dispatch(request: FcgiRequest, handler: ResponseHandler, info: RequestInfo): DispatchHandle {
    const job: Job = {
      id: ++this.jobSeq,
      request,
      handler,
      info,
      state: 'new',
      attempts: 0,
      waiter: undefined,
      worker: undefined,
      connection: undefined,
      busyTimer: undefined,
      stderr: undefined,
    };
    const handle: DispatchHandle = {
      abort: () => this.abortJob(job),
      pauseResponse: () => job.connection?.pauseResponse(),
      resumeResponse: () => job.connection?.resumeResponse(),
    };
    this.accepted += 1;
    if (this.closing) {
      process.nextTick(() => this.finish(job, new ClosedError(`pool ${this.options.name} is shutting down`)));
      return handle;
    }
    this.schedule(job, false);
    return handle;
  }

  snapshot(): PoolSnapshot {
    return {
      name: this.options.name,
      command: this.options.command,
      minProcesses: this.options.minProcesses,
      maxProcesses: this.options.maxProcesses,
      queued: this.queue.length,
      maxQueued: this.queue.maxLength,
      accepted: this.accepted,
      spawned: this.spawned,
      maxProcessesReached: this.maxReachedEpisodes,
      processes: [...this.workers].map((w) => ({
        pid: w.pid,
        state: w.state,
        requests: w.requests,
        startedAt: new Date(w.process.startedAt).toISOString(),
        currentRequest: w.current && {
          method: w.current.method,
          uri: w.current.uri,
          startedAt: new Date(w.current.startedAt).toISOString(),
        },
      })),
    };
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

  private async doClose(drainTimeoutMs: number): Promise<void> {
    this.closing = true;
    if (this.minTimer) clearTimeout(this.minTimer);
    const drained = await this.waitDrained(drainTimeoutMs);
    if (!drained) {
      this.log.warn({ running: this.running.size, queued: this.queue.length }, 'drain timeout: failing unfinished requests');
      for (const job of this.queue.drain()) this.finish(job, new ClosedError('pool stopped before the request was served'));
      for (const job of [...this.running]) {
        job.connection?.abort();
        this.finish(job, new ClosedError('pool stopped before the request finished'));
      }
    }
    const exits = [...this.workers].map((w) => {
      this.retire(w, 'shutdown');
      return w.process.exited;
    });
    await Promise.all(exits);
  }

  private waitDrained(timeoutMs: number): Promise<boolean> {
    if (this.isDrained()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.drainWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private isDrained(): boolean {
    return this.running.size === 0 && this.queue.length === 0;
  }

  private checkDrained(): void {
    if (this.closing && this.drainWaiters.length > 0 && this.isDrained()) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  // ---- scheduling ---------------------------------------------------------------------

  private schedule(job: Job, front: boolean): void {
    const worker = this.takeIdle();
    if (worker) {
      this.run(worker, job);
      return;
    }
    const waiter = this.queue.push(job, front);
    if (waiter instanceof QueueFullError) {
      this.log.warn({ reqId: job.info.id, queued: this.queue.length }, 'wait queue full');
      this.finish(job, waiter);
      return;
    }
    job.state = 'queued';
    job.waiter = waiter;
    this.spawnForQueue();
  }

  /** Spawns workers for waiting requests, in parallel, up to maxProcesses. */
  private spawnForQueue(): void {
    if (this.queue.length === 0) return;
    if (Date.now() < this.backoffUntil) {
      if (this.workers.size === 0) this.failQueued(this.startFailureError());
      return;
    }
    while (this.queue.length > 0 && this.workers.size < this.options.maxProcesses) {
      const worker = this.spawnWorker();
      if (!worker) {
        if (this.workers.size === 0) this.failQueued(this.startFailureError());
        return;
      }
      this.offer(worker);
    }
    if (this.queue.length > 0 && !this.atMax) {
      // Once per episode, like php-fpm's "server reached pm.max_children".
      this.atMax = true;
      this.maxReachedEpisodes += 1;
      this.log.warn(
        { maxProcesses: this.options.maxProcesses, queued: this.queue.length },
        'pool reached its max processes; requests are queued',
      );
    }
  }

  private ensureMin(): void {
    if (this.closing) return;
    const deficit = this.options.minProcesses - this.workers.size;
    if (deficit <= 0) return;
    const wait = this.backoffUntil - Date.now();
    if (wait > 0) {
      this.minTimer ??= setTimeout(() => {
        this.minTimer = undefined;
        this.ensureMin();
      }, wait);
      return;
    }
    for (let i = 0; i < deficit; i += 1) {
      const worker = this.spawnWorker();
      if (!worker) return;
      this.offer(worker);
    }
  }

  /** Gives a free worker the oldest waiting request, or parks it as idle. */
  private offer(worker: Worker): void {
    const waiter = this.queue.shift();
    if (waiter) {
      this.run(worker, waiter.value);
      return;
    }
    worker.state = 'idle';
    this.idle.push(worker);
    this.atMax = false;
  }

  /** Most recently used first: its caches are warm (mod_fcgid's idle list is LIFO too). */
  private takeIdle(): Worker | undefined {
    for (let w = this.idle.pop(); w; w = this.idle.pop()) {
      if (w.state === 'idle' && w.process.alive) return w;
    }
    return undefined;
  }

  private release(worker: Worker): void {
    if (worker.state === 'draining' || !this.workers.has(worker) || !worker.process.alive) return;
    const max = this.options.maxRequestsPerProcess;
    if (max > 0 && worker.requests >= max) {
      this.retire(worker, 'max-requests');
      return;
    }
    this.offer(worker);
  }

  // ---- one attempt of one request on one worker -----------------------------------------

  private run(worker: Worker, job: Job): void {
    job.state = 'running';
    job.worker = worker;
    job.waiter = undefined;
    job.attempts += 1;
    this.running.add(job);
    worker.state = 'busy';
    worker.lastUsedAt = Date.now();
    worker.current = { method: job.info.method, uri: job.info.uri, startedAt: worker.lastUsedAt };
    job.busyTimer = setTimeout(() => this.onBusyTimeout(job), this.options.busyTimeoutMs);

    const kept = worker.connection;
    if (kept?.reusable) {
      this.send(worker, job, kept);
      return;
    }
    if (kept?.closedByPeer && worker.process.alive) this.noteAppClosesConnections();
    kept?.destroy();
    worker.connection = undefined;
    Connection.connect(worker.process.socketPath, {
      keepConn: this.keepConn,
      ioTimeoutMs: this.options.ioTimeoutMs,
      connectTimeoutMs: this.options.connectTimeoutMs,
    }).then(
      (conn) => {
        if (job.state !== 'running' || job.worker !== worker) {
          conn.close();
          return;
        }
        worker.connection = conn;
        this.send(worker, job, conn);
      },
      (err: unknown) => {
        if (job.state !== 'running' || job.worker !== worker) return;
        this.onAttemptError(worker, job, err instanceof FcgipmError ? err : new ConnectError(String(err)));
      },
    );
  }

  private send(worker: Worker, job: Job, conn: Connection): void {
    job.connection = conn;
    const log = this.log;
    try {
      conn.request(job.request, {
        onStdout: (chunk) => job.handler.onStdout(chunk),
        onStderr: (chunk) => {
          // FCGI_STDERR becomes whole log lines tagged with the request, however the app's
          // records split them (mod_fcgid logs each record as "mod_fcgid: stderr: …").
          job.stderr ??= new OutputLines({
            logger: log.child({ pid: worker.pid, reqId: job.info.id }),
            stream: 'fcgi-stderr',
            message: 'app stderr',
          });
          job.stderr.push(chunk);
          job.handler.onStderr(chunk);
        },
        onEnd: (end) => this.onEnd(worker, job, end),
        onError: (err) => this.onAttemptError(worker, job, err),
      });
    } catch (err) {
      this.onAttemptError(worker, job, err instanceof FcgipmError ? err : new ConnectError(String(err)));
    }
  }

  private onEnd(worker: Worker, job: Job, end: EndRequest): void {
    if (job.worker !== worker || job.state !== 'running') return;
    worker.requests += 1;
    worker.current = undefined;
    this.startFailures = 0;
    this.finish(job, end);
    this.release(worker);
  }

  private onAttemptError(worker: Worker, job: Job, err: FcgipmError): void {
    if (job.worker !== worker || job.state !== 'running') return;
    this.detach(job);
    worker.current = undefined;
    if (worker.connection === job.connection) worker.connection = undefined;
    job.connection = undefined;

    if (err instanceof ConnectError) {
      // Nothing reached the app: replay elsewhere (DESIGN.md "the manager dispatches").
      this.log.warn({ pid: worker.pid, reqId: job.info.id, err: err.message }, 'cannot connect to worker; retrying elsewhere');
      this.retire(worker, 'connect-error');
      this.retryOrFail(job, err);
      return;
    }
    if (
      err instanceof WorkerClosedError &&
      !err.responseStarted &&
      err.reusedConnection &&
      job.request.body.kind !== 'stream'
    ) {
      // The app closed a kept connection without a byte of answer. If it exits cleanly it
      // had finished its last request (php-cgi's PHP_FCGI_MAX_REQUESTS) and never took this
      // one; if it lives on, it closed the connection instead of keeping it. Either way the
      // request was not taken and is sent again (mod_fcgid answers 500 here, reference §3.3).
      // Only a crash means the app may have acted on it.
      job.state = 'replay-check';
      this.running.add(job);
      void this.workerFate(worker).then((fate) => {
        if (job.state !== 'replay-check') {
          this.release(worker);
          return;
        }
        this.running.delete(job);
        if (fate === 'crashed') {
          this.finish(job, err);
        } else if (fate === 'alive' && job.attempts < MAX_ATTEMPTS) {
          this.noteAppClosesConnections();
          this.log.debug({ pid: worker.pid, reqId: job.info.id }, 'kept connection was closed by the app; resending on a new one');
          this.run(worker, job);
          return;
        } else {
          this.log.info({ pid: worker.pid, reqId: job.info.id }, 'worker exited before taking the request; replaying');
          this.retryOrFail(job, err);
        }
        this.release(worker);
      });
      return;
    }

    this.finish(job, err);
    if (err instanceof IoTimeoutError) this.retire(worker, 'io-timeout');
    else if (err instanceof ProtocolError) this.retire(worker, 'protocol-error');
    else this.release(worker);
  }

  private workerFate(worker: Worker): Promise<WorkerFate> {
    const fate = (exit: WorkerExit): WorkerFate =>
      exit.error === undefined && (exit.code === 0 || worker.retireReason !== undefined) ? 'exited-cleanly' : 'crashed';
    const known = worker.process.exitInfo;
    if (known) return Promise.resolve(fate(known));
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve('alive'), EXIT_WAIT_MS);
      void worker.process.exited.then((exit) => {
        clearTimeout(timer);
        resolve(fate(exit));
      });
    });
  }

  /** Once per pool: an app that ignores FCGI_KEEP_CONN gets a connection per request. */
  private noteAppClosesConnections(): void {
    if (!this.keepConn) return;
    this.keepConn = false;
    this.log.info('the app closes its connection after each request; not asking it for FCGI_KEEP_CONN any more');
  }

  private retryOrFail(job: Job, err: FcgipmError): void {
    if (job.attempts >= MAX_ATTEMPTS) {
      this.finish(job, this.startFailures > 0 && this.lastStartFailure ? this.lastStartFailure : err);
      return;
    }
    job.state = 'new';
    this.schedule(job, true);
  }

  private onBusyTimeout(job: Job): void {
    const worker = job.worker;
    if (!worker || job.state !== 'running') return;
    this.log.warn(
      { pid: worker.pid, reqId: job.info.id, uri: job.info.uri, busyTimeoutMs: this.options.busyTimeoutMs },
      'request exceeded the busy timeout; killing the worker',
    );
    job.connection?.abort();
    worker.connection = undefined;
    worker.current = undefined;
    this.finish(job, new BusyTimeoutError(`request ran longer than ${this.options.busyTimeoutMs} ms`));
    this.retire(worker, 'busy-timeout');
  }

  private abortJob(job: Job): void {
    const state = job.state;
    if (state === 'done') return;
    const worker = job.worker;
    const conn = job.connection;
    if (job.waiter) this.queue.cancel(job.waiter);
    this.settle(job);
    if (state === 'running' && worker) {
      conn?.abort();
      if (worker.connection === conn) worker.connection = undefined;
      worker.current = undefined;
      this.release(worker);
    }
    this.checkDrained();
  }

  /** Ends a job once: the handler hears onEnd or onError exactly once. */
  private finish(job: Job, outcome: EndRequest | FcgipmError): void {
    if (job.state === 'done') return;
    this.settle(job);
    if (outcome instanceof FcgipmError) job.handler.onError(outcome);
    else job.handler.onEnd(outcome);
    this.checkDrained();
  }

  private settle(job: Job): void {
    this.detach(job);
    job.state = 'done';
    job.worker = undefined;
    job.waiter = undefined;
  }

  private detach(job: Job): void {
    job.stderr?.flush();
    job.stderr = undefined;
    if (job.busyTimer) clearTimeout(job.busyTimer);
    job.busyTimer = undefined;
    this.running.delete(job);
  }

  private failQueued(err: FcgipmError): void {
    for (const job of this.queue.drain()) this.finish(job, err);
  }

  // ---- worker lifecycle -----------------------------------------------------------------

  private spawnWorker(): Worker | undefined {
    let proc: WorkerProcess;
    try {
      proc = WorkerProcess.spawn({
        command: this.options.command,
        args: this.options.args,
        socketPath: this.ipcDir.nextSocketPath(),
        env: this.options.env,
        cwd: this.options.cwd,
        logger: this.log,
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.noteStartFailure(new SpawnError(`cannot start ${this.options.command}: ${message}`, err));
      return undefined;
    }
    const worker = new Worker(++this.workerSeq, proc);
    this.workers.add(worker);
    this.spawned += 1;
    proc.on('exit', (exit: WorkerExit) => this.onWorkerExit(worker, exit));
    this.log.info({ pid: proc.pid, socket: proc.socketPath }, 'worker started');
    this.emit('worker-start', proc.pid);
    return worker;
  }

  /** SIGTERM now, SIGKILL after the grace. The worker counts as live until it exits. */
  private retire(worker: Worker, reason: RetireReason): void {
    if (worker.state === 'draining') return;
    worker.state = 'draining';
    worker.retireReason = reason;
    worker.connection?.close();
    worker.connection = undefined;
    if (!worker.process.alive) return;
    this.log.debug({ pid: worker.pid, reason }, 'retiring worker');
    worker.process.kill('SIGTERM');
    worker.killTimer = setTimeout(() => {
      if (worker.process.alive) {
        this.log.warn({ pid: worker.pid, reason, graceMs: this.options.killGraceMs }, 'worker ignored SIGTERM; sending SIGKILL');
        worker.process.kill('SIGKILL');
      }
    }, this.options.killGraceMs);
  }

  private onWorkerExit(worker: Worker, exit: WorkerExit): void {
    this.workers.delete(worker);
    if (worker.killTimer) clearTimeout(worker.killTimer);
    worker.connection?.destroy();
    worker.connection = undefined;
    const reason = worker.retireReason;
    const fields = { pid: worker.pid, code: exit.code, signal: exit.signal, requests: worker.requests, reason };
    if (reason) this.log.debug(fields, 'worker exited');
    else if (exit.error) this.log.error({ ...fields, err: exit.error.message }, 'worker could not be started');
    else if (exit.code !== 0) this.log.warn(fields, 'worker exited unexpectedly');
    else this.log.info(fields, 'worker exited');
    this.emit('worker-exit', worker.pid, exit, reason);

    if (!reason && worker.requests === 0 && (exit.error !== undefined || exit.code !== 0)) {
      const detail = exit.error ? exit.error.message : exit.signal ? `signal ${exit.signal}` : `exit code ${String(exit.code)}`;
      this.noteStartFailure(new SpawnError(`${this.options.command} exited before serving a request (${detail})`));
    }
    this.spawnForQueue();
    this.ensureMin();
    this.checkDrained();
  }

  /**
   * A worker that dies before serving anything counts toward a start-failure streak; after
   * START_FAILURE_LIMIT in a row the pool stops spawning for an exponentially growing
   * while and answers waiting requests with 503 instead of respawning in a tight loop.
   */
  private noteStartFailure(err: SpawnError): void {
    this.startFailures += 1;
    this.lastStartFailure = err;
    if (this.startFailures >= START_FAILURE_LIMIT) {
      const backoff = Math.min(BACKOFF_MAX_MS, 1000 * 2 ** (this.startFailures - START_FAILURE_LIMIT));
      this.backoffUntil = Date.now() + backoff;
      if (this.startFailures === START_FAILURE_LIMIT) {
        this.log.error({ failures: this.startFailures, backoffMs: backoff, err: err.message }, 'workers keep failing at start-up; backing off');
      }
    }
  }

  private startFailureError(): SpawnError {
    return this.lastStartFailure ?? new SpawnError(`cannot start ${this.options.command}`);
  }
}
