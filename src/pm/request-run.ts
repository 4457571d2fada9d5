import { handOff } from '../client/handoff';
import type { EndRequest, FcgiRequest } from '../client/request';
import { BusyTimeoutError, ConnectError, FcgipmError, IoTimeoutError, ProtocolError, WorkerClosedError } from '../errors';
import type { Logger } from '../log';
import { OutputLines } from '../spawn/output-lines';
import type { Children } from './children';
import type { Clock } from './clock';
import type { IdleWorkers } from './idle-workers';
import type { Job } from './job';
import {
  afterUnansweredClose,
  countsAsAttempt,
  fateOfExit,
  killOnBusyTimeout,
  mayReplay,
  onAttemptFailure,
  replayableUnread,
  workerAfterFailure,
  type AttemptFailure,
  type WorkerFate,
} from './policy/attempts';
import type { PoolOptions } from './pool-options';
import type { PoolStats } from './pool-stats';
import type { WaitQueue } from './wait-queue';
import type { Worker } from './worker';
import type { WorkerConnection, WorkerLauncher } from './worker-launcher';

/** How long to wait for a worker's exit when deciding whether a closed connection is replayable. */
const EXIT_WAIT_MS = 500;

/** What the pool does for its requests' attempts. */
export interface RequestRunHost {
  /** A request left this worker: the pool decides what the worker does next. */
  release(worker: Worker): void;
  /** Back to the head of the queue for another worker (a replay). */
  requeue(job: Job): void;
  /** A request ended (answered, failed or aborted): a drain may be complete. */
  settled(): void;
}

function failureKind(err: FcgipmError): AttemptFailure {
  if (err instanceof ConnectError) return err.syscallCode === 'ENOENT' ? 'socket-gone' : 'connect';
  if (err instanceof WorkerClosedError) return 'closed';
  if (err instanceof IoTimeoutError) return 'io-timeout';
  if (err instanceof ProtocolError) return 'protocol';
  return 'other';
}

/**
 * Requests on workers (php-fpm's fpm_request): one attempt of one request on one worker —
 * connect or reuse the kept connection, send, stream the answer, the busy timeout — and what
 * follows a failed attempt (replay elsewhere, resend, or the error), decided by
 * policy/attempts.ts. Every request ends here exactly once (finish).
 */
export class RequestRun {
  /** Requests on a worker now, or waiting for their worker's fate. */
  readonly running = new Set<Job>();
  /** FCGI_KEEP_CONN in use; turned off once the app shows it closes connections anyway. */
  private keepConn: boolean;

  constructor(
    private readonly options: PoolOptions,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly launcher: WorkerLauncher,
    private readonly stats: PoolStats,
    private readonly children: Children,
    private readonly idle: IdleWorkers,
    private readonly queue: WaitQueue<Job>,
    private readonly host: RequestRunHost,
  ) {
    this.keepConn = options.keepConn;
  }

  run(worker: Worker, job: Job): void {
    const now = this.clock.now();
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
    worker.current = { method: job.info.method, uri: job.info.uri, startedAt: now };
    if (worker.hasFreeSlot) this.idle.park(worker);
    job.busyTimer = this.clock.setTimeout(() => this.onBusyTimeout(job), this.options.busyTimeoutMs);

    if (job.request.handoff) {
      this.runHandoff(worker, job, job.request.handoff);
      return;
    }
    for (let kept = worker.idleConnections.pop(); kept; kept = worker.idleConnections.pop()) {
      if (kept.reusable) {
        this.send(worker, job, kept);
        return;
      }
      // A kept connection the app closed says it ignores FCGI_KEEP_CONN only if the app lives
      // on: a worker killed while idle (the OOM killer, an operator) closes it too, and its
      // exit may reach us a moment after the close does.
      if (kept.closedByPeer) {
        void this.workerFate(worker).then((fate) => {
          if (fate === 'alive') this.noteAppClosesConnections();
        });
      }
      kept.destroy();
    }
    this.launcher
      .connect(worker.process.socketPath, {
        keepConn: this.keepConn,
        ioTimeoutMs: this.options.ioTimeoutMs,
        connectTimeoutMs: this.options.connectTimeoutMs,
      })
      .then(
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
          (err: unknown) =>
            this.onAttemptError(worker, job, err instanceof FcgipmError ? err : new WorkerClosedError(String(err), { responseStarted: true, reusedConnection: false })),
        );
      },
      (err: unknown) => {
        if (job.state !== 'running' || job.worker !== worker) return;
        const message = err instanceof Error ? err.message : String(err);
        this.onAttemptError(worker, job, new ConnectError(`handoff to worker ${String(worker.pid)} failed: ${message}`));
      },
    );
  }

  private send(worker: Worker, job: Job, conn: WorkerConnection): void {
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
    const ms = this.clock.now() - job.startedAt;
    this.stats.recordDuration(ms);
    if (this.options.slowRequestTimeoutMs > 0 && ms >= this.options.slowRequestTimeoutMs) this.noteSlow(worker, job, ms);
    this.finish(job, end);
    this.host.release(worker);
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
    const kind = failureKind(err);
    const first = onAttemptFailure(kind, err instanceof WorkerClosedError && err.responseStarted, job.request.body.kind === 'stream');

    if (first === 'replay') {
      // Nothing reached the app: replay elsewhere (docs/architecture.md, "The manager dispatches").
      if (!countsAsAttempt(kind)) job.attempts -= 1;
      this.log.warn({ pid: worker.pid, reqId: job.info.id, err: err.message }, 'cannot connect to worker; retrying elsewhere');
      this.children.retire(worker, 'connect-error');
      this.retryOrFail(job, err);
      return;
    }
    if (first === 'await-fate' && err instanceof WorkerClosedError) {
      this.awaitFate(worker, job, err);
      return;
    }

    this.finish(job, err);
    const next = workerAfterFailure(kind, worker.slots);
    if (next === 'retire') {
      this.children.retire(worker, kind === 'io-timeout' ? 'io-timeout' : 'protocol-error');
    } else if (next === 'check-fate') {
      // It gets nothing more until its fate is known (its exit may still be on its way while
      // the client already sees the cut response and asks again).
      void this.workerFate(worker).then((fate) => {
        if (fate === 'alive') this.children.retire(worker, 'protocol-error');
      });
    } else this.host.release(worker);
  }

  /** The app closed the connection without a byte of answer: what it does next decides (policy/attempts.ts). */
  private awaitFate(worker: Worker, job: Job, err: WorkerClosedError): void {
    job.state = 'replay-check';
    this.running.add(job);
    void this.workerFate(worker).then((fate) => {
      if (job.state !== 'replay-check') {
        this.host.release(worker);
        return;
      }
      this.running.delete(job);
      const neverTaken = err.unread && replayableUnread(job.info.method, job.request.body.kind !== 'none');
      const verdict = afterUnansweredClose(fate, err.reusedConnection, job.attempts, neverTaken);
      if (verdict === 'fail') {
        this.finish(job, err);
      } else if (verdict === 'resend') {
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
      this.host.release(worker);
    });
  }

  private workerFate(worker: Worker): Promise<WorkerFate> {
    const retired = worker.retireReason !== undefined;
    const known = worker.process.exitInfo;
    if (known) return Promise.resolve(fateOfExit(known, retired));
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => resolve('alive'), EXIT_WAIT_MS);
      void worker.process.exited.then((exit) => {
        this.clock.clearTimeout(timer);
        resolve(fateOfExit(exit, worker.retireReason !== undefined));
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
    if (!mayReplay(job.attempts)) {
      const crash = this.children;
      this.finish(job, crash.crash.consecutiveFailures > 0 && crash.lastStartFailure ? crash.lastStartFailure : err);
      return;
    }
    this.stats.replayed += 1;
    job.state = 'new';
    this.host.requeue(job);
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
    if (killOnBusyTimeout(worker.slots)) this.children.retire(worker, 'busy-timeout');
    else this.host.release(worker);
  }

  /** The client went away: out of the queue, or off its worker. */
  abort(job: Job): void {
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
      this.host.release(worker);
    }
    this.host.settled();
  }

  /** Ends a job once: the handler hears onEnd or onError exactly once. */
  finish(job: Job, outcome: EndRequest | FcgipmError): void {
    if (job.state === 'done') return;
    this.settle(job);
    if (outcome instanceof FcgipmError) {
      this.stats.recordFailure(outcome.httpStatus);
      job.handler.onError(outcome);
    } else {
      job.handler.onEnd(outcome);
    }
    this.host.settled();
  }

  /** The pool stops now: every running request fails with `err`. */
  failRunning(err: FcgipmError): void {
    for (const job of [...this.running]) {
      job.connection?.abort();
      this.finish(job, err);
    }
  }

  private settle(job: Job): void {
    // Refused or abandoned before a worker took it: its wait, for the access log, ends here.
    if (job.waitedMs === undefined) job.waitedMs = this.clock.now() - job.acceptedAt;
    this.detach(job);
    job.state = 'done';
    job.worker = undefined;
    job.waiter = undefined;
  }

  private detach(job: Job): void {
    job.stderr?.flush();
    job.stderr = undefined;
    if (job.busyTimer) this.clock.clearTimeout(job.busyTimer);
    job.busyTimer = undefined;
    this.running.delete(job);
  }
}
