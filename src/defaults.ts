/**
 * fcgipm's built-in defaults that more than one layer applies (the YAML loader, `fcgipm run`'s
 * flags, the manager), written once. Like errors.ts it imports nothing, so every layer may use it.
 */

/** Where the per-process sockets go: mod_fcgid's FcgidIPCDir as Debian sets it. */
export const DEFAULT_IPC_DIR = '/run/fcgidsock';

/** Live worker processes across all pools at most: FcgidMaxProcesses' default. */
export const DEFAULT_MAX_PROCESSES = 1000;

/** On SIGTERM, how long requests in flight get to finish (php-fpm: process_control_timeout). */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

/** How long a client may take to send a request's head (nginx: client_header_timeout, 60 s). */
export const DEFAULT_CLIENT_HEADER_TIMEOUT_MS = 60_000;

/** Longest pause between two reads of a request body (nginx: client_body_timeout, 60 s). */
export const DEFAULT_CLIENT_BODY_TIMEOUT_MS = 60_000;

/**
 * A process class's settings when no layer of the configuration and no flag sets them. The
 * pool layer applies them (pm/policy/options.ts, pm/pool-options.ts) and the settings table
 * shows them (config/schema.ts POOL_KEYS), so the docs say what runs. Where they differ from
 * mod_fcgid or php-fpm, the comment says why.
 */
export const POOL_SETTING_DEFAULTS = {
  // mod_fcgid has no other mode; php-fpm's ondemand is the same idea with a 1-s reaper.
  mode: 'ondemand',
  // php-fpm ondemand starts 0. mod_fcgid's FcgidMinProcessesPerClass defaults to 3 but starts
  // none; ours really starts them, so the default stays 0 and an idle app costs nothing.
  minProcesses: 0,
  // php-fpm has no defaults for the spare bounds (mandatory for dynamic); 1 and 3 keep one
  // request's worth of warm capacity without holding many idle processes.
  minSpare: 1,
  maxSpare: 3,
  // FcgidIdleTimeout's 300 s rather than pm.process_idle_timeout's 10 s: a drop-in for
  // mod_fcgid should not start cold-starting apps that used to stay warm.
  idleTimeoutMs: 300_000,
  // FcgidProcessLifeTime defaults to 3600 s; off here like php-fpm (no such setting): recycling
  // a healthy worker buys nothing but a cold start. `import-apache` carries the directive over.
  lifetimeMs: 0,
  // Off in mod_fcgid and php-fpm alike.
  maxRequestsPerProcess: 0,
  maxQueue: 1024,
  // The queue answers 503 after 30 s rather than polling for mod_fcgid's 64 s.
  queueTimeoutMs: 30_000,
  // FcgidIOTimeout's 40 s.
  ioTimeoutMs: 40_000,
  // FcgidBusyTimeout's 300 s.
  busyTimeoutMs: 300_000,
  // php-fpm's request_slowlog_timeout: off.
  slowRequestTimeoutMs: 0,
  // Start-up has its own 30-s timeout instead of eating into the IO timeout.
  startupTimeoutMs: 30_000,
} as const;
