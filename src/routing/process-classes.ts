import { classSettings } from '../config/merge';
import type { AppRoute, AuthApp, Config, PoolSettings, SiteConfig, Wrapper } from '../config/types';
import type { PoolOptionsInput } from '../pm/pool-options';
import type { ProcessClass } from '../pm/process-class';
import type { WorkerLimits } from '../spawn/exec-helper';
import { lookupGroup, lookupUser, supplementaryGroups } from '../spawn/user-db';

/** A config's pool settings as the pool layer takes them (ms, numbers, uid/gid). */
export function poolInput(command: string, args: readonly string[], s: PoolSettings): PoolOptionsInput {
  // Every other setting has the same name and unit in both layers (the compiler checks it).
  const { user, group, rlimits, slots, env, ...same } = s;
  const entry = user !== undefined ? lookupUser(user) : undefined;
  const gid = group !== undefined ? lookupGroup(group) : entry?.gid;
  const limits: WorkerLimits = {};
  if (rlimits?.nofile !== undefined) limits.nofile = rlimits.nofile;
  if (rlimits?.core !== undefined) limits.core = rlimits.core;
  if (rlimits?.as !== undefined) limits.addressSpace = rlimits.as;
  if (rlimits?.nproc !== undefined) limits.nproc = rlimits.nproc;
  // A field left out takes the pool layer's default (resolvePoolOptions).
  return {
    command,
    args,
    ...same,
    ...(env !== undefined ? { env } : {}),
    ...(slots === 'auto' ? { probeSlots: true } : slots !== undefined ? { slots } : {}),
    ...(entry !== undefined ? { uid: entry.uid } : {}),
    ...(gid !== undefined ? { gid } : {}),
    // The user's own groups, as initgroups(3) gives them under php-fpm and suEXEC: a worker
    // of a user in ssl-cert still reads the keys that group may read.
    ...(entry !== undefined && gid !== undefined ? { groups: supplementaryGroups(entry.name, gid) } : {}),
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
  };
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
