/**
 * Pure checks of the names a site is made of: host names, file suffixes, header names. Each
 * returns the problem in the operator's words, or undefined when the name is fine.
 */
import { showValue } from './units';

/** RFC 9110 token: what a header name may be made of. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Canonical host: lower case, no trailing dot (the router compares them so). */
export function canonicalHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}

/** A host name as the router matches it: exact, "*" or "*.domain", never with a port. */
export function hostProblem(host: string): string | undefined {
  if (host === '*') return undefined;
  if (host === '' || /[\s/]/.test(host)) return `expected a host name such as example.com or "*.example.org", got ${showValue(host)}`;
  if (/^\[[0-9a-f:.]+\]$/i.test(host)) return undefined;
  if (host.includes(':')) return `give the host name without a port, got ${showValue(host)} (fcgipm matches the Host header without its port)`;
  if (host.indexOf('*') > 0 || (host.startsWith('*') && !host.startsWith('*.')) || host.slice(1).includes('*')) {
    return `a wildcard is "*" or "*.domain" only, got ${showValue(host)}`;
  }
  return undefined;
}

/** ".fcgi" (from the last "." of a file name), or "*" for every file when `star`. */
export function suffixProblem(s: string, star: boolean): string | undefined {
  if (star && s === '*') return undefined;
  if (/^\.[^./\s]+$/.test(s)) return undefined;
  const hint = /^[^./\s]+$/.test(s) ? ` (did you mean .${s}?)` : '';
  return star
    ? `expected a suffix starting with "." such as .fcgi, or "*" for every file, got ${showValue(s)}${hint}`
    : `a wrapper suffix starts with "." such as .php (or is "" for the default wrapper), got ${showValue(s)}${hint}`;
}

export function headerNameProblem(s: string): string | undefined {
  return HEADER_NAME.test(s) ? undefined : `expected a header name such as Authorization, got ${showValue(s)}`;
}
