import path from 'node:path';
import type { FSWatcher } from 'chokidar';
import type { Config } from '../config/types';
import { ConfigError, FcgipmError, formatConfigProblem, InvalidArgumentError } from '../errors';
import { createLogger, openLogFile, type LogFile, type Logger } from '../log';
import { SystemdNotifier } from '../systemd/notify';
import { activatedSockets } from '../systemd/listen-fds';
import { markInheritedDescriptorsCloexec } from '../spawn/fd-hygiene';
import { lookupGroup, lookupUser } from '../spawn/user-db';
import { VERSION } from '../version';
import { followFirstFrontEnd, frontEndArgs, frontEndOf, FrontEnds, type FrontEnd } from './front-ends';
import { parseRunArgs, runWantsHelp, RUN_USAGE } from './run-args';
import { configFromRunArgs } from './run-config';
import { startServer, type Server } from './serve-server';
import { parseServeArgs, SERVE_USAGE, withListenOverrides, type ServeArgs } from './serve-args';
import { SignalRouter } from './signals';
import { checkPidFile, removePidFile, writePidFile } from './pid-file';
import { startedByNpm, watchParent } from './parent-watch';
import { fetchStatus, formatStatus, parseStatus, parseStatusArgs, STATUS_USAGE } from './status-command';

/** Process exit codes: 0 clean stop, 1 start-up failure, 2 usage error. */
export const EXIT_OK = 0;
const EXIT_STARTUP = 1;
export const EXIT_USAGE = 2;

const USAGE = `usage: fcgipm <command> [options]

commands:
  run [options] [--] COMMAND [ARG...]   serve HTTP through FastCGI workers running COMMAND
  serve --config FILE.yaml [--http ADDR --fastcgi ADDR --admin ADDR]
                                        serve the sites and apps of a configuration file
  status [--admin HOST:PORT] [--admin-token-file PATH] [--json]
                                        the scoreboard of a running fcgipm
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

/** A user or group name given with `flag` exists, or a usage error naming the flag. */
function checkName(flag: string, name: string, lookup: (name: string) => unknown): void {
  try {
    lookup(name);
  } catch (err) {
    throw new InvalidArgumentError(`${flag} ${name}: ${err instanceof Error ? err.message : String(err)}`);
  }
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

/** What serveUntilStopped acts on besides the server. */
interface Running {
  readonly server: Server;
  readonly logger: Logger;
  readonly signals: SignalRouter;
  readonly reload: () => void;
  readonly drainTimeoutMs: number;
  /** The other front ends (`run --front-ends N`), stopped and signalled with this one. */
  readonly others?: FrontEnds;
  readonly pidFile?: string;
}

/** STATUS= for systemd: where fcgipm serves, in one short line. */
function statusLine(server: Server): string {
  const f = server.facts;
  return `serving http ${String(f.http)}, fastcgi ${String(f.fastcgi)}, admin ${String(f.admin)}`;
}

/**
 * The running server's life, by the table of src/cli/signals.ts: TERM, INT and QUIT stop
 * gracefully, HUP and USR2 reload, USR1 reopens the log file. Resolves with the exit code
 * once stopped.
 */
function serveUntilStopped(r: Running): Promise<number> {
  const { server, logger, others } = r;
  const notifier = SystemdNotifier.fromEnv(logger);
  return new Promise<number>((resolve) => {
    let stopping = false;
    let unwatch: (() => void) | undefined;
    const stop = (signal: string): void => {
      if (stopping) {
        logger.warn({ signal }, 'already stopping; in-flight requests are being drained');
        return;
      }
      stopping = true;
      unwatch?.();
      notifier?.stopping('stopping: draining requests in flight');
      logger.info({ signal, drainTimeoutMs: r.drainTimeoutMs }, 'stopping gracefully');
      Promise.all([server.close(r.drainTimeoutMs), others?.stop()]).then(
        () => {
          if (r.pidFile !== undefined) removePidFile(r.pidFile);
          logger.info('stopped');
          notifier?.close();
          resolve(EXIT_OK);
        },
        (err: unknown) => {
          logger.error({ err: describe(err) }, 'error while stopping');
          notifier?.close();
          resolve(EXIT_STARTUP);
        },
      );
    };
    r.signals.handle({
      stop,
      // A new generation of workers (a deployed binary is picked up); nothing is dropped.
      reload: () => {
        if (stopping) return;
        notifier?.reloading('reloading');
        r.reload();
        notifier?.ready(statusLine(server));
      },
      'reopen-logs': (signal) => {
        try {
          server.reopenLogs();
          logger.info({ signal }, 'log files reopened');
        } catch (err) {
          // The old file stays open: nothing is lost, the operator learns why.
          logger.error({ signal, err: describe(err) }, 'cannot reopen the log files; still writing to the old ones');
        }
        others?.signal('SIGUSR1');
      },
    });
    // A front end started by the first one stops with it (front-ends.ts).
    followFirstFrontEnd(() => stop('SIGTERM'));
    if (startedByNpm()) {
      unwatch = watchParent((formerParent) => {
        logger.warn({ formerParent }, 'the process that started fcgipm (npm exec) is gone; stopping');
        stop('parent exited');
      });
    }
    // Logged once the signals are handled: a supervisor may signal as soon as it sees it.
    logger.info(server.facts, 'fcgipm ready');
    notifier?.ready(statusLine(server));
  });
}

/** What the CLI sets up around startServer: the log file and the socket-activation fds. */
function openLog(config: Config): LogFile | undefined {
  return config.logFile !== undefined ? openLogFile(config.logFile) : undefined;
}

async function start(config: Config, logger: Logger, logFile: LogFile | undefined): Promise<Server | undefined> {
  // Descriptors we inherited must not reach workers (docs/architecture.md, "Descriptor hygiene").
  markInheritedDescriptorsCloexec();
  const activated = activatedSockets();
  for (const u of activated.unknown) {
    logger.warn({ fd: u.fd, name: u.name }, 'systemd passed a socket named none of http, fastcgi, admin (FileDescriptorName=); it is not used');
  }
  let server: Server;
  try {
    if (config.pidFile !== undefined) checkPidFile(config.pidFile);
    server = await startServer(config, logger, { ...(logFile ? { logFile } : {}), listenFds: activated.fds });
  } catch (err) {
    say(describe(err));
    logger.flush();
    return undefined;
  }
  if (config.pidFile !== undefined) {
    try {
      // Written once the listeners are bound: whoever waits for the file can connect.
      writePidFile(config.pidFile);
    } catch (err) {
      say(describe(err));
      await server.close(0);
      return undefined;
    }
  }
  return server;
}

async function run(argv: readonly string[], signals: SignalRouter): Promise<number> {
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
    if (args.pool.user !== undefined) checkName('--user', args.pool.user, lookupUser);
    if (args.pool.group !== undefined) checkName('--group', args.pool.group, lookupGroup);
  } catch (err) {
    say(describe(err));
    process.stderr.write(`run 'fcgipm run --help' for the options\n`);
    return EXIT_USAGE;
  }
  let logFile: LogFile | undefined;
  try {
    logFile = openLog(config);
  } catch (err) {
    say(describe(err));
    return EXIT_STARTUP;
  }
  const base = createLogger({ ...(args.logLevel !== undefined ? { level: args.logLevel } : {}), ...(logFile ? { destination: logFile.destination } : {}) });
  const logger = frontEnd.count > 1 ? base.child({ frontEnd: frontEnd.index }) : base;
  const server = await start(config, logger, logFile);
  if (!server) return EXIT_STARTUP;
  const others = frontEnd.index === 0 && frontEnd.count > 1 ? new FrontEnds(argv, frontEnd.count, logger) : undefined;
  others?.start();
  const reload = (): void => {
    server.reload();
    others?.signal('SIGHUP');
  };
  return serveUntilStopped({ server, logger, signals, reload, drainTimeoutMs: args.drainTimeoutMs, ...(others ? { others } : {}), ...(config.pidFile !== undefined ? { pidFile: config.pidFile } : {}) });
}

/** Changes closer together than this are one reload (an editor writes a file in steps). */
const WATCH_SETTLE_MS = 200;

async function serve(argv: readonly string[], signals: SignalRouter): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(SERVE_USAGE);
    return EXIT_OK;
  }
  let args: ServeArgs;
  try {
    args = parseServeArgs(argv);
  } catch (err) {
    say(describe(err));
    process.stderr.write(SERVE_USAGE);
    return EXIT_USAGE;
  }
  const file = args.file;
  // The YAML loader and the file watcher are loaded by the commands that use them: `run`
  // leaves them out of the manager's memory (about 10 MiB, docs/benchmarks.md).
  const { loadConfigFile } = await import('../config/load');
  // The command line's listeners win on every load, so a reload does not see them "change".
  const load = (): Config => withListenOverrides(loadConfigFile(file), args.listen, args.adminTokenFile);
  let config: Config;
  let logFile: LogFile | undefined;
  try {
    config = load();
    logFile = openLog(config);
  } catch (err) {
    if (err instanceof ConfigError) for (const p of err.problems) process.stderr.write(`${formatConfigProblem(p)}\n`);
    else say(describe(err));
    return EXIT_STARTUP;
  }
  const logger = createLogger({ level: config.logLevel, ...(logFile ? { destination: logFile.destination } : {}) });
  const server = await start(config, logger, logFile);
  if (!server) return EXIT_STARTUP;
  const reload = (): void => {
    try {
      const next = load();
      if (next.logFile !== config.logFile || next.pidFile !== config.pidFile) {
        logger.warn({ logFile: next.logFile, pidFile: next.pidFile }, 'logFile or pidFile changed; restart fcgipm to apply it');
      }
      server.reload(next);
      logger.info({ config: file }, 'configuration reloaded');
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems.map(formatConfigProblem) : describe(err).split('\n');
      logger.error({ config: file, problems }, 'configuration not reloaded; the running one stays');
    }
  };
  let watcher: FSWatcher | undefined;
  if (args.watch) {
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
  const code = await serveUntilStopped({ server, logger, signals, reload, drainTimeoutMs: config.drainTimeoutMs, ...(config.pidFile !== undefined ? { pidFile: config.pidFile } : {}) });
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
    body = await fetchStatus(args.admin, undefined, args.token);
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
      // Before anything else: Node starts its inspector on a USR1 no one listens for.
      result = run(rest, new SignalRouter());
      break;
    case 'check-config':
      result = import('./config-commands').then((m) => m.checkConfigCommand(rest, process));
      break;
    case 'import-apache':
      result = import('./config-commands').then((m) => m.importApacheCommand(rest, process));
      break;
    case 'serve':
      result = serve(rest, new SignalRouter());
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
