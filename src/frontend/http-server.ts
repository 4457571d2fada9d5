import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { KEEP_CONN_MAX_BODY } from '../client/connection';
import type { RequestBody } from '../client/request';
import { serveStaticFile } from './static-file';
import { DEFAULT_CLIENT_BODY_TIMEOUT_MS, DEFAULT_CLIENT_HEADER_TIMEOUT_MS } from '../defaults';
import { BodyTooLargeError, FcgipmError, InvalidArgumentError } from '../errors';
import { authorizerParams, basicCredentials, runAuthorizer } from './authorizer';
import type { Logger } from '../log';
import { spoolBody } from './body-spool';
import { listenOnFd, listenReusePort, tcpAddress } from './listen-fd';
import { buildCgiParams, decodePath, type ScriptTarget } from './cgi-env';
import { CgiResponseWriter } from './cgi-response-writer';
import type { AccessLog } from './access-log';
import { CountingResponse } from './counting-response';
import type { AuthStep, Resolution, Route } from './resolution';

export type { AuthStep, Resolution, Route };

/** On close, how long a just-accepted connection has to send its request before it is closed. */
const CLOSE_IDLE_AFTER_MS = 500;

/** A local redirect that redirects again; RFC 3875 leaves the bound to the server. */
const MAX_LOCAL_REDIRECTS = 10;

/** One app serves every path: the path after the host is PATH_INFO (fcgipm run). */
export function wholeSiteResolver(
  route: Omit<Route, 'target'> & { readonly target: Omit<ScriptTarget, 'pathInfo'> },
): (req: IncomingMessage, rawPath: string) => Resolution {
  return (_req, rawPath) => {
    const pathInfo = decodePath(rawPath);
    if (pathInfo === undefined || pathInfo.includes('\0')) return { deny: 400, reason: 'malformed request path' };
    return { ...route, target: { ...route.target, pathInfo } };
  };
}

export interface HttpFrontendOptions {
  readonly host: string;
  readonly port: number;
  /** Maps a request (its Host and headers) and its raw, still percent-encoded, URL path to a route. */
  readonly resolve: (req: IncomingMessage, rawPath: string) => Resolution;
  readonly logger: Logger;
  readonly serverSoftware: string;
  /** Largest request body; more → 413 (mod_fcgid's FcgidMaxRequestLen is 128 KiB and answers 500). */
  readonly maxBodyBytes?: number;
  /** A chunked body is held in memory up to this, then spooled to a temp file. */
  readonly bodyMemoryLimit?: number;
  /** Largest CGI header block accepted from an app. */
  readonly maxResponseHeaderBytes?: number;
  /** Bind with SO_REUSEPORT (listen-fd.ts). */
  readonly reusePort?: boolean;
  /** Listen on this already listening descriptor (socket activation); host and port are ignored. */
  readonly fd?: number;
  /** Every answered request gets a line here (access-log.ts); none when absent. */
  readonly accessLog?: AccessLog | undefined;
  /** Time a client gets to send a whole request head; then 408 and the connection closed. */
  readonly headerTimeoutMs?: number;
  /** Longest pause between two reads of a request body; then 408 and the connection closed. */
  readonly bodyTimeoutMs?: number;
}

export const HTTP_DEFAULTS = {
  headerTimeoutMs: DEFAULT_CLIENT_HEADER_TIMEOUT_MS,
  bodyTimeoutMs: DEFAULT_CLIENT_BODY_TIMEOUT_MS,
  maxBodyBytes: 1024 * 1024 * 1024,
  bodyMemoryLimit: 1024 * 1024,
  maxResponseHeaderBytes: 64 * 1024,
} as const;

interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly id: string;
  readonly log: Logger;
  dispose: (() => void) | undefined;
  writer: CgiResponseWriter | undefined;
  /** For the access log (0 and '' when there is none): arrival, wall clock and monotonic. */
  readonly time: number;
  readonly startedAt: number;
  /** Read at arrival: a socket that is gone by the time the line is written has no address. */
  readonly remote: string;
  /** The Basic user an authenticator was asked about (Apache logs it as %u, passed or not). */
  user: string | undefined;
}

/**
 * The HTTP/1.1 front end (Node's http server): one exchange per request, CGI variables per
 * RFC 3875, request bodies streamed (or spooled when chunked), responses streamed.
 *
 * Lifecycle: listen() → close() (stops accepting, lets in-flight exchanges finish).
 */
/** How many Host header lines a request has (names in rawHeaders keep their case). */
function hostCount(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? '';
    if (name.length === 4 && name.toLowerCase() === 'host') n += 1;
  }
  return n;
}

export class HttpFrontend {
  private readonly o: Required<Omit<HttpFrontendOptions, 'fd' | 'accessLog'>>;
  private readonly fd: number | undefined;
  private readonly accessLog: AccessLog | undefined;
  private readonly server: http.Server;
  private seq = 0;
  private closing: Promise<void> | undefined;

  constructor(options: HttpFrontendOptions) {
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
      throw new InvalidArgumentError(`http port must be 0-65535, got ${String(options.port)}`);
    }
    this.o = {
      ...options,
      maxBodyBytes: options.maxBodyBytes ?? HTTP_DEFAULTS.maxBodyBytes,
      bodyMemoryLimit: options.bodyMemoryLimit ?? HTTP_DEFAULTS.bodyMemoryLimit,
      maxResponseHeaderBytes: options.maxResponseHeaderBytes ?? HTTP_DEFAULTS.maxResponseHeaderBytes,
      reusePort: options.reusePort ?? false,
      headerTimeoutMs: options.headerTimeoutMs ?? HTTP_DEFAULTS.headerTimeoutMs,
      bodyTimeoutMs: options.bodyTimeoutMs ?? HTTP_DEFAULTS.bodyTimeoutMs,
    };
    this.fd = options.fd;
    this.accessLog = options.accessLog;
    // The counting response (body bytes for %b) only when they are logged.
    // Node checks the head timeout every connectionsCheckingInterval (30 s by default, so a slow
    // head lived 60-90 s): every second, or at the timeout if shorter, keeps it to the second.
    const timeouts = {
      headersTimeout: this.o.headerTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, this.o.headerTimeoutMs),
      // The whole request's limit (Node: 300 s) must not undercut the head's or the body's.
      requestTimeout: Math.max(300_000, this.o.headerTimeoutMs, this.o.bodyTimeoutMs),
    };
    this.server = this.accessLog
      ? http.createServer({ ServerResponse: CountingResponse, ...timeouts }, (req, res) => this.onRequest(req, res))
      : http.createServer(timeouts, (req, res) => this.onRequest(req, res));
    // Idle keep-alive connections are closed on stop; in-flight ones finish first.
    this.server.keepAliveTimeout = 5_000;
  }

  /** Resolves with the bound address; rejects with the listen error (EADDRINUSE, EACCES…). */
  listen(): Promise<AddressInfo> {
    if (this.fd !== undefined) return listenOnFd(this.server, this.fd).then(tcpAddress);
    if (this.o.reusePort) return listenReusePort(this.server, this.o.host, this.o.port);
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.off('error', onError);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  get address(): AddressInfo | undefined {
    const a = this.server.address();
    return a && typeof a === 'object' ? a : undefined;
  }

  /**
   * Serves a connection accepted elsewhere (the handoff listener, which read the first head
   * and pushed it back with socket.unshift) as if this server had accepted it.
   */
  acceptConnection(socket: net.Socket): void {
    this.server.emit('connection', socket);
  }

  /** Stops accepting; resolves when every in-flight exchange has finished. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      // net.Server's close, not http.Server's: Node 20's also closes "idle" connections at
      // once, and a connection accepted a moment ago whose request is still on its way counts
      // as idle — its client would see a reset. Those get CLOSE_IDLE_AFTER_MS to send it;
      // every response from now on says Connection: close.
      net.Server.prototype.close.call(this.server, () => resolve());
      setTimeout(() => this.server.closeIdleConnections(), CLOSE_IDLE_AFTER_MS).unref();
    });
    return this.closing;
  }

  /**
   * Stops at once: no new connections, and every open one — requests in flight included — is
   * destroyed (their clients see the connection reset). Idempotent; close() for the graceful way.
   */
  destroy(): void {
    void this.close();
    this.server.closeAllConnections();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.seq += 1;
    const id = this.seq.toString(36);
    const logged = this.accessLog !== undefined;
    const ex: Exchange = {
      req,
      res,
      id,
      log: this.o.logger,
      dispose: undefined,
      writer: undefined,
      time: logged ? Date.now() : 0,
      startedAt: logged ? performance.now() : 0,
      remote: logged ? (req.socket.remoteAddress ?? '-') : '',
      user: undefined,
    };
    if (this.closing) res.setHeader('connection', 'close');
    // 'close' comes once per response: after the last byte was handed to the socket, or when
    // the client went away first.
    res.once('close', () => {
      ex.dispose?.();
      if (!res.writableFinished) ex.writer?.handle?.abort();
      if (logged) this.logAccess(ex);
    });
    // RFC 9112 §3.2: a request with more than one Host is answered 400 (nginx does too); Node
    // keeps the first in req.headers, and which one a site, an app and a proxy believe differs.
    if (hostCount(req.rawHeaders) > 1) {
      this.simple(ex, 400, 'more than one Host header');
      return;
    }
    this.serve(ex, req.url ?? '/', req.method ?? 'GET', 0);
  }

  private serve(ex: Exchange, url: string, method: string, hops: number): void {
    const writer = new CgiResponseWriter({
      res: ex.res,
      log: ex.log,
      reqId: ex.id,
      maxHeaderBytes: this.o.maxResponseHeaderBytes,
      onLocalRedirect: (location) => {
        if (hops + 1 > MAX_LOCAL_REDIRECTS) {
          this.simple(ex, 500, `more than ${MAX_LOCAL_REDIRECTS} local redirects`);
          return;
        }
        this.serve(ex, location, 'GET', hops + 1);
      },
    });
    ex.writer = writer;

    const q = url.indexOf('?');
    const rawPath = q >= 0 ? url.slice(0, q) : url;
    if (!rawPath.startsWith('/')) {
      this.simple(ex, 400, 'malformed request path');
      return;
    }
    const resolution = this.o.resolve(ex.req, rawPath);
    if ('deny' in resolution) {
      this.simple(ex, resolution.deny, resolution.reason);
      return;
    }
    if ('redirect' in resolution) {
      const location = q >= 0 ? `${resolution.redirect}${url.slice(q)}` : resolution.redirect;
      const body = `301 Moved Permanently: ${location}\n`;
      ex.res.writeHead(301, { location, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      ex.res.end(body);
      return;
    }
    if ('static' in resolution) {
      serveStaticFile(ex.req, ex.res, resolution.static, (status, reason) => this.simple(ex, status, reason));
      return;
    }
    const route = resolution;
    const cgiParams = (contentLength: number | undefined): Array<[string, string]> =>
      buildCgiParams({
        req: ex.req,
        target: route.target,
        url,
        method,
        contentLength,
        serverSoftware: this.o.serverSoftware,
        scheme: 'http',
      });
    if (route.auth && route.auth.length > 0 && hops === 0) {
      this.authorize(ex, writer, route, route.auth, [...cgiParams(undefined), ...(route.extraParams ?? [])], [], (variables) =>
        this.dispatchBody(ex, writer, route, url, method, hops, cgiParams, variables),
      );
      return;
    }
    this.dispatchBody(ex, writer, route, url, method, hops, cgiParams, []);
  }

  /**
   * Runs the route's authorizers in order (spec §6.3). Each that passes adds
   * its Variable-* values for the next and for the responder; the first that does not pass
   * answers the client with exactly what it sent.
   */
  private authorize(
    ex: Exchange,
    writer: CgiResponseWriter,
    route: Route,
    steps: readonly AuthStep[],
    params: ReadonlyArray<readonly [string, string]>,
    variables: ReadonlyArray<readonly [string, string]>,
    then: (variables: ReadonlyArray<readonly [string, string]>) => void,
  ): void {
    const [step, ...rest] = steps;
    if (!step) {
      then(variables);
      return;
    }
    const credentials = basicCredentials(ex.req.headers.authorization);
    if (step.phase === 'AUTHENTICATOR' && credentials) ex.user = credentials.user;
    if (step.phase === 'AUTHENTICATOR' && !credentials) {
      // Apache's authenticator hook only runs on Basic credentials; without them: challenge.
      ex.log.info({ reqId: ex.id, url: ex.req.url }, 'authenticator needs Basic credentials');
      const body = '401 Unauthorized\n';
      ex.res.writeHead(401, {
        'www-authenticate': 'Basic realm="Restricted"',
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      });
      ex.res.end(body);
      return;
    }
    const run = runAuthorizer(step.pool, [...authorizerParams(params, step.phase, credentials), ...variables], {
      method: ex.req.method ?? 'GET',
      uri: ex.req.url ?? '/',
      id: ex.id,
    });
    ex.dispose = () => run.abort();
    void run.done.then((outcome) => {
      ex.dispose = undefined;
      if (ex.res.destroyed) return;
      if (outcome instanceof FcgipmError) {
        writer.fail(outcome);
        return;
      }
      if (!outcome.pass) {
        const flat: string[] = [];
        for (const [name, value] of outcome.head.headers) flat.push(name, value);
        // A Location without Status is a redirect (RFC 3875 §6.2.3), not a pass.
        const status = outcome.head.status ?? (outcome.head.location !== undefined ? 302 : 200);
        ex.log.info({ reqId: ex.id, phase: step.phase, status, url: ex.req.url }, 'authorizer refused the request');
        if (outcome.head.reason) ex.res.writeHead(status, outcome.head.reason, flat);
        else ex.res.writeHead(status, flat);
        ex.res.end(outcome.body);
        return;
      }
      const next: Array<readonly [string, string]> = [...variables, ...outcome.variables];
      if (credentials && step.phase === 'AUTHENTICATOR') next.push(['REMOTE_USER', credentials.user], ['AUTH_TYPE', 'Basic']);
      this.authorize(ex, writer, route, rest, params, next, then);
    });
  }

  private dispatchBody(
    ex: Exchange,
    writer: CgiResponseWriter,
    route: Route,
    url: string,
    method: string,
    hops: number,
    cgiParams: (contentLength: number | undefined) => Array<[string, string]>,
    authVariables: ReadonlyArray<readonly [string, string]>,
  ): void {
    const maxBodyBytes = route.maxBodyBytes ?? this.o.maxBodyBytes;
    const send = (body: RequestBody, contentLength: number | undefined): void => {
      const params: Array<readonly [string, string]> = cgiParams(contentLength);
      if (route.extraParams) params.push(...route.extraParams);
      params.push(...authVariables);
      writer.handle = route.pool.dispatch({ params, body }, writer, { method, uri: url, id: ex.id });
    };

    // After a local redirect the new request is a GET without a body (RFC 3875 §6.2.2).
    if (hops > 0) {
      send({ kind: 'none' }, undefined);
      return;
    }
    const req = ex.req;
    const declared = req.headers['content-length'];
    if (declared !== undefined) {
      const length = Number(declared);
      if (length > maxBodyBytes) {
        writer.fail(new BodyTooLargeError(`request body of ${length} bytes exceeds the limit of ${maxBodyBytes}`));
        return;
      }
      if (length === 0) {
        send({ kind: 'none' }, 0);
        return;
      }
      // Every body is read before a worker is asked for (nginx's fastcgi_request_buffering,
      // mod_fcgid's FcgidMaxRequestInMem): a client that sends it slowly holds a connection and
      // a buffer or temp file, never a worker. One of up to KEEP_CONN_MAX_BODY then goes in one
      // write on a kept connection (client/request-bytes.ts); any spooled body can be replayed.
      const memoryLimit = Math.min(length, Math.max(this.o.bodyMemoryLimit, KEEP_CONN_MAX_BODY));
      this.spool(ex, writer, req, { memoryLimit, maxBytes: maxBodyBytes }, send);
      return;
    }
    if (req.headers['transfer-encoding'] === undefined) {
      send({ kind: 'none' }, undefined);
      return;
    }
    // Chunked: the app must see CONTENT_LENGTH (RFC 3875 §4.1.2), so the body is read first too.
    this.spool(ex, writer, req, { memoryLimit: this.o.bodyMemoryLimit, maxBytes: maxBodyBytes }, send);
  }

  /**
   * Reads the whole body (memory, then a temp file past memoryLimit), then sends the request.
   * A pause longer than the body timeout between two reads is answered 408 (writer.fail closes
   * the connection, whose unread rest cannot be skipped).
   */
  private spool(
    ex: Exchange,
    writer: CgiResponseWriter,
    req: IncomingMessage,
    limits: { memoryLimit: number; maxBytes: number },
    send: (body: RequestBody, contentLength: number | undefined) => void,
  ): void {
    spoolBody(req, { ...limits, idleTimeoutMs: this.o.bodyTimeoutMs }).then(
      (spooled) => {
        ex.dispose = () => spooled.dispose();
        if (ex.res.destroyed) {
          spooled.dispose();
          return;
        }
        const body: RequestBody =
          spooled.kind === 'buffer'
            ? { kind: 'buffer', data: spooled.data }
            : { kind: 'file', path: spooled.path, length: spooled.length };
        send(spooled.length > 0 ? body : { kind: 'none' }, spooled.length);
      },
      (err: unknown) => {
        if (err instanceof FcgipmError) writer.fail(err);
        else ex.res.destroy();
      },
    );
  }

  /** The access log line of a finished (or abandoned) exchange. */
  private logAccess(ex: Exchange): void {
    const { req, res } = ex;
    // Nothing sent: the client left first (nginx's 499, which the pool's errors use too).
    const status = res.headersSent ? res.statusCode : 499;
    // Node drops what is written to these (RFC 9110 §6.4.1), so it was not sent.
    const bodyless = req.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    const handle = ex.writer?.handle;
    this.accessLog?.write({
      time: ex.time,
      remote: ex.remote,
      user: ex.user,
      method: req.method ?? '',
      uri: req.url ?? '',
      protocol: `HTTP/${req.httpVersion}`,
      status,
      bytes: bodyless ? 0 : (res as CountingResponse).bodyBytes,
      referer: req.headers.referer,
      userAgent: req.headers['user-agent'],
      durationMs: performance.now() - ex.startedAt,
      queueWaitMs: handle?.queueWaitMs,
      pool: handle?.pool,
      workerPid: handle?.workerPid,
    });
  }

  private simple(ex: Exchange, status: number, message: string): void {
    ex.log.info({ reqId: ex.id, status, url: ex.req.url }, message);
    if (ex.res.headersSent) {
      ex.res.destroy();
      return;
    }
    const body = `${status} ${http.STATUS_CODES[status] ?? ''}: ${message}\n`;
    const headers: Record<string, string | number> = { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) };
    // 421: this connection cannot serve the request (a handoff app needs a fresh connection).
    if (status === 421) headers.connection = 'close';
    ex.res.writeHead(status, headers);
    ex.res.end(body);
  }
}
