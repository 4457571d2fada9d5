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
  const opts: pino.LoggerOptions = { level, base: { pid: process.pid }, name: 'fcgipm' };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}

/** A logger that discards everything, for library users who pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
