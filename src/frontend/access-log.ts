import fs from 'node:fs';
import pino from 'pino';
import { InvalidArgumentError } from '../errors';
import type { Logger } from '../log';
import { formatEntry, type AccessEntry, type AccessLogFormat } from './access-log-format';

/**
 * A new access log (at start, or after logrotate renamed the old one) is 0640: its lines carry
 * query strings, which may hold tokens, and client addresses. php-fpm creates its access.log
 * 0600; Debian's logrotate rules for nginx and Apache create theirs 0640 (group adm).
 */
export const ACCESS_LOG_MODE = 0o640;

export type { AccessEntry, AccessLogFormat } from './access-log-format';

type Destination = ReturnType<typeof pino.destination>;

export interface AccessLogOptions {
  /** A file path (appended to, created 0644), or "-" for stdout. */
  readonly destination: string;
  readonly format: AccessLogFormat;
  /** Where the writer's own troubles (a full disk, a failed reopen) are reported. */
  readonly logger: Logger;
  /** A quiet log's last lines reach the file within this (default 1000 ms). */
  readonly flushIntervalMs?: number;
}

export const ACCESS_LOG_DEFAULTS = {
  flushIntervalMs: 1_000,
  /** Lines are handed to the writer in batches of about this many characters (~25 combined lines). */
  batchChars: 4_096,
  /** Most bytes one write(2) takes. */
  maxWriteBytes: 1024 * 1024,
  /** A stalled disk makes lines wait in memory up to this; more are dropped and counted. */
  maxBufferedBytes: 16 * 1024 * 1024,
} as const;

/** SonicBoom in contentMode 'buffer' takes Buffers; its type declares strings only. */
const writeBuffer = (out: Destination, data: Buffer): boolean => (out.write as unknown as (data: Buffer) => boolean).call(out, data);

/** A trouble of the same kind is logged at most once per this many ms, with a count. */
const WARN_INTERVAL_MS = 10_000;

/**
 * The access log: formats each answered request (access-log-format.ts) and writes the lines
 * asynchronously in batches through a SonicBoom (pino's destination), never one write per
 * request on the event loop. reopen() starts a new file at the same path (after logrotate
 * renamed the old one); close() writes what is buffered and closes the file (pino's
 * destination also writes what it holds, synchronously, if the process exits without close).
 *
 * Lifecycle: new AccessLog() (opens the file, throws if it cannot) → write()… [reopen()…] → close().
 */
export class AccessLog {
  readonly destination: string;
  readonly format: AccessLogFormat;
  private readonly out: Destination;
  private readonly log: Logger;
  private readonly flushTimer: NodeJS.Timeout;
  /**
   * Lines not yet handed to the destination. Batched here, not in SonicBoom (minLength): its
   * write() measures the UTF-8 length of its whole pending buffer on every call (a cost that
   * grows with the batch); here a line is one string append, and the destination gets one
   * write() per batch.
   */
  private batch = '';
  private closing: Promise<void> | undefined;
  private dropped = 0;
  private droppedWarnedAt = -Infinity;
  private errorWarnedAt = -Infinity;
  private errors = 0;

  constructor(options: AccessLogOptions) {
    this.destination = options.destination;
    this.format = options.format;
    this.log = options.logger.child({ accessLog: options.destination });
    const toStdout = options.destination === '-';
    if (!toStdout) {
      // Opened once here, synchronously: a path that cannot be written is refused at start-up
      // (naming it) rather than reported after the first request.
      try {
        fs.closeSync(fs.openSync(options.destination, 'a', ACCESS_LOG_MODE));
      } catch (err) {
        throw new InvalidArgumentError(`access log ${options.destination}: cannot open it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      }
    }
    this.out = pino.destination({
      dest: toStdout ? 1 : options.destination,
      sync: false,
      // Each batch is written as soon as the previous write is done, on the thread pool.
      minLength: 0,
      // Buffers: SonicBoom then adds up their lengths; with strings it measures the UTF-8
      // length of its whole pending string at each write(), which grows with maxWrite.
      contentMode: 'buffer',
      // What piled up during one write goes out in the next (SonicBoom's 16 KiB default
      // needed a loop turn per 16 KiB, and a flood of lines outran it).
      maxWrite: ACCESS_LOG_DEFAULTS.maxWriteBytes,
      maxLength: ACCESS_LOG_DEFAULTS.maxBufferedBytes,
      mode: ACCESS_LOG_MODE,
    });
    this.out.on('error', (err: NodeJS.ErrnoException) => this.onError(err));
    this.out.on('drop', (data: Buffer) => this.onDrop(data));
    const interval = options.flushIntervalMs ?? ACCESS_LOG_DEFAULTS.flushIntervalMs;
    this.flushTimer = setInterval(() => this.tick(), interval);
    this.flushTimer.unref();
  }

  /** Buffers one request's line. Never throws: a closed log drops it. */
  write(entry: AccessEntry): void {
    if (this.closing) return;
    this.batch += formatEntry(this.format, entry);
    if (this.batch.length >= ACCESS_LOG_DEFAULTS.batchChars) this.push();
  }

  /**
   * Reopens the file at its path: after logrotate renamed it, new lines go to a new file.
   * Lines buffered before the call may still land in the renamed file, as with Apache's
   * graceful restart. A no-op for stdout and after close().
   */
  reopen(): void {
    if (this.closing || this.destination === '-') return;
    if (this.batch !== '') this.push();
    this.out.reopen();
    this.log.info('access log reopened');
  }

  /** Writes every buffered line, then closes the file. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      clearInterval(this.flushTimer);
      if (this.batch !== '') this.push();
      this.out.once('close', () => resolve());
      // A write that fails while closing ends nothing more: do not wait for a close that
      // will not come (the failure itself is logged by onError).
      this.out.once('error', () => resolve());
      this.out.end();
    });
    return this.closing;
  }

  /** Closes the file at once; lines not yet written are dropped. Idempotent. close() keeps them. */
  destroy(): void {
    clearInterval(this.flushTimer);
    this.batch = '';
    this.closing ??= Promise.resolve();
    this.out.destroy();
  }

  /** Hands the batch to the destination, which writes it now or right after its current write. */
  private push(): void {
    // Combined lines are ASCII (every other byte is escaped); JSON lines may hold UTF-8.
    const batch = Buffer.from(this.batch, this.format === 'combined' ? 'latin1' : 'utf8');
    this.batch = '';
    writeBuffer(this.out, batch);
  }

  /** A quiet log's last lines are written within one interval. */
  private tick(): void {
    if (this.batch !== '') this.push();
  }

  private onError(err: NodeJS.ErrnoException): void {
    this.errors += 1;
    const now = Date.now();
    if (now - this.errorWarnedAt < WARN_INTERVAL_MS) return;
    this.log.warn({ err: err.code ?? err.message, errors: this.errors }, 'cannot write the access log');
    this.errorWarnedAt = now;
    this.errors = 0;
  }

  private onDrop(data: Buffer): void {
    for (let i = data.indexOf(0x0a); i >= 0; i = data.indexOf(0x0a, i + 1)) this.dropped += 1;
    const now = Date.now();
    if (now - this.droppedWarnedAt < WARN_INTERVAL_MS) return;
    this.log.warn({ dropped: this.dropped, bufferedMax: ACCESS_LOG_DEFAULTS.maxBufferedBytes }, 'access log lines dropped: the destination does not keep up');
    this.droppedWarnedAt = now;
    this.dropped = 0;
  }
}
