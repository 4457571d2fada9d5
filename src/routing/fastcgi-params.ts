import { nonEmpty, parseDecodedPath, parseRawPath, type BadPath, type NormalPath } from './url-path';

/** mod_proxy_fcgi's SCRIPT_FILENAME prefix; php-fpm strips the same two forms (fpm_main.c). */
export const PROXY_PREFIX = /^proxy:(?:fcgi|balancer):\/\/[^/]*/;

/**
 * SCRIPT_NAME / PATH_INFO for a FastCGI request whose script we located: the web server's own
 * split wins when it made one (PATH_INFO non-empty); otherwise PATH_INFO is what we split off
 * SCRIPT_FILENAME, and a SCRIPT_NAME that still ends with it loses it (cgi.fix_pathinfo).
 */
export function fastcgiSplit(params: ReadonlyMap<string, string>, derivedName: string, rest: string): { scriptName: string; pathInfo: string } {
  const given = params.get('SCRIPT_NAME');
  const pathInfo = nonEmpty(params.get('PATH_INFO'));
  if (pathInfo !== undefined) return { scriptName: given ?? derivedName, pathInfo };
  if (given === undefined) return { scriptName: derivedName, pathInfo: rest };
  const scriptName = rest !== '' && given.endsWith(rest) ? given.slice(0, given.length - rest.length) : given;
  return { scriptName, pathInfo: rest };
}

/** The request's URI path: DOCUMENT_URI, else SCRIPT_NAME + PATH_INFO, else REQUEST_URI. */
export function fastcgiUri(params: ReadonlyMap<string, string>): NormalPath | BadPath | undefined {
  const documentUri = nonEmpty(params.get('DOCUMENT_URI'));
  if (documentUri !== undefined) return parseDecodedPath(documentUri);
  const scriptName = params.get('SCRIPT_NAME');
  if (scriptName !== undefined && (scriptName !== '' || nonEmpty(params.get('PATH_INFO')) !== undefined)) {
    return parseDecodedPath(scriptName + (params.get('PATH_INFO') ?? ''));
  }
  const requestUri = nonEmpty(params.get('REQUEST_URI'));
  if (requestUri !== undefined) {
    const q = requestUri.indexOf('?');
    return parseRawPath(q >= 0 ? requestUri.slice(0, q) : requestUri);
  }
  return undefined;
}
