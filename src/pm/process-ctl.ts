import type { FcgipmError } from '../errors';
import type { Logger } from '../log';
import type { Children } from './children';
import type { Clock, TimerHandle } from './clock';
import type { Job } from './job';
import { spawnForDemand, spawnForRecycle, tick, INITIAL_TICK_STATE, type TickState } from './policy/scaling';
import type { PoolView } from './policy/snapshot';
import type { PoolOptions } from './pool-options';
import type { PoolStats } from './pool-stats';
import type { WaitQueue } from './wait-queue';
import type { Worker } from './worker';

/** The maintenance tick: idle reaping, lifetime, dynamic spares, the min fill (php-fpm: 1 s). */
const TICK_MS = 1_000;
/** The "reached its max processes" warning: at most one line per this many ms. */
const AT_MAX_LOG_INTERVAL_MS = 10_000;

/** What process control needs of its pool. */
export interface ProcessControlHost {
  /** The policy's view of the pool now. */
  view(): PoolView;
  generation(): number;
  /** Processes the pool may still start under a global cap. */
  room(): number;
  /** At the global cap with requests waiting: free a process elsewhere if possible. */
  needRoom(): void;
  failQueued(err: FcgipmError): void;
}

/**
 * When to start and retire workers (php-fpm's fpm_process_ctl): the 1-s maintenance tick,
 * spawns for waiting requests and for recycling, the crash guard's back-off and its trial
 * spawn, the "reached max processes" episodes. Decisions come from ./policy; the children
 * carry them out.
 */
export class ProcessControl {
  private tickState: TickState = INITIAL_TICK_STATE;
  private tickTimer: TimerHandle | undefined;
  private retryTimer: TimerHandle | undefined;
  private stopped = false;
  private atMax = false;
  private atMaxLoggedAt = -Infinity;
  private atMaxUnlogged = 0;

  constructor(
    private readonly options: PoolOptions,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly children: Children,
    private readonly queue: WaitQueue<Job>,
    private readonly stats: PoolStats,
    private readonly host: ProcessControlHost,
  ) {}

  /** Runs the tick now and every TICK_MS (an unref'd timer) until stop(). */
  start(): void {
    this.runTick(true);
    this.scheduleTick();
  }

  /** No more ticks or trial spawns. Idempotent. */
  stop(): void {
    this.stopped = true;
    if (this.tickTimer) this.clock.clearTimeout(this.tickTimer);
    if (this.retryTimer) this.clock.clearTimeout(this.retryTimer);
    this.tickTimer = undefined;
    this.retryTimer = undefined;
  }

  private scheduleTick(): void {
    if (this.tickTimer || this.stopped) return;
    this.tickTimer = this.clock.setTimeout(() => {
      this.tickTimer = undefined;
      this.runTick(true);
      this.scheduleTick();
    }, TICK_MS);
    this.tickTimer.unref();
  }

  /** Runs the maintenance policy; `advance` moves its rate state (only the real 1-s tick does). */
  runTick(advance: boolean): void {
    if (this.stopped) return;
    const now = this.clock.now();
    const result = tick(this.host.view(), this.options.scaling, now, this.tickState, this.host.room());
    if (advance) this.tickState = result.state;
    let recycled = false;
    for (const action of result.actions) {
      if (action.kind === 'retire') {
        for (const w of this.children.workers) {
          if (w.id === action.workerId && w.state === 'idle') {
            this.log.debug({ pid: w.pid, reason: action.reason }, 'retiring idle worker');
            this.children.retire(w, action.reason);
            if (action.reason === 'lifetime') recycled = true;
          }
        }
      } else {
        for (let i = 0; i < action.count; i += 1) if (!this.trySpawn()) break;
      }
    }
    // The tick's own floor fill counts the retired workers against maxProcesses until they
    // exit; at the max it can start nothing, so replacements for lifetime are started here,
    // overlapping their predecessors, as after a request (spawnForRecycle).
    if (recycled) this.spawnForRecycling();
  }

  /** Spawns if the crash guard allows; schedules a trial spawn for when it will. */
  private trySpawn(): Worker | undefined {
    const now = this.clock.now();
    const allowed = this.children.crash.spawnAllowed(now);
    if (!allowed.allowed) {
      this.retryTimer ??= this.clock.setTimeout(() => {
        this.retryTimer = undefined;
        this.runTick(false);
        this.spawnForQueue();
      }, Math.max(1, allowed.retryAt - now));
      return undefined;
    }
    return this.children.spawn(this.host.generation());
  }

  /**
   * Replacements for workers just retired for max-requests or lifetime, started before they
   * have exited (policy: spawnForRecycle).
   */
  spawnForRecycling(): void {
    let leaving = 0;
    for (const w of this.children.workers) if (w.state === 'draining' && (w.retireReason === 'max-requests' || w.retireReason === 'lifetime')) leaving += 1;
    const wanted = spawnForRecycle(this.host.view(), this.options.scaling, this.host.room(), leaving);
    for (let i = 0; i < wanted; i += 1) if (!this.trySpawn()) break;
  }

  /** Spawns workers for waiting requests, in parallel, up to maxProcesses. */
  spawnForQueue(): void {
    if (this.queue.length === 0) return;
    // At the max (the usual state under load) nothing can be spawned: skip the policy's
    // view of every worker, which this would otherwise build for each queued request.
    if (this.children.size >= this.options.scaling.maxProcesses) {
      this.noteAtMax();
      return;
    }
    const room = this.host.room();
    const wanted = spawnForDemand(this.host.view(), this.options.scaling, room);
    let started = 0;
    for (; started < wanted; started += 1) if (!this.trySpawn()) break;
    if (started === 0 && this.startsFailing()) {
      this.host.failQueued(this.children.startFailureError());
      return;
    }
    if (this.children.size >= this.options.scaling.maxProcesses) {
      this.noteAtMax();
    } else if (room <= 0 && this.queue.length > this.children.starting()) {
      this.host.needRoom();
    }
  }

  /** The app keeps dying at start-up and no worker is left: requests are answered at once. */
  startsFailing(): boolean {
    return this.children.crash.broken(this.clock.now()) && this.children.size === 0;
  }

  /** A worker became idle: an "at max" episode is over. */
  workerIdle(): void {
    this.atMax = false;
  }

  /** Requests wait although the pool is at its max: counted and logged once per episode. */
  private noteAtMax(): void {
    if (this.atMax || this.queue.length <= this.children.starting()) return;
    // Counted once per episode, like php-fpm's "max children reached"; logged at most once
    // per AT_MAX_LOG_INTERVAL_MS (under steady load an episode ends and starts again within
    // milliseconds, whenever the queue runs empty for a moment).
    this.atMax = true;
    this.stats.maxProcessesReached += 1;
    this.atMaxUnlogged += 1;
    const now = this.clock.now();
    if (now - this.atMaxLoggedAt < AT_MAX_LOG_INTERVAL_MS) return;
    this.log.warn(
      { maxProcesses: this.options.scaling.maxProcesses, queued: this.queue.length, episodes: this.atMaxUnlogged },
      'pool reached its max processes; requests are queued',
    );
    this.atMaxLoggedAt = now;
    this.atMaxUnlogged = 0;
  }
}
