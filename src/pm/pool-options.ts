import os from 'node:os';
import path from 'node:path';
import { InvalidArgumentError } from '../errors';

/** What one pool (a mod_fcgid "process class") runs and how it is sized and timed. */
export interface PoolOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Variables added to the worker's clean environment (FcgidInitialEnv). */
  readonly env: Readonly<Record<string, string>>;
  /** Worker cwd; default the executable's directory (mod_fcgid's rule). */
  readonly cwd: string | undefined;
  /** Processes started at once and kept (FcgidMinProcessesPerClass, but really started). */
  readonly minProcesses: number;
  /** Live processes allowed, draining ones included (FcgidMaxProcessesPerClass). */
  readonly maxProcesses: number;
  /** Retire a worker after this many requests; 0 = never (FcgidMaxRequestsPerProcess). */
  readonly maxRequestsPerProcess: number;
  /** Requests allowed to wait for a worker at once; more get 503 at once. */
  readonly maxQueue: number;
  /** How long a request may wait for a worker before 503 (mod_fcgid: ~64 s, fixed). */
  readonly queueTimeoutMs: number;
  /** Longest silence from the app during a request before 504 (FcgidIOTimeout). */
  readonly ioTimeoutMs: number;
  /** Longest time one request may hold a worker before it is killed and 504 sent (FcgidBusyTimeout). */
  readonly busyTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** SIGTERM → SIGKILL grace when a worker is retired or killed. */
  readonly killGraceMs: number;
  /** Use FCGI_KEEP_CONN and reuse each worker's connection across requests. */
  readonly keepConn: boolean;
}

export type PoolOptionsInput = Partial<PoolOptions> & Pick<PoolOptions, 'command'>;

/**
 * All defaults in one object (pino's habit). Where mod_fcgid's default hurts users the
 * difference is deliberate: min processes are really started, the queue answers 503 after
 * 30 s rather than polling for 64 s.
 */
export const POOL_DEFAULTS = {
  args: [] as readonly string[],
  env: {} as Readonly<Record<string, string>>,
  minProcesses: 0,
  maxProcesses: Math.max(4, 2 * os.availableParallelism()),
  maxRequestsPerProcess: 0,
  maxQueue: 1024,
  queueTimeoutMs: 30_000,
  ioTimeoutMs: 40_000,
  busyTimeoutMs: 300_000,
  connectTimeoutMs: 3_000,
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
  const o: PoolOptions = {
    name: input.name ?? path.basename(command),
    command,
    args: input.args ?? POOL_DEFAULTS.args,
    env: input.env ?? POOL_DEFAULTS.env,
    cwd: input.cwd,
    minProcesses: wholeNumber('minProcesses', input.minProcesses ?? POOL_DEFAULTS.minProcesses, 0),
    maxProcesses: wholeNumber('maxProcesses', input.maxProcesses ?? POOL_DEFAULTS.maxProcesses, 1),
    maxRequestsPerProcess: wholeNumber(
      'maxRequestsPerProcess',
      input.maxRequestsPerProcess ?? POOL_DEFAULTS.maxRequestsPerProcess,
      0,
    ),
    maxQueue: wholeNumber('maxQueue', input.maxQueue ?? POOL_DEFAULTS.maxQueue, 0),
    queueTimeoutMs: wholeNumber('queueTimeoutMs', input.queueTimeoutMs ?? POOL_DEFAULTS.queueTimeoutMs, 1),
    ioTimeoutMs: wholeNumber('ioTimeoutMs', input.ioTimeoutMs ?? POOL_DEFAULTS.ioTimeoutMs, 1),
    busyTimeoutMs: wholeNumber('busyTimeoutMs', input.busyTimeoutMs ?? POOL_DEFAULTS.busyTimeoutMs, 1),
    connectTimeoutMs: wholeNumber('connectTimeoutMs', input.connectTimeoutMs ?? POOL_DEFAULTS.connectTimeoutMs, 1),
    killGraceMs: wholeNumber('killGraceMs', input.killGraceMs ?? POOL_DEFAULTS.killGraceMs, 0),
    keepConn: input.keepConn ?? POOL_DEFAULTS.keepConn,
  };
  if (o.minProcesses > o.maxProcesses) {
    throw new InvalidArgumentError(
      `pool option minProcesses (${o.minProcesses}) must not exceed maxProcesses (${o.maxProcesses})`,
    );
  }
  return o;
}
