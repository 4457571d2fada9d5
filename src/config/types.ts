/**
 * The resolved configuration: what `fcgipm serve --config FILE.yaml` and `fcgipm run` flags
 * both turn into. Times are milliseconds and sizes bytes here; the YAML file writes them as
 * seconds or with units ("30s", "5m", "128K", "1G"), see docs/config.md.
 */

/** A listen address: TCP host and port, or a Unix socket path. */
export type ListenTarget =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

/**
 * Per-class process settings. Every field is optional at each level; a class takes them from
 * its app or wrapper, then its command's `commands:` entry (FcgidCmdOptions), then the site,
 * then `defaults`, then the built-in defaults (src/pm/pool-options.ts).
 */
export interface PoolSettings {
  readonly mode?: 'ondemand' | 'dynamic' | 'static';
  readonly minProcesses?: number;
  readonly maxProcesses?: number;
  readonly minSpare?: number;
  readonly maxSpare?: number;
  readonly idleTimeoutMs?: number;
  readonly lifetimeMs?: number;
  readonly maxRequestsPerProcess?: number;
  readonly busyTimeoutMs?: number;
  /** A request that holds its worker this long or longer is counted and logged as slow; 0 = off. */
  readonly slowRequestTimeoutMs?: number;
  readonly ioTimeoutMs?: number;
  readonly startupTimeoutMs?: number;
  readonly queueTimeoutMs?: number;
  readonly maxQueue?: number;
  /** Requests one worker takes at once; 'auto' asks it with FCGI_GET_VALUES. */
  readonly slots?: number | 'auto';
  readonly processesPerSocket?: number;
  /**
   * When a new worker gets requests: 'accept' once it blocks in accept() on fd 0 (libfcgi,
   * php-cgi), 'spawn' at once (event-loop apps such as Node that wait in epoll, not accept).
   */
  readonly readiness?: 'accept' | 'spawn';
  /** Worker identity, by name or number; resolved when the server starts. */
  readonly user?: string;
  readonly group?: string;
  readonly allowRoot?: boolean;
  readonly nice?: number;
  readonly umask?: number;
  readonly rlimits?: {
    readonly nofile?: number | 'unlimited';
    readonly core?: number | 'unlimited';
    readonly as?: number | 'unlimited';
    readonly nproc?: number | 'unlimited';
  };
  /** FcgidInitialEnv: added to the worker's process environment (not per-request params). */
  readonly env?: Readonly<Record<string, string>>;
}

/** An explicit app: every URL under `prefix` goes to one command (one process class). */
export interface AppRoute extends PoolSettings {
  /** URL path prefix, "/" for the whole site; matched on whole segments. */
  readonly prefix: string;
  readonly command: string;
  readonly args: readonly string[];
  /** SCRIPT_FILENAME sent to the app, for an interpreter (php-cgi); default the command. */
  readonly script?: string;
  /**
   * For an interpreter without a script behind a FastCGI front end: the directories the web
   * server's SCRIPT_FILENAME may name (default: the DOCUMENT_ROOT it sends).
   */
  readonly roots?: readonly string[];
  /** Pass the client socket to the worker (docs/handoff-protocol.md). HTTP only. */
  readonly handoff: boolean;
  /** Where in the config it came from, for messages ("fcgipm.yaml:12"). */
  readonly origin: string;
}

/** FcgidWrapper "command args" [.suffix] [virtual]: scripts with the suffix run through command. */
export interface Wrapper extends PoolSettings {
  /** ".php"; '' is the default wrapper (no suffix). Matched after the last "." of the file name. */
  readonly suffix: string;
  readonly command: string;
  readonly args: readonly string[];
  /** `virtual`: the URL need not map to a file; the whole path goes to the wrapper. */
  readonly virtual: boolean;
  readonly origin: string;
}

/** FcgidAuthenticator / FcgidAuthorizer / FcgidAccessChecker for URLs under a prefix. */
export interface AuthRule {
  readonly prefix: string;
  readonly authenticator?: AuthApp;
  readonly authorizer?: AuthApp;
  readonly accessChecker?: AuthApp;
  readonly origin: string;
}

export interface AuthApp extends PoolSettings {
  readonly command: string;
  readonly args: readonly string[];
}

/** owner-match: SymLinksIfOwnerMatch; on: FollowSymLinks; inside: only within the root; off: none. */
export type SymlinkPolicy = 'owner-match' | 'on' | 'inside' | 'off';

/** One virtual host (or the only site). */
export interface SiteConfig {
  /** Host header values (without port) this site answers; ["*"] answers any host. */
  readonly hosts: readonly string[];
  /** Document-root mode is on when this is set. */
  readonly documentRoot: string | undefined;
  /**
   * AddHandler fcgid-script: suffixes (".fcgi") whose executable files under the document root
   * each run as their own class; "*" is SetHandler fcgid-script (every file).
   */
  readonly handlers: readonly string[];
  readonly wrappers: readonly Wrapper[];
  /** Files tried, in order, when a URL names a directory (DirectoryIndex, nginx `index`). */
  readonly directoryIndex: readonly string[];
  /** Other files under the document root are served as they are (HTTP front end only). */
  readonly static: boolean;
  /** Which symlinks under the document root are followed (Apache's FollowSymLinks family). */
  readonly followSymlinks: SymlinkPolicy;
  /** More directories a script reached through a symlink may resolve into. */
  readonly scriptRoots: readonly string[];
  readonly apps: readonly AppRoute[];
  readonly auth: readonly AuthRule[];
  /** FcgidPassHeader: request headers also passed under their own name (Authorization). */
  readonly passHeaders: readonly string[];
  /** Largest request body; more is answered 413 (FcgidMaxRequestLen, which answers 500). */
  readonly maxRequestBodyBytes: number;
  /** Site-level process settings (Fcgid* directives inside a <VirtualHost>). */
  readonly pool: PoolSettings;
  readonly origin: string;
}

export interface Config {
  /** The file it was read from, or "command line". */
  readonly source: string;
  readonly ipcDir: string;
  /** FcgidMaxProcesses: live workers across all classes. */
  readonly maxProcesses: number;
  readonly listen: {
    readonly http: ListenTarget | undefined;
    readonly fastcgi: ListenTarget | undefined;
    readonly admin: ListenTarget | undefined;
    /** SO_REUSEPORT on the HTTP listener (node-unix-socket): old and new fcgipm share its port. */
    readonly reusePort: boolean;
    /** Mode of the FastCGI Unix socket (php-fpm listen.mode). */
    readonly fastcgiMode: number;
    /** Pass the web server's HTTP_PROXY param on to apps (off: stripped, against httpoxy). */
    readonly fastcgiPassProxy?: boolean;
    /** Owner and group of the FastCGI Unix socket, names or numbers (php-fpm listen.owner, listen.group). */
    readonly fastcgiOwner?: string;
    readonly fastcgiGroup?: string;
    /** A file holding the admin listener's bearer token; every endpoint but /healthz then asks for it. */
    readonly adminTokenFile?: string;
  };
  /** Settings every class starts from (server-level Fcgid* directives, php-fpm pool defaults). */
  readonly defaults: PoolSettings;
  /**
   * FcgidCmdOptions: settings for one exact command path, over the site's. Keys are absolute:
   * the loader resolves them as it resolves `command`, so a lookup by a class's command matches.
   */
  readonly commands: Readonly<Record<string, PoolSettings>>;
  readonly sites: readonly SiteConfig[];
  readonly drainTimeoutMs: number;
  /** A client that has not sent a whole request head in this long is disconnected (408). */
  readonly clientHeaderTimeoutMs?: number;
  /** A client that pauses this long between two reads of its request body is disconnected (408). */
  readonly clientBodyTimeoutMs?: number;
  readonly logLevel: string;
  /** Append the log here instead of stdout; reopened on SIGUSR1. */
  readonly logFile?: string;
  /** Written once listening, removed on a clean stop. */
  readonly pidFile?: string;
  /** The access log: an absolute path, "-" for stdout; none when undefined. */
  readonly accessLog?: string | undefined;
  /** Its line format; combined when undefined. */
  readonly accessLogFormat?: 'combined' | 'json';
}
