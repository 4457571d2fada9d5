import os from 'node:os';
import { POOL_SETTING_DEFAULTS as D } from '../../defaults';
import { InvalidArgumentError } from '../../errors';

/**
 * How a pool grows and shrinks (php-fpm's `pm`):
 * - `ondemand`: no spare workers; a worker is spawned the moment a request waits and retired
 *   after idleTimeoutMs (php-fpm pm = ondemand; mod_fcgid works this way too).
 * - `dynamic`: keeps between minSpare and maxSpare idle workers (php-fpm pm = dynamic).
 * - `static`: always maxProcesses workers (php-fpm pm = static, spawn-fcgi -C N).
 */
export type ScalingMode = 'ondemand' | 'dynamic' | 'static';

export interface ScalingOptions {
  readonly mode: ScalingMode;
  /**
   * ondemand/dynamic: started at once, kept warm, never reaped below (php-fpm
   * pm.start_servers; FcgidMinProcessesPerClass, which mod_fcgid only uses as a floor for its
   * idle kills and never prespawns). static: ignored, static keeps maxProcesses.
   */
  readonly minProcesses: number;
  /** Hard cap of live workers, draining ones included (FcgidMaxProcessesPerClass, pm.max_children). */
  readonly maxProcesses: number;
  /** dynamic: spawn while idle + starting (net of waiting requests) < minSpare (pm.min_spare_servers). */
  readonly minSpare: number;
  /** dynamic: retire one idle worker per tick, the longest idle, while idle > maxSpare (pm.max_spare_servers). */
  readonly maxSpare: number;
  /**
   * dynamic: the spare spawn rate starts at 1 and doubles after each tick that spawned, up to
   * this; back to 1 when nothing needed spawning (pm.max_spawn_rate).
   */
  readonly maxSpawnRate: number;
  /**
   * 0 = off. ondemand + dynamic: an idle worker idle this long is retired, longest idle first,
   * never below minProcesses (FcgidIdleTimeout, pm.process_idle_timeout).
   */
  readonly idleTimeoutMs: number;
  /**
   * 0 = off. A worker this old is retired: at once when idle, after its current request when
   * busy (FcgidProcessLifeTime; mod_fcgid only ever kills idle ones).
   */
  readonly lifetimeMs: number;
  /** 0 = off. Retired after its Nth request (FcgidMaxRequestsPerProcess, pm.max_requests). */
  readonly maxRequestsPerProcess: number;
}

/** The scaling defaults: the settings' own from src/defaults.ts (why each, there), and this layer's. */
export const SCALING_DEFAULTS: ScalingOptions = {
  mode: D.mode,
  minProcesses: D.minProcesses,
  // Two per CPU, at least 4: mod_fcgid's 100 per class would overrun a small host, and
  // php-fpm has no default (pm.max_children is mandatory). Read once, at load.
  maxProcesses: Math.max(4, 2 * os.availableParallelism()),
  minSpare: D.minSpare,
  maxSpare: D.maxSpare,
  // pm.max_spawn_rate's default since PHP 8.1.
  maxSpawnRate: 32,
  idleTimeoutMs: D.idleTimeoutMs,
  lifetimeMs: D.lifetimeMs,
  maxRequestsPerProcess: D.maxRequestsPerProcess,
};

const MODES: readonly ScalingMode[] = ['ondemand', 'dynamic', 'static'];

function wholeNumber(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new InvalidArgumentError(`scaling option ${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

function notAbove(name: string, value: number, otherName: string, other: number): void {
  if (value > other) {
    throw new InvalidArgumentError(`scaling option ${name} (${value}) must not exceed ${otherName} (${other})`);
  }
}

/** Fills defaults and validates; a bad option throws InvalidArgumentError naming it. */
export function resolveScalingOptions(input: Partial<ScalingOptions>): ScalingOptions {
  const mode = input.mode ?? SCALING_DEFAULTS.mode;
  if (!MODES.includes(mode)) {
    throw new InvalidArgumentError(`scaling option mode must be one of ${MODES.join(', ')}, got ${String(mode)}`);
  }
  const maxProcesses = wholeNumber('maxProcesses', input.maxProcesses ?? SCALING_DEFAULTS.maxProcesses, 1);
  const minProcesses = wholeNumber('minProcesses', input.minProcesses ?? SCALING_DEFAULTS.minProcesses, 0);
  notAbove('minProcesses', minProcesses, 'maxProcesses', maxProcesses);

  // Spare defaults bend to the values given (and to maxProcesses) so that defaults alone never
  // make a valid configuration invalid; explicit values are checked as php-fpm checks them.
  const dynamic = mode === 'dynamic';
  const givenMaxSpare =
    input.maxSpare === undefined ? undefined : wholeNumber('maxSpare', input.maxSpare, dynamic ? 1 : 0);
  const minSpare = wholeNumber(
    'minSpare',
    input.minSpare ?? Math.min(SCALING_DEFAULTS.minSpare, givenMaxSpare ?? SCALING_DEFAULTS.minSpare, maxProcesses),
    0,
  );
  const maxSpare = givenMaxSpare ?? Math.max(minSpare, Math.min(SCALING_DEFAULTS.maxSpare, maxProcesses));
  notAbove('minSpare', minSpare, 'maxSpare', maxSpare);
  if (dynamic) {
    // php-fpm: "pm.min_spare_servers must be a positive value", and neither spare bound may
    // exceed pm.max_children — a spare count that can never be reached is a typo.
    wholeNumber('minSpare', minSpare, 1);
    notAbove('minSpare', minSpare, 'maxProcesses', maxProcesses);
    notAbove('maxSpare', maxSpare, 'maxProcesses', maxProcesses);
  }

  return {
    mode,
    minProcesses,
    maxProcesses,
    minSpare,
    maxSpare,
    maxSpawnRate: wholeNumber('maxSpawnRate', input.maxSpawnRate ?? SCALING_DEFAULTS.maxSpawnRate, 1),
    idleTimeoutMs: wholeNumber('idleTimeoutMs', input.idleTimeoutMs ?? SCALING_DEFAULTS.idleTimeoutMs, 0),
    lifetimeMs: wholeNumber('lifetimeMs', input.lifetimeMs ?? SCALING_DEFAULTS.lifetimeMs, 0),
    maxRequestsPerProcess: wholeNumber(
      'maxRequestsPerProcess',
      input.maxRequestsPerProcess ?? SCALING_DEFAULTS.maxRequestsPerProcess,
      0,
    ),
  };
}

/**
 * The number of live, non-draining current-generation workers a pool keeps whatever the load:
 * maxProcesses for static, minProcesses otherwise. Idle reaping and victim picking never go
 * below it.
 */
export function processFloor(options: ScalingOptions): number {
  return options.mode === 'static' ? options.maxProcesses : options.minProcesses;
}
