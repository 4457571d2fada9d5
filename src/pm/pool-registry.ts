import fs from 'node:fs';
import path from 'node:path';
import { FcgipmError, SpawnError } from '../errors';
import type { Manager } from './manager';
import type { Pool } from './pool';
import type { ProcessClass } from './process-class';

interface Known {
  readonly pool: Pool;
  readonly command: string;
  readonly dev: number;
  readonly ino: number;
  /** The executable has not changed since it was last stat()ed (its directory is watched). */
  verified: boolean;
}

/**
 * The pools requests are routed to, one per process class, made on first use through
 * Manager.poolForClass (which keys the class once, class-key.ts). The router hands out one
 * ProcessClass object per class, so a request finds its pool by that object: no key is built
 * per request.
 *
 * A binary replaced by rename is a new class, as in mod_fcgid; but where mod_fcgid stat()s
 * the executable on every request, a class here is checked once and then trusted until
 * inotify reports a change in the executable's directory (a stat per request cost 8% of the
 * manager's CPU on the hello benchmark, docs/benchmarks.md). Where the directory cannot be
 * watched, the stat stays per request.
 */
export class PoolRegistry {
  private known = new WeakMap<ProcessClass, Known>();
  /** The entries whose executable is in a directory, to unverify on a change there. */
  private readonly byDir = new Map<string, Set<Known>>();
  /** One watcher per directory that holds an executable of a known class. */
  private readonly watchers = new Map<string, fs.FSWatcher>();

  constructor(private readonly manager: Manager) {}

  /** The pool for a class, or the error to answer with (the command is gone: 503). */
  poolFor(spec: ProcessClass): Pool | FcgipmError {
    const known = this.known.get(spec);
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
      const pool = this.manager.poolForClass(spec.poolInput(), spec.vhost, spec.variant);
      const entry: Known = { pool, command: spec.command, dev: st.dev, ino: st.ino, verified: this.watch(spec.command) };
      this.known.set(spec, entry);
      const dir = path.dirname(spec.command);
      let set = this.byDir.get(dir);
      if (!set) this.byDir.set(dir, (set = new Set()));
      if (known) set.delete(known);
      set.add(entry);
      return pool;
    } catch (err) {
      return err instanceof FcgipmError ? err : new SpawnError(String(err), err);
    }
  }

  /** The pool already made for a class, without making one. */
  peek(spec: ProcessClass): Pool | undefined {
    return this.known.get(spec)?.pool;
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
    for (const k of this.byDir.get(dir) ?? []) k.verified = false;
  }

  /** Forgets the mapping (a reload with a new config); pools themselves live on in the manager. */
  clear(): void {
    this.known = new WeakMap();
    this.byDir.clear();
    this.close();
  }

  /** Stops watching the executables' directories. Idempotent. */
  close(): void {
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }
}
