/**
 * Access log lines: Apache's combined format with fcgipm's fields appended, or one JSON object
 * per line. Pure functions of an AccessEntry; the writer is access-log.ts.
 */

export type AccessLogFormat = 'combined' | 'json';

export const ACCESS_LOG_FORMATS: readonly AccessLogFormat[] = ['combined', 'json'];

/** One answered request. Strings are byte strings (latin1), as Node and FastCGI params give them. */
export interface AccessEntry {
  /** When the request arrived, ms since the epoch (Apache's %t is the arrival too). */
  readonly time: number;
  /** The client address (HTTP), or REMOTE_ADDR from the web server (FastCGI). */
  readonly remote: string;
  /** The authenticated user (%u); undefined when there is none. */
  readonly user: string | undefined;
  readonly method: string;
  /** The request target as the client sent it, query string included. */
  readonly uri: string;
  /** "HTTP/1.1"; '' when the web server sent no SERVER_PROTOCOL. */
  readonly protocol: string;
  /** The status sent; 499 when the client went away before any was (nginx's code). */
  readonly status: number;
  /** Response body bytes sent, headers excluded (%b). */
  readonly bytes: number;
  readonly referer: string | undefined;
  readonly userAgent: string | undefined;
  /** From arrival to the end of the response (or the client leaving), fractional ms. */
  readonly durationMs: number;
  /** Time the request waited for a worker, whole ms (the pool's clock); undefined when no pool served it. */
  readonly queueWaitMs: number | undefined;
  readonly pool: string | undefined;
  readonly workerPid: number | undefined;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const HEX = '0123456789abcdef';

/** Printable ASCII but `"` and `\`: what Apache's ap_escape_logitem leaves alone. */
const NEEDS_ESCAPE = /[^\x20\x21\x23-\x5b\x5d-\x7e]/;

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function escapeByte(c: number): string {
  switch (c) {
    case 0x08:
      return '\\b';
    case 0x0a:
      return '\\n';
    case 0x0d:
      return '\\r';
    case 0x09:
      return '\\t';
    case 0x0b:
      return '\\v';
    case 0x22:
      return '\\"';
    case 0x5c:
      return '\\\\';
    default:
      return `\\x${HEX[c >> 4]}${HEX[c & 15]}`;
  }
}

/**
 * Apache's ap_escape_logitem (server/util.c): `"` and `\` get a backslash, \b \n \r \t \v
 * their C escapes, every other byte outside printable ASCII (controls, DEL, and bytes >= 0x80)
 * becomes \xhh — so a request line or a User-Agent cannot forge a line or a field. A
 * character above U+00FF (never from HTTP, which is bytes) is escaped as its UTF-8 bytes.
 */
export function escapeLogItem(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i += 1) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c) out += s[i];
    else if (c <= 0xff) out += escapeByte(c);
    else {
      const cp = s.codePointAt(i) ?? c;
      if (cp > 0xffff) i += 1;
      for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) out += escapeByte(b);
    }
  }
  return out;
}

/** `-` for a value that is not there; Apache writes an empty header as it is (""). */
function item(s: string | undefined): string {
  return s === undefined ? '-' : escapeLogItem(s);
}

/** Apache's %t for a moment and a UTC offset in minutes: `[10/Oct/2000:13:55:36 -0700]`. */
export function formatClfTime(ms: number, offsetMinutes: number): string {
  const d = new Date(ms + offsetMinutes * 60_000);
  const abs = Math.abs(offsetMinutes);
  const zone = `${offsetMinutes < 0 ? '-' : '+'}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
  return (
    `[${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} ${zone}]`
  );
}

let stampSecond = NaN;
let stampText = '';

/**
 * Apache's %t in local time. The text changes once a second, so it is made once a second
 * (nginx caches its $time_local so too).
 */
export function clfTime(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second === stampSecond) return stampText;
  stampText = formatClfTime(second * 1000, -new Date(second * 1000).getTimezoneOffset());
  stampSecond = second;
  return stampText;
}

/**
 * `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"` exactly as Apache writes it, then
 * fcgipm's fields: duration in ms (3 decimals: µs resolution), queue wait in whole ms, the
 * pool in quotes and the worker's pid; `-` where a field does not apply (a static file, a
 * denial, a request that never reached a worker).
 */
export function formatCombined(e: AccessEntry): string {
  const requestLine = e.protocol === '' ? `${e.method} ${e.uri}` : `${e.method} ${e.uri} ${e.protocol}`;
  return (
    `${item(e.remote)} - ${item(e.user)} ${clfTime(e.time)} "${escapeLogItem(requestLine)}" ${e.status} ` +
    `${e.bytes > 0 ? e.bytes : '-'} "${item(e.referer)}" "${item(e.userAgent)}" ` +
    `${e.durationMs.toFixed(3)} ${e.queueWaitMs ?? '-'} ${e.pool === undefined ? '-' : `"${escapeLogItem(e.pool)}"`} ${e.workerPid ?? '-'}\n`
  );
}

/** JSON text of a byte string: its bytes read as UTF-8 (invalid sequences become U+FFFD). */
function text(s: string | undefined): string | null {
  if (s === undefined) return null;
  // eslint-disable-next-line no-control-regex
  return /[^\x00-\x7f]/.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s;
}

/** One JSON object per line; absent values are null. */
export function formatJson(e: AccessEntry): string {
  return `${JSON.stringify({
    time: new Date(e.time).toISOString(),
    remote: text(e.remote),
    user: text(e.user),
    method: text(e.method),
    uri: text(e.uri),
    protocol: text(e.protocol),
    status: e.status,
    bytes: e.bytes,
    referer: text(e.referer),
    userAgent: text(e.userAgent),
    durationMs: Math.round(e.durationMs * 1000) / 1000,
    queueWaitMs: e.queueWaitMs ?? null,
    pool: e.pool ?? null,
    workerPid: e.workerPid ?? null,
  })}\n`;
}

export function formatEntry(format: AccessLogFormat, e: AccessEntry): string {
  return format === 'json' ? formatJson(e) : formatCombined(e);
}
