import { classSettings } from '../config/merge';
import type { AppRoute, AuthApp, Config, PoolSettings, SiteConfig, Wrapper } from '../config/types';
import type { PoolOptionsInput } from '../pm/pool-options';
import type { ProcessClass } from '../pm/process-class';
import type { WorkerLimits } from '../spawn/exec-helper';
import { lookupGroup, lookupUser } from '../spawn/user-db';

/** A config's pool settings as the pool layer takes them (ms, numbers, uid/gid). */
export function poolInput(command: string, args: readonly string[], s: PoolSettings): PoolOptionsInput {
  const entry = s.user !== undefined ? lookupUser(s.user) : undefined;
  const gid = s.group !== undefined ? lookupGroup(s.group) : entry?.gid;
  const limits: WorkerLimits = {};
  if (s.rlimits?.nofile !== undefined) limits.nofile = s.rlimits.nofile;
  if (s.rlimits?.core !== undefined) limits.core = s.rlimits.core;
  if (s.rlimits?.as !== undefined) limits.addressSpace = s.rlimits.as;
  if (s.rlimits?.nproc !== undefined) limits.nproc = s.rlimits.nproc;
  const input: Record<string, unknown> = {
    command,
    args,
    env: s.env,
    mode: s.mode,
    minProcesses: s.minProcesses,
    maxProcesses: s.maxProcesses,
    minSpare: s.minSpare,
    maxSpare: s.maxSpare,
    idleTimeoutMs: s.idleTimeoutMs,
    lifetimeMs: s.lifetimeMs,
    maxRequestsPerProcess: s.maxRequestsPerProcess,
    busyTimeoutMs: s.busyTimeoutMs,
    slowRequestTimeoutMs: s.slowRequestTimeoutMs,
    ioTimeoutMs: s.ioTimeoutMs,
    startupTimeoutMs: s.startupTimeoutMs,
    queueTimeoutMs: s.queueTimeoutMs,
    maxQueue: s.maxQueue,
    slots: s.slots === 'auto' ? undefined : s.slots,
    probeSlots: s.slots === 'auto' ? true : undefined,
    processesPerSocket: s.processesPerSocket,
    readiness: s.readiness,
    uid: entry?.uid,
    gid,
    allowRoot: s.allowRoot,
    nice: s.nice,
    umask: s.umask,
    limits: Object.keys(limits).length > 0 ? limits : undefined,
  };
  // Undefined fields take the pool defaults (resolvePoolOptions); drop them so they do.
  for (const key of Object.keys(input)) if (input[key] === undefined) delete input[key];
  return input as unknown as PoolOptionsInput;
}

/** What names a class in a site: an app, a wrapper, an auth app, or a handler script (none). */
export interface ClassSource {
  readonly command: string;
  readonly args: readonly string[];
  /** The app's, wrapper's or auth app's own settings; undefined for a handler script. */
  readonly layer: AppRoute | Wrapper | AuthApp | undefined;
  readonly handoff: boolean;
  readonly origin?: string;
}

/**
 * The process class of a command in a site: settings merged once (app/wrapper/auth app >
 * commands[command] > site.pool > defaults, config/merge.ts), converted to the pool layer's
 * input when its pool is made. Built once per app, wrapper, auth app or script: the pool
 * registry finds the pool by this object.
 */
export function processClass(config: Config, site: SiteConfig, vhost: string, source: ClassSource): ProcessClass {
  const settings = classSettings(config, site, source.command, source.layer);
  const { command, args, handoff } = source;
  return {
    command,
    args,
    vhost,
    handoff,
    // A handoff worker may well be an event-loop app (the Node helper) that never blocks in accept().
    poolInput: () => poolInput(command, args, handoff ? { readiness: 'spawn', ...settings } : settings),
    variant: JSON.stringify([settings, handoff]),
    ...(source.origin !== undefined ? { origin: source.origin } : {}),
  };
}
