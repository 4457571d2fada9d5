import { EventEmitter } from 'node:events';
import { Connection } from '../client/connection';
import { handOff, type HandoffSession } from '../client/handoff';
import { capacityFrom, CAPACITY_VARIABLES, queryValues } from '../client/get-values';
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
  StartupTimeoutError,
  WorkerClosedError,
} from '../errors';
import type { Logger } from '../log';
import type { IpcDir } from '../spawn/ipc-dir';
import { OutputLines } from '../spawn/output-lines';
import { waitUntilAccepting } from '../spawn/readiness';
import { WorkerProcess, type WorkerExit, type WorkerSpawnOptions } from '../spawn/worker-process';
import { CrashGuard } from './policy/crash-guard';
import { retireAfterRequest, spawnForDemand, spawnForRecycle, tick, INITIAL_TICK_STATE, type TickState } from './policy/scaling';
import type { PoolView, WorkerView } from './policy/snapshot';
import type { PoolOptions } from './pool-options';
import { PoolStats, type PoolStatsSnapshot } from './pool-stats';
import { WaitQueue, type Waiter } from './wait-queue';
import { Worker, type RetireReason, type WorkerState } from './worker';

/** A request is tried on at most this many workers (only when it never reached one). */
const MAX_ATTEMPTS = 3;
/** How long to wait for a worker's exit when deciding whether a closed connection is replayable. */
const EXIT_WAIT_MS = 500;
/** A process on a shared socket that dies sooner than this after its start is not restarted. */
const SIBLING_RESPAWN_MIN_MS = 1_000;
/** How long a ready worker may take to answer FCGI_GET_VALUES about its slots. */
const SLOT_PROBE_MS = 2_000;
/** The maintenance tick: idle reaping, lifetime, dynamic spares, the min fill (php-fpm: 1 s). */
const TICK_MS = 1_000;

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
  /** The pool's name, for the access log. */
  readonly pool: string;
  /** Pid of the worker the request last went to; undefined until one took it. */
  readonly workerPid: number | undefined;
  /**
   * Ms between dispatch() and a worker taking the request (or its refusal, or the client
   * leaving while it waited); undefined until then. Whole ms: the pool's clock is Date.now().
   */
  readonly queueWaitMs: number | undefined;
}

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

/** How the pool shares a global process cap with others (a manager's FcgidMaxProcesses). */
export interface PoolHost {
  /** Processes this pool may still start under the global cap. */
  room(): number;
  /** The pool is at the global cap with requests waiting: free a process elsewhere if possible. */
  needRoom(pool: Pool): void;
  /** A worker of this pool exited: room may have opened for others. */
  workerExited(pool: Pool): void;
}

/** The "reached its max processes" warning: at most one line per this many ms. */
const AT_MAX_LOG_INTERVAL_MS = 10_000;

const UNLIMITED_HOST: PoolHost = {
  room: () => Number.MAX_SAFE_INTEGER,
  needRoom: () => undefined,
  workerExited: () => undefined,
};

type JobState = 'new' | 'queued' | 'running' | 'replay-check' | 'done';

interface Job {
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
  connection: Connection | undefined;
  /** A handed-off client socket's session with the worker, until END_REQUEST. */
  handoff: HandoffSession | undefined;
  busyTimer: NodeJS.Timeout | undefined;
  stderr: OutputLines | undefined;
}

export interface PoolEvents {
  'worker-start': [pid: number | undefined];
  'worker-ready': [pid: number | undefined];
  'worker-exit': [pid: number | undefined, exit: WorkerExit, reason: RetireReason | undefined];
  'generation-end': [generation: number];
}

/** A DispatchHandle: one object per request, no closures (it lives as long as the request). */
class JobHandle implements DispatchHandle {
  constructor(
    private readonly owner: Pool,
    private readonly job: Job,
  ) {}

  abort(): void {
    this.owner.abortJob(this.job);
  }

  pauseResponse(): void {
    this.job.connection?.pauseResponse();
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

/**
 * One pool of identical workers (a mod_fcgid process class): hands each request to an idle
 * worker, or queues it (bounded FIFO with a deadline) and spawns workers — in parallel, up to
 * maxProcesses, the moment a request waits. One request per worker at a time. Requests wake
 * on events (a release, a ready worker, an exit); a 1-s tick runs the reaping policy only.
 *
 * Policy (how many to spawn, whom to retire, crash back-off) is pure code in ./policy; this
 * class carries it out.
 *
 * Lifecycle: new Pool() → start() → dispatch()… [reload()…] → close() (drain, stop workers).
 */
export class Pool extends EventEmitter<PoolEvents> {
  readonly options: PoolOptions;
  private readonly ipcDir: IpcDir;
  private readonly log: Logger;
  private readonly host: PoolHost;
  private readonly workers = new Set<Worker>();
  private readonly idle: Worker[] = [];
  private readonly queue: WaitQueue<Job>;
  private readonly running = new Set<Job>();
  private readonly crash = new CrashGuard();
  private readonly stats = new PoolStats();
  private workerSeq = 0;
  private jobSeq = 0;
  private generationNo = 1;
  /** Generations before this one have ended (all their workers are gone). */
  private endedThrough = 0;
  private tickState: TickState = INITIAL_TICK_STATE;
  private tickTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private atMax = false;
  private atMaxLoggedAt = -Infinity;
  private atMaxUnlogged = 0;
  private lastStartFailure: FcgipmError | undefined;
  /** FCGI_KEEP_CONN in use; turned off once the app shows it closes connections anyway. */
  private keepConn: boolean;
  private closing = false;
  private closed: Promise<void> | undefined;
  private drainWaiters: Array<() => void> = [];

  constructor(options: PoolOptions, deps: { ipcDir: IpcDir; logger: Logger; host?: PoolHost }) {
    super();
    this.options = options;
    this.ipcDir = deps.ipcDir;
    this.host = deps.host ?? UNLIMITED_HOST;
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

  get name(): string {
    return this.options.name;
  }

  get generation(): number {
    return this.generationNo;
  }

  /** Starts the minimum processes and the maintenance tick. */
  start(): void {
    this.runTick(true);
    this.tickTimer ??= setInterval(() => this.runTick(true), TICK_MS);
    this.tickTimer.unref();
  }

  dispatch(request: FcgiRequest, handler: ResponseHandler, info: RequestInfo): DispatchHandle {
    const job: Job = {
      id: ++this.jobSeq,
      request,
      handler,
      info,
      acceptedAt: Date.now(),
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
    const handle = new JobHandle(this, job);
    this.stats.accepted += 1;
    if (this.closing) {
      process.nextTick(() => this.finish(job, new ClosedError(`pool ${this.options.name} is shutting down`)));
      return handle;
    }
    this.schedule(job, false);
    return handle;
  }

  /**
   * Starts a new generation (SIGHUP): new requests go to new workers at once; idle workers of
   * older generations are retired now, busy ones when their request is done. Nothing
   * accepted is dropped. Returns the new generation number.
   */
  reload(): number {
    this.generationNo += 1;
    this.log.info({ generation: this.generationNo }, 'new generation');
    for (const w of [...this.workers]) {
      if (w.generation < this.generationNo && w.state === 'idle') this.retire(w, 'generation');
    }
    this.runTick(false);
    this.spawnForQueue();
    this.checkGenerationsEnded();
    return this.generationNo;
  }

  /** The policy's view of this pool (src/pm/policy/snapshot.ts). */
  view(): PoolView {
    return {
      workers: [...this.workers].map((w) => this.workerView(w)),
      queued: this.queue.length,
      generation: this.generationNo,
    };
  }

  /** Retire one idle worker so another pool can use its slot under the global cap. */
  retireForRoom(workerId: number): boolean {
    for (const w of this.workers) {
      if (w.id === workerId && w.state === 'idle') {
        this.retire(w, 'global-max');
        return true;
      }
    }
    return false;
  }

  /** Another pool's worker exited: spawn for waiting requests if room opened. */
  wake(): void {
    this.spawnForQueue();
  }

  /** Queue-wait and request-duration histograms (status/metrics.ts reads them at scrape time). */
  histograms(): ReturnType<PoolStats['histograms']> {
    return this.stats.histograms();
  }

  snapshot(): PoolSnapshot {
    const processes = [...this.workers].map((w) => ({
      pid: w.pid,
      state: w.state,
      generation: w.generation,
      requests: w.requests,
      slots: w.slots,
      active: w.active,
      siblings: [...w.siblings].flatMap((p) => (p.pid !== undefined ? [p.pid] : [])),
      startedAt: new Date(w.process.startedAt).toISOString(),
      currentRequest: w.current && {
        method: w.current.method,
        uri: w.current.uri,
        startedAt: new Date(w.current.startedAt).toISOString(),
      },
    }));
    return {
      name: this.options.name,
      command: this.options.command,
      mode: this.options.scaling.mode,
      generation: this.generationNo,
      minProcesses: this.options.scaling.minProcesses,
      maxProcesses: this.options.scaling.maxProcesses,
      queued: this.queue.length,
      idleProcesses: processes.filter((p) => p.state === 'idle').length,
      activeProcesses: processes.filter((p) => p.state === 'busy').length,
      totalProcesses: processes.length,
      ...this.stats.snapshot(this.queue.maxLength),
      processes,
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
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const drained = await this.waitDrained(drainTimeoutMs);
    if (!drained) {
      this.log.warn({ running: this.running.size, queued: this.queue.length }, 'drain timeout: failing unfinished requests');
      for (const job of this.queue.drain()) this.finish(job, new ClosedError('pool stopped before the request was served'));
      for (const job of [...this.running]) {
        job.connection?.abort();
        this.finish(job, new ClosedError('pool stopped before the request finished'));
      }
    }
    const exits = [...this.workers].flatMap((w) => {
      this.retire(w, 'shutdown');
      return [w.process.exited, ...[...w.siblings].map((p) => p.exited)];
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

  /** Emits 'generation-end' for every older generation whose last worker is gone. */
  private checkGenerationsEnded(): void {
    while (this.endedThrough < this.generationNo - 1) {
      const g = this.endedThrough + 1;
      for (const w of this.workers) if (w.generation <= g) return;
      this.endedThrough = g;
      this.log.info({ generation: g }, 'generation ended');
      this.emit('generation-end', g);
    }
  }

  // ---- policy -----------------------------------------------------------------------------

  private workerView(w: Worker): WorkerView {
    return {
      id: w.id,
      phase: w.state,
      startedAt: w.process.startedAt,
      idleSince: w.state === 'idle' ? w.lastUsedAt : undefined,
      requests: w.requests,
      generation: w.generation,
    };
  }

  /** Runs the maintenance policy; `advance` moves its rate state (only the real 1-s tick does). */
  private runTick(advance: boolean): void {
    if (this.closing) return;
    const now = Date.now();
    const result = tick(this.view(), this.options.scaling, now, this.tickState, this.host.room());
    if (advance) this.tickState = result.state;
    for (const action of result.actions) {
      if (action.kind === 'retire') {
        for (const w of this.workers) {
          if (w.id === action.workerId && w.state === 'idle') {
            this.log.debug({ pid: w.pid, reason: action.reason }, 'retiring idle worker');
            this.retire(w, action.reason);
          }
        }
      } else {
        for (let i = 0; i < action.count; i += 1) if (!this.trySpawn()) break;
      }
    }
  }

  /** Spawns if the crash guard allows; schedules a trial spawn for when it will. */
  private trySpawn(): Worker | undefined {
    const now = Date.now();
    const allowed = this.crash.spawnAllowed(now);
    if (!allowed.allowed) {
      this.retryTimer ??= setTimeout(() => {
        this.retryTimer = undefined;
        this.runTick(false);
        this.spawnForQueue();
      }, Math.max(1, allowed.retryAt - now));
      return undefined;
    }
    return this.spawnWorker();
  }

  // ---- scheduling ---------------------------------------------------------------------

  private schedule(job: Job, front: boolean): void {
    const worker = this.takeIdle();
    if (worker) {
      this.run(worker, job);
      return;
    }
    if (this.crash.broken(Date.now()) && this.liveWorkers() === 0) {
      // The app keeps dying at start-up: answer now instead of letting requests wait out
      // the queue deadline (mod_fcgid keeps them for ~64 s).
      this.finish(job, this.startFailureError());
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
    // At the max (the usual state under load) nothing can be spawned: skip the policy's
    // view of every worker, which this would otherwise build for each queued request.
    if (this.workers.size >= this.options.scaling.maxProcesses) {
      this.noteAtMax();
      return;
    }
    const room = this.host.room();
    const wanted = spawnForDemand(this.view(), this.options.scaling, room);
    let started = 0;
    for (; started < wanted; started += 1) if (!this.trySpawn()) break;
    if (started === 0 && this.crash.broken(Date.now()) && this.liveWorkers() === 0) {
      this.failQueued(this.startFailureError());
      return;
    }
    const live = this.liveWorkers();
    if (live >= this.options.scaling.maxProcesses) {
      this.noteAtMax();
    } else if (room <= 0 && this.queue.length > this.startingWorkers()) {
      this.host.needRoom(this);
    }
  }

  /** Requests wait although the pool is at its max: counted and logged once per episode. */
  private noteAtMax(): void {
    if (this.atMax || this.queue.length <= this.startingWorkers()) return;
    // Counted once per episode, like php-fpm's "max children reached"; logged at most once
    // per AT_MAX_LOG_INTERVAL_MS (under steady load an episode ends and starts again within
    // milliseconds, whenever the queue runs empty for a moment).
    this.atMax = true;
    this.stats.maxProcessesReached += 1;
    this.atMaxUnlogged += 1;
    const now = Date.now();
    if (now - this.atMaxLoggedAt < AT_MAX_LOG_INTERVAL_MS) return;
    this.log.warn(
      { maxProcesses: this.options.scaling.maxProcesses, queued: this.queue.length, episodes: this.atMaxUnlogged },
      'pool reached its max processes; requests are queued',
    );
    this.atMaxLoggedAt = now;
    this.atMaxUnlogged = 0;
  }

  /**
   * Replacements for workers just retired for max-requests or lifetime, started before they
   * have exited (policy: spawnForRecycle).
   */
  private spawnForRecycling(): void {
    let leaving = 0;
    for (const w of this.workers) if (w.state === 'draining' && (w.retireReason === 'max-requests' || w.retireReason === 'lifetime')) leaving += 1;
    const wanted = spawnForRecycle(this.view(), this.options.scaling, this.host.room(), leaving);
    for (let i = 0; i < wanted; i += 1) if (!this.trySpawn()) break;
  }

  private liveWorkers(): number {
    return this.workers.size;
  }

  private startingWorkers(): number {
    let n = 0;
    for (const w of this.workers) if (w.state === 'starting') n += 1;
    return n;
  }

  /** Gives a worker with free slots the oldest waiting requests, then parks it if a slot is left. */
  private offer(worker: Worker): void {
    while (worker.hasFreeSlot) {
      const waiter = this.queue.shift();
      if (!waiter) break;
      this.run(worker, waiter.value);
    }
    if (worker.active === 0) {
      worker.state = 'idle';
      worker.lastUsedAt = Date.now();
      this.atMax = false;
    }
    if (worker.hasFreeSlot) this.park(worker);
  }

  private park(worker: Worker): void {
    if (worker.parked) return;
    worker.parked = true;
    this.idle.push(worker);
  }

  /** Most recently used first: its caches are warm (mod_fcgid's idle list is LIFO too). */
  private takeIdle(): Worker | undefined {
    for (let w = this.idle.pop(); w; w = this.idle.pop()) {
      w.parked = false;
      if (w.state !== 'draining' && w.state !== 'starting' && w.hasFreeSlot && w.process.alive) return w;
    }
    return undefined;
  }

  /** A request left this worker (finished, failed or aborted): free its slot, then decide. */
  private release(worker: Worker): void {
    if (worker.state === 'draining' || !this.workers.has(worker) || !worker.process.alive) return;
    if (worker.generation < this.generationNo) {
      if (worker.active === 0) this.retire(worker, 'generation');
      return;
    }
    const reason = worker.slots === 1 ? retireAfterRequest(this.workerView(worker), this.options.scaling, Date.now()) : undefined;
    if (reason) {
      this.retire(worker, reason);
      if (reason === 'max-requests' || reason === 'lifetime') this.spawnForRecycling();
      // Deliberate recycling must not slow the pool (mod_fcgid: 51 s for 25 requests).
      this.spawnForQueue();
      return;
    }
    this.offer(worker);
  }

  // ---- one attempt of one request on one worker -----------------------------------------

  private run(worker: Worker, job: Job): void {
    const now = Date.now();
    if (job.state === 'queued' || job.state === 'new') {
      job.waitedMs = now - job.acceptedAt;
      this.stats.recordWait(job.waitedMs);
    }
    job.workerPid = worker.pid;
    job.state = 'running';
    job.worker = worker;
    job.waiter = undefined;
    job.attempts += 1;
    this.running.add(job);
    worker.state = 'busy';
    worker.active += 1;
    worker.lastUsedAt = now;
    job.startedAt = now;
    worker.current = { method: job.info.method, uri: job.info.uri, startedAt: worker.lastUsedAt };
    if (worker.hasFreeSlot) this.park(worker);
    job.busyTimer = setTimeout(() => this.onBusyTimeout(job), this.options.busyTimeoutMs);

    if (job.request.handoff) {
      this.runHandoff(worker, job, job.request.handoff);
      return;
    }
    for (let kept = worker.idleConnections.pop(); kept; kept = worker.idleConnections.pop()) {
      if (kept.reusable) {
        this.send(worker, job, kept);
        return;
      }
      if (kept.closedByPeer && worker.process.alive) this.noteAppClosesConnections();
      kept.destroy();
    }
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
        this.send(worker, job, conn);
      },
      (err: unknown) => {
        if (job.state !== 'running' || job.worker !== worker) return;
        this.onAttemptError(worker, job, err instanceof FcgipmError ? err : new ConnectError(String(err)));
      },
    );
  }

  /**
   * fd handoff: the client socket goes to the worker, which holds this slot until it sends
   * END_REQUEST (busy accounting and the busy timeout hold as for a proxied request). A
   * failure before the socket left is a connect failure: nothing reached the app, replay.
   */
  private runHandoff(worker: Worker, job: Job, source: NonNullable<FcgiRequest['handoff']>): void {
    handOff({
      client: source.client,
      prefix: source.prefix,
      workerSocketPath: worker.process.socketPath,
      params: job.request.params,
      connectTimeoutMs: this.options.connectTimeoutMs,
      logger: this.log.child({ pid: worker.pid, reqId: job.info.id }),
    }).then(
      (session) => {
        if (job.state !== 'running' || job.worker !== worker) {
          session.abort();
          return;
        }
        job.handoff = session;
        session.done.then(
          (end) => this.onEnd(worker, job, end),
          (err: unknown) => this.onAttemptError(worker, job, err instanceof FcgipmError ? err : new WorkerClosedError(String(err), { responseStarted: true, reusedConnection: false })),
        );
      },
      (err: unknown) => {
        if (job.state !== 'running' || job.worker !== worker) return;
        const message = err instanceof Error ? err.message : String(err);
        this.onAttemptError(worker, job, new ConnectError(`handoff to worker ${String(worker.pid)} failed: ${message}`));
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
    const conn = job.connection;
    this.freeSlot(worker, job);
    if (conn?.reusable && worker.state !== 'draining') worker.idleConnections.push(conn);
    this.stats.completed += 1;
    const ms = Date.now() - job.startedAt;
    this.stats.recordDuration(ms);
    if (this.options.slowRequestTimeoutMs > 0 && ms >= this.options.slowRequestTimeoutMs) this.noteSlow(worker, job, ms);
    this.finish(job, end);
    this.release(worker);
  }

  /**
   * php-fpm's slow request: counted, and a warning naming the request and the worker, as
   * php-fpm logs "executing too slow" (it also dumps a backtrace; fcgipm cannot look inside).
   */
  private noteSlow(worker: Worker, job: Job, ms: number): void {
    this.stats.slowRequests += 1;
    this.log.warn({ pid: worker.pid, method: job.info.method, uri: job.info.uri, durationMs: ms, slowRequestTimeoutMs: this.options.slowRequestTimeoutMs }, 'slow request');
  }

  /** The job no longer occupies the worker. */
  private freeSlot(worker: Worker, job: Job): void {
    worker.active = Math.max(0, worker.active - 1);
    if (worker.active === 0) worker.current = undefined;
    job.connection = undefined;
    job.handoff = undefined;
  }

  private onAttemptError(worker: Worker, job: Job, err: FcgipmError): void {
    if (job.worker !== worker || job.state !== 'running') return;
    this.detach(job);
    this.freeSlot(worker, job);

    if (err instanceof ConnectError) {
      // Nothing reached the app: replay elsewhere (docs/architecture.md, "The manager dispatches").
      this.log.warn({ pid: worker.pid, reqId: job.info.id, err: err.message }, 'cannot connect to worker; retrying elsewhere');
      this.retire(worker, 'connect-error');
      this.retryOrFail(job, err);
      return;
    }
    if (err instanceof WorkerClosedError && !err.responseStarted && job.request.body.kind !== 'stream') {
      // The app closed the connection without a byte of answer. If it exits cleanly it had
      // finished its last request (php-cgi's PHP_FCGI_MAX_REQUESTS) and never took this one —
      // on a kept connection, or on a new one that sat in the backlog of a socket about to
      // close. If it lives on after closing a kept connection, it ignores FCGI_KEEP_CONN.
      // Either way the request was not taken and is sent again (mod_fcgid answers 500 here,
      // mod_fcgid 2.3.9). A crash, or a live app dropping a fresh connection, is a 502.
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
        } else if (fate === 'alive' && !err.reusedConnection) {
          this.finish(job, err);
        } else if (fate === 'alive' && job.attempts < MAX_ATTEMPTS) {
          // After an upload, a libfcgi app may drop one request on a kept connection (the
          // empty STDIN record it did not read, client/request-bytes.ts): that says nothing
          // about FCGI_KEEP_CONN, which it honours.
          if (!err.afterBody) this.noteAppClosesConnections();
          this.log.debug({ pid: worker.pid, reqId: job.info.id, afterBody: err.afterBody }, 'kept connection was closed by the app; resending on a new one');
          this.stats.replayed += 1;
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
    else if (err instanceof WorkerClosedError && worker.slots === 1) {
      // The app dropped the connection in the middle of an answer: it crashed, or is about to
      // exit. It gets nothing more until that is known (its exit may still be on its way while
      // the client already sees the cut response and asks again); one that lives on is retired,
      // as mod_fcgid kills a process after a communication error. (A shared-socket backend
      // serves other requests too and replaces its own children: released as before.)
      void this.workerFate(worker).then((fate) => {
        if (fate === 'alive') this.retire(worker, 'protocol-error');
      });
    } else this.release(worker);
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
      this.finish(job, this.crash.consecutiveFailures > 0 && this.lastStartFailure ? this.lastStartFailure : err);
      return;
    }
    this.stats.replayed += 1;
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
    job.handoff?.abort();
    this.freeSlot(worker, job);
    this.finish(job, new BusyTimeoutError(`request ran longer than ${this.options.busyTimeoutMs} ms`));
    if (worker.slots === 1) {
      this.retire(worker, 'busy-timeout');
    } else {
      // A shared-socket backend serves other requests too: only this one is cut off (its
      // process cannot be told apart behind the socket).
      this.release(worker);
    }
  }

  /** @internal JobHandle.abort. */
  abortJob(job: Job): void {
    const state = job.state;
    if (state === 'done') return;
    const worker = job.worker;
    const conn = job.connection;
    if (job.waiter) this.queue.cancel(job.waiter);
    this.settle(job);
    this.stats.aborted += 1;
    if (state === 'running' && worker) {
      conn?.abort();
      job.handoff?.abort();
      this.freeSlot(worker, job);
      this.release(worker);
    }
    this.checkDrained();
  }

  /** Ends a job once: the handler hears onEnd or onError exactly once. */
  private finish(job: Job, outcome: EndRequest | FcgipmError): void {
    if (job.state === 'done') return;
    this.settle(job);
    if (outcome instanceof FcgipmError) {
      this.stats.recordFailure(outcome.httpStatus);
      job.handler.onError(outcome);
    } else {
      job.handler.onEnd(outcome);
    }
    this.checkDrained();
  }

  private settle(job: Job): void {
    // Refused or abandoned before a worker took it: its wait, for the access log, ends here.
    if (job.waitedMs === undefined) job.waitedMs = Date.now() - job.acceptedAt;
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

  private spawnOptions(socketPath: string): WorkerSpawnOptions {
    return {
      command: this.options.command,
      args: this.options.args,
      socketPath,
      env: this.options.env,
      cwd: this.options.cwd,
      logger: this.log,
      allowRoot: this.options.allowRoot,
      ...(this.options.uid !== undefined ? { uid: this.options.uid } : {}),
      ...(this.options.gid !== undefined ? { gid: this.options.gid } : {}),
      ...(this.options.limits !== undefined ? { limits: this.options.limits } : {}),
      ...(this.options.nice !== undefined ? { nice: this.options.nice } : {}),
      ...(this.options.umask !== undefined ? { umask: this.options.umask } : {}),
    };
  }

  private spawnWorker(): Worker | undefined {
    let proc: WorkerProcess;
    const copies = this.options.processesPerSocket;
    try {
      proc = WorkerProcess.spawn({ ...this.spawnOptions(this.ipcDir.nextSocketPath()), keepSocketFd: copies > 1 });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const spawnErr = new SpawnError(`cannot start ${this.options.command}: ${message}`, err);
      this.lastStartFailure = spawnErr;
      this.stats.spawnFailures += 1;
      const { episodeStarted } = this.crash.recordSpawnFailure(Date.now());
      if (episodeStarted) this.log.error({ err: message }, 'workers cannot be started; backing off');
      return undefined;
    }
    const worker = new Worker(++this.workerSeq, proc, this.generationNo);
    worker.state = 'starting';
    this.workers.add(worker);
    this.stats.spawned += 1;
    proc.on('exit', (exit: WorkerExit) => this.onWorkerExit(worker, exit));
    this.log.info({ pid: proc.pid, socket: proc.socketPath, generation: worker.generation }, 'worker started');
    this.emit('worker-start', proc.pid);
    for (let i = 1; i < copies; i += 1) this.spawnSibling(worker);
    if (proc.pid !== undefined && this.options.readiness === 'spawn') {
      // The socket listens already: connections wait in its backlog until the app accepts.
      setImmediate(() => this.onReady(worker));
    } else if (proc.pid !== undefined) {
      const readiness = waitUntilAccepting(proc.pid, { timeoutMs: this.options.startupTimeoutMs });
      worker.cancelReadiness = readiness.cancel;
      readiness.promise.then(
        () => this.onReady(worker),
        () => this.onStartupTimeout(worker),
      );
    }
    return worker;
  }

  /** One more process on the worker's socket; its slots follow the live processes. */
  private spawnSibling(worker: Worker): void {
    const fd = worker.process.socketFd;
    if (fd === undefined || worker.state === 'draining' || !this.workers.has(worker)) return;
    let sibling: WorkerProcess;
    try {
      sibling = WorkerProcess.spawn({ ...this.spawnOptions(worker.process.socketPath), inheritSocketFd: fd });
    } catch (err) {
      this.log.warn({ pid: worker.pid, err: err instanceof Error ? err.message : String(err) }, 'cannot start a process on a shared socket');
      return;
    }
    worker.siblings.add(sibling);
    sibling.on('exit', () => this.onSiblingExit(worker, sibling));
    if (worker.becameReady) {
      worker.slots = 1 + worker.siblings.size;
      this.offer(worker);
    }
  }

  private onSiblingExit(worker: Worker, sibling: WorkerProcess): void {
    worker.siblings.delete(sibling);
    if (worker.becameReady) worker.slots = 1 + worker.siblings.size;
    // A sibling that lived a while is replaced; one that dies at once is not (the pool's
    // crash guard watches the worker itself).
    if (Date.now() - sibling.startedAt >= SIBLING_RESPAWN_MIN_MS) this.spawnSibling(worker);
  }

  private onReady(worker: Worker): void {
    worker.cancelReadiness = undefined;
    // A worker that died meanwhile is left to its exit handler (a start-up failure).
    if (worker.state !== 'starting' || !worker.process.alive) return;
    if (this.options.probeSlots) {
      void queryValues(worker.process.socketPath, CAPACITY_VARIABLES, SLOT_PROBE_MS).then((values) => {
        const said = capacityFrom(values);
        worker.slots = said ?? this.options.slots;
        this.log.info({ pid: worker.pid, slots: worker.slots, source: said ? 'FCGI_GET_VALUES' : 'configured' }, 'shared-socket worker');
        if (worker.state === 'starting') this.becomeReady(worker);
      });
      return;
    }
    worker.slots = this.options.processesPerSocket > 1 ? 1 + worker.siblings.size : this.options.slots;
    this.becomeReady(worker);
  }

  private becomeReady(worker: Worker): void {
    worker.becameReady = true;
    if (this.crash.recordHealthy(Date.now())) this.log.info('workers start again; leaving back-off');
    this.emit('worker-ready', worker.pid);
    if (worker.generation < this.generationNo) {
      this.retire(worker, 'generation');
      return;
    }
    this.offer(worker);
  }

  private onStartupTimeout(worker: Worker): void {
    worker.cancelReadiness = undefined;
    if (worker.state !== 'starting') return;
    this.log.warn({ pid: worker.pid, startupTimeoutMs: this.options.startupTimeoutMs }, 'worker did not start accepting connections in time');
    this.lastStartFailure = new StartupTimeoutError(
      `${this.options.command} did not accept connections within ${this.options.startupTimeoutMs} ms`,
    );
    this.retire(worker, 'startup-timeout');
  }

  /** SIGTERM now, SIGKILL after the grace. The worker counts as live until it exits. */
  private retire(worker: Worker, reason: RetireReason): void {
    if (worker.state === 'draining') return;
    worker.state = 'draining';
    worker.retireReason = reason;
    worker.cancelReadiness?.();
    worker.cancelReadiness = undefined;
    worker.dropConnections();
    for (const sibling of worker.siblings) sibling.kill('SIGTERM');
    if (!worker.process.alive) return;
    this.log.debug({ pid: worker.pid, reason }, 'retiring worker');
    worker.process.kill('SIGTERM');
    worker.killTimer = setTimeout(() => {
      for (const sibling of worker.siblings) sibling.kill('SIGKILL');
      if (worker.process.alive) {
        this.log.warn({ pid: worker.pid, reason, graceMs: this.options.killGraceMs }, 'worker ignored SIGTERM; sending SIGKILL');
        worker.process.kill('SIGKILL');
      }
    }, this.options.killGraceMs);
  }

  private onWorkerExit(worker: Worker, exit: WorkerExit): void {
    this.workers.delete(worker);
    worker.cancelReadiness?.();
    if (worker.killTimer) clearTimeout(worker.killTimer);
    worker.dropConnections(true);
    // The socket went with the first process: its siblings can no longer be reached.
    for (const sibling of worker.siblings) sibling.kill('SIGTERM');
    const reason = worker.retireReason;
    const now = Date.now();
    const fields = { pid: worker.pid, code: exit.code, signal: exit.signal, requests: worker.requests, reason };
    const expected = reason !== undefined && reason !== 'startup-timeout';
    if (expected) this.log.debug(fields, 'worker exited');
    else if (exit.error) this.log.error({ ...fields, err: exit.error.message }, 'worker could not be started');
    else if (exit.code !== 0) this.log.warn(fields, 'worker exited unexpectedly');
    else this.log.info(fields, 'worker exited');
    const why = reason ?? (exit.error ? 'spawn-error' : exit.code === 0 && exit.signal === null ? 'exit' : 'crash');
    this.stats.recordExit(why);
    this.stats.lastExit = {
      pid: worker.pid,
      reason: why,
      code: exit.code,
      signal: exit.signal,
      requests: worker.requests,
      at: new Date(now).toISOString(),
    };
    this.emit('worker-exit', worker.pid, exit, reason);

    const verdict = this.crash.recordExit({
      startedAt: worker.process.startedAt,
      exitedAt: now,
      requests: worker.requests,
      becameReady: worker.becameReady,
      expected,
    });
    if (verdict.failure) {
      const detail = exit.error ? exit.error.message : exit.signal ? `signal ${exit.signal}` : `exit code ${String(exit.code)}`;
      if (!(this.lastStartFailure instanceof StartupTimeoutError) || reason !== 'startup-timeout') {
        this.lastStartFailure = new SpawnError(`${this.options.command} exited before serving a request (${detail})`);
      }
      if (verdict.episodeStarted) {
        this.log.error(
          { failures: this.crash.consecutiveFailures, err: this.lastStartFailure.message },
          'workers keep failing at start-up; backing off and answering 503',
        );
        this.failQueued(this.lastStartFailure);
      }
    }
    this.host.workerExited(this);
    this.spawnForQueue();
    this.runTick(false);
    this.checkDrained();
    this.checkGenerationsEnded();
  }

  private startFailureError(): FcgipmError {
    return this.lastStartFailure ?? new SpawnError(`cannot start ${this.options.command}`);
  }
}
