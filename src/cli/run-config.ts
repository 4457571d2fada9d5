/**
 * `fcgipm run` flags as a Config: the same shape `fcgipm serve --config` loads from YAML, so
 * both commands can be served by one server. `run` is one site answering every host with one
 * app at "/" that carries the pool flags.
 */
import path from 'node:path';
import { InvalidArgumentError } from '../errors';
import { findCommand } from './command-path';
import { poolSettingProblems, type CheckedKey } from '../config/pool-checks';
import { SCALING_DEFAULTS } from '../pm/policy/options';
import { DEFAULT_LOG_LEVEL, DEFAULT_MAX_PROCESSES, DEFAULT_MAX_REQUEST_BODY_BYTES, POOL_KEYS } from '../config/schema';
import type { AppRoute, Config, ListenTarget, PoolSettings } from '../config/types';
import type { ListenAddress, RunArgs } from './run-args';


const ORIGIN = 'command line';

function tcp(address: ListenAddress | undefined): ListenTarget | undefined {
  return address ? { kind: 'tcp', host: address.host, port: address.port } : undefined;
}

/** Each checked pool setting as the flag that sets it: the table's own `flag`. */
const flagOf = (key: CheckedKey): string => POOL_KEYS[key].flag ?? key;

/**
 * Flags that contradict each other, named as the user typed them (`--min 10 is above --max
 * 2`), with the pool's defaults standing in for flags not given: `--min 10` alone is above
 * the default --max, which the user should hear about before anything starts.
 */
function checkPoolFlags(s: PoolSettings): void {
  const given = new Set(Object.keys(s));
  const withDefaults: PoolSettings = {
    mode: s.mode ?? SCALING_DEFAULTS.mode,
    minProcesses: s.minProcesses ?? SCALING_DEFAULTS.minProcesses,
    maxProcesses: s.maxProcesses ?? SCALING_DEFAULTS.maxProcesses,
    minSpare: s.minSpare ?? SCALING_DEFAULTS.minSpare,
    maxSpare: s.maxSpare ?? SCALING_DEFAULTS.maxSpare,
  };
  const problems = poolSettingProblems(withDefaults, (key) => (given.has(key) ? flagOf(key) : `the default ${flagOf(key)}`));
  if (problems.length > 0) throw new InvalidArgumentError(problems.join('; '));
}

/** The Config `fcgipm run [options] COMMAND [ARG...]` stands for. */
export function configFromRunArgs(args: RunArgs): Config {
  const pool = args.pool;
  checkPoolFlags(pool);
  if (!args.command.includes('/') && findCommand(args.command) === undefined) {
    throw new InvalidArgumentError(`cannot run ${args.command}: not found in PATH (${process.env.PATH ?? ''})`);
  }
  const app: AppRoute = {
    ...pool,
    prefix: '/',
    // As a shell would run it: a bare name from PATH, a path relative to where fcgipm was
    // started.
    command: findCommand(args.command) ?? path.resolve(args.command),
    args: [...args.args],
    ...(args.script !== undefined ? { script: path.resolve(args.script) } : {}),
    ...(args.roots.length > 0 ? { roots: args.roots.map((r) => path.resolve(r)) } : {}),
    handoff: args.handoff,
    origin: ORIGIN,
  };
  return {
    source: ORIGIN,
    ipcDir: path.resolve(args.ipcDir),
    maxProcesses: DEFAULT_MAX_PROCESSES,
    listen: { http: tcp(args.http), fastcgi: args.fastcgi, admin: tcp(args.admin), reusePort: args.reusePort, fastcgiMode: args.fastcgiMode ?? 0o660, fastcgiPassProxy: args.fastcgiPassProxy,
      ...(args.fastcgiOwner !== undefined ? { fastcgiOwner: args.fastcgiOwner } : {}),
      ...(args.fastcgiGroup !== undefined ? { fastcgiGroup: args.fastcgiGroup } : {}),
      ...(args.adminTokenFile !== undefined ? { adminTokenFile: path.resolve(args.adminTokenFile) } : {}),
    },
    defaults: {},
    commands: {},
    sites: [
      {
        hosts: ['*'],
        documentRoot: undefined,
        handlers: [],
        wrappers: [],
        directoryIndex: [],
        // No document root here: nothing beside the command is ever served as a file.
        static: false,
        followSymlinks: 'owner-match',
        scriptRoots: [],
        apps: [app],
        auth: [],
        passHeaders: [],
        maxRequestBodyBytes: args.maxBodyBytes ?? DEFAULT_MAX_REQUEST_BODY_BYTES,
        pool: {},
        origin: ORIGIN,
      },
    ],
    drainTimeoutMs: args.drainTimeoutMs,
    ...(args.clientHeaderTimeoutMs !== undefined ? { clientHeaderTimeoutMs: args.clientHeaderTimeoutMs } : {}),
    ...(args.clientBodyTimeoutMs !== undefined ? { clientBodyTimeoutMs: args.clientBodyTimeoutMs } : {}),
    logLevel: args.logLevel ?? DEFAULT_LOG_LEVEL,
    // Relative to where fcgipm was started, as every path flag.
    ...(args.logFile !== undefined ? { logFile: path.resolve(args.logFile) } : {}),
    ...(args.pidFile !== undefined ? { pidFile: path.resolve(args.pidFile) } : {}),
    // A relative path is where fcgipm was started, as for every other path flag.
    accessLog: args.accessLog === undefined || args.accessLog === '-' ? args.accessLog : path.resolve(args.accessLog),
    accessLogFormat: args.accessLogFormat ?? 'combined',
  };
}
