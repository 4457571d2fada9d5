import fs from 'node:fs';
import { SpawnError } from '../errors';

/** What makes two requests share a pool: mod_fcgid's process class (mod_fcgid 2.3.9). */
export interface ClassIdentity {
  /** Absolute path of the executable (a wrapper such as php-cgi, or the script itself). */
  readonly command: string;
  readonly args: readonly string[];
  readonly uid: number | undefined;
  readonly gid: number | undefined;
  /** The virtual host the pool serves; '' when there is one site. */
  readonly vhost: string;
}

/**
 * The class key: device and inode of the executable, the exact command line, uid, gid and
 * virtual host — the fields mod_fcgid compares (fcgid_bridge.c, fcgid_spawn_ctl.c). A binary
 * deployed by rename has a new inode, so it gets a new class at once and the old workers
 * idle out; the same file reached by two paths is two classes, as in mod_fcgid.
 */
export function classKey(identity: ClassIdentity): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(identity.command);
  } catch (err) {
    throw new SpawnError(`cannot run ${identity.command}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, err);
  }
  const cmdline = JSON.stringify([identity.command, ...identity.args]);
  return [st.dev, st.ino, cmdline, identity.uid ?? '-', identity.gid ?? '-', identity.vhost].join('|');
}
