import type { IncomingHttpHeaders } from 'node:http';
import type { SiteConfig } from '../config/types';
import { FcgipmError } from '../errors';
import { AUTH_PHASES, type AuthPhase } from '../frontend/authorizer';
import type { RequestHead } from '../frontend/resolution';
import type { AuthStep, FastcgiResolution, HandoffDecision, Resolution, SiteResolver } from '../frontend/resolution';
import type { Pool } from '../pm/pool';
import type { PoolRegistry } from '../pm/pool-registry';
import type { Router } from './router';
import type { ScriptRoute } from './route-result';

/** FcgidPassHeader: the header also under its own name, non-alphanumerics as "_" (httpd's rule). */
function passedHeaders(site: SiteConfig, headers: IncomingHttpHeaders): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const name of site.passHeaders) {
    const value = headers[name.toLowerCase()];
    if (value === undefined) continue;
    out.push([name.replace(/[^A-Za-z0-9]/g, '_'), Array.isArray(value) ? value.join(', ') : value]);
  }
  return out;
}

/**
 * A request to its pool, for every front end: the router (sites, paths, scripts, auth rules)
 * says which process class and script, the pool registry gives that class's pool. The front
 * ends see this only through SiteResolver, in plain types. A reload swaps the router; the
 * registry stays.
 */
export class ConfigResolver implements SiteResolver {
  constructor(
    private router: Router,
    private readonly pools: PoolRegistry,
  ) {}

  /** The router of the configuration in force (swapped by a reload). */
  get current(): Router {
    return this.router;
  }

  /**
   * Makes the pool of every app and wrapper the configuration names, so their minProcesses
   * start at once; the first class whose pool cannot be made is returned.
   */
  makeConfiguredPools(): FcgipmError | undefined {
    for (const spec of this.router.configuredSpecs()) {
      const made = this.pools.poolFor(spec);
      if (made instanceof FcgipmError) return made;
    }
    return undefined;
  }

  /**
   * A reload: `router` (the new configuration) takes over. `newGeneration` runs between
   * forgetting the old classes and making the new ones, so the new pools start in it. Returns
   * the pools the old configuration named and the new one does not: the caller retires them
   * gracefully.
   */
  swap(router: Router, newGeneration: () => void = () => undefined): Pool[] {
    const previous = this.router.configuredSpecs().map((spec) => this.pools.peek(spec));
    this.router = router;
    this.pools.clear();
    newGeneration();
    this.makeConfiguredPools();
    const current = new Set(router.configuredSpecs().map((spec) => this.pools.peek(spec)));
    return previous.filter((pool): pool is Pool => pool !== undefined && !current.has(pool));
  }

  http(headers: IncomingHttpHeaders, rawPath: string): Resolution {
    const r = this.router.route(headers.host, rawPath);
    if (r.kind === 'deny') return { deny: r.status, reason: r.reason };
    if (r.kind === 'redirect') return { redirect: r.location };
    if (r.kind === 'static') return { static: r.filename };
    if (r.spec.handoff) return { deny: 421, reason: 'this app takes handed-off connections; reconnect' };
    const pool = this.pools.poolFor(r.spec);
    if (pool instanceof FcgipmError) return { deny: pool.httpStatus, reason: pool.message };
    const auth = this.authSteps(r);
    if (auth instanceof FcgipmError) return { deny: auth.httpStatus, reason: auth.message };
    return {
      pool,
      target: r.target,
      extraParams: passedHeaders(r.site, headers),
      auth,
      maxBodyBytes: r.site.maxRequestBodyBytes,
    };
  }

  handoff(head: RequestHead): HandoffDecision {
    const q = head.url.indexOf('?');
    const rawPath = q >= 0 ? head.url.slice(0, q) : head.url;
    if (!rawPath.startsWith('/')) return { kind: 'deny', status: 400, reason: 'malformed request path' };
    const r = this.router.route(head.headers.host, rawPath);
    if (r.kind === 'deny') return { kind: 'deny', status: r.status, reason: r.reason };
    if (r.kind === 'redirect' || r.kind === 'static') return { kind: 'http' };
    if (!r.spec.handoff) return { kind: 'http' };
    // The worker answers a handed-off client itself, so nothing could run an authorizer on
    // the later requests of the connection: refuse rather than serve unguarded.
    if (this.router.authFor(r.site, r.target.scriptName + r.target.pathInfo)) {
      return { kind: 'deny', status: 500, reason: 'an auth rule covers a handoff app; authorizers cannot guard handed-off connections (fix the config)' };
    }
    const pool = this.pools.poolFor(r.spec);
    if (pool instanceof FcgipmError) return { kind: 'deny', status: pool.httpStatus, reason: pool.message };
    return { kind: 'handoff', pool, target: r.target };
  }

  fastcgi(params: ReadonlyMap<string, string>): FastcgiResolution {
    const r = this.router.routeFastcgi(params);
    if (r.kind === 'deny') return { kind: 'deny', status: r.status, reason: r.reason };
    // routeFastcgi never redirects (the web server owns its URLs); kept exhaustive.
    if (r.kind === 'redirect') return { kind: 'deny', status: 404, reason: 'File not found.' };
    // routeFastcgi never serves files (the web server serves its own); kept exhaustive.
    if (r.kind === 'static') return { kind: 'deny', status: 404, reason: 'File not found.' };
    if (r.spec.handoff) return { kind: 'deny', status: 502, reason: 'this app takes handed-off HTTP connections and cannot serve FastCGI requests' };
    const pool = this.pools.poolFor(r.spec);
    if (pool instanceof FcgipmError) return { kind: 'deny', status: pool.httpStatus, reason: pool.message, code: pool.code };
    if (!r.keepSplit) return { kind: 'forward', pool, target: r.target };
    return { kind: 'forward', pool, target: r.target, keepSplit: r.paramOverrides ?? [['SCRIPT_FILENAME', r.target.scriptFilename]] };
  }

  /** The authorizer apps a script's path is under, each with its pool, in Apache's order. */
  private authSteps(route: ScriptRoute): AuthStep[] | FcgipmError {
    const rule = this.router.authFor(route.site, route.target.scriptName + route.target.pathInfo);
    if (!rule) return [];
    const steps: AuthStep[] = [];
    const apps: Record<AuthPhase, typeof rule.authenticator> = {
      ACCESS_CHECKER: rule.accessChecker,
      AUTHENTICATOR: rule.authenticator,
      AUTHORIZER: rule.authorizer,
    };
    for (const phase of AUTH_PHASES) {
      const app = apps[phase];
      if (!app) continue;
      const pool = this.pools.poolFor(this.router.authSpec(route.site, app));
      if (pool instanceof FcgipmError) return pool;
      steps.push({ phase, pool });
    }
    return steps;
  }
}
