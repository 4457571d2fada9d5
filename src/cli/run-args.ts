import { parseListen } from '../config/listen';
import type { ListenTarget, PoolSettings } from '../config/types';
import { DEFAULT_DRAIN_TIMEOUT_MS, DEFAULT_IPC_DIR } from '../defaults';
import { InvalidArgumentError } from '../errors';
import { applyPoolFlag, count, isPoolFlag, POOL_SWITCHES, seconds, type PoolFlagSettings } from './pool-flags';
import { unknownOption } from './unknown-option';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** `fcgipm run` options (docs/config.md lists every flag). */
export interface RunArgs {
  readonly command: string;
  readonly args: string[];
  readonly http: ListenAddress | undefined;
  readonly admin: ListenAddress | undefined;
  /** --admin-token-file PATH: the admin listener's bearer token, read from a file (not argv). */
  readonly adminTokenFile: string | undefined;
  /** FastCGI front end for nginx / Apache mod_proxy_fcgi; off when undefined. */
  readonly fastcgi: ListenTarget | undefined;
  /** --fastcgi-mode OCTAL: the FastCGI Unix socket's permissions (php-fpm's listen.mode). */
  readonly fastcgiMode: number | undefined;
  /** --fastcgi-pass-proxy: pass the web server's HTTP_PROXY param on (stripped otherwise). */
  readonly fastcgiPassProxy: boolean;
  /** Pass client sockets to the app (docs/handoff-protocol.md) instead of proxying. */
  readonly handoff: boolean;
  /** SO_REUSEPORT on the HTTP listener: a new fcgipm can start before the old one stops. */
  readonly reusePort: boolean;
  /** HTTP front-end processes on the port, each with its share of --min/--max (front-ends.ts). */
  readonly frontEnds: number;
  readonly ipcDir: string;
  readonly script: string | undefined;
  /** --root DIR (repeatable): where an interpreter's scripts may be, behind a FastCGI front end. */
  readonly roots: readonly string[];
  /**
   * The pool flags (--min, --max, --idle-timeout, --user, --rlimit-*, --env…) as the settings the
   * YAML keys fill, in Config units; a flag not given stays out (src/cli/pool-flags.ts).
   */
  readonly pool: PoolSettings;
  readonly maxBodyBytes: number | undefined;
  readonly drainTimeoutMs: number;
  /** --client-header-timeout SEC: the time a client gets to send a request head. */
  readonly clientHeaderTimeoutMs: number | undefined;
  /** --client-body-timeout SEC: the longest pause between two reads of a request body. */
  readonly clientBodyTimeoutMs: number | undefined;
  readonly logLevel: string | undefined;
  /** --log-file PATH: append the log there instead of stdout (reopened on SIGUSR1). */
  readonly logFile: string | undefined;
  /** --pid-file PATH: fcgipm's pid, written once listening. */
  readonly pidFile: string | undefined;
  /** --fastcgi-owner / --fastcgi-group: the FastCGI Unix socket's owner and group. */
  readonly fastcgiOwner: string | undefined;
  readonly fastcgiGroup: string | undefined;
  /** --access-log PATH|-: a line per request; undefined (or "off") for none. */
  readonly accessLog: string | undefined;
  readonly accessLogFormat: 'combined' | 'json' | undefined;
}

export const RUN_USAGE = `usage: fcgipm run [options] [--] COMMAND [ARG...]

Spawns COMMAND as FastCGI workers (a listening socket on fd 0, like mod_fcgid) and serves
HTTP through them. COMMAND is found as a shell finds it: a bare name in PATH.

  --http HOST:PORT        HTTP front end (default 127.0.0.1:8080; "off" disables)
  --fastcgi ADDR          FastCGI front end for nginx fastcgi_pass or Apache mod_proxy_fcgi:
                          unix:/path or HOST:PORT (default off)
  --fastcgi-mode OCTAL    permissions of that Unix socket (default 0660; 0666 lets a web server
                          running as another user connect, php-fpm's listen.mode)
  --fastcgi-pass-proxy    pass the web server's HTTP_PROXY param (a client's Proxy: header) to
                          apps; stripped by default (httpoxy)
  --fastcgi-owner USER    owner of that Unix socket (php-fpm's listen.owner; needs root)
  --fastcgi-group GROUP   group of that Unix socket (php-fpm's listen.group)
  --handoff               pass each client connection to the app with SCM_RIGHTS instead of
                          proxying (the app speaks docs/handoff-protocol.md)
  --reuse-port            bind the HTTP listener with SO_REUSEPORT: a new fcgipm can start on
                          the same port before the old one is stopped (zero-downtime upgrade)
  --front-ends N          N fcgipm processes serve the HTTP port (SO_REUSEPORT), each with its
                          share of --min and --max, so the front end uses N cores (default 1)
  --admin HOST:PORT       admin listener: /status (page), /metrics, /status.json, /healthz
                          (default off; an address off loopback needs --admin-token-file)
  --admin-token-file PATH a file holding a token every admin endpoint but /healthz asks for
                          (Authorization: Bearer TOKEN); chmod 600
  --ipc-dir DIR           worker socket directory (default /run/fcgidsock)
  --script FILE           SCRIPT_FILENAME for an interpreter such as php-cgi (default COMMAND)
  --root DIR              behind --fastcgi, php-cgi runs the web server's SCRIPT_FILENAME only
                          under DIR (repeatable; default the DOCUMENT_ROOT it sends)
  --mode MODE             ondemand (default), dynamic or static
  --min N                 processes started at once and kept (default 0)
  --max N                 processes allowed (default max(4, 2 x CPUs))
  --min-spare N           dynamic: keep at least N idle (default 1)
  --max-spare N           dynamic: keep at most N idle (default 3)
  --idle-timeout SEC      retire a worker idle this long, never below --min (default 300)
  --lifetime SEC          retire a worker this old, after its request (default 0 = never)
  --max-requests N        retire a worker after N requests (default 0 = never)
  --startup-timeout SEC   a new worker must accept connections within this (default 30)
  --slots N|auto          requests one worker takes at once (a shared-socket backend); auto
                          asks it with FCGI_GET_VALUES (php-cgi with PHP_FCGI_CHILDREN=N: N)
  --processes-per-socket N  start N processes behind each worker socket (spawn-fcgi -F N):
                          one worker with N slots; --max then counts sockets
  --busy-timeout SEC      kill a worker whose request runs longer (default 300)
  --slow-request-timeout SEC
                          count and log a request that runs this long or longer (default 0: off)
  --io-timeout SEC        504 when the app sends nothing for this long (default 40)
  --queue-timeout SEC     503 when no worker is free within this (default 30)
  --max-queue N           requests allowed to wait at once (default 1024)
  --max-body BYTES        largest request body, else 413 (default 1073741824)
  --drain-timeout SEC     on SIGTERM, time in-flight requests get to finish (default 30)
  --client-header-timeout SEC
                          408 for a client that has not sent a whole request head by then
                          (default 60, nginx's client_header_timeout)
  --client-body-timeout SEC
                          408 for a client that pauses this long between two reads of its
                          request body (default 60, nginx's client_body_timeout)
  --env NAME=VALUE        add a variable to the workers' environment (repeatable)
  --user USER             run workers as this user (name or uid; needs root)
  --group GROUP           ... and this group (default the user's primary group)
  --allow-root            allow workers to run as root (refused otherwise)
  --rlimit-nofile N       open files per worker ("unlimited" allowed; likewise below)
  --rlimit-core BYTES     core dump size (0: none)
  --rlimit-as BYTES       address space per worker
  --rlimit-nproc N        processes of the worker's user
  --nice N                worker priority, -20..19
  --umask OCTAL           worker file mode creation mask, e.g. 027
  --log-level LEVEL       trace, debug, info, warn, error (default info)
  --log-file PATH         append the log to PATH instead of stdout; SIGUSR1 reopens it
  --pid-file PATH         write fcgipm's pid to PATH once listening, remove it on stop
  --access-log PATH|-     a line per request answered, appended to PATH ("-": stdout, among the
                          JSON log lines; default off)
  --access-log-format F   combined (Apache's, then duration ms, queue wait ms, pool, worker
                          pid; the default) or json
`;

const DEFAULT_HTTP: ListenAddress = { host: '127.0.0.1', port: 8080 };

/** "unix:/path" (relative to the current directory) or a TCP address, as the YAML file takes them. */
export function parseListenTarget(text: string, option: string): ListenTarget {
  const r = parseListen(text, process.cwd());
  if (!r.ok) throw new InvalidArgumentError(`${option}: ${r.error}`);
  if (r.value === undefined) throw new InvalidArgumentError(`${option}: expected HOST:PORT or unix:/path, got "${text}"`);
  return r.value;
}

/** "127.0.0.1:8080", "[::1]:8080", ":8080" (all interfaces) or "8080" (loopback). */
export function parseListenAddress(text: string, option: string): ListenAddress {
  const t = parseListenTarget(text, option);
  if (t.kind !== 'tcp') throw new InvalidArgumentError(`${option}: expected HOST:PORT, got "${text}" (a Unix socket is not supported here)`);
  return { host: t.host, port: t.port };
}

/** run's options that take no value; every other `--name` takes one (inline or next). */
const RUN_FLAGS: ReadonlySet<string> = new Set(['--reuse-port', '--handoff', '--fastcgi-pass-proxy', ...POOL_SWITCHES]);

/**
 * -h or --help among run's own options: before COMMAND and before a "--", and not the value of
 * an option. After them it is an argument of the program run starts (`run -- app -h`).
 */
export function runWantsHelp(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    if (arg === '-h' || arg === '--help') return true;
    if (arg === '--' || !arg.startsWith('--')) return false;
    if (!arg.includes('=') && !RUN_FLAGS.has(arg)) i += 1;
  }
  return false;
}

/** Parses `fcgipm run` arguments (without "run"). Throws InvalidArgumentError naming the option. */
export function parseRunArgs(argv: readonly string[]): RunArgs {
  let http: ListenAddress | undefined = DEFAULT_HTTP;
  let ipcDir = DEFAULT_IPC_DIR;
  let admin: ListenAddress | undefined;
  let adminTokenFile: string | undefined;
  let fastcgi: ListenTarget | undefined;
  let fastcgiMode: number | undefined;
  let fastcgiPassProxy = false;
  let handoff = false;
  let reusePort = false;
  let frontEnds = 1;
  let script: string | undefined;
  const roots: string[] = [];
  const pool: PoolFlagSettings = {};
  let maxBodyBytes: number | undefined;
  let drainTimeoutMs = DEFAULT_DRAIN_TIMEOUT_MS;
  let clientHeaderTimeoutMs: number | undefined;
  let clientBodyTimeoutMs: number | undefined;
  let logLevel: string | undefined;
  let logFile: string | undefined;
  let pidFile: string | undefined;
  let fastcgiOwner: string | undefined;
  let fastcgiGroup: string | undefined;
  let accessLog: string | undefined;
  let accessLogFormat: 'combined' | 'json' | undefined;

  let i = 0;
  for (; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      i += 1;
      break;
    }
    if (!arg.startsWith('--')) break;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      i += 1;
      const v = argv[i];
      if (v === undefined) throw new InvalidArgumentError(`${name}: missing value`);
      return v;
    };
    switch (name) {
      case '--http': {
        const v = value();
        http = v === 'off' ? undefined : parseListenAddress(v, name);
        break;
      }
      case '--ipc-dir':
        ipcDir = value();
        break;
      case '--admin':
        admin = parseListenAddress(value(), name);
        break;
      case '--admin-token-file':
        adminTokenFile = value();
        break;
      case '--fastcgi': {
        const v = value();
        fastcgi = v === 'off' ? undefined : parseListenTarget(v, name);
        break;
      }
      case '--fastcgi-mode': {
        const v = value();
        if (!/^[0-7]{3,4}$/.test(v) || parseInt(v, 8) > 0o777) throw new InvalidArgumentError(`--fastcgi-mode: expected an octal mode such as 0666, got "${v}"`);
        fastcgiMode = parseInt(v, 8);
        break;
      }
      case '--fastcgi-pass-proxy':
        if (inline !== undefined) throw new InvalidArgumentError('--fastcgi-pass-proxy takes no value');
        fastcgiPassProxy = true;
        break;
      case '--reuse-port':
        if (inline !== undefined) throw new InvalidArgumentError('--reuse-port takes no value');
        reusePort = true;
        break;
      case '--handoff':
        if (inline !== undefined) throw new InvalidArgumentError('--handoff takes no value');
        handoff = true;
        break;
      case '--script':
        script = value();
        break;
      case '--root':
        roots.push(value());
        break;
      case '--front-ends':
        frontEnds = count(name, value(), 1);
        break;
      case '--max-body':
        maxBodyBytes = count(name, value(), 0);
        break;
      case '--drain-timeout':
        drainTimeoutMs = seconds(name, value());
        break;
      case '--client-header-timeout':
        clientHeaderTimeoutMs = seconds(name, value());
        break;
      case '--client-body-timeout':
        clientBodyTimeoutMs = seconds(name, value());
        break;
      case '--log-level':
        logLevel = value();
        break;
      case '--log-file':
        logFile = value();
        break;
      case '--pid-file':
        pidFile = value();
        break;
      case '--fastcgi-owner':
        fastcgiOwner = value();
        break;
      case '--fastcgi-group':
        fastcgiGroup = value();
        break;
      case '--access-log': {
        const v = value();
        if (v === '') throw new InvalidArgumentError('--access-log: expected a file path, "-" (stdout) or "off"');
        accessLog = v === 'off' ? undefined : v;
        break;
      }
      case '--access-log-format': {
        const v = value();
        if (v !== 'combined' && v !== 'json') throw new InvalidArgumentError(`--access-log-format: expected combined or json, got "${v}"`);
        accessLogFormat = v;
        break;
      }
      default:
        if (!isPoolFlag(name)) throw new InvalidArgumentError(unknownOption(name, RUN_USAGE));
        applyPoolFlag(name, value, inline, pool);
    }
  }
  const command = argv[i];
  if (command === undefined || command === '') throw new InvalidArgumentError('missing COMMAND to run');
  return {
    command,
    args: argv.slice(i + 1),
    http,
    admin,
    adminTokenFile,
    fastcgi,
    fastcgiMode,
    fastcgiPassProxy,
    handoff,
    reusePort,
    frontEnds,
    ipcDir,
    script,
    roots,
    pool,
    maxBodyBytes,
    drainTimeoutMs,
    clientHeaderTimeoutMs,
    clientBodyTimeoutMs,
    logLevel,
    logFile,
    pidFile,
    fastcgiOwner,
    fastcgiGroup,
    accessLog,
    accessLogFormat,
  };
}
