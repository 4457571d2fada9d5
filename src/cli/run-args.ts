import { InvalidArgumentError } from '../errors';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** `fcgipm run` options, as DESIGN.md's CLI contract names them. */
export interface RunArgs {
  readonly command: string;
  readonly args: string[];
  readonly http: ListenAddress | undefined;
  readonly ipcDir: string;
  readonly min: number | undefined;
  readonly max: number | undefined;
  readonly maxRequests: number | undefined;
  readonly busyTimeoutMs: number | undefined;
  readonly ioTimeoutMs: number | undefined;
  readonly queueTimeoutMs: number | undefined;
  readonly maxQueue: number | undefined;
  readonly maxBodyBytes: number | undefined;
  readonly drainTimeoutMs: number;
  readonly env: Record<string, string>;
  readonly logLevel: string | undefined;
}

export const RUN_USAGE = `usage: fcgipm run [options] [--] COMMAND [ARG...]

Spawns COMMAND as FastCGI workers (a listening socket on fd 0, like mod_fcgid) and serves
HTTP through them.

  --http HOST:PORT        HTTP front end (default 127.0.0.1:8080; "off" disables)
  --ipc-dir DIR           worker socket directory (default /run/fcgidsock)
  --min N                 processes started at once and kept (default 0)
  --max N                 processes allowed (default max(4, 2 x CPUs))
  --max-requests N        retire a worker after N requests (default 0 = never)
  --busy-timeout SEC      kill a worker whose request runs longer (default 300)
  --io-timeout SEC        504 when the app sends nothing for this long (default 40)
  --queue-timeout SEC     503 when no worker is free within this (default 30)
  --max-queue N           requests allowed to wait at once (default 1024)
  --max-body BYTES        largest request body, else 413 (default 1073741824)
  --drain-timeout SEC     on SIGTERM, time in-flight requests get to finish (default 30)
  --env NAME=VALUE        add a variable to the workers' environment (repeatable)
  --log-level LEVEL       trace, debug, info, warn, error (default info)
`;

export const DEFAULT_IPC_DIR = '/run/fcgidsock';
export const DEFAULT_HTTP: ListenAddress = { host: '127.0.0.1', port: 8080 };

/** Options of the contract that later issues implement; refused clearly until then. */
const NOT_YET = new Set(['--fastcgi', '--admin', '--idle-timeout', '--lifetime', '--handoff']);

/** "127.0.0.1:8080", "[::1]:8080", ":8080" (all interfaces) or "8080" (loopback). */
export function parseListenAddress(text: string, option: string): ListenAddress {
  let host = DEFAULT_HTTP.host;
  let portText = text;
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (bracket) {
    host = bracket[1] ?? host;
    portText = bracket[2] ?? '';
  } else if (text.includes(':')) {
    const i = text.lastIndexOf(':');
    host = text.slice(0, i) || '0.0.0.0';
    portText = text.slice(i + 1);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new InvalidArgumentError(`${option}: expected HOST:PORT, got "${text}"`);
  }
  return { host, port };
}

function count(option: string, text: string | undefined, min: number): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < min) {
    throw new InvalidArgumentError(`${option}: expected a whole number >= ${min}, got "${text ?? ''}"`);
  }
  return Number(text);
}

function seconds(option: string, text: string | undefined): number {
  const n = Number(text);
  if (text === undefined || text.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(`${option}: expected a number of seconds > 0, got "${text ?? ''}"`);
  }
  return Math.round(n * 1000);
}

/** Parses `fcgipm run` arguments (without "run"). Throws InvalidArgumentError naming the option. */
export function parseRunArgs(argv: readonly string[]): RunArgs {
  let http: ListenAddress | undefined = DEFAULT_HTTP;
  let ipcDir = DEFAULT_IPC_DIR;
  let min: number | undefined;
  let max: number | undefined;
  let maxRequests: number | undefined;
  let busyTimeoutMs: number | undefined;
  let ioTimeoutMs: number | undefined;
  let queueTimeoutMs: number | undefined;
  let maxQueue: number | undefined;
  let maxBodyBytes: number | undefined;
  let drainTimeoutMs = 30_000;
  let logLevel: string | undefined;
  const env: Record<string, string> = {};

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
    if (NOT_YET.has(name)) throw new InvalidArgumentError(`${name} is not supported by this version of fcgipm yet`);
    switch (name) {
      case '--http': {
        const v = value();
        http = v === 'off' ? undefined : parseListenAddress(v, name);
        break;
      }
      case '--ipc-dir':
        ipcDir = value();
        break;
      case '--min':
        min = count(name, value(), 0);
        break;
      case '--max':
        max = count(name, value(), 1);
        break;
      case '--max-requests':
        maxRequests = count(name, value(), 0);
        break;
      case '--busy-timeout':
        busyTimeoutMs = seconds(name, value());
        break;
      case '--io-timeout':
        ioTimeoutMs = seconds(name, value());
        break;
      case '--queue-timeout':
        queueTimeoutMs = seconds(name, value());
        break;
      case '--max-queue':
        maxQueue = count(name, value(), 0);
        break;
      case '--max-body':
        maxBodyBytes = count(name, value(), 0);
        break;
      case '--drain-timeout':
        drainTimeoutMs = seconds(name, value());
        break;
      case '--log-level':
        logLevel = value();
        break;
      case '--env': {
        const v = value();
        const e = v.indexOf('=');
        if (e <= 0) throw new InvalidArgumentError(`--env: expected NAME=VALUE, got "${v}"`);
        env[v.slice(0, e)] = v.slice(e + 1);
        break;
      }
      default:
        throw new InvalidArgumentError(`unknown option ${name}`);
    }
  }
  const command = argv[i];
  if (command === undefined || command === '') throw new InvalidArgumentError('missing COMMAND to run');
  return {
    command,
    args: argv.slice(i + 1),
    http,
    ipcDir,
    min,
    max,
    maxRequests,
    busyTimeoutMs,
    ioTimeoutMs,
    queueTimeoutMs,
    maxQueue,
    maxBodyBytes,
    drainTimeoutMs,
    env,
    logLevel,
  };
}
