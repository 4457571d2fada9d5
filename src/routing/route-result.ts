import type { SiteConfig } from '../config/types';
import type { ScriptTarget } from '../frontend/cgi-env';
import type { ProcessClass } from '../pm/process-class';

/** What the router decides for a request, before any pool is looked up. */
export type RouteResult =
  /**
   * keepSplit: the web server's SCRIPT_NAME and PATH_INFO go to the app as it sent them (an
   * interpreter pool behind a FastCGI front end, interpreter-script.ts).
   */
  | {
      kind: 'script';
      spec: ProcessClass;
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

export type Deny = Extract<RouteResult, { kind: 'deny' }>;
export type ScriptRoute = Extract<RouteResult, { kind: 'script' }>;

export function deny(status: Deny['status'], reason: string, site: SiteConfig | undefined): Deny {
  return { kind: 'deny', status, reason, site };
}
