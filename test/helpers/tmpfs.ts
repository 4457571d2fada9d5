/**
 * A small tmpfs mounted in a temp dir of its own, for the cases of a full disk or no inode
 * left (the tests run as root). Where mounting is not allowed (a container without
 * CAP_SYS_ADMIN) the cases are skipped with a line on stderr saying why, except under CI
 * (CI=true), where a case that cannot run is a failure, not a pass.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './fixtures';

export interface Tmpfs {
  /** The mount point. */
  readonly path: string;
  /** Why it could not be mounted (the cases skip), or undefined. */
  readonly skipped: string | undefined;
  /** Unmounts it (lazily if a failed case left a file open) and removes the temp dir. */
  remove(): void;
}

/** Mounts a tmpfs with these options ("size=1m", "size=4m,nr_inodes=256,mode=0755"). */
export function mountTmpfs(options: string, who: string): Tmpfs {
  const root = tempDir();
  const mnt = path.join(root, 'tmpfs');
  fs.mkdirSync(mnt);
  let skipped: string | undefined;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', mnt], { stdio: 'pipe' });
  } catch (err) {
    const why = `cannot mount a tmpfs here (${String((err as { stderr?: Buffer }).stderr ?? err).trim()})`;
    if (process.env.CI === 'true') throw new Error(`${who}: ${why}`);
    skipped = `${why}; skipped`;
    process.stderr.write(`${who}: ${skipped}\n`);
  }
  return {
    path: mnt,
    skipped,
    remove(): void {
      if (skipped === undefined) {
        try {
          execFileSync('umount', [mnt], { stdio: 'pipe' });
        } catch {
          // Still busy (a failed case left a file open): detach it so the temp dir can go.
          execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
        }
      }
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
