import path from 'node:path';
import type { AppRoute, AuthApp, AuthRule, Config, SiteConfig, Wrapper } from '../config/types';
import { textToBytes } from '../frontend/byte-string';
import { isPhpCgi } from '../pm/php-cgi';
import type { ProcessClass } from '../pm/process-class';
import { DocumentRoot } from './doc-root';
import { PHP_EXTENSIONS, type InterpreterPolicy } from './interpreter-script';
import { processClass } from './process-classes';
import type { ScriptRoute } from './route-result';
import { prefixBytes, underPrefix } from './url-path';

/**
 * A site compiled for lookups (byte-string prefixes sorted longest first, process classes
 * built once), and the classification of a script by its name (mod_fcgid 2.3.9,
 * fcgid_conf.c get_wrapper_info): the suffix is the text from the LAST "." of the file name,
 * case-sensitive ("a.b.php" is ".php", "x.PHP" is not); a FcgidWrapper for that suffix, else
 * the default wrapper (suffix ''), runs it — one class per wrapper, whatever the script.
 * Otherwise AddHandler fcgid-script (a suffix in `handlers`, or "*" for SetHandler) makes the
 * script its own class. Neither: not run.
 */

export interface AppEntry {
  readonly app: AppRoute;
  /** Byte-string prefix without trailing slash; '' for "/". */
  readonly prefix: string;
  /** SCRIPT_FILENAME sent to the app: its script, else its command (byte string). */
  readonly scriptFilename: string;
  readonly spec: ProcessClass;
  /** Runs the script the web server names (php-cgi without a `script`): see interpreter-script.ts. */
  readonly interpreter: InterpreterPolicy | undefined;
}

export interface WrapperEntry {
  readonly wrapper: Wrapper;
  readonly spec: ProcessClass;
}

export interface AuthEntry {
  readonly rule: AuthRule;
  readonly prefix: string;
}

export interface SiteRoutes {
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
  readonly authSpecs: Map<AuthApp, ProcessClass>;
  /** Handler scripts' classes by command path, made on first request. */
  readonly handlerSpecs: Map<string, ProcessClass>;
}

export type Classified = { readonly kind: 'wrapper'; readonly entry: WrapperEntry } | { readonly kind: 'handler' } | undefined;

/** The site's class identity part: its first host name, '' when it answers any host. */
function vhostOf(site: SiteConfig): string {
  const first = site.hosts[0] ?? '';
  return first === '*' ? '' : first;
}

/** The suffix mod_fcgid looks a wrapper up by: from the last "." of the file name, or ''. */
function suffixOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot >= 0 ? name.slice(dot) : '';
}

export function compileSite(config: Config, site: SiteConfig): SiteRoutes {
  const vhost = vhostOf(site);
  const apps = site.apps
    .map((app): AppEntry => ({
      app,
      prefix: prefixBytes(app.prefix),
      scriptFilename: textToBytes(app.script ?? app.command),
      spec: processClass(config, site, vhost, { command: app.command, args: app.args, layer: app, handoff: app.handoff, origin: app.origin }),
      interpreter: app.script === undefined && isPhpCgi(app.command) ? { roots: (app.roots ?? []).map(textToBytes), extensions: PHP_EXTENSIONS } : undefined,
    }))
    .sort((a, b) => b.prefix.length - a.prefix.length);
  const wrappers = new Map<string, WrapperEntry>();
  let defaultWrapper: WrapperEntry | undefined;
  for (const wrapper of site.wrappers) {
    // "Last directive per suffix wins" (FcgidWrapper).
    const entry: WrapperEntry = {
      wrapper,
      spec: processClass(config, site, vhost, { command: wrapper.command, args: wrapper.args, layer: wrapper, handoff: false, origin: wrapper.origin }),
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

/** Wrapper by last suffix, else the default wrapper, else a handler (see the top). */
export function classify(r: SiteRoutes, name: string): Classified {
  const suffix = suffixOf(name);
  const wrapper = (suffix === '' ? undefined : r.wrappers.get(suffix)) ?? r.defaultWrapper;
  if (wrapper) return { kind: 'wrapper', entry: wrapper };
  if (r.allHandler || (suffix !== '' && r.handlers.has(suffix))) return { kind: 'handler' };
  return undefined;
}

/** The explicit app with the longest prefix on whole segments, and the path after it. */
export function matchApp(r: SiteRoutes, pathValue: string): { entry: AppEntry; rest: string } | undefined {
  for (const entry of r.apps) {
    if (underPrefix(pathValue, entry.prefix)) return { entry, rest: pathValue.slice(entry.prefix.length) };
  }
  return undefined;
}

/** A handler script's class (AddHandler fcgid-script): one object per script, built on first use. */
export function handlerClass(config: Config, r: SiteRoutes, command: string): ProcessClass {
  let known = r.handlerSpecs.get(command);
  if (!known) {
    known = processClass(config, r.site, r.vhost, { command, args: [], layer: undefined, handoff: false });
    r.handlerSpecs.set(command, known);
  }
  return known;
}

/** An explicit app serves the request: SCRIPT_NAME and PATH_INFO as given. */
export function appResult(r: SiteRoutes, entry: AppEntry, scriptName: string, pathInfo: string): ScriptRoute {
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
