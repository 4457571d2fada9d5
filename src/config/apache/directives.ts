/**
 * The tables of Apache directives import-apache knows: mod_fcgid's names and old aliases,
 * which YAML key each per-class directive sets, what is not needed in fcgipm and why, and
 * the Apache directives around FastCGI that do not carry over. Names, aliases, scopes and
 * compiled defaults follow mod_fcgid 2.3.9.
 */

/** The three FastCGI roles beside the responder, as the YAML's auth rules name them. */
export type Role = 'authenticator' | 'authorizer' | 'accessChecker';

/** Deprecated names mod_fcgid still accepts (mod_fcgid 2.3.9, the "(old alias)" column). */
const ALIASES: Readonly<Record<string, string>> = {
  FastCgiAccessChecker: 'FcgidAccessChecker',
  FastCgiAccessCheckerAuthoritative: 'FcgidAccessCheckerAuthoritative',
  FastCgiAuthenticator: 'FcgidAuthenticator',
  FastCgiAuthenticatorAuthoritative: 'FcgidAuthenticatorAuthoritative',
  FastCgiAuthorizer: 'FcgidAuthorizer',
  FastCgiAuthorizerAuthoritative: 'FcgidAuthorizerAuthoritative',
  BusyScanInterval: 'FcgidBusyScanInterval',
  BusyTimeout: 'FcgidBusyTimeout',
  IPCConnectTimeout: 'FcgidConnectTimeout',
  ErrorScanInterval: 'FcgidErrorScanInterval',
  PHP_Fix_Pathinfo_Enable: 'FcgidFixPathinfo',
  IdleScanInterval: 'FcgidIdleScanInterval',
  IdleTimeout: 'FcgidIdleTimeout',
  DefaultInitEnv: 'FcgidInitialEnv',
  IPCCommTimeout: 'FcgidIOTimeout',
  SocketPath: 'FcgidIPCDir',
  MaxProcessCount: 'FcgidMaxProcesses',
  DefaultMaxClassProcessCount: 'FcgidMaxProcessesPerClass',
  MaxRequestInMem: 'FcgidMaxRequestInMem',
  MaxRequestLen: 'FcgidMaxRequestLen',
  MaxRequestsPerProcess: 'FcgidMaxRequestsPerProcess',
  DefaultMinClassProcessCount: 'FcgidMinProcessesPerClass',
  OutputBufferSize: 'FcgidOutputBufferSize',
  PassHeader: 'FcgidPassHeader',
  ProcessLifeTime: 'FcgidProcessLifeTime',
  SharememPath: 'FcgidProcessTableFile',
  SpawnScore: 'FcgidSpawnScore',
  SpawnScoreUpLimit: 'FcgidSpawnScoreUpLimit',
  TerminationScore: 'FcgidTerminationScore',
  TimeScore: 'FcgidTimeScore',
  FCGIWrapper: 'FcgidWrapper',
  ZombieScanInterval: 'FcgidZombieScanInterval',
};

/** Per-class directives: their YAML key (server level → defaults, <VirtualHost> → the site). */
export const POOL_DIRECTIVES: Readonly<Record<string, string>> = {
  FcgidBusyTimeout: 'busyTimeout',
  FcgidIdleTimeout: 'idleTimeout',
  FcgidIOTimeout: 'ioTimeout',
  FcgidMaxProcessesPerClass: 'maxProcesses',
  FcgidMinProcessesPerClass: 'minProcesses',
  FcgidMaxRequestsPerProcess: 'maxRequests',
  FcgidProcessLifeTime: 'lifetime',
};

/** FcgidCmdOptions sub-options (mod_fcgid 2.3.9) and the compiled default each falls back to. */
export const CMD_OPTIONS: Readonly<Record<string, { key: string; compiled: number }>> = {
  idletimeout: { key: 'idleTimeout', compiled: 300 },
  iotimeout: { key: 'ioTimeout', compiled: 40 },
  maxprocesses: { key: 'maxProcesses', compiled: 100 },
  maxprocesslifetime: { key: 'lifetime', compiled: 3600 },
  maxrequestsperprocess: { key: 'maxRequests', compiled: 0 },
  minprocesses: { key: 'minProcesses', compiled: 3 },
};

/** Directives fcgipm does not need, and why: each becomes a warning. */
export const NOT_NEEDED: Readonly<Record<string, string>> = {
  FcgidBusyScanInterval: 'busy timeouts are timers per request in fcgipm, there is no scan',
  FcgidErrorScanInterval: 'exited workers are reaped at once; the SIGTERM→SIGKILL grace is 5 s',
  FcgidIdleScanInterval: 'idle timeout and lifetime are enforced by timers, there is no scan',
  FcgidZombieScanInterval: 'worker exits are noticed at once (SIGCHLD), there is no scan',
  FcgidSpawnScore: 'fcgipm spawns when a request waits, up to maxProcesses; crash loops back off by themselves, there is no spawn score',
  FcgidSpawnScoreUpLimit: 'fcgipm spawns when a request waits, up to maxProcesses; crash loops back off by themselves, there is no spawn score',
  FcgidTerminationScore: 'fcgipm spawns when a request waits, up to maxProcesses; crash loops back off by themselves, there is no spawn score',
  FcgidTimeScore: 'fcgipm spawns when a request waits, up to maxProcesses; crash loops back off by themselves, there is no spawn score',
  FcgidConnectTimeout: 'mod_fcgid ignores it on Unix too (it only applies to Windows named pipes); a new worker gets startupTimeout',
  FcgidOutputBufferSize: 'responses stream to the client as the app writes them, with back-pressure',
  FcgidMaxRequestInMem: 'request bodies stream to the app; a chunked upload is spooled to a temp file above 1 MiB',
  FcgidProcessTableFile: 'fcgipm keeps its process table in memory, there is no shared-memory file',
  FcgidWin32PreventOrphans: 'Windows only',
  FcgidFixPathinfo: 'not supported: SCRIPT_NAME is sent as Apache computes it without the fix (set cgi.fix_pathinfo=0 in php.ini for the same result)',
};

export const SERVER_ONLY = new Set(['FcgidIPCDir', 'FcgidMaxProcesses', ...Object.keys(NOT_NEEDED).filter((d) => d !== 'FcgidConnectTimeout' && d !== 'FcgidOutputBufferSize' && d !== 'FcgidMaxRequestInMem')]);

export const AUTH_DIRECTIVES: Readonly<Record<string, Role>> = {
  FcgidAuthenticator: 'authenticator',
  FcgidAuthorizer: 'authorizer',
  FcgidAccessChecker: 'accessChecker',
};

const KNOWN = [
  'FcgidIPCDir',
  'FcgidMaxProcesses',
  'FcgidCmdOptions',
  'FcgidInitialEnv',
  'FcgidPassHeader',
  'FcgidMaxRequestLen',
  'FcgidWrapper',
  'FcgidAuthenticatorAuthoritative',
  'FcgidAuthorizerAuthoritative',
  'FcgidAccessCheckerAuthoritative',
  ...Object.keys(POOL_DIRECTIVES),
  ...Object.keys(NOT_NEEDED),
  ...Object.keys(AUTH_DIRECTIVES),
  'DocumentRoot',
  'ServerName',
  'ServerAlias',
  'DirectoryIndex',
  'AddHandler',
  'SetHandler',
  'Include',
  'IncludeOptional',
];

/** Lower-case written name → canonical name, aliases included (Apache matches names case-insensitively). */
export const CANONICAL = new Map<string, string>([
  ...KNOWN.map((n): [string, string] => [n.toLowerCase(), n]),
  ...Object.entries(ALIASES).map(([alias, name]): [string, string] => [alias.toLowerCase(), name]),
]);

/**
 * Apache directives that shape how a FastCGI app is run or reached but have no place in
 * fcgipm's YAML, and what to do instead: each becomes a warning naming its line.
 */
export const NOT_CARRIED: Readonly<Record<string, string>> = {
  SuexecUserGroup: "mod_suexec is not carried over: set user and group on the site's apps (or in defaults) to run them as that user",
  SetEnv: 'request variables set by mod_env are not carried over: fcgipm sets no per-request variables; a constant one can go in env (the process environment)',
  PassEnv: 'request variables set by mod_env are not carried over: a constant one can go in env (the process environment)',
  UnsetEnv: 'request variables set by mod_env are not carried over',
  SetEnvIf: 'request variables set by mod_setenvif are not carried over',
  SetEnvIfNoCase: 'request variables set by mod_setenvif are not carried over',
  ScriptAlias: 'URL mappings are not carried over: for a FastCGI program, add an apps entry with its prefix and command',
  ScriptAliasMatch: 'URL mappings are not carried over: for a FastCGI program, add an apps entry with its prefix and command',
  Alias: 'URL mappings are not carried over: for a FastCGI program, add an apps entry with its prefix and command',
  AliasMatch: 'URL mappings are not carried over: for a FastCGI program, add an apps entry with its prefix and command',
  RewriteEngine: 'mod_rewrite rules are not carried over; keep them in the web server in front of fcgipm',
  RewriteRule: 'mod_rewrite rules are not carried over; keep them in the web server in front of fcgipm',
  RewriteCond: 'mod_rewrite rules are not carried over; keep them in the web server in front of fcgipm',
  Action: 'mod_actions is not carried over: a wrappers entry runs the scripts of a suffix through a command',
  Options: "Options is not carried over: a site's followSymlinks says which symlinks are followed; ExecCGI has no equivalent (handlers and wrappers say what runs)",
  AuthType: "access control is not carried over, except mod_fcgid's authorizers: an auth rule runs its FastCGI authenticator or authorizer on every request under its prefix",
  AuthName: "access control is not carried over, except mod_fcgid's authorizers: an auth rule runs its FastCGI authenticator or authorizer on every request under its prefix",
  Require: "access control is not carried over, except mod_fcgid's authorizers: an auth rule runs its FastCGI authenticator or authorizer on every request under its prefix",
  ProxyPass: 'mod_proxy_fcgi is not carried over: fcgipm is the FastCGI side itself; to keep Apache in front, point ProxyPass at listen.fastcgi',
  ProxyPassMatch: 'mod_proxy_fcgi is not carried over: fcgipm is the FastCGI side itself; to keep Apache in front, point ProxyPassMatch at listen.fastcgi',
};

/** Every directive name import-apache knows of, for did-you-mean. */
export const ALL_NAMES: readonly string[] = [...KNOWN, ...Object.keys(NOT_CARRIED)];
