import type { DispatchHandle } from '../pm/pool';
import { CgiHeaderParser } from '../protocol/cgi-response';
import type { AccessLog } from './access-log';
import type { FcgiServerRequest, FcgiServerResponse } from './fcgi-server-connection';

/** The web server would refuse a larger CGI header block too (nginx: fastcgi_buffer_size). */
const MAX_HEAD_BYTES = 64 * 1024;

/**
 * The FastCGI front end's access log, as php-fpm's access.log: wraps the response to a web
 * server and, when it ends (or the web server gives up on it), writes a line from the
 * request's params — REMOTE_ADDR, REMOTE_USER, REQUEST_METHOD, REQUEST_URI, SERVER_PROTOCOL,
 * HTTP_REFERER, HTTP_USER_AGENT — and from the CGI head the app sent back: its Status (200
 * when none, 302 for a bare Location, as the web server will answer) and the body bytes after
 * the head. Made per request only when an access log is on.
 */
export class LoggedFcgiResponse implements FcgiServerResponse {
  /** The pool's handle once the request is dispatched: pool, worker pid, queue wait. */
  handle: DispatchHandle | undefined;
  /** The pool it goes to, set before dispatch (which may answer before it returns a handle). */
  pool: string | undefined;
  private readonly inner: FcgiServerResponse;
  private readonly params: ReadonlyMap<string, string>;
  private readonly accessLog: AccessLog;
  private readonly time = Date.now();
  private readonly startedAt = performance.now();
  private parser: CgiHeaderParser | undefined = new CgiHeaderParser({ maxHeaderBytes: MAX_HEAD_BYTES });
  /** 0 until the head is read; 502 when it cannot be (the web server answers that). */
  private status = 0;
  private bytes = 0;
  private recorded = false;

  constructor(inner: FcgiServerResponse, req: FcgiServerRequest, params: ReadonlyMap<string, string>, accessLog: AccessLog) {
    this.inner = inner;
    this.params = params;
    this.accessLog = accessLog;
    // ABORT_REQUEST or a lost connection: the response never ends through end() here.
    req.signal.addEventListener('abort', () => this.record(true), { once: true });
  }

  get ended(): boolean {
    return this.inner.ended;
  }

  stdout(chunk: Buffer): boolean {
    if (!this.inner.ended) this.observe(chunk);
    return this.inner.stdout(chunk);
  }

  stderr(chunk: Buffer): void {
    this.inner.stderr(chunk);
  }

  end(appStatus?: number, protocolStatus?: number): void {
    this.inner.end(appStatus, protocolStatus);
    this.record(false);
  }

  onDrain(cb: () => void): void {
    this.inner.onDrain(cb);
  }

  private observe(chunk: Buffer): void {
    const parser = this.parser;
    if (!parser) {
      this.bytes += chunk.length;
      return;
    }
    const r = parser.push(chunk);
    if ('error' in r) {
      this.parser = undefined;
      this.status = 502;
      return;
    }
    if (!r.done) return;
    this.parser = undefined;
    this.status = r.head.status ?? (r.head.location !== undefined ? 302 : 200);
    this.bytes += r.rest.length;
  }

  private record(aborted: boolean): void {
    if (this.recorded) return;
    this.recorded = true;
    const p = this.params;
    // No head at all: the web server went away first (499), or the app ended without one (502).
    const status = this.status !== 0 ? this.status : aborted ? 499 : 502;
    const method = p.get('REQUEST_METHOD') ?? '';
    const handle = this.handle;
    this.accessLog.write({
      time: this.time,
      remote: p.get('REMOTE_ADDR') ?? '-',
      user: nonEmpty(p.get('REMOTE_USER')),
      method,
      uri: p.get('REQUEST_URI') ?? p.get('SCRIPT_NAME') ?? '',
      protocol: p.get('SERVER_PROTOCOL') ?? '',
      status,
      bytes: method === 'HEAD' ? 0 : this.bytes,
      referer: p.get('HTTP_REFERER'),
      userAgent: p.get('HTTP_USER_AGENT'),
      durationMs: performance.now() - this.startedAt,
      queueWaitMs: handle?.queueWaitMs,
      pool: handle?.pool ?? this.pool,
      workerPid: handle?.workerPid,
    });
  }
}

/** Web servers send REMOTE_USER empty when nobody logged in; Apache's %u is "-" then. */
function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}
