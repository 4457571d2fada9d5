/**
 * The router: which process class serves a request, and how its URL splits into SCRIPT_NAME
 * and PATH_INFO. Pure policy over the Config plus a thin filesystem lookup (doc-root.ts); no
 * pools, no sockets — the site resolver (site-resolver.ts) turns its ProcessClass into a pool.
 * One concern per file:
 *
 * 1. Site from the Host header (or SERVER_NAME): host-sites.ts.
 * 2. The path, checked and normalised as Apache 2.4 does: url-path.ts.
 * 3. Explicit apps (`apps:`) first, the longest prefix matched on whole segments ("/app"
 *    matches "/app" and "/app/x", not "/apple"): SCRIPT_NAME is the prefix, PATH_INFO the rest
 *    — what `Alias`/`ScriptAlias /app /path/app.fcgi` gives under Apache (site-routes.ts).
 * 4. Document-root mode (`documentRoot:`), the walk and the script's class:
 *    doc-root-route.ts, doc-root.ts, site-routes.ts.
 * 5. The FastCGI front end routes by SCRIPT_FILENAME: script-filename-route.ts.
 * 6. Authorizer rules and their classes: auth-rules.ts.
 */
import type { AuthApp, AuthRule, Config, SiteConfig } from '../config/types';
import type { ProcessClass } from '../pm/process-class';
import { authClass, authRuleFor } from './auth-rules';
import { fromDocRoot } from './doc-root-route';
import { HostSites } from './host-sites';
import { deny, type RouteResult } from './route-result';
import { routeScriptFilename } from './script-filename-route';
import { appResult, compileSite, matchApp, type SiteRoutes } from './site-routes';
import { nonEmpty, parseRawPath } from './url-path';

export type { RouteResult } from './route-result';

export class Router {
  private readonly sites: HostSites;
  private readonly routes = new Map<SiteConfig, SiteRoutes>();
  /** Sites not in this config (a caller holding one from before a reload). */
  private readonly foreign = new WeakMap<SiteConfig, SiteRoutes>();

  constructor(private readonly config: Config) {
    this.sites = new HostSites(config.sites);
    for (const site of config.sites) this.routes.set(site, compileSite(config, site));
  }

  /** The site for a Host header (or SERVER_NAME); undefined only when no site is configured. */
  site(host: string | undefined): SiteConfig | undefined {
    return this.sites.site(host);
  }

  /** HTTP front end: `rawPath` is the request target's path, still percent-encoded, no query. */
  route(host: string | undefined, rawPath: string): RouteResult {
    const site = this.sites.site(host);
    if (!site) return deny(404, 'no site is configured', undefined);
    const r = this.routesOf(site);
    const p = parseRawPath(rawPath);
    if ('status' in p) return deny(p.status, p.reason, site);
    const app = matchApp(r, p.path);
    if (app) return appResult(r, app.entry, app.entry.prefix, app.rest);
    if (r.root) {
      const result = fromDocRoot(this.config, r, r.root, p.segments, p.trailingSlash, undefined);
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
    const site = this.sites.site(nonEmpty(params.get('HTTP_HOST')) ?? nonEmpty(params.get('SERVER_NAME')));
    if (!site) return deny(404, 'no site is configured', undefined);
    return routeScriptFilename(this.config, this.routesOf(site), params);
  }

  /** The auth rule for a decoded path: the longest prefix on segment boundaries. */
  authFor(site: SiteConfig, pathValue: string): AuthRule | undefined {
    return authRuleFor(this.routesOf(site), pathValue);
  }

  /** The class an authenticator / authorizer / access checker runs in (its own). */
  authSpec(site: SiteConfig, app: AuthApp): ProcessClass {
    return authClass(this.config, this.routesOf(site), app);
  }

  /**
   * Every authenticator, authorizer and access checker the configuration names, with the
   * origin of its rule: their pools are made at a request's first need, but a class that
   * could never start is refused with the others at start-up (and by check-config).
   */
  configuredAuthSpecs(): Array<{ spec: ProcessClass; origin: string }> {
    const out: Array<{ spec: ProcessClass; origin: string }> = [];
    for (const site of this.config.sites) {
      for (const rule of site.auth) {
        for (const app of [rule.authenticator, rule.authorizer, rule.accessChecker]) {
          if (app) out.push({ spec: this.authSpec(site, app), origin: rule.origin });
        }
      }
    }
    return out;
  }

  /**
   * The classes the configuration names outright — apps and wrappers — so their pools exist
   * from the start and keep their minProcesses warm before the first request.
   */
  configuredSpecs(): ProcessClass[] {
    const out: ProcessClass[] = [];
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
      r = compileSite(this.config, site);
      this.foreign.set(site, r);
    }
    return r;
  }
}
