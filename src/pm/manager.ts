import { EventEmitter } from 'node:events';
import { DEFAULT_MAX_PROCESSES } from '../defaults';
import { InvalidArgumentError, SpawnError } from '../errors';
import type { Logger } from '../log';
import { ROOT_WAYS_OUT, rootReason } from '../spawn/exec-helper';
import type { IpcDir } from '../spawn/ipc-dir';
import type { WorkerExit } from '../spawn/worker-process';
import type { RetireReason } from './worker';
import { pickVictim } from './policy/scaling';
import { REAL_CLOCK, type Clock } from './clock';
import { Pool, type PoolHost, type PoolSnapshot } from './pool';
import { classKey } from './class-key';
import { resolvePoolOptions, type PoolOptions, type PoolOptionsInput } from './pool-options';
import type { WorkerLauncher } from './worker-launcher';

export interface ManagerOptions {
  /** Live worker processes allowed across all pools (FcgidMaxProcesses, php-fpm process.max). */
  readonly maxProcesses: number;
}

export const MANAGER_DEFAULTS: ManagerOptions = {
  maxProcesses: DEFAULT_MAX_PROCESSES,
};

/** The /status.json document: pid, generation, pools[] (with processes[]); `fcgipm status` reads it. */
export interface ManagerSnapshot {
  readonly pid: number;
  readonly generation: number;
  readonly startedAt: string;
  readonly maxProcesses: number;
  readonly totalProcesses: number;
  readonly pools: PoolSnapshot[];
}

/**
 * Why a pool with these options may not be made here, or undefined: its workers would run as
 * root (fcgipm is root and no user is set) without allowRoot. Manager.addPool refuses such a
 * pool, and `serve` and `check-config` ask this before any pool is made (cli/class-check.ts).
 */
export function rootRefusal(options: PoolOptions): string | undefined {
  const root = rootReason(options, process.getgid?.(), process.geteuid?.());
  return root === undefined ? undefined : `pool ${options.name}: refusing to run workers as root (${root}): ${ROOT_WAYS_OUT}`;
}

/**
 * Lifecycle events for logs, status and library users, in the spirit of Apache's MPM hooks:
 * a child started, became ready, exited (with the reason it was asked to, if any), a
 * generation ended (its last worker is gone), a reload began.
 */
export interface ManagerEvents {
  reload: [generation: number];
  'worker-start': [pool: string, pid: number | undefined];
  'worker-ready': [pool: string, pid: number | undefined];
  'worker-exit': [pool: string, pid: number | undefined, exit: WorkerExit, reason: RetireReason | undefined];
  'generation-end': [pool: string, generation: number];
}

/**
 * The process manager: every pool (mod_fcgid process class) and the global process cap
 * they share. When the cap is reached and a pool has requests waiting, an idle worker of
 * another pool is retired to make room rather than leaving the request to wait.
 *
 * Lifecycle: new Manager() → addPool()… → start() → reload()… → close().
 */
export class Manager extends EventEmitter<ManagerEvents> implements PoolHost {
  readonly options: ManagerOptions;
  private readonly ipcDir: IpcDir;
  private readonly log: Logger;
  private readonly pools = new Map<string, Pool>();
  private readonly classes = new Map<string, Pool>();
  private readonly clock: Clock;
  private readonly launcher: WorkerLauncher | undefined;
  private readonly startedAt: number;
  private generationNo = 1;
  private started = false;
  /**
   * What pools take their socket paths from: the IPC dir, made again first when it is gone.
   * Workers already running keep serving on their open sockets and kept connections; one
   * whose path is gone fails to connect, is retired and its request replayed, and its
   * replacement gets a socket in the directory made again — no outage longer than a spawn
   * (mod_fcgid and php-fpm leave their socket directory to the operator).
   */
  private readonly socketPaths: Pick<IpcDir, 'nextSocketPath'> = {
    nextSocketPath: () => {
      if (this.ipcDir.restore()) this.log.warn({ dir: this.ipcDir.dir, mode: `0${this.ipcDir.mode.toString(8)}` }, 'IPC socket directory was removed; made it again');
      return this.ipcDir.nextSocketPath();
    },
  };

  /** deps.clock and deps.launcher reach every pool (tests pass fakes; default the real ones). */
  constructor(deps: { ipcDir: IpcDir; logger: Logger; clock?: Clock; launcher?: WorkerLauncher }, options: Partial<ManagerOptions> = {}) {
    super();
    const maxProcesses = options.maxProcesses ?? MANAGER_DEFAULTS.maxProcesses;
    if (!Number.isInteger(maxProcesses) || maxProcesses < 1) {
      throw new InvalidArgumentError(`manager option maxProcesses must be an integer >= 1, got ${String(maxProcesses)}`);
    }
    this.options = { maxProcesses };
    this.ipcDir = deps.ipcDir;
    this.log = deps.logger;
    this.clock = deps.clock ?? REAL_CLOCK;
    this.launcher = deps.launcher;
    this.startedAt = this.clock.now();
  }

  get generation(): number {
    return this.generationNo;
  }

  addPool(options: PoolOptions): Pool {
    if (this.pools.has(options.name)) throw new InvalidArgumentError(`two pools are named ${options.name}`);
    // Refused when the pool is made (at start-up for the configured ones), not at each spawn.
    const refusal = rootRefusal(options);
    if (refusal !== undefined) throw new SpawnError(refusal);
    const pool = new Pool(options, {
      ipcDir: this.socketPaths,
      logger: this.log,
      host: this,
      clock: this.clock,
      ...(this.launcher ? { launcher: this.launcher } : {}),
    });
    this.pools.set(options.name, pool);
    const name = options.name;
    pool.on('worker-start', (pid) => this.emit('worker-start', name, pid));
    pool.on('worker-ready', (pid) => this.emit('worker-ready', name, pid));
    pool.on('worker-exit', (pid, exit, reason) => this.emit('worker-exit', name, pid, exit, reason));
    pool.on('generation-end', (generation) => this.emit('generation-end', name, generation));
    if (this.started) pool.start();
    return pool;
  }

  pool(name: string): Pool | undefined {
    return this.pools.get(name);
  }

  /**
   * The pool of a process class (class-key.ts), created on first use: one per executable
   * (by device and inode), command line, user, group and virtual host, like mod_fcgid. A
   * binary replaced by rename is a new class; the old pool's workers leave by idle timeout.
   */
  poolForClass(input: PoolOptionsInput, vhost = '', variant = ''): Pool {
    const options = resolvePoolOptions(input);
    // variant: the configured settings, so a reload that changes them starts a new pool (the
    // old one's workers leave with its generation) instead of keeping the old settings.
    const key = `${classKey({ command: options.command, args: options.args, uid: options.uid, gid: options.gid, vhost })}|${variant}`;
    const known = this.classes.get(key);
    if (known) return known;
    let name = input.name ?? (vhost ? `${vhost}:${options.name}` : options.name);
    for (let n = 2; this.pools.has(name); n += 1) name = `${input.name ?? options.name}#${n}`;
    const pool = this.addPool({ ...options, name });
    this.classes.set(key, pool);
    this.log.info({ pool: name, command: options.command, vhost }, 'new process class');
    return pool;
  }

  /**
   * Takes a pool out of service (a reload whose config no longer names its class, or names
   * it with other settings): it is forgotten at once, so nothing new reaches it, and closed
   * gracefully — requests it holds finish, then its workers stop.
   */
  retirePool(pool: Pool, drainTimeoutMs?: number): Promise<void> {
    if (this.pools.get(pool.name) !== pool) return Promise.resolve();
    this.pools.delete(pool.name);
    for (const [key, p] of this.classes) if (p === pool) this.classes.delete(key);
    this.log.info({ pool: pool.name }, 'process class retired');
    return pool.close(drainTimeoutMs);
  }

  start(): void {
    this.started = true;
    for (const pool of this.pools.values()) pool.start();
  }

  /** SIGHUP: a new generation in every pool. Nothing accepted is dropped. */
  reload(): number {
    this.generationNo += 1;
    this.log.info({ generation: this.generationNo }, 'reloading');
    for (const pool of this.pools.values()) pool.reload();
    this.emit('reload', this.generationNo);
    return this.generationNo;
  }

  snapshot(): ManagerSnapshot {
    const pools = [...this.pools.values()].map((p) => p.snapshot());
    return {
      pid: process.pid,
      generation: this.generationNo,
      startedAt: new Date(this.startedAt).toISOString(),
      maxProcesses: this.options.maxProcesses,
      totalProcesses: pools.reduce((n, p) => n + p.totalProcesses, 0),
      pools,
    };
  }

  /** Graceful stop of every pool (see Pool.close). Idempotent. */
  async close(drainTimeoutMs?: number): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close(drainTimeoutMs)));
  }

  /** Stops every pool now (see Pool.destroy). Idempotent. */
  async destroy(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.destroy()));
  }

  // ---- PoolHost --------------------------------------------------------------------------

  room(): number {
    let live = 0;
    for (const pool of this.pools.values()) live += pool.view().workers.length;
    return Math.max(0, this.options.maxProcesses - live);
  }

  needRoom(pool: Pool): void {
    const victim = pickVictim(
      [...this.pools.values()].map((p) => ({ poolId: p.name, view: p.view(), options: p.options.scaling })),
      pool.name,
    );
    if (!victim) return;
    this.log.info({ pool: victim.poolId, for: pool.name, maxProcesses: this.options.maxProcesses }, 'global max processes reached; retiring an idle worker to make room');
    this.pools.get(victim.poolId)?.retireForRoom(victim.workerId);
  }

  workerExited(pool: Pool): void {
    for (const other of this.pools.values()) if (other !== pool) other.wake();
  }
}
