import { FcgipmError } from '../errors';
import { createLogger } from '../log';
import { markInheritedDescriptorsCloexec } from '../spawn/fd-hygiene';
import { lookupGroup, lookupUser } from '../spawn/user-db';
import { VERSION } from '../version';
import { checkConfigCommand, importApacheCommand } from './config-commands';
import { parseRunArgs, RUN_USAGE } from './run-args';
import { startRunServer } from './run-server';
import { fetchStatus, formatStatus, parseStatusArgs, STATUS_USAGE } from './status-command';
import type { ManagerSnapshot } from '../pm/manager';

/** Process exit codes: 0 clean stop, 1 start-up failure, 2 usage error. */
export const EXIT_OK = 0;
export const EXIT_STARTUP = 1;
export const EXIT_USAGE = 2;

const USAGE = `usage: fcgipm <command> [options]

commands:
  run [options] [--] COMMAND [ARG...]   serve HTTP through FastCGI workers running COMMAND
  status [--admin HOST:PORT] [--json]   the scoreboard of a running fcgipm
  check-config FILE.yaml                check a configuration file, every problem as file:line
  import-apache FILE.conf...            print the YAML equivalent of Apache mod_fcgid directives
  --version                             print the version

'fcgipm run --help' lists the run options.
`;

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

/** --user / --group to numbers: the group defaults to the user's primary group. */
function resolveIdentity(user: string | undefined, group: string | undefined): { uid?: number; gid?: number } {
  if (user === undefined && group === undefined) return {};
  const entry = user !== undefined ? lookupUser(user) : undefined;
  const gid = group !== undefined ? lookupGroup(group) : entry?.gid;
  return { ...(entry ? { uid: entry.uid } : {}), ...(gid !== undefined ? { gid } : {}) };
}

async function run(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') && (argv.indexOf('--help') < argv.indexOf('--') || !argv.includes('--'))) {
    process.stdout.write(RUN_USAGE);
    return EXIT_OK;
  }
  let args;
  try {
    args = parseRunArgs(argv);
  } catch (err) {
    say(describe(err));
    process.stderr.write(`run 'fcgipm run --help' for the options\n`);
    return EXIT_USAGE;
  }
  let identity: { uid?: number; gid?: number };
  try {
    identity = resolveIdentity(args.user, args.group);
  } catch (err) {
    say(describe(err));
    return EXIT_USAGE;
  }
  const logger = createLogger(args.logLevel !== undefined ? { level: args.logLevel } : {});
  // Descriptors we inherited must not reach workers (DESIGN.md "Descriptor hygiene").
  markInheritedDescriptorsCloexec();

  let server;
  try {
    server = await startRunServer({
      ipcDir: args.ipcDir,
      http: args.http,
      admin: args.admin,
      script: args.script,
      logger,
      maxBodyBytes: args.maxBodyBytes,
      // Options left undefined take the pool's defaults (resolvePoolOptions).
      pool: {
        command: args.command,
        args: args.args,
        env: args.env,
        minProcesses: args.min,
        maxProcesses: args.max,
        maxRequestsPerProcess: args.maxRequests,
        busyTimeoutMs: args.busyTimeoutMs,
        ioTimeoutMs: args.ioTimeoutMs,
        queueTimeoutMs: args.queueTimeoutMs,
        maxQueue: args.maxQueue,
        mode: args.mode,
        minSpare: args.minSpare,
        maxSpare: args.maxSpare,
        idleTimeoutMs: args.idleTimeoutMs,
        lifetimeMs: args.lifetimeMs,
        startupTimeoutMs: args.startupTimeoutMs,
        ...identity,
        limits: Object.keys(args.limits).length > 0 ? args.limits : undefined,
        nice: args.nice,
        umask: args.umask,
        allowRoot: args.allowRoot,
        slots: args.slots === 'auto' ? undefined : args.slots,
        probeSlots: args.slots === 'auto',
        processesPerSocket: args.processesPerSocket,
      },
    });
  } catch (err) {
    say(describe(err));
    logger.flush();
    return EXIT_STARTUP;
  }

  const addr = server.httpAddress;
  const adminAddr = server.adminAddress;
  logger.info(
    {
      http: addr ? `${addr.address}:${addr.port}` : 'off',
      admin: adminAddr ? `${adminAddr.address}:${adminAddr.port}` : 'off',
      command: server.pool.options.command,
      ipcDir: server.ipcDir.dir,
    },
    'fcgipm ready',
  );
  if (process.getuid?.() === 0 && identity.uid === undefined) {
    // php-fpm refuses to start like this; mod_fcgid runs apps as Apache's User.
    logger.warn('workers run as root: pass --user to run them as an unprivileged user');
  }
  // SIGHUP: a new generation of workers (a deployed binary is picked up); nothing is dropped.
  process.on('SIGHUP', () => {
    server.reload();
  });

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ signal }, 'already stopping; in-flight requests are being drained');
        return;
      }
      stopping = true;
      logger.info({ signal, drainTimeoutMs: args.drainTimeoutMs }, 'stopping gracefully');
      server.close(args.drainTimeoutMs).then(
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
  });
}

async function status(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help')) {
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
  process.stdout.write(args.json ? body : formatStatus(JSON.parse(body) as ManagerSnapshot));
  return EXIT_OK;
}

export function main(argv: readonly string[]): void {
  const [command, ...rest] = argv;
  let result: Promise<number>;
  switch (command) {
    case 'run':
      result = run(rest);
      break;
    case 'check-config':
      result = Promise.resolve(checkConfigCommand(rest, process));
      break;
    case 'import-apache':
      result = Promise.resolve(importApacheCommand(rest, process));
      break;
    case 'status':
      result = status(rest);
      break;
    case '--version':
    case 'version':
      process.stdout.write(`fcgipm ${VERSION}\n`);
      result = Promise.resolve(EXIT_OK);
      break;
    case undefined:
    case '--help':
    case 'help':
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
