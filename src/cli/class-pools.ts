import fs from 'node:fs';
import path from 'node:path';
import type { PoolSettings } from '../config/types';
import { FcgipmError, SpawnError } from '../errors';
import type { Manager } from '../pm/manager';
import type { Pool } from '../pm/pool';
import type { PoolOptionsInput } from '../pm/pool-options';
import type { WorkerLimits } from '../spawn/exec-helper';
import { lookupGroup, lookupUser } from '../spawn/user-db';

/** What the router says serves a request; the same spec always means the same pool. */
export interface ClassRequest {
  readonly command: string;
  readonly args: readonly string[];
  readonly settings: PoolSettings;
  readonly vhost: string;
  /** A handoff app's workers speak another protocol: never the same pool as a proxied one. */
  readonly handoff?: boolean;
}

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

interface Known {
  readonly pool: Pool;
  readonly command: string;
  readonly dev: number;
  readonly ino: number;
  /** The executable has not changed since it was last stat()ed (its directory is watched). */
  verified: boolean;
}

/**
 * The pools of the process classes requests are routed to, created on first use through
 * Manager.poolForClass. A binary replaced by rename is a new class, as in mod_fcgid; but
 * where mod_fcgid stat()s the executable on every request, a class here is checked once and
 * then trusted until inotify reports a change in the executable's directory (a stat per
 * request cost 8% of the manager's CPU on the hello benchmark, docs/benchmarks.md). Where
 * the directory cannot be watched, the stat stays per request.
 */
export class ClassPools {
  private readonly known = new Map<string, Known>();
  /** The router hands out the same spec object for a class every time: its key is made once. */
  private readonly keys = new WeakMap<ClassRequest, string>();
  /** One watcher per directory that holds an executable of a known class. */
  private readonly watchers = new Map<string, fs.FSWatcher>();

  constructor(private readonly manager: Manager) {}

  /** The pool for a class, or the error to answer with (the command is gone: 503). */
  poolFor(spec: ClassRequest): Pool | FcgipmError {
    const key = this.keyOf(spec);
    const known = this.known.get(key);
    if (known?.verified) return known.pool;
    let st: fs.Stats;
    try {
      st = fs.statSync(spec.command);
    } catch (err) {
      return new SpawnError(`cannot run ${spec.command}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, err);
    }
    if (known && known.dev === st.dev && known.ino === st.ino) {
      known.verified = this.watch(spec.command);
      return known.pool;
    }
    try {
      const pool = this.manager.poolForClass(
        // A handoff worker may well be an event-loop app (the Node helper) that never blocks in accept().
        poolInput(spec.command, spec.args, spec.handoff === true ? { readiness: 'spawn', ...spec.settings } : spec.settings),
        spec.vhost, JSON.stringify([spec.settings, spec.handoff === true]));
      this.known.set(key, { pool, command: spec.command, dev: st.dev, ino: st.ino, verified: this.watch(spec.command) });
      return pool;
    } catch (err) {
      return err instanceof FcgipmError ? err : new SpawnError(String(err), err);
    }
  }

  /** Watches the executable's directory; false when it cannot be watched (stat per request). */
  private watch(command: string): boolean {
    const dir = path.dirname(command);
    if (this.watchers.has(dir)) return true;
    let watcher: fs.FSWatcher;
    try {
      // Any change in the directory (a rename-deploy, a delete, a chmod) makes its classes be
      // checked again on their next request; a change to an unrelated file costs one stat.
      watcher = fs.watch(dir, { persistent: false }, () => this.unverify(dir));
    } catch {
      return false;
    }
    watcher.on('error', () => {
      watcher.close();
      this.watchers.delete(dir);
      this.unverify(dir);
    });
    this.watchers.set(dir, watcher);
    return true;
  }

  private unverify(dir: string): void {
    for (const k of this.known.values()) if (path.dirname(k.command) === dir) k.verified = false;
  }

  /** The pool already made for a spec, without making one. */
  peek(spec: ClassRequest): Pool | undefined {
    return this.known.get(this.keyOf(spec))?.pool;
  }

  private keyOf(spec: ClassRequest): string {
    let key = this.keys.get(spec);
    if (key === undefined) {
      key = JSON.stringify([spec.command, spec.args, spec.vhost, spec.settings, spec.handoff === true]);
      this.keys.set(spec, key);
    }
    return key;
  }

  /** Forgets the mapping (a reload with a new config); pools themselves live on in the manager. */
  clear(): void {
    this.known.clear();
    this.close();
  }

  /** Stops watching the executables' directories. Idempotent. */
  close(): void {
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }
}
