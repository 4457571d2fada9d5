import { decodePath } from '../frontend/cgi-env';
import { textToBytes } from '../frontend/byte-string';

/**
 * URL paths as Apache 2.4 sees them before any handler does (server/request.c, util.c):
 *
 * - a malformed "%" escape is 400 (ap_unescape_url "badesc");
 * - an encoded "/", "\" or NUL is 404 (AllowEncodedSlashes Off; "badpath");
 * - "." and ".." segments are resolved after decoding, so "%2e%2e" counts as "..", and a ".."
 *   that would climb above "/" is 400 (ap_normalize_path, AP_NORMALIZE_NOT_ABOVE_ROOT);
 * - repeated slashes collapse (AP_NORMALIZE_MERGE_SLASHES), a trailing slash is kept.
 *
 * Paths stay byte strings (latin1), as decodePath makes them.
 */

/** A decoded, normalised URL path (byte string). */
export interface NormalPath {
  /** "/" + segments joined, a trailing "/" kept: what prefixes are matched against. */
  readonly path: string;
  readonly segments: readonly string[];
  readonly trailingSlash: boolean;
}

export interface BadPath {
  readonly status: 400 | 404;
  readonly reason: string;
}

const ENCODED_FORBIDDEN = /%(?:2f|5c|00)/i;

/**
 * Resolves "." and ".." like a browser (RFC 3986 §5.2.4) and collapses repeated slashes;
 * undefined when a ".." would climb above "/".
 */
function normalize(decoded: string): NormalPath | undefined {
  const parts = decoded.split('/');
  const segments: string[] = [];
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i] ?? '';
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (segments.pop() === undefined) return undefined;
      continue;
    }
    segments.push(part);
  }
  const last = parts[parts.length - 1] ?? '';
  const trailingSlash = last === '' || last === '.' || last === '..';
  const joined = `/${segments.join('/')}`;
  return { path: segments.length > 0 && trailingSlash ? `${joined}/` : joined, segments, trailingSlash };
}

/** A raw (percent-encoded) request path, checked and normalised as Apache does (see top). */
export function parseRawPath(rawPath: string): NormalPath | BadPath {
  if (!rawPath.startsWith('/')) return { status: 400, reason: 'malformed request path' };
  const decoded = decodePath(rawPath);
  if (decoded === undefined) return { status: 400, reason: 'malformed percent escape in the path' };
  if (ENCODED_FORBIDDEN.test(rawPath) || decoded.includes('\0')) {
    return { status: 404, reason: 'encoded slash, backslash or NUL in the path' };
  }
  return normalize(decoded) ?? { status: 400, reason: 'path climbs above the root' };
}

/** A path already decoded by the web server (DOCUMENT_URI, SCRIPT_NAME): normalised only. */
export function parseDecodedPath(decoded: string): NormalPath | BadPath {
  if (!decoded.startsWith('/') || decoded.includes('\0')) return { status: 400, reason: 'malformed request path' };
  return normalize(decoded) ?? { status: 400, reason: 'path climbs above the root' };
}

/** A configured prefix as a byte string: leading "/", no repeated or trailing slash; '' for "/". */
export function prefixBytes(prefix: string): string {
  return `/${textToBytes(prefix)}`.replace(/\/{2,}/g, '/').replace(/\/+$/, '');
}

/** `path` starts with `prefix` on a segment boundary ('' matches everything). */
export function underPrefix(pathValue: string, prefix: string): boolean {
  return prefix === '' || pathValue === prefix || pathValue.startsWith(`${prefix}/`);
}

export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
