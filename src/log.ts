import fs from 'node:fs';
import pino from 'pino';
import { InvalidArgumentError } from './errors';

export type Logger = pino.Logger;

export interface LoggerOptions {
  /** pino level; FCGIPM_LOG_LEVEL overrides the default. */
  level?: string;
  /** Write to this destination instead of stdout (tests pass a stream to read lines back). */
  destination?: pino.DestinationStream;
}

/**
 * The root logger. Layers below take a Logger argument and make child loggers with
 * `{ pool, pid, reqId }`; nothing in src/ writes to the console.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.FCGIPM_LOG_LEVEL ?? 'info';
  // `pid` in a line is always a worker's (child loggers carry it); the manager is `manager`.
  const opts: pino.LoggerOptions = { level, base: { manager: process.pid }, name: 'fcgipm' };
  // Synchronous writes: lines stay in order and none is lost when the process exits; fcgipm
  // logs events, not requests, so this is off the hot path.
  return pino(opts, options.destination ?? pino.destination({ dest: 1, sync: true }));
}

/** A logger that discards everything, for library users who pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** A log file fcgipm appends to, reopened by name on SIGUSR1 (after logrotate renamed it). */
export interface LogFile {
  readonly path: string;
  readonly destination: pino.DestinationStream;
  /** Opens `path` anew; the old file is closed once the new one is open. Throws when it cannot. */
  reopen(): void;
}

/** Throws InvalidArgumentError naming the path when it cannot be opened for appending. */
function checkWritable(file: string, what: string): void {
  try {
    fs.closeSync(fs.openSync(file, 'a'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new InvalidArgumentError(`${what} ${file}: cannot open it for writing (${e.code ?? e.message})`);
  }
}

/**
 * Opens the log file for appending. Its directory is not created: a path with a typo fails
 * here, naming it, rather than logging somewhere nobody looks.
 */
export function openLogFile(file: string): LogFile {
  checkWritable(file, 'log file');
  // sync: the same ordering and no-loss guarantee as stdout above.
  const destination = pino.destination({ dest: file, sync: true, append: true });
  // In sync mode sonic-boom reports a failed open only through 'error'; reopen() checks the
  // path first, so this only keeps a late failure from becoming an uncaught exception.
  destination.on('error', () => undefined);
  return {
    path: file,
    destination,
    reopen() {
      checkWritable(file, 'log file');
      destination.reopen();
    },
  };
}
