import path from 'node:path';
import { POOL_SETTING_DEFAULTS as D } from '../defaults';
import { InvalidArgumentError } from '../errors';
import type { WorkerLimits } from '../spawn/exec-helper';
import { resolveScalingOptions, type ScalingOptions } from './policy/options';
import { adjustForPhpCgi } from './php-cgi';

/** What one pool (a mod_fcgid "process class") runs and how it is sized and timed. */
export interface PoolOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Variables added to the worker's clean environment (FcgidInitialEnv). */
  readonly env: Readonly<Record<string, string>>;
  /** Worker cwd; default the executable's directory (mod_fcgid's rule). */
  readonly cwd: string | undefined;
  /** Sizing, reaping and recycling (src/pm/policy/options.ts). */
  readonly scaling: ScalingOptions;
  /** Requests allowed to wait for a worker at once; more get 503 at once. */
  readonly maxQueue: number;
  /** How long a request may wait for a worker before 503 (mod_fcgid: ~64 s, fixed). */
  readonly queueTimeoutMs: number;
  /** Longest silence from the app during a request before 504 (FcgidIOTimeout). */
  readonly ioTimeoutMs: number;
  /** Longest time one request may hold a worker before it is killed and 504 sent (FcgidBusyTimeout). */
  readonly busyTimeoutMs: number;
  /** A request that held its worker this long or longer is slow: counted and logged (php-fpm's request_slowlog_timeout); 0 = off. */
  readonly slowRequestTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** How long a new worker may take to start accepting connections; its own timeout, not the IO one. */
  readonly startupTimeoutMs: number;
  /** SIGTERM → SIGKILL grace when a worker is retired or killed. */
  readonly killGraceMs: number;
  /** Use FCGI_KEEP_CONN and reuse each worker's connection across requests. */
  readonly keepConn: boolean;
  /**
   * Requests one worker takes at once: 1 for a classic FastCGI process, N for a shared-socket
   * backend (php-cgi with PHP_FCGI_CHILDREN=N, a threaded app). With `probeSlots` the worker
   * is asked with FCGI_GET_VALUES once ready, and this is the fallback when it does not say.
   */
  readonly slots: number;
  readonly probeSlots: boolean;
  /**
   * Processes started behind each worker socket (spawn-fcgi -F N): one worker with N slots,
   * a sibling that dies is restarted. 1 = mod_fcgid's one socket per process.
   */
  readonly processesPerSocket: number;
  /** 'accept': ready once blocked in accept() on fd 0 (/proc); 'spawn': ready at once. */
  readonly readiness: 'accept' | 'spawn';
  /** Who the workers run as (mod_fcgid: suEXEC's user; php-fpm: user/group); default fcgipm's own. */
  readonly uid: number | undefined;
  readonly gid: number | undefined;
  /**
   * Supplementary groups of the workers: a configured user's groups from /etc/group, as
   * php-fpm and suEXEC give them (initgroups); none at all when unset and fcgipm is root.
   */
  readonly groups: readonly number[] | undefined;
  /** Resource limits, nice and umask applied to each worker before exec. */
  readonly limits: WorkerLimits | undefined;
  readonly nice: number | undefined;
  readonly umask: number | undefined;
  /** Workers as uid or gid 0 are refused unless this is set. */
  readonly allowRoot: boolean;
}

/** Flat input: the scaling fields sit beside the others, as on the command line. */
export interface PoolOptionsInput extends Partial<Omit<PoolOptions, 'scaling'>>, Partial<ScalingOptions> {
  readonly command: string;
}

/**
 * All defaults in one object (pino's habit). Where mod_fcgid's default hurts users the
 * difference is deliberate: the queue answers 503 after 30 s rather than polling for 64 s,
 * start-up has its own 30-s timeout instead of eating into the IO timeout.
 */
export const POOL_DEFAULTS = {
  args: [] as readonly string[],
  env: {} as Readonly<Record<string, string>>,
  maxQueue: D.maxQueue,
  queueTimeoutMs: D.queueTimeoutMs,
  ioTimeoutMs: D.ioTimeoutMs,
  busyTimeoutMs: D.busyTimeoutMs,
  slowRequestTimeoutMs: D.slowRequestTimeoutMs,
  connectTimeoutMs: 3_000,
  startupTimeoutMs: D.startupTimeoutMs,
  killGraceMs: 5_000,
  keepConn: true,
} as const;

function wholeNumber(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new InvalidArgumentError(`pool option ${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** Fills defaults and validates; a bad option throws naming the option. */
export function resolvePoolOptions(input: PoolOptionsInput): PoolOptions {
  if (typeof input.command !== 'string' || input.command.length === 0) {
    throw new InvalidArgumentError('pool option command must be a non-empty path');
  }
  const command = path.resolve(input.command);
  const scalingInput: Partial<ScalingOptions> = {};
  for (const key of [
    'mode',
    'minProcesses',
    'maxProcesses',
    'minSpare',
    'maxSpare',
    'maxSpawnRate',
    'idleTimeoutMs',
    'lifetimeMs',
    'maxRequestsPerProcess',
  ] as const) {
    if (input[key] !== undefined) (scalingInput as Record<string, unknown>)[key] = input[key];
  }
  const base: PoolOptions = {
    name: input.name ?? path.basename(command),
    command,
    args: input.args ?? POOL_DEFAULTS.args,
    env: input.env ?? POOL_DEFAULTS.env,
    cwd: input.cwd,
    scaling: resolveScalingOptions(scalingInput),
    maxQueue: wholeNumber('maxQueue', input.maxQueue ?? POOL_DEFAULTS.maxQueue, 0),
    queueTimeoutMs: wholeNumber('queueTimeoutMs', input.queueTimeoutMs ?? POOL_DEFAULTS.queueTimeoutMs, 1),
    ioTimeoutMs: wholeNumber('ioTimeoutMs', input.ioTimeoutMs ?? POOL_DEFAULTS.ioTimeoutMs, 1),
    busyTimeoutMs: wholeNumber('busyTimeoutMs', input.busyTimeoutMs ?? POOL_DEFAULTS.busyTimeoutMs, 1),
    slowRequestTimeoutMs: wholeNumber('slowRequestTimeoutMs', input.slowRequestTimeoutMs ?? POOL_DEFAULTS.slowRequestTimeoutMs, 0),
    connectTimeoutMs: wholeNumber('connectTimeoutMs', input.connectTimeoutMs ?? POOL_DEFAULTS.connectTimeoutMs, 1),
    startupTimeoutMs: wholeNumber('startupTimeoutMs', input.startupTimeoutMs ?? POOL_DEFAULTS.startupTimeoutMs, 1),
    killGraceMs: wholeNumber('killGraceMs', input.killGraceMs ?? POOL_DEFAULTS.killGraceMs, 0),
    keepConn: input.keepConn ?? POOL_DEFAULTS.keepConn,
    slots: wholeNumber('slots', input.slots ?? 1, 1),
    probeSlots: input.probeSlots ?? false,
    processesPerSocket: wholeNumber('processesPerSocket', input.processesPerSocket ?? 1, 1),
    readiness: input.readiness ?? 'accept',
    uid: input.uid,
    gid: input.gid,
    groups: input.groups,
    limits: input.limits,
    nice: input.nice,
    umask: input.umask,
    allowRoot: input.allowRoot ?? false,
  };
  return adjustForPhpCgi(base);
}
