import fs from 'node:fs';
import type { Config } from '../config/types';
import { bytesToText } from '../frontend/byte-string';
import type { ProcessClass } from '../pm/process-class';
import { DocumentRoot, type DocLookup } from './doc-root';
import { fastcgiSplit } from './fastcgi-params';
import { deny, type RouteResult } from './route-result';
import { classify, handlerClass, type SiteRoutes } from './site-routes';
import { nonEmpty } from './url-path';

/**
 * Document-root mode (`documentRoot:`): walk the path from the root; the first component that
 * is a regular file is the script and the rest is PATH_INFO (Apache's directory walk with
 * AcceptPathInfo). A path that is all directories tries DirectoryIndex (mod_dir); none usable
 * → 403, as Apache without autoindex. Nothing there → 404. Every symlink on the way and the
 * script's realpath must stay inside realpath(documentRoot), else 403 — stricter than Apache's
 * default FollowSymLinks, closer to SymLinksIfOwnerMatch's intent. SCRIPT_FILENAME is
 * documentRoot + SCRIPT_NAME, symlinks unresolved, as Apache sets it.
 *
 * Then the script's class (site-routes.ts): a wrapper's script need only be readable, and a
 * `virtual` wrapper does not need the file at all (the longest prefix whose last segment it
 * claims is the script: "/x.php/foo" → /x.php + /foo); a handler script is its own class, its
 * path the command line, and must be executable (Apache answers 403 without ExecCGI).
 *
 * `params`: the FastCGI request's, whose web server may have split the path itself.
 */
export function fromDocRoot(
  config: Config,
  r: SiteRoutes,
  root: DocumentRoot,
  segments: readonly string[],
  trailingSlash: boolean,
  params: ReadonlyMap<string, string> | undefined,
): RouteResult {
  const found: DocLookup = root.lookup(segments, trailingSlash, {
    isVirtual: (name) => {
      const c = classify(r, name);
      return c?.kind === 'wrapper' && c.entry.wrapper.virtual;
    },
    indexNames: r.indexNames,
    // index.html is an index too when static files are served (HTTP only).
    indexUsable: (name) => classify(r, name) !== undefined || (params === undefined && r.site.static),
    symlinks: r.site.followSymlinks,
    runs: (name) => classify(r, name) !== undefined,
    scriptRoots: r.scriptRoots,
  });
  if (found.kind === 'deny') return deny(found.status, found.reason, r.site);

  const name = found.urlPath.slice(found.urlPath.lastIndexOf('/') + 1);
  const c = classify(r, name);
  let spec: ProcessClass;
  if (c?.kind === 'wrapper') {
    if (found.exists && !DocumentRoot.accessible(found.filename, fs.constants.R_OK)) return deny(403, 'not readable', r.site);
    spec = c.entry.spec;
  } else if (c?.kind === 'handler') {
    if (!DocumentRoot.accessible(found.filename, fs.constants.X_OK)) return deny(403, 'not executable', r.site);
    const command = bytesToText(found.filename);
    if (command === undefined) return deny(403, 'script path is not UTF-8', r.site);
    // One class object per script: the pool registry finds its pool by it, and the merge runs once.
    spec = handlerClass(config, r, command);
  } else if (params === undefined && r.site.static) {
    // Apache's own file serving: no path info after a plain file (AcceptPathInfo off).
    if (found.pathInfo !== '') return deny(404, 'no such file', r.site);
    if (!DocumentRoot.accessible(found.filename, fs.constants.R_OK)) return deny(403, 'not readable', r.site);
    return { kind: 'static', filename: found.filename, site: r.site };
  } else {
    return deny(403, 'no handler for this file', r.site);
  }

  let scriptName = found.urlPath;
  let pathInfo = found.pathInfo;
  if (params) {
    if (found.viaIndex) pathInfo = nonEmpty(params.get('PATH_INFO')) ?? '';
    else ({ scriptName, pathInfo } = fastcgiSplit(params, found.urlPath, found.pathInfo));
  }
  return {
    kind: 'script',
    spec,
    target: { scriptName, pathInfo, scriptFilename: found.filename, documentRoot: root.path },
    site: r.site,
    viaIndex: found.viaIndex,
  };
}
