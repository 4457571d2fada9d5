import type { AuthApp, AuthRule, Config } from '../config/types';
import type { ProcessClass } from '../pm/process-class';
import { processClass } from './process-classes';
import type { SiteRoutes } from './site-routes';
import { underPrefix } from './url-path';

/**
 * Authorizers (mod_fcgid 2.3.9): the rule with the longest prefix on segment boundaries
 * (Apache's <Location> nesting).
 */
export function authRuleFor(r: SiteRoutes, pathValue: string): AuthRule | undefined {
  for (const a of r.auth) if (underPrefix(pathValue, a.prefix)) return a.rule;
  return undefined;
}

/** The class an authenticator / authorizer / access checker runs in (its own), built once. */
export function authClass(config: Config, r: SiteRoutes, app: AuthApp): ProcessClass {
  let spec = r.authSpecs.get(app);
  if (!spec) {
    spec = processClass(config, r.site, r.vhost, { command: app.command, args: app.args, layer: app, handoff: false });
    r.authSpecs.set(app, spec);
  }
  return spec;
}

