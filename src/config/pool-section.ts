/**
 * Pool settings (maxProcesses, idleTimeout, env, rlimits… the keys of section "pool" in
 * schema.ts) wherever they are written: defaults, commands entries, sites, wrappers, apps and
 * authorizer apps. Each key is read by the reader its schema type names.
 */
import type { PoolSettings } from './types';
import { readBoolean, readDuration, readEnum, readEnv, readInteger, readRlimit, readSlots, readString, readUmask } from './value-readers';
import type { Entries, Entry, YamlNode, YamlSource } from './yaml-source';

/** A mapping of pool settings only (defaults, commands entries). */
export function readPoolBlock(src: YamlSource, node: YamlNode, keyPath: string): PoolSettings {
  const entries = src.readMap(node, keyPath, 'pool', 'process settings');
  return entries ? readPool(src, entries) : {};
}

/** The pool settings among a mapping's entries (site, wrapper, app, auth app, defaults). */
export function readPool(src: YamlSource, entries: Entries): PoolSettings {
  const out: Record<string, unknown> = {};
  let envFrom: Entry | undefined;
  for (const e of entries.values()) {
    const isEnv = e.spec.type === 'env';
    if (e.spec.section !== 'pool' && !isEnv) continue;
    const field = e.spec.field ?? e.spec.key;
    if (isEnv) {
      if (envFrom) {
        src.problem(e.keyNode ?? e.node, e.path, `env and initialEnv are the same setting (FcgidInitialEnv); give one of them (the other is at line ${src.where(envFrom.keyNode).line})`);
        continue;
      }
      envFrom = e;
    }
    const value = poolValue(src, e);
    if (value !== undefined) out[field] = value;
  }
  // Each field was converted by the type its schema entry names, which matches PoolSettings
  // (test/config/load.test.ts checks every key of the full example).
  return out;
}

function poolValue(src: YamlSource, e: Entry): unknown {
  switch (e.spec.type) {
    case 'enum':
      return readEnum(src, e);
    case 'integer':
      return readInteger(src, e);
    case 'duration':
      return readDuration(src, e);
    case 'string':
      return readString(src, e);
    case 'boolean':
      return readBoolean(src, e);
    case 'umask':
      return readUmask(src, e);
    case 'slots':
      return readSlots(src, e);
    case 'env':
      return readEnv(src, e);
    case 'rlimits': {
      const entries = src.readMap(e.node, e.path, 'rlimits', 'resource limits');
      if (!entries) return undefined;
      const limits: Record<string, number | 'unlimited'> = {};
      for (const r of entries.values()) {
        const v = readRlimit(src, r);
        if (v !== undefined) limits[r.spec.key] = v;
      }
      return limits;
    }
    default:
      throw new Error(`no reader for pool key type ${e.spec.type}`);
  }
}
