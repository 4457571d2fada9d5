import { KEEP_CONN_MAX_BODY } from '../client/connection';
import type { EndRequest, RequestBody, ResponseHandler } from '../client/request';
import { FcgipmError } from '../errors';
import type { Logger } from '../log';
import type { DispatchHandle, Pool, RequestInfo } from '../pm/pool';
import { Role } from '../protocol/constants';
import type { FcgiServerRequest, FcgiServerResponse } from './fcgi-server';
import { spoolBody } from './body-spool';
import type { FastcgiResolution } from './resolution';
import type { AccessLog } from './access-log';
import { LoggedFcgiResponse } from './fcgi-access-log';

/**
 * The FastCGI front end's request path (php-fpm's job for any FastCGI binary): a request from
 * nginx or Apache mod_proxy_fcgi is routed by its SCRIPT_FILENAME, forwarded to a worker of
 * that class with the web server's own params (the script's location corrected), its body
 * streamed in and the worker's records streamed back unchanged — CGI headers included, which
 * the web server parses itself.
 */

export interface ForwardDeps {
  /** The script and pool a request goes to (SiteResolver.fastcgi). */
  readonly resolve: (params: ReadonlyMap<string, string>) => FastcgiResolution;
  readonly logger: Logger;
  /** A line per request (php-fpm's access.log); none when absent. */
  readonly accessLog?: AccessLog | undefined;
  /**
   * Pass the web server's HTTP_PROXY param on (listen.fastcgiPassProxy). Off by default: it is
   * a client's "Proxy:" header, and apps read HTTP_PROXY as their outgoing proxy (httpoxy).
   */
  readonly passProxy?: boolean;
}

/** The param a web server makes of a client's "Proxy:" header (httpoxy, CVE-2016-5385). */
const PROXY_PARAM = 'HTTP_PROXY';

/** Params whose value the router decides; everything else goes to the app as the web server sent it. */
const ROUTED = ['SCRIPT_FILENAME', 'SCRIPT_NAME', 'PATH_INFO'] as const;

/** A CGI response the web server turns into its HTTP answer (php-fpm answers "File not found." so). */
function cgiError(res: FcgiServerResponse, status: number, reason: string, code?: string): void {
  const body = `${status} ${reason}\n`;
  const head =
    `Status: ${status}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
    (code ? `X-Fcgipm-Error: ${code}\r\n` : '') +
    (status === 503 ? 'Retry-After: 5\r\n' : '') +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  res.stdout(Buffer.from(head + body, 'latin1'));
  res.end();
}

function paramsFor(
  original: ReadonlyArray<readonly [string, string]>,
  routed: Record<(typeof ROUTED)[number], string>,
  passProxy: boolean,
): Array<readonly [string, string]> {
  const out: Array<readonly [string, string]> = [];
  const seen = new Set<string>();
  for (const pair of original) {
    const name = pair[0];
    if (name === PROXY_PARAM && !passProxy) continue;
    if (name in routed) {
      if (seen.has(name)) continue;
      seen.add(name);
      out.push([name, routed[name as keyof typeof routed]]);
      continue;
    }
    out.push(pair);
  }
  for (const name of ROUTED) {
    if (!seen.has(name) && (name !== 'PATH_INFO' || routed.PATH_INFO !== '')) out.push([name, routed[name]]);
  }
  return out;
}

/** The web server's params with some set to other values (in place, or appended). */
function overridden(
  original: ReadonlyArray<readonly [string, string]>,
  overrides: ReadonlyArray<readonly [string, string]>,
  passProxy: boolean,
): Array<readonly [string, string]> {
  const values = new Map(overrides);
  const out: Array<readonly [string, string]> = [];
  for (const pair of original) {
    if (pair[0] === PROXY_PARAM && !passProxy) continue;
    const value = values.get(pair[0]);
    if (value === undefined) out.push(pair);
    else if (values.delete(pair[0])) out.push([pair[0], value]);
  }
  for (const [name, value] of values) out.push([name, value]);
  return out;
}

export function forwardFastcgi(req: FcgiServerRequest, original: FcgiServerResponse, deps: ForwardDeps): void {
  const log = deps.logger;
  const params = new Map(req.params);
  const res = deps.accessLog ? new LoggedFcgiResponse(original, req, params, deps.accessLog) : original;
  const route = deps.resolve(params);
  if (route.kind === 'deny') {
    if (route.code !== undefined) log.warn({ reqId: req.id, code: route.code, err: route.reason }, 'request failed');
    else log.info({ reqId: req.id, status: route.status, script: params.get('SCRIPT_FILENAME') }, route.reason);
    req.stdin.resume();
    cgiError(res, route.status, route.reason, route.code);
    return;
  }
  const pool = route.pool;
  const t = route.target;
  const forwarded = route.keepSplit
    ? overridden(req.params, route.keepSplit, deps.passProxy === true)
    : paramsFor(req.params, { SCRIPT_FILENAME: t.scriptFilename, SCRIPT_NAME: t.scriptName, PATH_INFO: t.pathInfo }, deps.passProxy === true);
  // A body comes with CONTENT_LENGTH > 0, or without any length (nginx streaming a chunked
  // upload with fastcgi_request_buffering off); an authorizer never gets one (spec §6.3).
  const declared = params.get('CONTENT_LENGTH') ?? '';
  const method = params.get('REQUEST_METHOD') ?? '';
  const info = { method, uri: params.get('REQUEST_URI') ?? t.scriptName, id: req.id };
  const hasBody = declared === '' ? method !== 'GET' && method !== 'HEAD' && method !== '' : Number(declared) > 0;
  if (req.role === Role.AUTHORIZER || !hasBody) {
    req.stdin.resume();
    dispatch(req, res, deps, pool, { params: forwarded, info }, { kind: 'none' });
    return;
  }
  const length = declared === '' ? NaN : Number(declared);
  if (length <= KEEP_CONN_MAX_BODY) {
    // A small body is read first, as the HTTP front end does: the request then goes to the
    // worker in one write on a kept connection, and can be replayed.
    spoolBody(req.stdin, { memoryLimit: length, maxBytes: length }).then(
      (spooled) => {
        if (res.ended || req.signal.aborted) return;
        dispatch(req, res, deps, pool, { params: forwarded, info }, spooled.kind === 'buffer' ? { kind: 'buffer', data: spooled.data } : { kind: 'none' });
      },
      (err: unknown) => {
        if (res.ended) return;
        if (err instanceof FcgipmError && err.code !== 'FCGIPM_ERR_CLIENT_ABORTED') cgiError(res, err.httpStatus, err.message, err.code);
        else res.end();
      },
    );
    return;
  }
  dispatch(req, res, deps, pool, { params: forwarded, info }, { kind: 'stream', stream: req.stdin });
}

function dispatch(
  req: FcgiServerRequest,
  res: FcgiServerResponse,
  deps: ForwardDeps,
  pool: Pool,
  request: { params: Array<readonly [string, string]>; info: RequestInfo },
  body: RequestBody,
): void {
  const log = deps.logger;

  // Set right after dispatch; the handler is never called back before that returns.
  const ref: { handle?: DispatchHandle } = {};
  let sent = false;
  let paused = false;
  const handler: ResponseHandler = {
    onStdout(chunk) {
      sent = true;
      if (res.stdout(chunk)) return true;
      // The web server reads slowly: no more from the app until its socket drains.
      if (!paused) {
        paused = true;
        res.onDrain(() => {
          paused = false;
          ref.handle?.resumeResponse();
        });
      }
      return false;
    },
    onStderr(chunk) {
      // php-fpm passes the app's stderr on; nginx logs it as "FastCGI sent in stderr".
      res.stderr(chunk);
    },
    onEnd(end: EndRequest) {
      res.end(end.appStatus);
    },
    onError(err: FcgipmError) {
      if (err.code === 'FCGIPM_ERR_CLIENT_ABORTED') {
        res.end();
        return;
      }
      const pid = ref.handle?.workerPid;
      log.warn({ reqId: req.id, pool: pool.name, ...(pid !== undefined ? { pid } : {}), code: err.code, status: err.httpStatus, err: err.message }, 'request failed');
      if (!sent) cgiError(res, err.httpStatus, err.message, err.code);
      else res.end(1);
    },
  };
  const logged = res instanceof LoggedFcgiResponse ? res : undefined;
  if (logged) logged.pool = pool.name;
  ref.handle = pool.dispatch({ params: request.params, body, role: req.role }, handler, request.info);
  if (logged) logged.handle = ref.handle;
  req.signal.addEventListener('abort', () => ref.handle?.abort(), { once: true });
}
