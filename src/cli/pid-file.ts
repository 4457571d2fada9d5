import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../errors';

/**
 * The pid file (php-fpm's `pid`, nginx's `pid`): written once fcgipm listens, so a script
 * that waits for it may signal at once; removed on a clean stop. A file naming a live fcgipm
 * refuses the start — two managers on one IPC dir and one set of listeners is never wanted;
 * one left behind by a crash (its pid dead, or reused by something that is not fcgipm) is
 * replaced.
 */

/** The pid a pid file names, or undefined when it holds none. */
function readPid(file: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InvalidArgumentError(`pid file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Whether `pid` is a running fcgipm: alive, and "fcgipm" in its command line. */
function isLiveFcgipm(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: alive, owned by someone else; the command line below decides.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('fcgipm');
  } catch {
    return false;
  }
}

/**
 * Before anything listens: throws InvalidArgumentError naming the file and the pid when the
 * file names another live fcgipm. A stale file is left for write() to replace.
 */
export function checkPidFile(file: string): void {
  const pid = readPid(file);
  if (pid !== undefined && pid !== process.pid && isLiveFcgipm(pid)) {
    throw new InvalidArgumentError(`pid file ${file} names fcgipm pid ${pid}, which is running; stop it first (kill -TERM ${pid}) or choose another --pid-file / pidFile`);
  }
}

/**
 * Writes this process's pid: a temp file beside it renamed over it, so a reader never sees a
 * half-written file. Throws InvalidArgumentError naming the path when it cannot.
 */
export function writePidFile(file: string): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(temp, `${process.pid}\n`, { mode: 0o644 });
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw new InvalidArgumentError(`pid file ${file}: cannot write it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** On a clean stop: removes the file if it still names this process (not a successor's). */
export function removePidFile(file: string): void {
  try {
    if (readPid(file) === process.pid) fs.rmSync(file, { force: true });
  } catch {
    // Nothing to do about a file we can no longer read; the next start replaces it.
  }
}
