import type { IncomingMessage } from 'node:http';

/** Where a request landed: the script that serves it and how its URL splits (RFC 3875 §4.1.13). */
export interface ScriptTarget {
  /** URL path prefix that names the script; '' when one app serves the whole site. */
  readonly scriptName: string;
  /** Decoded rest of the path after scriptName (PATH_INFO). */
  readonly pathInfo: string;
  readonly scriptFilename: string;
  readonly documentRoot: string;
}

/** What the variables are built from: Node's IncomingMessage, or a head parsed by hand (handoff). */
export interface CgiRequestView {
  readonly headers: IncomingMessage['headers'];
  readonly rawHeaders: readonly string[];
  readonly httpVersion: string;
  readonly socket: {
    readonly localAddress?: string | undefined;
    readonly localPort?: number | undefined;
    readonly remoteAddress?: string | undefined;
    readonly remotePort?: number | undefined;
  };
}

export interface CgiEnvInput {
  readonly req: CgiRequestView;
  readonly target: ScriptTarget;
  /** Raw request target (path and query) — differs from req.url after a local redirect. */
  readonly url: string;
  readonly method: string;
  /** Body length sent as STDIN; undefined for no body. */
  readonly contentLength: number | undefined;
  readonly serverSoftware: string;
  readonly scheme: 'http' | 'https';
}

/**
 * Request headers that never become HTTP_* variables:
 * - Content-Length / Content-Type have their own variables (RFC 3875 §4.1.18);
 * - Proxy: the "httpoxy" hole — HTTP_PROXY would be read as the app's outgoing proxy;
 * - hop-by-hop headers describe our connection with the client, not the app's request
 *   (mod_fcgid removes the same ones).
 */
const NOT_PASSED = new Set([
  'content-length',
  'content-type',
  'proxy',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
]);

function stripV4Mapped(addr: string | undefined): string {
  if (!addr) return '';
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}

/** Host header value without its port ("[::1]:8080" → "[::1]"), else the local address. */
function serverName(host: string | undefined, req: CgiRequestView): string {
  if (host) {
    if (host.startsWith('[')) {
      const end = host.indexOf(']');
      return end > 0 ? host.slice(0, end + 1) : host;
    }
    const colon = host.indexOf(':');
    return colon >= 0 ? host.slice(0, colon) : host;
  }
  return stripV4Mapped(req.socket.localAddress);
}

/** A request header name as a client spelled it, lower-cased, and its HTTP_* variable (null: not passed). */
interface HeaderName {
  readonly lower: string;
  readonly variable: string | null;
}

/**
 * Header names seen so far, by their spelling on the wire: clients send the same few names
 * in the same case on every request, and deriving "HTTP_USER_AGENT" from "User-Agent" takes
 * three new strings each time. Bounded, so that random names from a client cannot grow it.
 */
const HEADER_NAMES = new Map<string, HeaderName>();
const HEADER_NAMES_MAX = 1024;

function headerName(raw: string): HeaderName {
  const known = HEADER_NAMES.get(raw);
  if (known !== undefined) return known;
  const lower = raw.toLowerCase();
  // "X_Foo" would become HTTP_X_FOO just like "X-Foo": a client could forge a header a front
  // proxy set. Apache 2.4 and nginx drop such names; so do we.
  const variable = NOT_PASSED.has(lower) || lower.includes('_') ? null : `HTTP_${lower.toUpperCase().replace(/-/g, '_')}`;
  const entry = { lower, variable };
  if (HEADER_NAMES.size < HEADER_NAMES_MAX) HEADER_NAMES.set(raw, entry);
  return entry;
}

/**
 * Builds the CGI/1.1 meta-variables (RFC 3875 §4.1) plus the customary extras that PHP and
 * libfcgi apps read (REQUEST_URI, SCRIPT_FILENAME, DOCUMENT_ROOT, REQUEST_SCHEME, …).
 * On the hot path: one pass over the raw headers, no header object, no map (docs/benchmarks.md).
 */
export function buildCgiParams(input: CgiEnvInput): Array<[string, string]> {
  const { req, target } = input;
  const q = input.url.indexOf('?');
  const queryString = q >= 0 ? input.url.slice(q + 1) : '';

  // Repeated headers are joined as RFC 9110 §5.3 allows; Cookie with "; " (RFC 6265 §5.4).
  // Host and Content-Type: the first one, as Node's req.headers keeps it.
  const headers: Array<[string, string]> = [];
  let host: string | undefined;
  let contentType: string | undefined;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = headerName(raw[i] ?? '');
    const value = raw[i + 1] ?? '';
    if (name.variable === null) {
      if (contentType === undefined && name.lower === 'content-type') contentType = value;
      continue;
    }
    if (host === undefined && name.lower === 'host') host = value;
    let merged = false;
    for (const pair of headers) {
      if (pair[0] === name.variable) {
        pair[1] = `${pair[1]}${name.lower === 'cookie' ? '; ' : ', '}${value}`;
        merged = true;
        break;
      }
    }
    if (!merged) headers.push([name.variable, value]);
  }

  const params: Array<[string, string]> = [
    ['GATEWAY_INTERFACE', 'CGI/1.1'],
    ['SERVER_SOFTWARE', input.serverSoftware],
    ['SERVER_NAME', serverName(host, req)],
    ['SERVER_ADDR', stripV4Mapped(req.socket.localAddress)],
    ['SERVER_PORT', String(req.socket.localPort ?? '')],
    ['SERVER_PROTOCOL', `HTTP/${req.httpVersion}`],
    ['REQUEST_SCHEME', input.scheme],
    ['REMOTE_ADDR', stripV4Mapped(req.socket.remoteAddress)],
    ['REMOTE_PORT', String(req.socket.remotePort ?? '')],
    ['REQUEST_METHOD', input.method],
    ['REQUEST_URI', input.url],
    ['QUERY_STRING', queryString],
    ['SCRIPT_NAME', target.scriptName],
    ['SCRIPT_FILENAME', target.scriptFilename],
    ['DOCUMENT_ROOT', target.documentRoot],
    // mod_fcgid always sends CONTENT_LENGTH (0 without a body); legacy binaries written for
    // it call atoi(getenv("CONTENT_LENGTH")) and must not get NULL.
    ['CONTENT_LENGTH', String(input.contentLength ?? 0)],
  ];
  // No path info, no PATH_INFO: Apache (mod_fcgid) never sets it empty, and code written for
  // it tells "no path info" by the variable's absence.
  if (target.pathInfo !== '') params.push(['PATH_INFO', target.pathInfo]);
  if (target.pathInfo !== '' && target.documentRoot !== '') {
    params.push(['PATH_TRANSLATED', target.documentRoot + target.pathInfo]);
  }
  if (contentType !== undefined) params.push(['CONTENT_TYPE', contentType]);
  for (const pair of headers) params.push(pair);
  return params;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * Percent-decodes a raw URL path (Node gives it as a byte string) into the byte string that
 * PATH_INFO carries: "%C3%A9" becomes the two bytes C3 A9, as Apache passes them, whatever
 * their encoding. Undefined when an escape is malformed (answered with 400).
 */
export function decodePath(rawPath: string): string | undefined {
  if (!rawPath.includes('%')) return rawPath;
  const out = Buffer.allocUnsafe(rawPath.length);
  let n = 0;
  for (let i = 0; i < rawPath.length; i += 1) {
    const c = rawPath.charCodeAt(i);
    if (c !== 0x25) {
      out[n++] = c & 0xff;
      continue;
    }
    const hi = hexValue(rawPath.charCodeAt(i + 1));
    const lo = hexValue(rawPath.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return undefined;
    out[n++] = hi * 16 + lo;
    i += 2;
  }
  return out.toString('latin1', 0, n);
}
