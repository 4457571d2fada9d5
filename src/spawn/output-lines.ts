import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';
import type { Logger } from '../log';

/** A process's own fds 1 and 2, or the FCGI_STDERR stream of one request. */
export type OutputStreamName = 'stdout' | 'stderr' | 'fcgi-stderr';

/**
 * A line longer than this is logged in pieces, each but the last marked `continued: true`.
 * Nothing is ever cut off: php-fpm truncates worker output at 1024 bytes
 * (log_limit) and users keep asking why their stack traces end mid-line.
 */
export const MAX_LINE_BYTES = 1024 * 1024;

export interface OutputLinesOptions {
  logger: Logger;
  stream: OutputStreamName;
  /** Split lines longer than this many bytes; default MAX_LINE_BYTES. */
  maxLineBytes?: number;
  /** The log message of each line; default 'worker output'. */
  message?: string;
}

const NEWLINE = 0x0a;
const CR = 0x0d;

/**
 * Renders bytes as a string without losing any: valid UTF-8 is returned as is; otherwise every
 * byte that is not part of a valid UTF-8 sequence becomes `\xNN` and a backslash becomes `\\`,
 * so the original bytes can be recovered exactly (the line is then logged with `escaped: true`).
 */
export function renderBytes(buf: Buffer): { text: string; escaped: boolean } {
  if (isUtf8(buf)) return { text: buf.toString('utf8'), escaped: false };
  let text = '';
  let start = 0; // start of the pending run of valid UTF-8
  let i = 0;
  const flush = (end: number): void => {
    if (end > start) text += buf.toString('utf8', start, end);
  };
  while (i < buf.length) {
    const len = utf8SequenceLength(buf, i);
    if (len > 0 && buf[i] !== 0x5c) {
      i += len;
      continue;
    }
    flush(i);
    text += len > 0 ? '\\\\' : `\\x${(buf[i] ?? 0).toString(16).padStart(2, '0')}`;
    i += 1;
    start = i;
  }
  flush(i);
  return { text, escaped: true };
}

/** Length of the valid UTF-8 sequence at i (RFC 3629: no overlongs, no surrogates), or 0. */
function utf8SequenceLength(buf: Buffer, i: number): number {
  const b0 = buf[i] ?? 0;
  if (b0 < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => {
    const b = buf[i + k];
    return b !== undefined && b >= lo && b <= hi;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const lo = b0 === 0xe0 ? 0xa0 : 0x80;
    const hi = b0 === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const lo = b0 === 0xf0 ? 0x90 : 0x80;
    const hi = b0 === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/**
 * Splits one of a worker's output streams into lines and logs each as one pino line:
 * `{ stream, line }` 'worker output', stdout at info and stderr at warn. A trailing CR
 * (CRLF endings) is dropped with the newline; empty lines are skipped. Chunks are kept as a
 * list until a newline arrives, so a long line costs one copy, not one per chunk.
 */
export class OutputLines {
  private readonly logger: Logger;
  private readonly stream: OutputStreamName;
  private readonly maxLineBytes: number;
  private readonly message: string;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(options: OutputLinesOptions) {
    this.logger = options.logger;
    this.stream = options.stream;
    this.maxLineBytes = Math.max(4, options.maxLineBytes ?? MAX_LINE_BYTES);
    this.message = options.message ?? 'worker output';
  }

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl < 0) break;
      this.append(chunk.subarray(start, nl));
      this.emitPending();
      start = nl + 1;
    }
    if (start < chunk.length) this.append(chunk.subarray(start));
  }

  /** Logs a final line that had no newline (the stream ended). */
  flush(): void {
    if (this.pendingBytes > 0) this.emitPending();
  }

  private append(part: Buffer): void {
    if (part.length === 0) return;
    this.pending.push(part);
    this.pendingBytes += part.length;
    while (this.pendingBytes > this.maxLineBytes) this.emitLongPiece();
  }

  /** Logs the first maxLineBytes of an over-long line, cut on a UTF-8 character boundary. */
  private emitLongPiece(): void {
    const all = Buffer.concat(this.pending, this.pendingBytes);
    let cut = this.maxLineBytes;
    // Step back over at most 3 continuation bytes so a multi-byte character stays whole.
    for (let back = 0; back < 3 && ((all[cut] ?? 0) & 0xc0) === 0x80; back++) cut--;
    if (((all[cut] ?? 0) & 0xc0) === 0x80) cut = this.maxLineBytes;
    this.log(all.subarray(0, cut), true);
    const rest = all.subarray(cut);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
  }

  private emitPending(): void {
    let line = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    if (line.length > 0) this.log(line, false);
  }

  private log(bytes: Buffer, continued: boolean): void {
    const { text, escaped } = renderBytes(bytes);
    const fields: { stream: OutputStreamName; line: string; continued?: true; escaped?: true } = { stream: this.stream, line: text };
    if (continued) fields.continued = true;
    if (escaped) fields.escaped = true;
    if (this.stream === 'stdout') this.logger.info(fields, this.message);
    else this.logger.warn(fields, this.message);
  }
}

/**
 * Logs every line of `readable` until it ends or closes; resolves after the last (partial)
 * line was logged. Never rejects: a stream error ends the capture (the exit is reported
 * by whoever watches the process).
 */
export function captureOutput(readable: Readable, options: OutputLinesOptions): Promise<void> {
  const lines = new OutputLines(options);
  return new Promise((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      lines.flush();
      resolve();
    };
    readable.on('data', (chunk: Buffer | string) => lines.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    readable.once('end', finish);
    readable.once('close', finish);
    readable.once('error', finish);
  });
}
