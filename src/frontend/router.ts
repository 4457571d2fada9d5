/**
 * The router: which process class serves a request, and how its URL splits into SCRIPT_NAME
 * and PATH_INFO. Pure policy over the Config plus a thin filesystem lookup (doc-root.ts); no
 * pools, no sockets — the server turns a ClassSpec into a pool (ClassPools → Manager.poolForClass).
 *
 * HTTP front end, `route(host, rawPath)`:
 *
 * 1. Site: the Host header without its port, case-insensitive, a trailing dot ignored; an exact
 *    name, then the longest "*.example.com" wildcard, then a site answering "*", then the first
 *    site — Apache's rule that the first <VirtualHost> is the default for unknown names.
 * 2. Path, as Apache 2.4 does before any handler sees it (server/request.c, util.c):
 *    - a malformed "%" escape is 400 (ap_unescape_url "badesc");
 *    - an encoded "/", "\" or NUL is 404 (AllowEncodedSlashes Off; "badpath");
 *    - "." and ".." segments are resolved after decoding, so "%2e%2e" counts as "..", and a
 *      ".." that would climb above "/" is 400 (ap_normalize_path, AP_NORMALIZE_NOT_ABOVE_ROOT);
 *    - repeated slashes collapse (AP_NORMALIZE_MERGE_SLASHES), a trailing slash is kept.
 *    Paths stay byte strings (latin1), as decodePath makes them.
 * 3. Explicit apps (`apps:`) first, the longest prefix matched on whole segments ("/app"
 *    matches "/app" and "/app/x", not "/apple"): SCRIPT_NAME is the prefix, PATH_INFO the rest
 *    — what `Alias`/`ScriptAlias /app /path/app.fcgi` gives under Apache.
 * 4. Document-root mode (`documentRoot:`): walk the path from the root; the first component
 *    that is a regular file is the script and the rest is PATH_INFO (Apache's directory walk
 *    with AcceptPathInfo). A path that is all directories tries DirectoryIndex (mod_dir); none
 *    usable → 403, as Apache without autoindex. Nothing there → 404. Every symlink on the way
 *    and the script's realpath must stay inside realpath(documentRoot), else 403 — stricter
 *    than Apache's default FollowSymLinks, closer to SymLinksIfOwnerMatch's intent.
 *    SCRIPT_FILENAME is documentRoot + SCRIPT_NAME, symlinks unresolved, as Apache sets it.
 * 5. Classification of the script (mod_fcgid 2.3.9, fcgid_conf.c get_wrapper_info): the
 *    suffix is the text from the LAST "." of the file name, case-sensitive ("a.b.php" is
 *    ".php", "x.PHP" is not); a FcgidWrapper for that suffix, else the default wrapper (suffix
 *    ''), runs it — one class per wrapper, whatever the script (mod_fcgid 2.3.9); the file need
 *    only be readable. A `virtual` wrapper does not need the file at all: the longest prefix
 *    whose last segment it claims is the script ("/x.php/foo" → /x.php + /foo). Otherwise
 *    AddHandler fcgid-script (a suffix in `handlers`, or "*" for SetHandler) makes the script
 *    its own class, its path the command line — it must be executable (Apache answers 403
 *    without ExecCGI). Neither: 403, Apache would not run it either.
 *
 * FastCGI front end, `routeFastcgi(params)` (nginx, Apache mod_proxy_fcgi): the web server
 * already mapped the URL to SCRIPT_FILENAME, so that decides, as in php-fpm (fpm_main.c):
 * a leading "proxy:fcgi://host:port" (or "proxy:balancer://name") that mod_proxy_fcgi puts
 * there and a "?query" a RewriteRule may leave are stripped. An app whose `script` or
 * `command` is that file (or a prefix of it on a "/" boundary) serves it; else a path under
 * the document root gets the same walk — so "/root/x.php/a/b" splits like Apache would, the
 * web server's SCRIPT_NAME / PATH_INFO are kept when it split the path itself (nginx
 * fastcgi_split_path_info), and a SCRIPT_NAME that still carries the split-off PATH_INFO loses
 * it (php-fpm's cgi.fix_pathinfo); else an app prefix on the URI (DOCUMENT_URI, else
 * SCRIPT_NAME + PATH_INFO, else REQUEST_URI); else 404. A SCRIPT_FILENAME elsewhere never runs
 * anything: the walk is confined to the root just as for HTTP.
 *
 * Authorizers (mod_fcgid 2.3.9): `authFor` picks the rule with the longest prefix on segment
 * boundaries (Apache's <Location> nesting), `authSpec` makes its app a class of its own.
 */
import fs from 'node:fs';
import path from 'node:path';
import { classSettings } from '../config/merge';
import type { AppRoute, AuthApp, AuthRule, Config, PoolSettings, SiteConfig, Wrapper } from '../config/types';
import { decodePath, type ScriptTarget } from './cgi-env';
import { isPhpCgi } from '../pm/php-cgi';
import { bytesToText, DocumentRoot, textToBytes, type DocLookup } from './doc-root';
import { apacheProxySplit, interpreterScript, PHP_EXTENSIONS, type InterpreterPolicy } from './interpreter-script';

export interface ClassSpec {
  readonly command: string;
  readonly args: readonly string[];
  /** Merged: app/wrapper/auth-app fields > config.commands[command] > site.pool > config.defaults. */
  readonly settings: PoolSettings;
  /** The site's first host name, '' when the site answers "*". */
  readonly vhost: string;
  readonly handoff: boolean;
  /** Where the configuration names it (file:line), for messages. */
  readonly origin?: string;
}

export type RouteResult =
  /**
   * keepSplit: the web server's SCRIPT_NAME and PATH_INFO go to the app as it sent them (an
   * interpreter pool behind a FastCGI front end, interpreter-script.ts).
   */
  | {
      kind: 'script';
      spec: ClassSpec;
      target: ScriptTarget;
      site: SiteConfig;
      viaIndex?: boolean;
      keepSplit?: boolean;
      /** With keepSplit: PARAMS set to these values (replacing the web server's), in order. */
      paramOverrides?: ReadonlyArray<readonly [string, string]>;
    }
  /** A file under the document root with no handler, served as it is (`static`, HTTP only). */
  | { kind: 'static'; filename: string; site: SiteConfig }
  /** A directory named without its trailing slash: 301 to it (Apache mod_dir's DirectorySlash). */
  | { kind: 'redirect'; location: string; site: SiteConfig }
  | { kind: 'deny'; status: 400 | 403 | 404; reason: string; site: SiteConfig | undefined };

type Deny = Extract<RouteResult, { kind: 'deny' }>;

/** A decoded, normalised URL path (byte string). */
interface NormalPath {
  /** "/" + segments joined, a trailing "/" kept: what prefixes are matched against. */
  readonly path: string;
  readonly segments: readonly string[];
  readonly trailingSlash: boolean;
}

interface AppEntry {
  readonly app: AppRoute;
  /** Byte-string prefix without trailing slash; '' for "/". */
  readonly prefix: string;
  /** SCRIPT_FILENAME sent to the app: its script, else its command (byte string). */
  readonly scriptFilename: string;
  readonly spec: ClassSpec;
  /** Runs the script the web server names (php-cgi without a `script`): see interpreter-script.ts. */
  readonly interpreter: InterpreterPolicy | undefined;
}

interface WrapperEntry {
  readonly wrapper: Wrapper;
  readonly spec: ClassSpec;
}

interface AuthEntry {
  readonly rule: AuthRule;
  readonly prefix: string;
}

/** A site compiled for lookups: byte-string prefixes sorted longest first, specs built once. */
interface SiteRoutes {
  readonly site: SiteConfig;
  readonly vhost: string;
  readonly apps: readonly AppEntry[];
  readonly wrappers: ReadonlyMap<string, WrapperEntry>;
  readonly defaultWrapper: WrapperEntry | undefined;
  readonly handlers: ReadonlySet<string>;
  readonly allHandler: boolean;
  readonly root: DocumentRoot | undefined;
  readonly indexNames: readonly string[];
  /** site.scriptRoots as byte strings. */
  readonly scriptRoots: readonly string[];
  readonly auth: readonly AuthEntry[];
  readonly authSpecs: Map<AuthApp, ClassSpec>;
  /** Handler scripts' classes by command path, made on first request. */
  readonly handlerSpecs: Map<string, ClassSpec>;
}

type Classified = { readonly kind: 'wrapper'; readonly entry: WrapperEntry } | { readonly kind: 'handler' } | undefined;

const ENCODED_FORBIDDEN = /%(?:2f|5c|00)/i;
/** mod_proxy_fcgi's SCRIPT_FILENAME prefix; php-fpm strips the same two forms (fpm_main.c). */
const PROXY_PREFIX = /^proxy:(?:fcgi|balancer):\/\/[^/]*/;

function deny(status: Deny['status'], reason: string, site: SiteConfig | undefined): Deny {
  return { kind: 'deny', status, reason, site };
}

/** Host header or SERVER_NAME → lookup key: no port, lower case, no trailing dot. */
function hostKey(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end > 0) h = h.slice(0, end + 1);
  } else if (h.indexOf(':') === h.lastIndexOf(':')) {
    // One colon: host:port. Several without brackets: a bare IPv6 address, kept whole.
    const colon = h.indexOf(':');
    if (colon >= 0) h = h.slice(0, colon);
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h === '' ? undefined : h;
}

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
function parseRawPath(rawPath: string): NormalPath | { status: 400 | 404; reason: string } {
  if (!rawPath.startsWith('/')) return { status: 400, reason: 'malformed request path' };
  const decoded = decodePath(rawPath);
  if (decoded === undefined) return { status: 400, reason: 'malformed percent escape in the path' };
  if (ENCODED_FORBIDDEN.test(rawPath) || decoded.includes('\0')) {
    return { status: 404, reason: 'encoded slash, backslash or NUL in the path' };
  }
  return normalize(decoded) ?? { status: 400, reason: 'path climbs above the root' };
}

/** A path already decoded by the web server (DOCUMENT_URI, SCRIPT_NAME): normalised only. */
function parseDecodedPath(decoded: string): NormalPath | { status: 400; reason: string } {
  if (!decoded.startsWith('/') || decoded.includes('\0')) return { status: 400, reason: 'malformed request path' };
  return normalize(decoded) ?? { status: 400, reason: 'path climbs above the root' };
}

/** A configured prefix as a byte string: leading "/", no repeated or trailing slash; '' for "/". */
function prefixBytes(prefix: string): string {
  return `/${textToBytes(prefix)}`.replace(/\/{2,}/g, '/').replace(/\/+$/, '');
}

/** `path` starts with `prefix` on a segment boundary ('' matches everything). */
function underPrefix(pathValue: string, prefix: string): boolean {
  return prefix === '' || pathValue === prefix || pathValue.startsWith(`${prefix}/`);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** The suffix mod_fcgid looks a wrapper up by: from the last "." of the file name, or ''. */
function suffixOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot >= 0 ? name.slice(dot) : '';
}

/** The site's class identity part: its first host name, '' when it answers any host. */
function vhostOf(site: SiteConfig): string {
  const first = site.hosts[0] ?? '';
  return first === '*' ? '' : first;
}

export class Router {
  private readonly exact = new Map<string, SiteConfig>();
  /** ".example.com" suffixes of "*.example.com" names, longest first. */
  private readonly wildcards: Array<{ readonly suffix: string; readonly site: SiteConfig }> = [];
  private readonly star: SiteConfig | undefined;
  private readonly routes = new Map<SiteConfig, SiteRoutes>();
  /** Sites not in this config (a caller holding one from before a reload). */
  private readonly foreign = new WeakMap<SiteConfig, SiteRoutes>();

  constructor(private readonly config: Config) {
    let star: SiteConfig | undefined;
    for (const site of config.sites) {
      for (const name of site.hosts) {
        const key = name.trim().toLowerCase().replace(/\.$/, '');
        if (key === '*') star ??= site;
        else if (key.startsWith('*.')) this.wildcards.push({ suffix: key.slice(1), site });
        else if (!this.exact.has(key)) this.exact.set(key, site);
      }
      this.routes.set(site, this.compile(site));
    }
    this.star = star;
    // Longest suffix first; equal lengths keep config order (Array.prototype.sort is stable).
    this.wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
  }

  /** The site for a Host header (or SERVER_NAME); undefined only when no site is configured. */
  site(host: string | undefined): SiteConfig | undefined {
    const key = hostKey(host);
    if (key !== undefined) {
      const exact = this.exact.get(key);
      if (exact) return exact;
      for (const w of this.wildcards) if (key.endsWith(w.suffix)) return w.site;
    }
    return this.star ?? this.config.sites[0];
  }

  /** HTTP front end: `rawPath` is the request target's path, still percent-encoded, no query. */
  route(host: string | undefined, rawPath: string): RouteResult {
    const site = this.site(host);
    if (!site) return deny(404, 'no site is configured', undefined);
    const r = this.routesOf(site);
    const p = parseRawPath(rawPath);
    if ('status' in p) return deny(p.status, p.reason, site);
    const app = this.matchApp(r, p.path);
    if (app) return this.appResult(r, app.entry, app.entry.prefix, app.rest);
    if (r.root) {
      const result = this.fromDocRoot(r, r.root, p.segments, p.trailingSlash, undefined);
      // Relative links in the index page resolve against "/dir/", not "/": redirect first.
      if (result.kind === 'script' && result.viaIndex === true && !p.trailingSlash && p.segments.length > 0) {
        return { kind: 'redirect', location: `${rawPath}/`, site };
      }
      return result;
    }
    return deny(404, 'no app serves this path', site);
  }

  /** FastCGI front end: the PARAMS nginx or Apache mod_proxy_fcgi sent. */
  routeFastcgi(params: ReadonlyMap<string, string>): RouteResult {
    const site = this.site(nonEmpty(params.get('HTTP_HOST')) ?? nonEmpty(params.get('SERVER_NAME')));
    if (!site) return deny(404, 'no site is configured', undefined);
    const r = this.routesOf(site);

    const rawFilename = nonEmpty(params.get('SCRIPT_FILENAME'));
    if (rawFilename !== undefined) {
      let filename = rawFilename.replace(PROXY_PREFIX, '');
      const q = filename.indexOf('?');
      if (q >= 0) filename = filename.slice(0, q);
      if (filename.includes('\0')) return deny(400, 'NUL in SCRIPT_FILENAME', site);

      const entry = this.appByFile(r, filename, params);
      if (entry) return this.fastcgiApp(r, entry, params, filename.slice(entry.scriptFilename.length));

      // An explicit app's URL prefix wins over the document root, as in route() (Apache
      // applies a <Location> handler before the file system is looked at).
      const early = this.fastcgiUri(params);
      if (early !== undefined && !('status' in early)) {
        const app = this.matchApp(r, early.path);
        if (app?.entry.interpreter) return this.interpreterResult(r, app.entry, app.entry.interpreter, filename, params);
        if (app) return this.appResult(r, app.entry, app.entry.prefix, app.rest);
      }

      const below = r.root?.below(filename);
      if (r.root && below !== undefined) {
        const parts = below.split('/').filter((s) => s !== '');
        // A web server normalises the URI before building SCRIPT_FILENAME; dot segments here
        // mean a hand-made or hostile value, and a lexical ".." is not what the kernel would do.
        if (parts.some((s) => s === '.' || s === '..')) return deny(400, 'dot segment in SCRIPT_FILENAME', site);
        return this.fromDocRoot(r, r.root, parts, below.endsWith('/') && parts.length > 0, params);
      }
    }

    const uri = this.fastcgiUri(params);
    if (uri !== undefined && 'status' in uri) return deny(uri.status, uri.reason, site);
    if (uri) {
      const app = this.matchApp(r, uri.path);
      if (app?.entry.interpreter) return this.interpreterResult(r, app.entry, app.entry.interpreter, undefined, params);
      if (app) return this.appResult(r, app.entry, app.entry.prefix, app.rest);
    }
    return deny(404, rawFilename === undefined ? 'no app serves this path' : 'SCRIPT_FILENAME is not served here', site);
  }

  /** The auth rule for a decoded path: the longest prefix on segment boundaries. */
  authFor(site: SiteConfig, pathValue: string): AuthRule | undefined {
    for (const a of this.routesOf(site).auth) if (underPrefix(pathValue, a.prefix)) return a.rule;
    return undefined;
  }

  /**
   * Every authenticator, authorizer and access checker the configuration names, with the
   * origin of its rule: their pools are made at a request's first need, but a class that
   * could never start is refused with the others at start-up (and by check-config).
   */
  configuredAuthSpecs(): Array<{ spec: ClassSpec; origin: string }> {
    const out: Array<{ spec: ClassSpec; origin: string }> = [];
    for (const site of this.config.sites) {
      for (const rule of site.auth) {
        for (const app of [rule.authenticator, rule.authorizer, rule.accessChecker]) {
          if (app) out.push({ spec: this.authSpec(site, app), origin: rule.origin });
        }
      }
    }
    return out;
  }

  /** The class an authenticator / authorizer / access checker runs in (its own). */
  authSpec(site: SiteConfig, app: AuthApp): ClassSpec {
    const r = this.routesOf(site);
    let spec = r.authSpecs.get(app);
    if (!spec) {
      spec = { command: app.command, args: app.args, settings: classSettings(this.config, site, app.command, app), vhost: r.vhost, handoff: false };
      r.authSpecs.set(app, spec);
    }
    return spec;
  }

  /**
   * The classes the configuration names outright — apps and wrappers — so their pools exist
   * from the start and keep their minProcesses warm before the first request.
   */
  configuredSpecs(): ClassSpec[] {
    const out: ClassSpec[] = [];
    for (const site of this.config.sites) {
      const r = this.routesOf(site);
      for (const a of r.apps) out.push(a.spec);
      for (const w of r.wrappers.values()) out.push(w.spec);
      if (r.defaultWrapper) out.push(r.defaultWrapper.spec);
    }
    return out;
  }

  private routesOf(site: SiteConfig): SiteRoutes {
    let r = this.routes.get(site) ?? this.foreign.get(site);
    if (!r) {
      r = this.compile(site);
      this.foreign.set(site, r);
    }
    return r;
  }

  private compile(site: SiteConfig): SiteRoutes {
    const vhost = vhostOf(site);
    const apps = site.apps
      .map((app): AppEntry => ({
        app,
        prefix: prefixBytes(app.prefix),
        scriptFilename: textToBytes(app.script ?? app.command),
        spec: { command: app.command, args: app.args, settings: classSettings(this.config, site, app.command, app), vhost, handoff: app.handoff, origin: app.origin },
        interpreter: app.script === undefined && isPhpCgi(app.command) ? { roots: (app.roots ?? []).map(textToBytes), extensions: PHP_EXTENSIONS } : undefined,
      }))
      .sort((a, b) => b.prefix.length - a.prefix.length);
    const wrappers = new Map<string, WrapperEntry>();
    let defaultWrapper: WrapperEntry | undefined;
    for (const wrapper of site.wrappers) {
      // "Last directive per suffix wins" (FcgidWrapper).
      const entry: WrapperEntry = {
        wrapper,
        spec: { command: wrapper.command, args: wrapper.args, settings: classSettings(this.config, site, wrapper.command, wrapper), vhost, handoff: false, origin: wrapper.origin },
      };
      if (wrapper.suffix === '') defaultWrapper = entry;
      else wrappers.set(textToBytes(wrapper.suffix), entry);
    }
    const auth = site.auth
      .map((rule): AuthEntry => ({ rule, prefix: prefixBytes(rule.prefix) }))
      .sort((a, b) => b.prefix.length - a.prefix.length);
    return {
      site,
      vhost,
      apps,
      wrappers,
      defaultWrapper,
      handlers: new Set(site.handlers.filter((h) => h !== '*').map(textToBytes)),
      allHandler: site.handlers.includes('*'),
      root: site.documentRoot === undefined ? undefined : new DocumentRoot(site.documentRoot),
      indexNames: site.directoryIndex.map(textToBytes),
      scriptRoots: site.scriptRoots.map(textToBytes),
      auth,
      authSpecs: new Map(),
      handlerSpecs: new Map(),
    };
  }

  private matchApp(r: SiteRoutes, pathValue: string): { entry: AppEntry; rest: string } | undefined {
    for (const entry of r.apps) {
      if (underPrefix(pathValue, entry.prefix)) return { entry, rest: pathValue.slice(entry.prefix.length) };
    }
    return undefined;
  }

  private appResult(r: SiteRoutes, entry: AppEntry, scriptName: string, pathInfo: string): RouteResult {
    return {
      kind: 'script',
      spec: entry.spec,
      target: {
        scriptName,
        pathInfo,
        scriptFilename: entry.scriptFilename,
        documentRoot: r.root?.path ?? path.posix.dirname(entry.scriptFilename),
      },
      site: r.site,
    };
  }

  /** An interpreter pool behind a FastCGI front end runs the script the web server chose. */
  private interpreterResult(r: SiteRoutes, entry: AppEntry, policy: InterpreterPolicy, filename: string | undefined, params: ReadonlyMap<string, string>): RouteResult {
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
  private appByFile(r: SiteRoutes, filename: string, params: ReadonlyMap<string, string>): AppEntry | undefined {
    let best: AppEntry[] = [];
    for (const entry of r.apps) {
      // An interpreter's own binary is never a script it runs.
      if (entry.interpreter || !underPrefix(filename, entry.scriptFilename)) continue;
      const length = best[0]?.scriptFilename.length ?? -1;
      if (entry.scriptFilename.length > length) best = [entry];
      else if (entry.scriptFilename.length === length) best.push(entry);
    }
    if (best.length <= 1) return best[0];
    const uri = this.fastcgiUri(params);
    const byUri = uri && !('status' in uri) ? best.find((e) => underPrefix(uri.path, e.prefix)) : undefined;
    return byUri ?? best[0];
  }

  /**
   * An app found by SCRIPT_FILENAME. `rest` is what followed its file in SCRIPT_FILENAME
   * (mod_proxy_fcgi's ProxyPass appends the URL's tail there). Without a split from the web
   * server, the URI is split at the app's prefix, as the HTTP front end would.
   */
  private fastcgiApp(r: SiteRoutes, entry: AppEntry, params: ReadonlyMap<string, string>, rest: string): RouteResult {
    if (rest === '' && nonEmpty(params.get('PATH_INFO')) === undefined) {
      const uri = this.fastcgiUri(params);
      if (uri && !('status' in uri) && underPrefix(uri.path, entry.prefix)) {
        return this.appResult(r, entry, entry.prefix, uri.path.slice(entry.prefix.length));
      }
    }
    const split = fastcgiSplit(params, entry.prefix, rest);
    return this.appResult(r, entry, split.scriptName, split.pathInfo);
  }

  /** The request's URI path: DOCUMENT_URI, else SCRIPT_NAME + PATH_INFO, else REQUEST_URI. */
  private fastcgiUri(params: ReadonlyMap<string, string>): NormalPath | { status: 400 | 404; reason: string } | undefined {
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

  /** Document-root lookup, then the script's class (see 4. and 5. at the top). */
  private fromDocRoot(
    r: SiteRoutes,
    root: DocumentRoot,
    segments: readonly string[],
    trailingSlash: boolean,
    params: ReadonlyMap<string, string> | undefined,
  ): RouteResult {
    const found: DocLookup = root.lookup(segments, trailingSlash, {
      isVirtual: (name) => {
        const c = this.classify(r, name);
        return c?.kind === 'wrapper' && c.entry.wrapper.virtual;
      },
      indexNames: r.indexNames,
      // index.html is an index too when static files are served (HTTP only).
      indexUsable: (name) => this.classify(r, name) !== undefined || (params === undefined && r.site.static),
      symlinks: r.site.followSymlinks,
      runs: (name) => this.classify(r, name) !== undefined,
      scriptRoots: r.scriptRoots,
    });
    if (found.kind === 'deny') return deny(found.status, found.reason, r.site);

    const name = found.urlPath.slice(found.urlPath.lastIndexOf('/') + 1);
    const c = this.classify(r, name);
    let spec: ClassSpec;
    if (c?.kind === 'wrapper') {
      if (found.exists && !DocumentRoot.accessible(found.filename, fs.constants.R_OK)) return deny(403, 'not readable', r.site);
      spec = c.entry.spec;
    } else if (c?.kind === 'handler') {
      if (!DocumentRoot.accessible(found.filename, fs.constants.X_OK)) return deny(403, 'not executable', r.site);
      const command = bytesToText(found.filename);
      if (command === undefined) return deny(403, 'script path is not UTF-8', r.site);
      // One spec object per script: the pools' lookup keys on it, and the merge runs once.
      let known = r.handlerSpecs.get(command);
      if (!known) {
        known = { command, args: [], settings: classSettings(this.config, r.site, command, undefined), vhost: r.vhost, handoff: false };
        r.handlerSpecs.set(command, known);
      }
      spec = known;
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

  /** Wrapper by last suffix, else the default wrapper, else a handler (see 5. at the top). */
  private classify(r: SiteRoutes, name: string): Classified {
    const suffix = suffixOf(name);
    const wrapper = (suffix === '' ? undefined : r.wrappers.get(suffix)) ?? r.defaultWrapper;
    if (wrapper) return { kind: 'wrapper', entry: wrapper };
    if (r.allHandler || (suffix !== '' && r.handlers.has(suffix))) return { kind: 'handler' };
    return undefined;
  }
}

/**
 * SCRIPT_NAME / PATH_INFO for a FastCGI request whose script we located: the web server's own
 * split wins when it made one (PATH_INFO non-empty); otherwise PATH_INFO is what we split off
 * SCRIPT_FILENAME, and a SCRIPT_NAME that still ends with it loses it (cgi.fix_pathinfo).
 */
function fastcgiSplit(params: ReadonlyMap<string, string>, derivedName: string, rest: string): { scriptName: string; pathInfo: string } {
  const given = params.get('SCRIPT_NAME');
  const pathInfo = nonEmpty(params.get('PATH_INFO'));
  if (pathInfo !== undefined) return { scriptName: given ?? derivedName, pathInfo };
  if (given === undefined) return { scriptName: derivedName, pathInfo: rest };
  const scriptName = rest !== '' && given.endsWith(rest) ? given.slice(0, given.length - rest.length) : given;
  return { scriptName, pathInfo: rest };
}
