import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { EndRequest, ResponseHandler } from '../client/request';
import type { FcgipmError } from '../errors';
import type { Logger } from '../log';
import type { DispatchHandle } from '../pm/pool';
import { CgiHeaderParser, type CgiHead } from '../protocol/cgi-response';

/** Response headers that describe the app's hop, not ours (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection']);

function uncork(w: CgiResponseWriter): void {
  w.corked = false;
  w.uncorkResponse();
}

/** Seconds a client is told to wait after a 503 (queue full, queue timeout, app failing to start). */
const RETRY_AFTER_SECONDS = 5;

export interface CgiResponseWriterOptions {
  readonly res: ServerResponse;
  readonly log: Logger;
  readonly reqId: string;
  /** Largest CGI header block accepted from the app (mod_fcgid: 8 KiB per line). */
  readonly maxHeaderBytes: number;
  /** RFC 3875 §6.2.2: a path-only Location without Status is served as a new GET. */
  readonly onLocalRedirect: (location: string) => void;
}

/**
 * Turns one FastCGI response (CGI header block + body on STDOUT) into the HTTP response:
 * RFC 3875 §6 status rules, repeated headers kept apart, body streamed as it comes with
 * back-pressure to the worker, and failures mapped to their HTTP status.
 */
export class CgiResponseWriter implements ResponseHandler {
  handle: DispatchHandle | undefined;
  private readonly o: CgiResponseWriterOptions;
  private readonly parser: CgiHeaderParser;
  private headDone = false;
  private finished = false;
  private waitingDrain = false;
  corked = false;

  constructor(options: CgiResponseWriterOptions) {
    this.o = options;
    this.parser = new CgiHeaderParser({ maxHeaderBytes: options.maxHeaderBytes });
  }

  /** false while the client is slow: the worker's output waits until its 'drain'. */
  onStdout(chunk: Buffer): boolean {
    if (this.finished) return true;
    if (this.headDone) return this.writeBody(chunk);
    const r = this.parser.push(chunk);
    if ('error' in r) {
      this.handle?.abort();
      this.fail(r.error);
      return true;
    }
    if (!r.done) return true;
    this.headDone = true;
    return this.writeHead(r.head) && r.rest.length > 0 ? this.writeBody(r.rest) : true;
  }

  onStderr(): void {
    // The pool already logged it with the request id.
  }

  onEnd(_end: EndRequest): void {
    if (this.finished) return;
    if (!this.headDone) {
      this.fail(this.parser.end());
      return;
    }
    this.finished = true;
    this.o.res.end();
  }

  onError(err: FcgipmError): void {
    if (this.finished) return;
    this.fail(err);
  }

  /** Answers a request that failed before reaching a worker (bad URL, body too large). */
  fail(err: FcgipmError): void {
    this.finished = true;
    const { res, log, reqId } = this.o;
    if (err.code === 'FCGIPM_ERR_CLIENT_ABORTED') {
      log.debug({ reqId, code: err.code }, 'client went away');
      res.destroy();
      return;
    }
    // The pool and the worker's pid say which app failed (php-fpm: "[pool www] child 123").
    const handle = this.handle;
    const where = handle ? { pool: handle.pool, ...(handle.workerPid !== undefined ? { pid: handle.workerPid } : {}) } : {};
    log.warn({ reqId, ...where, code: err.code, status: err.httpStatus, err: err.message }, 'request failed');
    if (res.headersSent) {
      // Too late for a status: cut the connection so the client sees a truncated response.
      res.destroy();
      return;
    }
    const status = err.httpStatus;
    const body = `${status} ${STATUS_CODES[status] ?? 'Error'} (${err.code})\n`;
    const headers: Record<string, string | number> = {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-fcgipm-error': err.code,
    };
    if (status === 503) headers['retry-after'] = RETRY_AFTER_SECONDS;
    // The body of a refused or timed-out upload was not read; do not keep the connection.
    if (status === 413 || status === 408) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(body);
  }

  /** Ends a cork begun by a body write (one per burst of STDOUT pieces). */
  uncorkResponse(): void {
    this.o.res.uncork();
  }

  /** Returns false when the response is not sent here (a local redirect). */
  private writeHead(head: CgiHead): boolean {
    let status = head.status;
    const location = head.location;
    if (status === undefined && location !== undefined) {
      if (location.startsWith('/') && !location.startsWith('//')) {
        this.finished = true;
        this.handle?.abort();
        this.o.onLocalRedirect(location);
        return false;
      }
      status = 302; // RFC 3875 §6.2.3 client redirect
    }
    const flat: string[] = [];
    for (const [name, value] of head.headers) {
      if (HOP_BY_HOP.has(name.toLowerCase())) continue;
      flat.push(name, value);
    }
    const res = this.o.res;
    if (head.reason !== undefined && head.reason !== '') res.writeHead(status ?? 200, head.reason, flat);
    else res.writeHead(status ?? 200, flat);
    return true;
  }

  /** Writes to the client; false when its buffer is full (resumeResponse() on 'drain'). */
  private writeBody(chunk: Buffer): boolean {
    const res = this.o.res;
    if (!this.corked) {
      // The pieces of one socket read from the app (the end of one STDOUT record, the start of
      // the next) leave in one writev, not one syscall each.
      this.corked = true;
      res.cork();
      process.nextTick(uncork, this);
    }
    let ok: boolean;
    try {
      ok = res.write(chunk);
    } catch (err) {
      // e.g. the app sent more bytes than its own Content-Length.
      this.o.log.warn({ reqId: this.o.reqId, err: (err as Error).message }, 'cannot write response body');
      this.finished = true;
      this.handle?.abort();
      res.destroy();
      return true;
    }
    if (ok) return true;
    if (!this.waitingDrain) {
      this.waitingDrain = true;
      res.once('drain', () => {
        this.waitingDrain = false;
        this.handle?.resumeResponse();
      });
    }
    return false;
  }
}
