import type { IncomingHttpHeaders } from 'node:http';
import type { Pool } from '../pm/pool';
import type { AuthPhase } from './authorizer';
import type { ScriptTarget } from './cgi-env';

/**
 * What the front ends ask of the routing layer, in plain types: a request goes in (its host,
 * headers and path, or the FastCGI params a web server sent), a pool and a script target come
 * out, or the answer to give instead. The front ends import no configuration; the server
 * passes them a SiteResolver (routing/site-resolver.ts) that knows the sites.
 */

export interface Route {
  readonly pool: Pool;
  readonly target: ScriptTarget;
  /** Variables added after the CGI ones (FcgidPassHeader copies, Variable-* from an authorizer). */
  readonly extraParams?: ReadonlyArray<readonly [string, string]>;
  /** Authorizer apps that must let the request through first, in order. */
  readonly auth?: readonly AuthStep[];
  /** This route's request body limit; the front end's maxBodyBytes when absent. */
  readonly maxBodyBytes?: number;
}

export interface AuthStep {
  readonly phase: AuthPhase;
  readonly pool: Pool;
}

/**
 * Where an HTTP request goes, or why it goes nowhere (404 no such script, 403 refused, 400 bad
 * path); `redirect`: a 301 to that location; `static`: a file (a byte-string path) served as
 * it is (static-file.ts).
 */
export type Resolution = Route | { readonly deny: number; readonly reason: string } | { readonly redirect: string } | { readonly static: string };

/** The first request of a connection on the handoff listener: hand the socket off, or serve it here. */
export type HandoffDecision =
  | { readonly kind: 'handoff'; readonly pool: Pool; readonly target: ScriptTarget }
  | { readonly kind: 'http' }
  | { readonly kind: 'deny'; readonly status: number; readonly reason: string };

/**
 * Where a request from nginx or Apache mod_proxy_fcgi goes: its pool and the params to send
 * (the web server's, the script's location corrected), or the CGI error to answer with — `code`
 * when the pool could not be had (the X-Fcgipm-Error header and a warning), none when the
 * request names nothing served here.
 */
export type FastcgiResolution =
  | {
      readonly kind: 'forward';
      readonly pool: Pool;
      readonly target: ScriptTarget;
      /**
       * The web server's SCRIPT_NAME and PATH_INFO go to the app as it sent them, with these
       * params set to other values (an interpreter pool, routing/interpreter-script.ts).
       */
      readonly keepSplit?: ReadonlyArray<readonly [string, string]>;
    }
  | { readonly kind: 'deny'; readonly status: number; readonly reason: string; readonly code?: string };

/** The routing layer as the front ends see it; the server swaps what is behind it on reload. */
export interface SiteResolver {
  /** HTTP front end: the request's headers and its raw, still percent-encoded, URL path. */
  http(headers: IncomingHttpHeaders, rawPath: string): Resolution;
  /** Handoff listener: the first request head of a connection. */
  handoff(head: RequestHead): HandoffDecision;
  /** FastCGI front end: the PARAMS the web server sent. */
  fastcgi(params: ReadonlyMap<string, string>): FastcgiResolution;
}

/** A request head as read off the wire (RFC 9112 §3, §5), enough to route and build variables. */
export interface RequestHead {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  readonly rawHeaders: string[];
  readonly headers: Record<string, string>;
}
