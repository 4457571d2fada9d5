import path from 'node:path';
import type { FSWatcher } from 'chokidar';
import type { Config } from '../config/types';
import { ConfigError, FcgipmError, formatConfigProblem } from '../errors';
import { createLogger, type Logger } from '../log';
import { markInheritedDescriptorsCloexec } from '../spawn/fd-hygiene';
import { lookupGroup, lookupUser } from '../spawn/user-db';
import { VERSION } from '../version';
import { followFirstFrontEnd, frontEndArgs, frontEndOf, FrontEnds, type FrontEnd } from './front-ends';
import { parseRunArgs, runWantsHelp, RUN_USAGE } from './run-args';
import { configFromRunArgs } from './run-config';
import { startServer, type Server } from './serve-server';
import { fetchStatus, formatStatus, parseStatus, parseStatusArgs, STATUS_USAGE } from './status-command';

/** Process exit codes: 0 clean stop, 1 start-up failure, 2 usage error. */
export const EXIT_OK = 0;
export const EXIT_STARTUP = 1;
export const EXIT_USAGE = 2;

const USAGE = `usage: fcgipm <command> [options]

commands:
  run [options] [--] COMMAND [ARG...]   serve HTTP through FastCGI workers running COMMAND
  serve --config FILE.yaml              serve the sites and apps of a configuration file
  status [--admin HOST:PORT] [--json]   the scoreboard of a running fcgipm
  check-config FILE.yaml                check a configuration file, every problem as file:line
  import-apache FILE.conf...            print the YAML equivalent of Apache mod_fcgid directives
  help COMMAND                          the options of one command (also COMMAND -h, --help)
  -V, --version                         print the version
  -h, --help                            this list
`;

/** -h or --help among the options of a command that takes no program to run (serve, status). */
function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('-h') || argv.includes('--help');
}

/** The CLI's only output channel besides the log: one line an operator can act on. */
function say(line: string): void {
  process.stderr.write(`fcgipm: ${line}\n`);
}

function describe(err: unknown): string {
  if (err instanceof FcgipmError) return err.message;
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === 'object' && e.code === 'EADDRINUSE') return `cannot listen: address already in use (${e.message})`;
  if (e && typeof e === 'object' && e.code === 'EACCES') return `cannot listen: permission denied (${e.message})`;
  return e instanceof Error ? e.message : String(err);
}

/**
 * The running server's life: SIGHUP reloads (`reload`), SIGTERM / SIGINT stop gracefully.
 * Resolves with the exit code once stopped.
 */
function serveUntilStopped(
  server: Server,
  logger: Logger,
  reload: () => void,
  drainTimeoutMs: number,
  others?: { stop(): Promise<void> },
): Promise<number> {
  // SIGHUP: a new generation of workers (a deployed binary is picked up); nothing is dropped.
  process.on('SIGHUP', reload);
  // Logged once the signals are handled: a supervisor may signal as soon as it sees it.
  logger.info(server.facts, 'fcgipm ready');
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ signal }, 'already stopping; in-flight requests are being drained');
        return;
      }
      stopping = true;
      logger.info({ signal, drainTimeoutMs }, 'stopping gracefully');
      Promise.all([server.close(drainTimeoutMs), others?.stop()]).then(
        () => {
          logger.info('stopped');
          resolve(EXIT_OK);
        },
        (err: unknown) => {
          logger.error({ err: describe(err) }, 'error while stopping');
          resolve(EXIT_STARTUP);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    // A front end started by the first one stops with it (front-ends.ts).
    followFirstFrontEnd(() => stop('SIGTERM'));
  });
}

async function start(config: Config, logger: Logger): Promise<Server | undefined> {
  // Descriptors we inherited must not reach workers (DESIGN.md "Descriptor hygiene").
  markInheritedDescriptorsCloexec();
  try {
    return await startServer(config, logger);
  } catch (err) {
    say(describe(err));
    logger.flush();
    return undefined;
  }
}

async function run(argv: readonly string[]): Promise<number> {
  if (runWantsHelp(argv)) {
    process.stdout.write(RUN_USAGE);
    return EXIT_OK;
  }
  let args;
  let config: Config;
  let frontEnd: FrontEnd;
  try {
    const parsed = parseRunArgs(argv);
    frontEnd = frontEndOf(parsed);
    args = frontEndArgs(parsed, frontEnd);
    config = configFromRunArgs(args);
    // Names are checked now, so a typo is a usage error rather than a failed start.
    if (args.user !== undefined) lookupUser(args.user);
    if (args.group !== undefined) lookupGroup(args.group);
  } catch (err) {
    say(describe(err));
    process.stderr.write(`run 'fcgipm run --help' for the options\n`);
    return EXIT_USAGE;
  }
  const base = createLogger(args.logLevel !== undefined ? { level: args.logLevel } : {});
  const logger = frontEnd.count > 1 ? base.child({ frontEnd: frontEnd.index }) : base;
  const server = await start(config, logger);
  if (!server) return EXIT_STARTUP;
  const others = frontEnd.index === 0 && frontEnd.count > 1 ? new FrontEnds(argv, frontEnd.count, logger) : undefined;
  others?.start();
  const reload = (): void => {
    server.reload();
    others?.signal('SIGHUP');
  };
  return serveUntilStopped(server, logger, reload, args.drainTimeoutMs, others);
}

const SERVE_USAGE = `usage: fcgipm serve --config FILE.yaml [--watch]

Serves every site, app and wrapper of the configuration file (docs/config.md).
SIGHUP re-reads the file: a valid one takes effect with a new generation of workers, an
invalid one is logged with every problem and the running configuration stays.
--watch does the same whenever the file changes (an editor's save, a deploy's rename).
`;

/** Changes closer together than this are one reload (an editor writes a file in steps). */
const WATCH_SETTLE_MS = 200;

async function serve(argv: readonly string[]): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(SERVE_USAGE);
    return EXIT_OK;
  }
  const watchFile = argv.includes('--watch');
  const rest = argv.filter((a) => a !== '--watch');
  const at = rest.indexOf('--config');
  const inline = rest.find((a) => a.startsWith('--config='));
  const file = inline !== undefined ? inline.slice('--config='.length) : at >= 0 ? rest[at + 1] : undefined;
  if (file === undefined || file === '' || rest.length !== (inline !== undefined ? 1 : 2)) {
    say('serve needs --config FILE.yaml (and optionally --watch)');
    process.stderr.write(SERVE_USAGE);
    return EXIT_USAGE;
  }
  // The YAML loader and the file watcher are loaded by the commands that use them: `run`
  // leaves them out of the manager's memory (about 10 MiB, docs/benchmarks.md).
  const { loadConfigFile } = await import('../config/load');
  let config: Config;
  try {
    config = loadConfigFile(file);
  } catch (err) {
    if (err instanceof ConfigError) for (const p of err.problems) process.stderr.write(`${formatConfigProblem(p)}\n`);
    else say(describe(err));
    return EXIT_STARTUP;
  }
  const logger = createLogger({ level: config.logLevel });
  const server = await start(config, logger);
  if (!server) return EXIT_STARTUP;
  const reload = (): void => {
    try {
      const next = loadConfigFile(file);
      server.reload(next);
      logger.info({ config: file }, 'configuration reloaded');
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems.map(formatConfigProblem) : [describe(err)];
      logger.error({ config: file, problems }, 'configuration not reloaded; the running one stays');
    }
  };
  let watcher: FSWatcher | undefined;
  if (watchFile) {
    let timer: NodeJS.Timeout | undefined;
    // The directory is watched, not the file: a deploy that renames a new file into place
    // replaces the inode a file watch would follow.
    const target = path.resolve(file);
    const { watch } = await import('chokidar');
    watcher = watch(path.dirname(target), { ignoreInitial: true, depth: 0 }).on('all', (event, changed) => {
      if ((event !== 'add' && event !== 'change') || path.resolve(changed) !== target) return;
      clearTimeout(timer);
      timer = setTimeout(reload, WATCH_SETTLE_MS);
    });
    watcher.once('ready', () => logger.info({ config: target }, 'watching the configuration file'));
  }
  const code = await serveUntilStopped(server, logger, reload, config.drainTimeoutMs);
  await watcher?.close();
  return code;
}

async function status(argv: readonly string[]): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(STATUS_USAGE);
    return EXIT_OK;
  }
  let args;
  try {
    args = parseStatusArgs(argv);
  } catch (err) {
    say(describe(err));
    return EXIT_USAGE;
  }
  let body: string;
  try {
    body = await fetchStatus(args.admin);
  } catch (err) {
    say(`cannot read status from ${args.admin.host}:${args.admin.port}: ${describe(err)} (is fcgipm running with --admin?)`);
    return EXIT_STARTUP;
  }
  const snapshot = parseStatus(body);
  if (snapshot === undefined) {
    say(`${args.admin.host}:${args.admin.port} answered /status.json, but not with fcgipm's status: is this fcgipm's admin listener (listen.admin, --admin)?`);
    return EXIT_STARTUP;
  }
  process.stdout.write(args.json ? body : formatStatus(snapshot));
  return EXIT_OK;
}

/** `fcgipm help [COMMAND]`: that command's usage, as `COMMAND --help` prints it. */
async function help(command: string | undefined): Promise<number> {
  switch (command) {
    case undefined:
      process.stdout.write(USAGE);
      return EXIT_OK;
    case 'run':
      process.stdout.write(RUN_USAGE);
      return EXIT_OK;
    case 'serve':
      process.stdout.write(SERVE_USAGE);
      return EXIT_OK;
    case 'status':
      process.stdout.write(STATUS_USAGE);
      return EXIT_OK;
    case 'check-config':
    case 'import-apache': {
      const m = await import('./config-commands');
      process.stdout.write(command === 'check-config' ? m.CHECK_CONFIG_USAGE : m.IMPORT_APACHE_USAGE);
      return EXIT_OK;
    }
    default:
      say(`help: unknown command '${command}'`);
      process.stderr.write(USAGE);
      return EXIT_USAGE;
  }
}

export function main(argv: readonly string[]): void {
  const [command, ...rest] = argv;
  let result: Promise<number>;
  switch (command) {
    case 'run':
      result = run(rest);
      break;
    case 'check-config':
      result = import('./config-commands').then((m) => m.checkConfigCommand(rest, process));
      break;
    case 'import-apache':
      result = import('./config-commands').then((m) => m.importApacheCommand(rest, process));
      break;
    case 'serve':
      result = serve(rest);
      break;
    case 'status':
      result = status(rest);
      break;
    case '--version':
    case '-V':
    case 'version':
      process.stdout.write(`fcgipm ${VERSION}\n`);
      result = Promise.resolve(EXIT_OK);
      break;
    case 'help':
      result = help(rest[0]);
      break;
    case undefined:
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      result = Promise.resolve(command === undefined ? EXIT_USAGE : EXIT_OK);
      break;
    default:
      say(`unknown command '${command}'`);
      process.stderr.write(USAGE);
      result = Promise.resolve(EXIT_USAGE);
  }
  void result.then((code) => {
    process.exitCode = code;
    // Workers are gone and listeners closed; leave once stdout (pino) has flushed.
    setImmediate(() => process.exit(code));
  });
}
