import { POOL_KEYS } from './schema';
import type { Config, PoolSettings, SiteConfig } from './types';

/**
 * Process-class settings from the layers of a configuration, field by field:
 *
 *   app / wrapper / auth app  >  commands[command] (FcgidCmdOptions)  >  site.pool  >  defaults
 *
 * A layer sets a field only when it gives a value; a field no layer sets is left out, so the
 * pool layer's built-in defaults apply (src/pm/pool-options.ts). `env` (FcgidInitialEnv) and
 * `rlimits` are merged key by key with the same precedence.
 *
 * Deliberate difference from mod_fcgid 2.3.9 (mod_fcgid 2.3.9): there, a matching
 * FcgidCmdOptions replaces every vhost value, unlisted options fall back to the *compiled*
 * defaults, and FcgidInitialEnv is ignored for that command. Here the command's entry is one
 * more layer; `fcgipm import-apache` writes out explicitly whatever a command must not inherit.
 */

type ScalarField = Exclude<keyof PoolSettings, 'env' | 'rlimits'>;

// Every PoolSettings field, from the one table of pool settings (its type lists each field once).
const SCALAR_FIELDS = (Object.keys(POOL_KEYS) as Array<keyof PoolSettings>).filter(
  (k): k is ScalarField => k !== 'env' && k !== 'rlimits',
);

/**
 * Key-by-key union, later layers winning; undefined values are skipped. Built on a
 * null-prototype object so a YAML key named `__proto__` stays an ordinary key.
 */
function mergeRecords<V>(layers: ReadonlyArray<Readonly<Record<string, V | undefined>> | undefined>): Record<string, V> | undefined {
  let out: Record<string, V> | undefined;
  for (const layer of layers) {
    if (!layer) continue;
    for (const key of Object.keys(layer)) {
      const value = layer[key];
      if (value === undefined) continue;
      out ??= Object.create(null) as Record<string, V>;
      out[key] = value;
    }
  }
  return out === undefined ? undefined : { ...out };
}

/**
 * Merges settings layers, lowest precedence first (like Object.assign). Only PoolSettings
 * fields are read, so an AppRoute, Wrapper or AuthApp can be passed as it is: its prefix,
 * command, suffix, origin… are not settings and are ignored.
 */
export function mergePoolSettings(...layers: ReadonlyArray<PoolSettings | undefined>): PoolSettings {
  const out: Record<string, unknown> = {};
  for (const field of SCALAR_FIELDS) {
    for (let i = layers.length - 1; i >= 0; i--) {
      const value = layers[i]?.[field];
      if (value !== undefined) {
        out[field] = value;
        break;
      }
    }
  }
  const env = mergeRecords(layers.map((l) => l?.env));
  if (env) out.env = env;
  const rlimits = mergeRecords<number | 'unlimited'>(layers.map((l) => l?.rlimits));
  if (rlimits) out.rlimits = rlimits;
  return out;
}

/** The FcgidCmdOptions entry for exactly this command path, if any (own keys only). */
export function commandSettings(config: Config, command: string): PoolSettings | undefined {
  return Object.hasOwn(config.commands, command) ? config.commands[command] : undefined;
}

/** The settings of the class that runs `command` for `site`, `own` being the app's, wrapper's or auth app's fields. */
export function classSettings(config: Config, site: SiteConfig, command: string, own: PoolSettings | undefined): PoolSettings {
  return mergePoolSettings(config.defaults, site.pool, commandSettings(config, command), own);
}
