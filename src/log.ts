import pino from 'pino';

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
