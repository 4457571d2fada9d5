import fs from 'node:fs';
import path from 'node:path';

/**
 * A command as a shell finds it (POSIX execvp): a name with a "/" is a path, relative to the
 * working directory; a bare name is looked up in each PATH directory in turn (an empty entry
 * is the working directory), the first executable regular file wins. Returns the absolute
 * path, or undefined when a bare name is found nowhere.
 */
export function findCommand(command: string, pathVariable: string | undefined = process.env.PATH, cwd: string = process.cwd()): string | undefined {
  if (command.includes('/')) return path.resolve(cwd, command);
  for (const dir of (pathVariable ?? '').split(':')) {
    const candidate = path.resolve(cwd, dir === '' ? '.' : dir, command);
    try {
      if (!fs.statSync(candidate).isFile()) continue;
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here: the next directory
    }
  }
  return undefined;
}
