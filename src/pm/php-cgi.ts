import path from 'node:path';
import { InvalidArgumentError } from '../errors';

/** php-cgi, php-cgi8.2, php8.2-cgi, php-cgi.exe: the binaries Debian and others ship. */
export function isPhpCgi(command: string): boolean {
  return /^php[\d.]*-cgi[\d.]*$|^php-cgi/.test(path.basename(command));
}

function positiveInt(name: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text)) throw new InvalidArgumentError(`${name} must be a whole number, got "${text}"`);
  return n;
}

/**
 * php-cgi done right (php-fpm's and mod_fcgid's own handling of php-cgi):
 * - PHP_FCGI_CHILDREN=0 unless set: each php-cgi is one worker taking one request at a time,
 *   which is how the pool counts them (mod_fcgid's manual asks the same of its users).
 * - php-cgi exits by itself after PHP_FCGI_MAX_REQUESTS (500 when unset). php-fpm keeps its
 *   workers (pm.max_requests = 0), and so does fcgipm: unless the user set a limit (the
 *   variable, or the pool's max-requests), PHP_FCGI_MAX_REQUESTS=0 tells php-cgi never to
 *   leave. Respawning php-cgi every 500 requests cost the pool its opcache and a fork each
 *   time (docs/benchmarks.md).
 * - With a limit, the pool retires the worker after that many requests itself, so it is never
 *   handed a request it will drop; PHP_FCGI_MAX_REQUESTS is raised to at least the pool's.
 * A worker that exits anyway while a request was on its way is replayed (pool.ts).
 */
/** The fields of a pool's options that php-cgi's handling reads and changes. */
export interface PhpCgiFields {
  readonly command: string;
  readonly env: Readonly<Record<string, string>>;
  readonly slots: number;
  readonly probeSlots: boolean;
  readonly scaling: { readonly maxRequestsPerProcess: number };
}

/**
 * The options adjusted for php-cgi (any other command: unchanged). Generic over the options
 * type, so this file needs nothing from pool-options.ts, which calls it.
 */
export function adjustForPhpCgi<T extends PhpCgiFields>(options: T): T {
  if (!isPhpCgi(options.command)) return options;
  const env: Record<string, string> = { ...options.env };
  env.PHP_FCGI_CHILDREN ??= '0';
  const poolMax = options.scaling.maxRequestsPerProcess;
  const set = env.PHP_FCGI_MAX_REQUESTS;
  let phpMax = set !== undefined ? positiveInt('PHP_FCGI_MAX_REQUESTS', set) : poolMax;
  // php-cgi must not leave before the pool retires it: its own limit is kept at least the
  // pool's (0 = unlimited already is).
  if (poolMax > 0 && phpMax !== 0 && phpMax < poolMax) phpMax = poolMax;
  env.PHP_FCGI_MAX_REQUESTS = String(phpMax);
  // With PHP_FCGI_CHILDREN > 0 each child counts for itself behind one socket: the pool cannot
  // follow it and relies on replay.
  const children = positiveInt('PHP_FCGI_CHILDREN', env.PHP_FCGI_CHILDREN);
  const tracked = children === 0 && phpMax > 0;
  const effective = poolMax > 0 ? poolMax : tracked ? phpMax : 0;
  // PHP_FCGI_CHILDREN=N: one php-cgi master whose N children share its socket — one worker
  // with N slots (and one shared opcache), confirmed with FCGI_GET_VALUES once it is ready.
  const shared = children > 0 ? { slots: children, probeSlots: true } : {};
  return { ...options, env, ...shared, scaling: { ...options.scaling, maxRequestsPerProcess: effective } };
}
