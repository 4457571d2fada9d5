import { FcgipmError, SpawnError, StartupTimeoutError } from '../errors';
import type { Logger } from '../log';
import type { IpcDir } from '../spawn/ipc-dir';
import type { WorkerExit, WorkerSpawnOptions } from '../spawn/worker-process';
import type { Clock } from './clock';
import { CrashGuard, OUTSIDE_SIGNALS } from './policy/crash-guard';
import type { PoolOptions } from './pool-options';
import type { PoolStats } from './pool-stats';
import { Worker, type RetireReason } from './worker';
import type { ChildProcess, WorkerLauncher } from './worker-launcher';

/** A process on a shared socket that dies sooner than this after its start is not restarted. */
const SIBLING_RESPAWN_MIN_MS = 1_000;
/** How long a ready worker may take to answer FCGI_GET_VALUES about its slots. */
const SLOT_PROBE_MS = 2_000;

/** What the pool hears from its children. */
export interface ChildrenHost {
  started(worker: Worker): void;
  /** It accepts connections and knows its slots: give it work, or retire it. */
  ready(worker: Worker): void;
  /** Its slots grew (a sibling process joined): it may take more. */
  slotsGrew(worker: Worker): void;
  /** Workers keep failing at start-up (a new crash episode): fail what waits. */
  failing(err: FcgipmError): void;
  /** Its first process exited (the exit is logged and counted): tell the listeners. */
  exited(worker: Worker, exit: WorkerExit, reason: RetireReason | undefined): void;
  /** After an exit and its crash verdict: room opened, requests may need a worker. */
  gone(worker: Worker): void;
}

/**
 * The pool's worker processes (php-fpm's fpm_children): spawning, readiness, siblings on a
 * shared socket, retiring with SIGTERM then SIGKILL after the grace, and the bookkeeping of
 * each exit (log line, counters, crash guard). Which worker to start or retire, and when, is
 * the pool's and the policy's business.
 */
export class Children {
  readonly workers = new Set<Worker>();
  readonly crash = new CrashGuard();
  /** Why workers could not be started lately: what a request gets when none will come. */
  lastStartFailure: FcgipmError | undefined;
  private seq = 0;

  constructor(
    private readonly options: PoolOptions,
    private readonly deps: {
      readonly ipcDir: Pick<IpcDir, 'nextSocketPath'>;
      readonly log: Logger;
      readonly clock: Clock;
      readonly launcher: WorkerLauncher;
      readonly stats: PoolStats;
      readonly host: ChildrenHost;
    },
  ) {}

  get size(): number {
    return this.workers.size;
  }

  starting(): number {
    let n = 0;
    for (const w of this.workers) if (w.state === 'starting') n += 1;
    return n;
  }

  /** The error for requests when no worker can be had. */
  startFailureError(): FcgipmError {
    return this.lastStartFailure ?? new SpawnError(`cannot start ${this.options.command}`);
  }

  private spawnOptions(socketPath: string): WorkerSpawnOptions {
    const o = this.options;
    return {
      command: o.command,
      args: o.args,
      socketPath,
      env: o.env,
      cwd: o.cwd,
      logger: this.deps.log,
      allowRoot: o.allowRoot,
      ...(o.uid !== undefined ? { uid: o.uid } : {}),
      ...(o.gid !== undefined ? { gid: o.gid } : {}),
      ...(o.groups !== undefined ? { groups: o.groups } : {}),
      ...(o.limits !== undefined ? { limits: o.limits } : {}),
      ...(o.nice !== undefined ? { nice: o.nice } : {}),
      ...(o.umask !== undefined ? { umask: o.umask } : {}),
    };
  }

  /** Starts one worker of `generation` (and its siblings); undefined if it could not be started. */
  spawn(generation: number): Worker | undefined {
    const { log, clock, stats } = this.deps;
    let proc: ChildProcess;
    const copies = this.options.processesPerSocket;
    try {
      proc = this.deps.launcher.spawn({ ...this.spawnOptions(this.deps.ipcDir.nextSocketPath()), keepSocketFd: copies > 1 });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.lastStartFailure = new SpawnError(`cannot start ${this.options.command}: ${message}`, err);
      stats.spawnFailures += 1;
      const { episodeStarted } = this.crash.recordSpawnFailure(clock.now());
      if (episodeStarted) log.error({ err: message }, 'workers cannot be started; backing off');
      return undefined;
    }
    const worker = new Worker(++this.seq, proc, generation, clock.now());
    worker.state = 'starting';
    this.workers.add(worker);
    stats.spawned += 1;
    proc.on('exit', (exit: WorkerExit) => this.onExit(worker, exit));
    log.info({ pid: proc.pid, socket: proc.socketPath, generation }, 'worker started');
    this.deps.host.started(worker);
    for (let i = 1; i < copies; i += 1) this.spawnSibling(worker);
    if (proc.pid !== undefined && this.options.readiness === 'spawn') {
      // The socket listens already: connections wait in its backlog until the app accepts.
      setImmediate(() => this.onReady(worker));
    } else if (proc.pid !== undefined) {
      const readiness = this.deps.launcher.waitReady(proc.pid, this.options.startupTimeoutMs);
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
    let sibling: ChildProcess;
    try {
      sibling = this.deps.launcher.spawn({ ...this.spawnOptions(worker.process.socketPath), inheritSocketFd: fd });
    } catch (err) {
      this.deps.log.warn({ pid: worker.pid, err: err instanceof Error ? err.message : String(err) }, 'cannot start a process on a shared socket');
      return;
    }
    worker.siblings.set(sibling, this.deps.clock.now());
    sibling.on('exit', () => this.onSiblingExit(worker, sibling));
    if (worker.becameReady) {
      worker.slots = 1 + worker.siblings.size;
      this.deps.host.slotsGrew(worker);
    }
  }

  private onSiblingExit(worker: Worker, sibling: ChildProcess): void {
    const startedAt = worker.siblings.get(sibling) ?? 0;
    worker.siblings.delete(sibling);
    if (worker.becameReady) worker.slots = 1 + worker.siblings.size;
    // A sibling that lived a while is replaced; one that dies at once is not (the pool's
    // crash guard watches the worker itself).
    if (this.deps.clock.now() - startedAt >= SIBLING_RESPAWN_MIN_MS) this.spawnSibling(worker);
  }

  private onReady(worker: Worker): void {
    worker.cancelReadiness = undefined;
    // A worker that died meanwhile is left to its exit handler (a start-up failure).
    if (worker.state !== 'starting' || !worker.process.alive) return;
    if (this.options.probeSlots) {
      void this.deps.launcher.probeSlots(worker.process.socketPath, SLOT_PROBE_MS).then((said) => {
        worker.slots = said ?? this.options.slots;
        this.deps.log.info({ pid: worker.pid, slots: worker.slots, source: said ? 'FCGI_GET_VALUES' : 'configured' }, 'shared-socket worker');
        if (worker.state === 'starting') this.becomeReady(worker);
      });
      return;
    }
    worker.slots = this.options.processesPerSocket > 1 ? 1 + worker.siblings.size : this.options.slots;
    this.becomeReady(worker);
  }

  private becomeReady(worker: Worker): void {
    worker.becameReady = true;
    if (this.crash.recordHealthy(this.deps.clock.now())) this.deps.log.info('workers start again; leaving back-off');
    this.deps.host.ready(worker);
  }

  private onStartupTimeout(worker: Worker): void {
    worker.cancelReadiness = undefined;
    if (worker.state !== 'starting') return;
    this.deps.log.warn({ pid: worker.pid, startupTimeoutMs: this.options.startupTimeoutMs }, 'worker did not start accepting connections in time');
    this.lastStartFailure = new StartupTimeoutError(
      `${this.options.command} did not accept connections within ${this.options.startupTimeoutMs} ms`,
    );
    this.retire(worker, 'startup-timeout');
  }

  /** SIGTERM now, SIGKILL after killGraceMs (php-fpm's escalation). The worker counts as live until it exits. */
  retire(worker: Worker, reason: RetireReason): void {
    if (worker.state === 'draining') return;
    worker.state = 'draining';
    worker.retireReason = reason;
    worker.cancelReadiness?.();
    worker.cancelReadiness = undefined;
    worker.dropConnections();
    for (const sibling of worker.siblings.keys()) sibling.kill('SIGTERM');
    if (!worker.process.alive) return;
    this.deps.log.debug({ pid: worker.pid, reason }, 'retiring worker');
    worker.process.kill('SIGTERM');
    worker.killTimer = this.deps.clock.setTimeout(() => this.killAfterGrace(worker, reason), this.options.killGraceMs);
  }

  private killAfterGrace(worker: Worker, reason: RetireReason): void {
    worker.killTimer = undefined;
    for (const sibling of worker.siblings.keys()) sibling.kill('SIGKILL');
    if (worker.process.alive) {
      this.deps.log.warn({ pid: worker.pid, reason, graceMs: this.options.killGraceMs }, 'worker ignored SIGTERM; sending SIGKILL');
      worker.process.kill('SIGKILL');
    }
  }

  private onExit(worker: Worker, exit: WorkerExit): void {
    const { log, clock, stats } = this.deps;
    this.workers.delete(worker);
    worker.cancelReadiness?.();
    if (worker.killTimer) clock.clearTimeout(worker.killTimer);
    worker.killTimer = undefined;
    worker.dropConnections(true);
    // The socket went with the first process: its siblings can no longer be reached.
    for (const sibling of worker.siblings.keys()) sibling.kill('SIGTERM');
    const reason = worker.retireReason;
    const now = clock.now();
    const fields = { pid: worker.pid, code: exit.code, signal: exit.signal, requests: worker.requests, reason };
    const expected = reason !== undefined && reason !== 'startup-timeout';
    if (expected) log.debug(fields, 'worker exited');
    else if (exit.error) log.error({ ...fields, err: exit.error.message }, 'worker could not be started');
    else if (exit.code !== 0) log.warn(fields, 'worker exited unexpectedly');
    else log.info(fields, 'worker exited');
    const why = reason ?? (exit.error ? 'spawn-error' : exit.code === 0 && exit.signal === null ? 'exit' : 'crash');
    stats.recordExit(why);
    stats.lastExit = { pid: worker.pid, reason: why, code: exit.code, signal: exit.signal, requests: worker.requests, at: new Date(now).toISOString() };
    this.deps.host.exited(worker, exit, reason);

    let siblingReady = false;
    for (const w of this.workers) if (w !== worker && w.becameReady && w.process.alive) siblingReady = true;
    const verdict = this.crash.recordExit({
      startedAt: worker.startedAt,
      exitedAt: now,
      requests: worker.requests,
      becameReady: worker.becameReady,
      expected,
      // A signal fcgipm did not send (it sends them only with a retire reason, startup-timeout too).
      killedFromOutside: reason === undefined && exit.signal !== null && OUTSIDE_SIGNALS.has(exit.signal),
      siblingReady,
    });
    if (verdict.failure) {
      const detail = exit.error ? exit.error.message : exit.signal ? `signal ${exit.signal}` : `exit code ${String(exit.code)}`;
      if (!(this.lastStartFailure instanceof StartupTimeoutError) || reason !== 'startup-timeout') {
        this.lastStartFailure = new SpawnError(`${this.options.command} exited before serving a request (${detail})`);
      }
      if (verdict.episodeStarted) {
        log.error({ failures: this.crash.consecutiveFailures, err: this.lastStartFailure.message }, 'workers keep failing at start-up; backing off and answering 503');
        this.deps.host.failing(this.lastStartFailure);
      }
    }
    this.deps.host.gone(worker);
  }
}
