import type { PoolOptionsInput } from './pool-options';

/**
 * What serves a request, in the pool layer's terms: a mod_fcgid process class (command line,
 * virtual host, handoff) with the options its pool is made with. The routing layer builds one
 * object per configured app, wrapper, auth app and handler script, and hands out that same
 * object for every request it routes there: the pool registry keys on the object itself.
 */
export interface ProcessClass {
  readonly command: string;
  readonly args: readonly string[];
  /** The site's first host name, '' when the site answers "*" (part of the class identity). */
  readonly vhost: string;
  /** A handoff app's workers speak another protocol: never the same pool as a proxied one. */
  readonly handoff: boolean;
  /**
   * The pool's options, made when its pool is made (a user or group that does not exist is
   * that request's error, never the router's). Includes command and args.
   */
  poolInput(): PoolOptionsInput;
  /**
   * The configured settings as a string: the same command with other settings is another
   * pool, so a reload that changes them starts a new pool instead of keeping the old one.
   */
  readonly variant: string;
  /** Where the configuration names it (file:line), for messages. */
  readonly origin?: string;
}
