/**
 * `fcgipm check-config FILE.yaml` and `fcgipm import-apache FILE.conf...`: synchronous, no
 * server, output for a person (and for scripts: exit codes 0 ok, 1 bad input, 2 usage).
 */
import fs from 'node:fs';
import type { Config } from '../config/types';
import { ConfigError, formatConfigProblem } from '../errors';
import { importApache, type ApacheFile } from '../config/import-apache';
import { adminExposureProblem } from '../config/admin-exposure';
import { loadConfigFile } from '../config/load';
import { readAdminToken } from '../status/admin-token';
import { configClassProblems, formatClassProblem } from './class-check';

/** Where a command writes; `process` fits, tests pass collectors. */
export interface CommandIo {
  readonly stdout: { write(chunk: string): unknown };
  readonly stderr: { write(chunk: string): unknown };
}

const EXIT_OK = 0;
const EXIT_INVALID = 1;
const EXIT_USAGE = 2;

export const CHECK_CONFIG_USAGE = `usage: fcgipm check-config FILE.yaml

Reads FILE.yaml as 'fcgipm serve --config' would and reports every problem, one per line:
FILE:LINE:COLUMN: KEY: MESSAGE. Commands must exist and be executable; users and groups must
exist; and, run as root, a class whose workers would run as root needs allowRoot; an admin
listener off loopback needs listen.adminTokenFile, a file others cannot read: exactly what
'fcgipm serve' refuses at start when run as the same user. Exit status 0 when
the file is valid, 1 when it is not, 2 for a usage error. docs/config.md lists the keys.
`;

export const IMPORT_APACHE_USAGE = `usage: fcgipm import-apache FILE.conf...

Prints the fcgipm YAML equivalent to the mod_fcgid (Fcgid*) directives in the Apache
configuration files, with the AddHandler/SetHandler fcgid-script, DocumentRoot, ServerName,
ServerAlias and DirectoryIndex directives around them. Pass every file that matters (Include
is not followed), e.g. mods-enabled/fcgid.conf and sites-enabled/*.conf. Every directive that
is not carried over is reported on stderr as a '# warning: FILE:LINE: ...' line: what to do
instead, a did-you-mean for a misspelled one, or "not about FastCGI".
`;

function usageError(io: CommandIo, message: string, usage: string): number {
  io.stderr.write(`fcgipm: ${message}\n${usage}`);
  return EXIT_USAGE;
}

/** Options are only --help; "--" ends them, so a file named "-x" can still be given. */
function splitArgs(argv: readonly string[]): { help: boolean; files: string[]; bad: string | undefined } {
  const files: string[] = [];
  let help = false;
  let bad: string | undefined;
  let options = true;
  for (const arg of argv) {
    if (options && arg === '--') options = false;
    else if (options && (arg === '--help' || arg === '-h')) help = true;
    else if (options && arg.startsWith('-') && arg !== '-') bad ??= arg;
    else files.push(arg);
  }
  return { help, files, bad };
}

/** What serve refuses about the admin listener: an address off loopback without a token, a token file others can read. */
function adminProblem(config: Config): string | undefined {
  const { admin, adminTokenFile } = config.listen;
  try {
    if (adminTokenFile !== undefined) readAdminToken(adminTokenFile);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  return admin?.kind === 'tcp' ? adminExposureProblem(admin.host, admin.port, adminTokenFile !== undefined) : undefined;
}

export function checkConfigCommand(argv: readonly string[], io: CommandIo): number {
  const { help, files, bad } = splitArgs(argv);
  if (help) {
    io.stdout.write(CHECK_CONFIG_USAGE);
    return EXIT_OK;
  }
  if (bad !== undefined) return usageError(io, `check-config: unknown option ${bad}`, CHECK_CONFIG_USAGE);
  const [file, ...extra] = files;
  if (file === undefined) return usageError(io, 'check-config: missing FILE.yaml', CHECK_CONFIG_USAGE);
  if (extra.length > 0) return usageError(io, 'check-config: give one file', CHECK_CONFIG_USAGE);
  try {
    const config = loadConfigFile(file);
    // What serve refuses beyond the file itself: classes that could never start here.
    const unstartable = configClassProblems(config).map(formatClassProblem);
    const admin = adminProblem(config);
    if (admin !== undefined) unstartable.push(`${file}: listen.admin: ${admin}`);
    if (unstartable.length > 0) {
      for (const p of unstartable) io.stderr.write(`${p}\n`);
      return EXIT_INVALID;
    }
    const apps = config.sites.reduce((n, s) => n + s.apps.length, 0);
    const wrappers = config.sites.reduce((n, s) => n + s.wrappers.length, 0);
    const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
    io.stdout.write(`${file}: OK (${plural(config.sites.length, 'site')}, ${plural(apps, 'app')}, ${plural(wrappers, 'wrapper')})\n`);
    return EXIT_OK;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) io.stderr.write(`${formatConfigProblem(p)}\n`);
    return EXIT_INVALID;
  }
}

export function importApacheCommand(argv: readonly string[], io: CommandIo): number {
  const { help, files, bad } = splitArgs(argv);
  if (help) {
    io.stdout.write(IMPORT_APACHE_USAGE);
    return EXIT_OK;
  }
  if (bad !== undefined) return usageError(io, `import-apache: unknown option ${bad}`, IMPORT_APACHE_USAGE);
  if (files.length === 0) return usageError(io, 'import-apache: missing FILE.conf', IMPORT_APACHE_USAGE);
  const inputs: ApacheFile[] = [];
  let unreadable = false;
  for (const file of files) {
    try {
      inputs.push({ path: file, text: fs.readFileSync(file, 'utf8') });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String(code ?? err);
      io.stderr.write(`fcgipm: import-apache: cannot read ${file}: ${why}\n`);
      unreadable = true;
    }
  }
  // Half an import would look complete; print nothing rather than a config missing a file.
  if (unreadable) return EXIT_INVALID;
  const { yaml, warnings } = importApache(inputs);
  io.stdout.write(yaml);
  for (const w of warnings) io.stderr.write(`# warning: ${w}\n`);
  return EXIT_OK;
}
