/**
 * Whether a configured program can be run: it must exist and be executable when the
 * configuration is read, so that a typo is found by check-config rather than by the first
 * request (mod_fcgid stats its wrappers at start too).
 */
import fs from 'node:fs';

/** Why a program cannot be run, or undefined when it can. */
export function commandProblem(written: string, full: string): string | undefined {
  const name = written === full ? full : `${written} (${full})`;
  let st: fs.Stats;
  try {
    st = fs.statSync(full);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      if (/\s/.test(written.trim())) return `command ${name}: no such file (put its arguments in args)`;
      if (!written.includes('/')) return `command ${name}: no such file (give the full path; commands are not looked up in PATH)`;
      return `command ${name}: no such file`;
    }
    if (code === 'EACCES') return `command ${name}: permission denied on a directory above it`;
    return `command ${name}: ${code ?? String(err)}`;
  }
  if (st.isDirectory()) return `command ${name} is a directory, not a program`;
  if (!st.isFile()) return `command ${name} is not a regular file`;
  try {
    fs.accessSync(full, fs.constants.X_OK);
  } catch {
    return `command ${name} is not executable (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}; chmod +x it)`;
  }
  return undefined;
}
