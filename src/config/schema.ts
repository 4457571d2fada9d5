/**
 * Every key of the YAML configuration file, in one table: where it goes, its type, its
 * default, one line of meaning, and the mod_fcgid directive and php-fpm setting it replaces.
 * The loader (load.ts) takes the allowed keys, their types and their defaults from here, and
 * docs/config.md's key table is printed from it (scripts/config-doc.js), so the three cannot
 * disagree.
 */
import { DEFAULT_CLIENT_BODY_TIMEOUT_MS, DEFAULT_CLIENT_HEADER_TIMEOUT_MS, DEFAULT_DRAIN_TIMEOUT_MS, DEFAULT_IPC_DIR, DEFAULT_MAX_PROCESSES, POOL_SETTING_DEFAULTS as D } from '../defaults';
import type { PoolSettings } from './types';

/** Where a key may be written. `pool` keys go wherever process settings are allowed. */
export type Section = 'top' | 'listen' | 'site' | 'wrapper' | 'app' | 'auth' | 'authApp' | 'pool' | 'rlimits';

export type KeyType =
  | 'string'
  | 'path'
  | 'command'
  | 'integer'
  | 'boolean'
  | 'duration'
  | 'size'
  | 'listen'
  | 'accessLog'
  | 'enum'
  | 'hosts'
  | 'suffixes'
  | 'strings'
  | 'headers'
  | 'args'
  | 'env'
  | 'umask'
  | 'slots'
  | 'rlimit'
  | 'rlimits'
  | 'listenMap'
  | 'pool'
  | 'commands'
  | 'sites'
  | 'wrappers'
  | 'apps'
  | 'auth'
  | 'authApp';

/** A default as it would be written in the file (so the loader parses it like any value). */
export type YamlDefault = string | number | boolean | readonly string[];

export interface KeySpec {
  readonly section: Section;
  /** The key as written in the file (camelCase). */
  readonly key: string;
  readonly type: KeyType;
  /**
   * Applied by the loader when the key is absent. Pool keys have none: a class takes unset
   * fields from the next layer and finally from the pool layer's built-in defaults
   * (src/pm/pool-options.ts, src/pm/policy/options.ts), which `defaultText` describes.
   */
  readonly default?: YamlDefault;
  /** The default as the docs show it, when `default` does not say it. */
  readonly defaultText?: string;
  readonly doc: string;
  /** The mod_fcgid directive (or Apache directive) it replaces, "—" for none. */
  readonly modFcgid: string;
  /** The php-fpm setting it replaces, "—" for none. */
  readonly phpFpm: string;
  /**
   * The `fcgipm run` flag that sets it (pool settings): run's parser, its checks and the docs'
   * flag table are made from these (src/cli/pool-flags.ts, scripts/config-doc.js).
   */
  readonly flag?: string;
  /** The Config / PoolSettings field it fills, when the name differs from the key. */
  readonly field?: string;
  readonly required?: boolean;
  /** integer: bounds. */
  readonly min?: number;
  readonly max?: number;
  /** enum: the allowed words. */
  readonly values?: readonly string[];
  /** duration: 0 allowed, meaning "off". */
  readonly zeroOff?: boolean;
}

/** Built-in top-level and site defaults, for `fcgipm run` (src/cli/run-config.ts) too. */
export { DEFAULT_IPC_DIR, DEFAULT_MAX_PROCESSES } from '../defaults';
export const DEFAULT_LOG_LEVEL = 'info';
/**
 * 1 GiB: mod_fcgid's own default before 2.3.6 and what hosts set FcgidMaxRequestLen to
 * (cPanel); 2.3.9's 128 KiB breaks uploads (mod_fcgid 2.3.9).
 */
export const DEFAULT_MAX_REQUEST_BODY_BYTES = 1024 ** 3;
const DEFAULT_HTTP_LISTEN = '127.0.0.1:8080';
const LOG_LEVELS: readonly string[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
const DEFAULT_ACCESS_LOG_FORMAT = 'combined';
/** The access log formats (src/frontend/access-log-format.ts). */
const ACCESS_LOG_FORMAT_NAMES: readonly string[] = ['combined', 'json'];

export type PoolKey = Omit<KeySpec, 'section' | 'field'>;

/** A default in ms as the docs write it: seconds, the unit of the YAML value. */
const seconds = (ms: number): string => String(ms / 1000);

/**
 * One entry per PoolSettings field: the mapped type makes the compiler reject a field of
 * PoolSettings that has no YAML key here. Defaults in `defaultText` come from src/defaults.ts,
 * the numbers the pool layer applies (test/config/schema.test.ts compares them too).
 */
export const POOL_KEYS: { readonly [K in keyof Required<PoolSettings>]: PoolKey } = {
  mode: {
    key: 'mode',
    flag: '--mode',
    type: 'enum',
    values: ['ondemand', 'dynamic', 'static'],
    defaultText: D.mode,
    doc: 'ondemand: spawn when a request waits, retire when idle; dynamic: keep minSpare..maxSpare idle; static: always maxProcesses',
    modFcgid: '— (always on demand)',
    phpFpm: 'pm',
  },
  minProcesses: {
    key: 'minProcesses',
    flag: '--min',
    type: 'integer',
    min: 0,
    defaultText: String(D.minProcesses),
    doc: 'processes started at once and kept, never reaped below (mod_fcgid never prespawns)',
    modFcgid: 'FcgidMinProcessesPerClass',
    phpFpm: 'pm.start_servers',
  },
  maxProcesses: {
    key: 'maxProcesses',
    flag: '--max',
    type: 'integer',
    min: 1,
    defaultText: 'max(4, 2 × CPUs)',
    doc: 'live processes of one class at most, draining ones included',
    modFcgid: 'FcgidMaxProcessesPerClass',
    phpFpm: 'pm.max_children',
  },
  minSpare: {
    key: 'minSpare',
    flag: '--min-spare',
    type: 'integer',
    min: 0,
    defaultText: String(D.minSpare),
    doc: 'dynamic: spawn while fewer processes than this are idle',
    modFcgid: '—',
    phpFpm: 'pm.min_spare_servers',
  },
  maxSpare: {
    key: 'maxSpare',
    flag: '--max-spare',
    type: 'integer',
    min: 0,
    defaultText: String(D.maxSpare),
    doc: 'dynamic: retire idle processes above this many',
    modFcgid: '—',
    phpFpm: 'pm.max_spare_servers',
  },
  idleTimeoutMs: {
    key: 'idleTimeout',
    flag: '--idle-timeout',
    type: 'duration',
    zeroOff: true,
    defaultText: seconds(D.idleTimeoutMs),
    doc: 'retire a process idle this long, never below minProcesses; 0 = never',
    modFcgid: 'FcgidIdleTimeout',
    phpFpm: 'pm.process_idle_timeout',
  },
  lifetimeMs: {
    key: 'lifetime',
    flag: '--lifetime',
    type: 'duration',
    zeroOff: true,
    defaultText: seconds(D.lifetimeMs),
    doc: 'retire a process this old, after its current request; 0 = never',
    modFcgid: 'FcgidProcessLifeTime',
    phpFpm: '—',
  },
  maxRequestsPerProcess: {
    key: 'maxRequests',
    flag: '--max-requests',
    type: 'integer',
    min: 0,
    defaultText: String(D.maxRequestsPerProcess),
    doc: 'retire a process after this many requests; 0 = never',
    modFcgid: 'FcgidMaxRequestsPerProcess',
    phpFpm: 'pm.max_requests',
  },
  busyTimeoutMs: {
    key: 'busyTimeout',
    flag: '--busy-timeout',
    type: 'duration',
    defaultText: seconds(D.busyTimeoutMs),
    doc: 'kill a process whose request runs longer; the client gets 504',
    modFcgid: 'FcgidBusyTimeout',
    phpFpm: 'request_terminate_timeout',
  },
  slowRequestTimeoutMs: {
    key: 'slowRequestTimeout',
    flag: '--slow-request-timeout',
    type: 'duration',
    zeroOff: true,
    defaultText: seconds(D.slowRequestTimeoutMs),
    doc: 'count (fcgipm_pool_slow_requests_total, slowRequests) and log a warning for a request that held its process this long or longer; 0 = off',
    modFcgid: '—',
    phpFpm: 'request_slowlog_timeout',
  },
  ioTimeoutMs: {
    key: 'ioTimeout',
    flag: '--io-timeout',
    type: 'duration',
    defaultText: seconds(D.ioTimeoutMs),
    doc: 'answer 504 when the app sends nothing for this long',
    modFcgid: 'FcgidIOTimeout',
    phpFpm: '—',
  },
  startupTimeoutMs: {
    key: 'startupTimeout',
    flag: '--startup-timeout',
    type: 'duration',
    defaultText: seconds(D.startupTimeoutMs),
    doc: 'a new process must accept connections within this',
    modFcgid: '— (counted in FcgidIOTimeout)',
    phpFpm: '—',
  },
  queueTimeoutMs: {
    key: 'queueTimeout',
    flag: '--queue-timeout',
    type: 'duration',
    defaultText: seconds(D.queueTimeoutMs),
    doc: 'answer 503 when no process is free within this',
    modFcgid: '— (fixed ~64 s of polling)',
    phpFpm: '—',
  },
  maxQueue: {
    key: 'maxQueue',
    flag: '--max-queue',
    type: 'integer',
    min: 0,
    defaultText: String(D.maxQueue),
    doc: 'requests allowed to wait for a process at once; more get 503 at once',
    modFcgid: '—',
    phpFpm: 'listen.backlog',
  },
  slots: {
    key: 'slots',
    flag: '--slots',
    type: 'slots',
    defaultText: '1',
    doc: 'requests one process takes at once; "auto" asks it with FCGI_GET_VALUES (php-cgi with PHP_FCGI_CHILDREN)',
    modFcgid: '—',
    phpFpm: '—',
  },
  processesPerSocket: {
    key: 'processesPerSocket',
    flag: '--processes-per-socket',
    type: 'integer',
    min: 1,
    defaultText: '1',
    doc: 'processes started behind each socket (spawn-fcgi -F N); maxProcesses then counts sockets',
    modFcgid: '—',
    phpFpm: '—',
  },
  readiness: {
    key: 'readiness',
    type: 'enum',
    values: ['accept', 'spawn'],
    defaultText: 'accept (spawn for handoff apps)',
    doc: 'accept: a new worker gets requests once it blocks in accept() on fd 0; spawn: at once (event-loop apps that wait in epoll)',
    modFcgid: '— (always at once)',
    phpFpm: '—',
  },
  user: {
    key: 'user',
    flag: '--user',
    type: 'string',
    defaultText: "fcgipm's own",
    doc: 'run the processes as this user, a name or a number, with its groups from /etc/group as php-fpm gives them (fcgipm must be root)',
    modFcgid: 'SuexecUserGroup (suEXEC)',
    phpFpm: 'user',
  },
  group: {
    key: 'group',
    flag: '--group',
    type: 'string',
    defaultText: "the user's primary group",
    doc: 'run the processes with this group, a name or a number',
    modFcgid: 'SuexecUserGroup (suEXEC)',
    phpFpm: 'group',
  },
  allowRoot: {
    key: 'allowRoot',
    flag: '--allow-root',
    type: 'boolean',
    defaultText: 'false',
    doc: 'allow processes to run as root (refused otherwise)',
    modFcgid: '—',
    phpFpm: 'php-fpm --allow-to-run-as-root',
  },
  nice: {
    key: 'nice',
    flag: '--nice',
    type: 'integer',
    min: -20,
    max: 19,
    defaultText: "fcgipm's own",
    doc: 'process priority, -20..19',
    modFcgid: '—',
    phpFpm: 'process.priority',
  },
  umask: {
    key: 'umask',
    flag: '--umask',
    type: 'umask',
    defaultText: "fcgipm's own",
    doc: 'file mode creation mask, octal ("027"; a plain 027 is read as octal too)',
    modFcgid: '—',
    phpFpm: '—',
  },
  rlimits: {
    key: 'rlimits',
    type: 'rlimits',
    defaultText: "fcgipm's own",
    doc: 'resource limits applied before the app starts; see the rlimits keys',
    modFcgid: '— (RLimit* are ignored by mod_fcgid)',
    phpFpm: 'rlimit_files, rlimit_core',
  },
  env: {
    key: 'env',
    flag: '--env',
    type: 'env',
    defaultText: '{}',
    doc: 'variables added to the process environment (PATH and LD_LIBRARY_PATH are passed anyway)',
    modFcgid: 'FcgidInitialEnv',
    phpFpm: 'env[NAME]',
  },
};

export const RLIMIT_KEYS: readonly Omit<KeySpec, 'section'>[] = [
  { key: 'nofile', flag: '--rlimit-nofile', type: 'rlimit', defaultText: "fcgipm's own", doc: 'open files per process, a number or "unlimited"', modFcgid: '—', phpFpm: 'rlimit_files' },
  { key: 'core', flag: '--rlimit-core', type: 'rlimit', defaultText: "fcgipm's own", doc: 'core dump size in bytes ("64M" allowed), 0 = none, or "unlimited"', modFcgid: '—', phpFpm: 'rlimit_core' },
  { key: 'as', flag: '--rlimit-as', type: 'rlimit', defaultText: "fcgipm's own", doc: 'address space per process in bytes ("2G" allowed) or "unlimited"', modFcgid: '—', phpFpm: '—' },
  { key: 'nproc', flag: '--rlimit-nproc', type: 'rlimit', defaultText: "fcgipm's own", doc: "processes of the process's user, or \"unlimited\"", modFcgid: '—', phpFpm: '—' },
];

const POOL_SECTIONS_TEXT = 'the pool settings keys';

export const SCHEMA: readonly KeySpec[] = [
  // Top level: the server (mod_fcgid's server-config-only directives, php-fpm's [global]).
  { section: 'top', key: 'ipcDir', type: 'path', default: DEFAULT_IPC_DIR, doc: 'directory of the per-process Unix sockets (<pid>.<n>); made again, with its mode, before the next spawn if it is removed while fcgipm runs', modFcgid: 'FcgidIPCDir', phpFpm: '—' },
  { section: 'top', key: 'maxProcesses', type: 'integer', min: 1, default: DEFAULT_MAX_PROCESSES, doc: 'live processes across all classes at most', modFcgid: 'FcgidMaxProcesses', phpFpm: 'process.max' },
  { section: 'top', key: 'clientHeaderTimeout', type: 'duration', field: 'clientHeaderTimeoutMs', default: DEFAULT_CLIENT_HEADER_TIMEOUT_MS / 1000, doc: 'a client that has not sent a whole request head in this long is answered 408 and disconnected (slowloris), to the second', modFcgid: '— (RequestReadTimeout header=)', phpFpm: '— (nginx client_header_timeout)' },
  { section: 'top', key: 'clientBodyTimeout', type: 'duration', field: 'clientBodyTimeoutMs', default: DEFAULT_CLIENT_BODY_TIMEOUT_MS / 1000, doc: 'a client that pauses this long between two reads of its request body (not the whole body\'s time) is answered 408 and disconnected, to the second; bodies are read before a worker is taken, so a slow one holds none', modFcgid: '— (RequestReadTimeout body=)', phpFpm: '— (nginx client_body_timeout)' },
  { section: 'top', key: 'drainTimeout', type: 'duration', zeroOff: true, field: 'drainTimeoutMs', default: DEFAULT_DRAIN_TIMEOUT_MS / 1000, doc: 'on SIGTERM, time requests in flight get to finish', modFcgid: '—', phpFpm: 'process_control_timeout' },
  { section: 'top', key: 'logLevel', type: 'enum', values: LOG_LEVELS, default: DEFAULT_LOG_LEVEL, doc: 'log lines below this level are dropped', modFcgid: '— (LogLevel)', phpFpm: 'log_level' },
  { section: 'top', key: 'logFile', type: 'path', defaultText: 'stdout', doc: 'append the log here instead of stdout; SIGUSR1 reopens it (logrotate); its directory must exist', modFcgid: '— (ErrorLog)', phpFpm: 'error_log' },
  { section: 'top', key: 'pidFile', type: 'path', defaultText: 'none', doc: "write fcgipm's pid here once it listens, remove it on a clean stop; a start is refused while the file names a live fcgipm", modFcgid: '— (PidFile)', phpFpm: 'pid' },
  { section: 'top', key: 'accessLog', type: 'accessLog', default: 'off', doc: 'a line per request answered by the HTTP and FastCGI front ends: a file path (appended to; relative to the config file), "-" for stdout, or "off"', modFcgid: 'CustomLog', phpFpm: 'access.log' },
  { section: 'top', key: 'accessLogFormat', type: 'enum', values: ACCESS_LOG_FORMAT_NAMES, default: DEFAULT_ACCESS_LOG_FORMAT, doc: 'combined: Apache\'s combined format, then duration (ms), queue wait (ms), "pool" and worker pid; json: one object per line with the same fields', modFcgid: '— (LogFormat)', phpFpm: 'access.format' },
  { section: 'top', key: 'listen', type: 'listenMap', defaultText: 'see listen keys', doc: 'the front ends fcgipm listens on', modFcgid: '— (Listen)', phpFpm: 'listen' },
  { section: 'top', key: 'defaults', type: 'pool', defaultText: '{}', doc: `process settings every class starts from (${POOL_SECTIONS_TEXT})`, modFcgid: 'server-level Fcgid* directives', phpFpm: 'pool settings' },
  { section: 'top', key: 'commands', type: 'commands', defaultText: '{}', doc: 'exact command path → process settings for every class running it, over the site\'s', modFcgid: 'FcgidCmdOptions', phpFpm: '—' },
  { section: 'top', key: 'sites', type: 'sites', required: true, doc: 'the virtual hosts; a request goes to the site whose hosts match its Host header, else the first', modFcgid: '<VirtualHost>', phpFpm: '—' },

  { section: 'listen', key: 'http', type: 'listen', default: DEFAULT_HTTP_LISTEN, doc: 'HTTP front end: HOST:PORT, unix:/path or "off"', modFcgid: '— (Listen)', phpFpm: '—' },
  { section: 'listen', key: 'fastcgi', type: 'listen', default: 'off', doc: 'FastCGI front end for nginx or Apache mod_proxy_fcgi: unix:/path, HOST:PORT or "off"', modFcgid: '—', phpFpm: 'listen' },
  { section: 'listen', key: 'reusePort', type: 'boolean', default: false, doc: 'bind the HTTP listener with SO_REUSEPORT, so a new fcgipm can start on the same port before the old one stops (zero-downtime upgrade)', modFcgid: '—', phpFpm: '—' },
  { section: 'listen', key: 'fastcgiPassProxy', type: 'boolean', default: false, doc: 'pass the HTTP_PROXY param a web server sends (made from a client\'s "Proxy:" header) on to apps; off strips it, as the httpoxy advisories (CVE-2016-5385) recommend. The HTTP front end never passes it', modFcgid: '—', phpFpm: '—' },
  { section: 'listen', key: 'fastcgiMode', type: 'umask', default: '0660', doc: 'permissions of the FastCGI Unix socket, octal; 0666 lets a web server running as another user connect', modFcgid: '—', phpFpm: 'listen.mode' },
  { section: 'listen', key: 'fastcgiOwner', type: 'string', defaultText: "fcgipm's own", doc: 'owner of the FastCGI Unix socket, a user name or number (fcgipm must be root to give it away)', modFcgid: '—', phpFpm: 'listen.owner' },
  { section: 'listen', key: 'fastcgiGroup', type: 'string', defaultText: "fcgipm's own", doc: "group of the FastCGI Unix socket, a name or number: with fastcgiMode 0660, the web server's group connects", modFcgid: '—', phpFpm: 'listen.group' },
  { section: 'listen', key: 'admin', type: 'listen', default: 'off', doc: 'admin listener (/status, /metrics, /status.json, /healthz): HOST:PORT or "off"; an address off loopback is refused without adminTokenFile', modFcgid: '— (mod_status)', phpFpm: 'pm.status_listen' },
  { section: 'listen', key: 'adminTokenFile', type: 'path', defaultText: 'none', doc: 'a file holding a secret token (one word); every admin endpoint but /healthz then answers 401 without "Authorization: Bearer TOKEN". Read at start; refused when others can read it (chmod 600); relative to the config file', modFcgid: '—', phpFpm: '—' },

  { section: 'site', key: 'hosts', type: 'hosts', default: ['*'], doc: 'Host names this site answers, "*.example.org" wildcards; "*" answers any host', modFcgid: 'ServerName, ServerAlias', phpFpm: '—' },
  { section: 'site', key: 'documentRoot', type: 'path', defaultText: 'none (apps only)', doc: 'serve scripts from this directory; relative to the config file', modFcgid: 'DocumentRoot', phpFpm: '—' },
  { section: 'site', key: 'static', type: 'boolean', default: true, doc: 'serve the other files under the document root as they are (Range, ETag, Last-Modified, conditional GET, HEAD, MIME types by suffix); off when a web server in front serves them. Names starting with "." are refused (403)', modFcgid: "— (Apache's own file serving)", phpFpm: '— (nginx serves them)' },
  { section: 'site', key: 'followSymlinks', type: 'enum', values: ['owner-match', 'on', 'inside', 'off'], default: 'owner-match', doc: 'symlinks under the document root: owner-match follows one whose owner owns its target too (wherever it leads); on follows any; inside only those that stay inside the root; off none (403). Whatever this says, a script (a wrapper or handler runs it) must resolve inside the root or scriptRoots', modFcgid: 'Options SymLinksIfOwnerMatch / FollowSymLinks', phpFpm: '—' },
  { section: 'site', key: 'scriptRoots', type: 'strings', default: [], doc: 'more directories where a script reached through a symlink may be (Debian PHP apps under /usr/share); relative to the config file', modFcgid: '—', phpFpm: '—' },
  { section: 'site', key: 'directoryIndex', type: 'strings', default: [], doc: 'files tried, in order, when a URL names a directory', modFcgid: 'DirectoryIndex', phpFpm: '—' },
  { section: 'site', key: 'handlers', type: 'suffixes', default: [], doc: 'suffixes (".fcgi") whose executable files each run as their own class; "*" runs every file', modFcgid: 'AddHandler fcgid-script .fcgi / SetHandler fcgid-script', phpFpm: 'security.limit_extensions' },
  { section: 'site', key: 'wrappers', type: 'wrappers', default: [], doc: 'scripts with a suffix run through a command (php-cgi for .php)', modFcgid: 'FcgidWrapper', phpFpm: '—' },
  { section: 'site', key: 'apps', type: 'apps', default: [], doc: 'URL prefixes served by one command each', modFcgid: '— (ScriptAlias to a .fcgi)', phpFpm: '—' },
  { section: 'site', key: 'auth', type: 'auth', default: [], doc: 'FastCGI authenticators, authorizers and access checkers for URL prefixes', modFcgid: 'FcgidAuthenticator, FcgidAuthorizer, FcgidAccessChecker', phpFpm: '—' },
  { section: 'site', key: 'passHeaders', type: 'headers', default: [], doc: 'request headers also passed under their own name (Authorization)', modFcgid: 'FcgidPassHeader', phpFpm: '—' },
  { section: 'site', key: 'maxRequestBody', type: 'size', field: 'maxRequestBodyBytes', default: '1G', doc: 'largest request body; more is answered 413 before it is read', modFcgid: 'FcgidMaxRequestLen (128K, answers 500)', phpFpm: '— (php.ini post_max_size)' },
  { section: 'site', key: 'initialEnv', type: 'env', field: 'env', defaultText: '{}', doc: 'the same as env, under the name Apache users know', modFcgid: 'FcgidInitialEnv', phpFpm: 'env[NAME]' },

  { section: 'wrapper', key: 'suffix', type: 'string', default: '', doc: 'file suffix from the last "." of the name (".php"); "" is the default wrapper for every file', modFcgid: 'FcgidWrapper … .suffix', phpFpm: '—' },
  { section: 'wrapper', key: 'command', type: 'command', required: true, doc: 'the program run instead of the script; relative to the config file', modFcgid: 'FcgidWrapper "command …"', phpFpm: '—' },
  { section: 'wrapper', key: 'args', type: 'args', default: [], doc: 'its arguments: a list, or one string split like a shell does', modFcgid: 'FcgidWrapper "… args"', phpFpm: '—' },
  { section: 'wrapper', key: 'virtual', type: 'boolean', default: false, doc: 'the URL need not name an existing file', modFcgid: 'FcgidWrapper … virtual', phpFpm: '—' },

  { section: 'app', key: 'prefix', type: 'string', required: true, doc: 'URL path prefix starting with "/", matched on whole segments', modFcgid: '— (<Location>, ScriptAlias)', phpFpm: '—' },
  { section: 'app', key: 'command', type: 'command', required: true, doc: 'the FastCGI program; relative to the config file', modFcgid: '—', phpFpm: '—' },
  { section: 'app', key: 'args', type: 'args', default: [], doc: 'its arguments: a list, or one string split like a shell does', modFcgid: '—', phpFpm: '—' },
  { section: 'app', key: 'script', type: 'path', defaultText: 'the command', doc: 'SCRIPT_FILENAME sent to the app, for an interpreter such as php-cgi', modFcgid: '—', phpFpm: '—' },
  { section: 'app', key: 'roots', type: 'strings', default: [], doc: "php-cgi without a script, behind a FastCGI front end: the directories the web server's SCRIPT_FILENAME may name (default: the DOCUMENT_ROOT or CONTEXT_DOCUMENT_ROOT it sends; h2o sends none); relative to the config file", modFcgid: '—', phpFpm: '— (chroot, open_basedir)' },
  { section: 'app', key: 'handoff', type: 'boolean', default: false, doc: 'pass the client socket to the app (fd handoff); HTTP front end only', modFcgid: '—', phpFpm: '—' },

  { section: 'auth', key: 'prefix', type: 'string', required: true, doc: 'URL path prefix the rule protects, starting with "/"', modFcgid: '<Location prefix>', phpFpm: '—' },
  { section: 'auth', key: 'authenticator', type: 'authApp', defaultText: 'none', doc: 'checks the Basic credentials (role AUTHORIZER, FCGI_APACHE_ROLE=AUTHENTICATOR)', modFcgid: 'FcgidAuthenticator', phpFpm: '—' },
  { section: 'auth', key: 'authorizer', type: 'authApp', defaultText: 'none', doc: 'decides whether the authenticated user may access the URL', modFcgid: 'FcgidAuthorizer', phpFpm: '—' },
  { section: 'auth', key: 'accessChecker', type: 'authApp', defaultText: 'none', doc: 'decides access before authentication (by address, time…)', modFcgid: 'FcgidAccessChecker', phpFpm: '—' },

  { section: 'authApp', key: 'command', type: 'command', required: true, doc: 'the FastCGI authorizer program; relative to the config file', modFcgid: 'FcgidAuthenticator command', phpFpm: '—' },
  { section: 'authApp', key: 'args', type: 'args', default: [], doc: 'its arguments: a list, or one string split like a shell does', modFcgid: 'FcgidAuthenticator "… args"', phpFpm: '—' },

  ...Object.entries(POOL_KEYS).map(([field, spec]): KeySpec => ({ ...spec, section: 'pool', field })),
  ...RLIMIT_KEYS.map((spec): KeySpec => ({ ...spec, section: 'rlimits' })),
];

/** Sections whose mappings also take the pool settings keys. */
const TAKES_POOL_KEYS: ReadonlySet<Section> = new Set<Section>(['site', 'wrapper', 'app', 'authApp', 'pool']);

/** The keys allowed in a mapping of this section (pool keys included where they apply). */
export function keysOf(section: Section): readonly KeySpec[] {
  const own = SCHEMA.filter((s) => s.section === section);
  if (section === 'pool' || !TAKES_POOL_KEYS.has(section)) return own;
  return [...own, ...SCHEMA.filter((s) => s.section === 'pool')];
}

const SECTION_PREFIX: Readonly<Record<Section, string>> = {
  top: '',
  listen: 'listen.',
  site: 'sites[].',
  wrapper: 'sites[].wrappers[].',
  app: 'sites[].apps[].',
  auth: 'sites[].auth[].',
  authApp: 'sites[].auth[].<role>.',
  pool: '<pool>.',
  rlimits: '<pool>.rlimits.',
};

/** The key's path as the docs write it: "sites[].wrappers[].suffix", "<pool>.idleTimeout". */
export function schemaPath(spec: KeySpec): string {
  return SECTION_PREFIX[spec.section] + spec.key;
}
