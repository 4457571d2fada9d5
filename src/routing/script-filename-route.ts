import type { Config } from '../config/types';
import { fromDocRoot } from './doc-root-route';
import { fastcgiSplit, fastcgiUri, PROXY_PREFIX } from './fastcgi-params';
import { apacheProxySplit, interpreterScript, type InterpreterPolicy } from './interpreter-script';
import { deny, type RouteResult } from './route-result';
import { appResult, matchApp, type AppEntry, type SiteRoutes } from './site-routes';
import { nonEmpty, underPrefix } from './url-path';

/**
 * FastCGI front end (nginx, Apache mod_proxy_fcgi): the web server already mapped the URL to
 * SCRIPT_FILENAME, so that decides, as in php-fpm (fpm_main.c): a leading
 * "proxy:fcgi://host:port" (or "proxy:balancer://name") that mod_proxy_fcgi puts there and a
 * "?query" a RewriteRule may leave are stripped. An app whose `script` or `command` is that
 * file (or a prefix of it on a "/" boundary) serves it; else a path under the document root
 * gets the same walk — so "/root/x.php/a/b" splits like Apache would, the web server's
 * SCRIPT_NAME / PATH_INFO are kept when it split the path itself (nginx
 * fastcgi_split_path_info), and a SCRIPT_NAME that still carries the split-off PATH_INFO
 * loses it (php-fpm's cgi.fix_pathinfo); else an app prefix on the URI (DOCUMENT_URI, else
 * SCRIPT_NAME + PATH_INFO, else REQUEST_URI); else 404. A SCRIPT_FILENAME elsewhere never
 * runs anything: the walk is confined to the root just as for HTTP.
 */
export function routeScriptFilename(config: Config, r: SiteRoutes, params: ReadonlyMap<string, string>): RouteResult {
  const site = r.site;
  const rawFilename = nonEmpty(params.get('SCRIPT_FILENAME'));
  if (rawFilename !== undefined) {
    let filename = rawFilename.replace(PROXY_PREFIX, '');
    const q = filename.indexOf('?');
    if (q >= 0) filename = filename.slice(0, q);
    if (filename.includes('\0')) return deny(400, 'NUL in SCRIPT_FILENAME', site);

    const entry = appByFile(r, filename, params);
    if (entry) return fastcgiApp(r, entry, params, filename.slice(entry.scriptFilename.length));

    // An explicit app's URL prefix wins over the document root, as for HTTP (Apache
    // applies a <Location> handler before the file system is looked at).
    const early = fastcgiUri(params);
    if (early !== undefined && !('status' in early)) {
      const app = matchApp(r, early.path);
      if (app?.entry.interpreter) return interpreterResult(r, app.entry, app.entry.interpreter, filename, params);
      if (app) return appResult(r, app.entry, app.entry.prefix, app.rest);
    }

    const below = r.root?.below(filename);
    if (r.root && below !== undefined) {
      const parts = below.split('/').filter((s) => s !== '');
      // A web server normalises the URI before building SCRIPT_FILENAME; dot segments here
      // mean a hand-made or hostile value, and a lexical ".." is not what the kernel would do.
      if (parts.some((s) => s === '.' || s === '..')) return deny(400, 'dot segment in SCRIPT_FILENAME', site);
      return fromDocRoot(config, r, r.root, parts, below.endsWith('/') && parts.length > 0, params);
    }
  }

  const uri = fastcgiUri(params);
  if (uri !== undefined && 'status' in uri) return deny(uri.status, uri.reason, site);
  if (uri) {
    const app = matchApp(r, uri.path);
    if (app?.entry.interpreter) return interpreterResult(r, app.entry, app.entry.interpreter, undefined, params);
    if (app) return appResult(r, app.entry, app.entry.prefix, app.rest);
  }
  return deny(404, rawFilename === undefined ? 'no app serves this path' : 'SCRIPT_FILENAME is not served here', site);
}

/** An interpreter pool behind a FastCGI front end runs the script the web server chose. */
function interpreterResult(r: SiteRoutes, entry: AppEntry, policy: InterpreterPolicy, filename: string | undefined, params: ReadonlyMap<string, string>): RouteResult {
  const checked = interpreterScript(filename, params, policy);
  if (!checked.ok) return deny(checked.status, checked.reason, r.site);
  const viaApacheProxy = PROXY_PREFIX.test(params.get('SCRIPT_FILENAME') ?? '');
  const split = viaApacheProxy ? apacheProxySplit(checked, params) : undefined;
  return {
    kind: 'script',
    spec: entry.spec,
    target: {
      scriptName: params.get('SCRIPT_NAME') ?? '',
      pathInfo: params.get('PATH_INFO') ?? '',
      scriptFilename: checked.scriptFilename,
      documentRoot: params.get('DOCUMENT_ROOT') ?? '',
    },
    site: r.site,
    keepSplit: true,
    paramOverrides: split ?? [['SCRIPT_FILENAME', checked.scriptFilename]],
  };
}

/**
 * The app whose file SCRIPT_FILENAME names (or names with a tail after "/"): the longest
 * such file; among apps sharing it, the one whose prefix matches the URI, else the first.
 */
function appByFile(r: SiteRoutes, filename: string, params: ReadonlyMap<string, string>): AppEntry | undefined {
  let best: AppEntry[] = [];
  for (const entry of r.apps) {
    // An interpreter's own binary is never a script it runs.
    if (entry.interpreter || !underPrefix(filename, entry.scriptFilename)) continue;
    const length = best[0]?.scriptFilename.length ?? -1;
    if (entry.scriptFilename.length > length) best = [entry];
    else if (entry.scriptFilename.length === length) best.push(entry);
  }
  if (best.length <= 1) return best[0];
  const uri = fastcgiUri(params);
  const byUri = uri && !('status' in uri) ? best.find((e) => underPrefix(uri.path, e.prefix)) : undefined;
  return byUri ?? best[0];
}

/**
 * An app found by SCRIPT_FILENAME. `rest` is what followed its file in SCRIPT_FILENAME
 * (mod_proxy_fcgi's ProxyPass appends the URL's tail there). Without a split from the web
 * server, the URI is split at the app's prefix, as the HTTP front end would.
 */
function fastcgiApp(r: SiteRoutes, entry: AppEntry, params: ReadonlyMap<string, string>, rest: string): RouteResult {
  if (rest === '' && nonEmpty(params.get('PATH_INFO')) === undefined) {
    const uri = fastcgiUri(params);
    if (uri && !('status' in uri) && underPrefix(uri.path, entry.prefix)) {
      return appResult(r, entry, entry.prefix, uri.path.slice(entry.prefix.length));
    }
  }
  const split = fastcgiSplit(params, entry.prefix, rest);
  return appResult(r, entry, split.scriptName, split.pathInfo);
}
