/**
 * `fcgipm import-apache`: Apache configuration text (mod_fcgid's Fcgid* directives, with the
 * handler, document-root and host directives around them) to the equivalent fcgipm YAML.
 * Directive names, aliases, scopes and defaults follow mod_fcgid 2.3.9 (mod_fcgid 2.3.9). What has no equivalent, or means something else here, becomes a warning
 * naming file:line and why. The YAML goes through parseConfig unchanged (tests check).
 */
import path from 'node:path';
import { Document, type Scalar, type YAMLMap, type YAMLSeq } from 'yaml';
import { nearest } from './edit-distance';
import { SCHEMA } from './schema';
import { parseDuration, splitCommandLine } from './units';

export interface ApacheFile {
  readonly path: string;
  readonly text: string;
}

export interface ImportResult {
  readonly yaml: string;
  readonly warnings: string[];
}

/** One directive as written: its canonical name (aliases resolved) and where it is. */
interface Directive {
  readonly name: string;
  readonly written: string;
  readonly args: readonly string[];
  readonly at: string;
}

/** A per-directory container around a directive: <Directory>, <Location>, <Files>… */
interface Container {
  /** Lower-case section name: "directory", "locationmatch", "files"… */
  readonly kind: string;
  readonly arg: string;
  readonly at: string;
}

interface Placed {
  readonly d: Directive;
  readonly containers: readonly Container[];
}

interface VirtualHost {
  readonly arg: string;
  readonly at: string;
  readonly items: Placed[];
}

/** A value and the directive it came from, for the YAML comment. */
interface Sourced<T> {
  readonly value: T;
  readonly from: string;
}

interface WrapperDraft {
  readonly suffix: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly virtual: boolean;
  readonly from: string;
  readonly at: string;
}

type Role = 'authenticator' | 'authorizer' | 'accessChecker';

interface AuthDraft {
  readonly prefix: string;
  roles: Partial<Record<Role, Sourced<{ command: string; args: readonly string[] }>>>;
}

/** Pool settings as YAML keys (idleTimeout, maxProcesses…) with their source. */
type PoolDraft = Map<string, Sourced<number>>;

interface SiteDraft {
  readonly label: string;
  /** file:line of the <VirtualHost>, or of the first file for the main server. */
  readonly at: string;
  hosts: Array<Sourced<string>>;
  documentRoot: Sourced<string> | undefined;
  directoryIndex: Sourced<string[]> | undefined;
  handlers: Map<string, string>;
  wrappers: Map<string, WrapperDraft>;
  auth: Map<string, AuthDraft>;
  passHeaders: Map<string, string>;
  maxRequestBody: Sourced<number> | undefined;
  pool: PoolDraft;
  env: Map<string, Sourced<string>>;
  /** Directory blocks, applied once the site's DocumentRoot is known. */
  readonly deferred: Placed[];
}

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
const POOL_DIRECTIVES: Readonly<Record<string, string>> = {
  FcgidBusyTimeout: 'busyTimeout',
  FcgidIdleTimeout: 'idleTimeout',
  FcgidIOTimeout: 'ioTimeout',
  FcgidMaxProcessesPerClass: 'maxProcesses',
  FcgidMinProcessesPerClass: 'minProcesses',
  FcgidMaxRequestsPerProcess: 'maxRequests',
  FcgidProcessLifeTime: 'lifetime',
};

/** FcgidCmdOptions sub-options (mod_fcgid 2.3.9) and the compiled default each falls back to. */
const CMD_OPTIONS: Readonly<Record<string, { key: string; compiled: number }>> = {
  idletimeout: { key: 'idleTimeout', compiled: 300 },
  iotimeout: { key: 'ioTimeout', compiled: 40 },
  maxprocesses: { key: 'maxProcesses', compiled: 100 },
  maxprocesslifetime: { key: 'lifetime', compiled: 3600 },
  maxrequestsperprocess: { key: 'maxRequests', compiled: 0 },
  minprocesses: { key: 'minProcesses', compiled: 3 },
};

/** Directives fcgipm does not need, and why: each becomes a warning. */
const NOT_NEEDED: Readonly<Record<string, string>> = {
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

const SERVER_ONLY = new Set(['FcgidIPCDir', 'FcgidMaxProcesses', ...Object.keys(NOT_NEEDED).filter((d) => d !== 'FcgidConnectTimeout' && d !== 'FcgidOutputBufferSize' && d !== 'FcgidMaxRequestInMem')]);

const AUTH_DIRECTIVES: Readonly<Record<string, Role>> = {
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
const CANONICAL = new Map<string, string>([
  ...KNOWN.map((n): [string, string] => [n.toLowerCase(), n]),
  ...Object.entries(ALIASES).map(([alias, name]): [string, string] => [alias.toLowerCase(), name]),
]);

/**
 * Apache directives that shape how a FastCGI app is run or reached but have no place in
 * fcgipm's YAML, and what to do instead: each becomes a warning naming its line.
 */
const NOT_CARRIED: Readonly<Record<string, string>> = {
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
const ALL_NAMES: readonly string[] = [...KNOWN, ...Object.keys(NOT_CARRIED)];

/** Sections that only test conditions; their content is read as if they were not there. */
const CONDITIONAL = new Set(['ifmodule', 'ifdefine', 'ifversion', 'iffile', 'ifdirective', 'ifsection', 'if', 'elseif', 'else']);
const PER_DIR = new Set(['directory', 'directorymatch', 'location', 'locationmatch', 'files', 'filesmatch', 'proxy', 'proxymatch', 'limit', 'limitexcept']);

/**
 * Apache's ap_getword_conf: words split on blanks; a word may be quoted with " or ', and
 * inside quotes a backslash escapes the quote or another backslash.
 */
export function apacheWords(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line.charAt(i))) i += 1;
    if (i >= line.length) break;
    const c = line.charAt(i);
    let word = '';
    if (c === '"' || c === "'") {
      i += 1;
      while (i < line.length && line.charAt(i) !== c) {
        const next = line.charAt(i + 1);
        if (line.charAt(i) === '\\' && (next === c || next === '\\')) {
          word += next;
          i += 2;
        } else {
          word += line.charAt(i);
          i += 1;
        }
      }
      i += 1;
    } else {
      while (i < line.length && !/\s/.test(line.charAt(i))) {
        word += line.charAt(i);
        i += 1;
      }
    }
    words.push(word);
  }
  return words;
}

/** Lines with backslash continuations joined (Apache drops the backslash and the newline), comments and blanks dropped. */
function logicalLines(file: ApacheFile): Array<{ text: string; line: number }> {
  const raw = file.text.split(/\r?\n/);
  const out: Array<{ text: string; line: number }> = [];
  for (let i = 0; i < raw.length; i += 1) {
    const start = i;
    let text = raw[i] ?? '';
    while (text.endsWith('\\') && i + 1 < raw.length) {
      i += 1;
      text = text.slice(0, -1) + (raw[i] ?? '');
    }
    text = text.trim();
    if (text === '' || text.startsWith('#')) continue;
    out.push({ text, line: start + 1 });
  }
  return out;
}

class Importer {
  readonly warnings: string[] = [];
  private readonly server: Placed[] = [];
  private readonly vhosts: VirtualHost[] = [];

  warn(at: string, message: string): void {
    this.warnings.push(`${at}: ${message}`);
  }

  // ---- reading ---------------------------------------------------------------------------

  read(file: ApacheFile): void {
    type Open = { kind: string; arg: string; at: string; vhost?: VirtualHost };
    const stack: Open[] = [];
    const unrelated = new Map<string, number[]>();
    for (const { text, line } of logicalLines(file)) {
      const at = `${file.path}:${line}`;
      const close = /^<\/\s*([^\s>]+)\s*>$/.exec(text);
      if (close) {
        const kind = (close[1] ?? '').toLowerCase();
        const top = stack[stack.length - 1];
        if (!top || top.kind !== kind) {
          this.warn(at, `</${close[1] ?? ''}> does not close an open section; ignored`);
          continue;
        }
        stack.pop();
        continue;
      }
      const open = /^<\s*([^\s>/]+)\s*(.*?)\s*>$/.exec(text);
      if (open) {
        const kind = (open[1] ?? '').toLowerCase();
        const arg = apacheWords(open[2] ?? '').join(' ');
        const entry: Open = { kind, arg, at };
        if (kind === 'virtualhost') {
          if (stack.some((s) => s.kind === 'virtualhost')) this.warn(at, '<VirtualHost> inside <VirtualHost>: Apache refuses this; read as a separate host');
          entry.vhost = { arg, at, items: [] };
          this.vhosts.push(entry.vhost);
        } else if (!CONDITIONAL.has(kind) && !PER_DIR.has(kind)) {
          this.warn(at, `<${open[1] ?? ''}> sections are not understood; directives inside are read as if it were not there`);
        }
        stack.push(entry);
        continue;
      }
      const words = apacheWords(text);
      const written = words[0] ?? '';
      const name = CANONICAL.get(written.toLowerCase()) ?? written;
      const d: Directive = { name, written, args: words.slice(1), at };
      if (!CANONICAL.has(written.toLowerCase())) {
        this.notCarried(written, at, unrelated);
        continue;
      }
      if (d.args.some((a) => a.includes('${'))) this.warn(at, `${written}: \${VARIABLE} is not expanded; the value is copied as written`);
      const vhost = [...stack].reverse().find((s) => s.vhost)?.vhost;
      const containers = stack.filter((s) => PER_DIR.has(s.kind)).map((s): Container => ({ kind: s.kind, arg: s.arg, at: s.at }));
      (vhost ? vhost.items : this.server).push({ d, containers });
    }
    for (const s of stack) this.warn(s.at, `<${s.kind}> is not closed by the end of ${file.path}`);
    for (const [name, lines] of unrelated) {
      const more = lines.length > 1 ? ` (also line${lines.length > 2 ? 's' : ''} ${lines.slice(1).join(', ')})` : '';
      this.warn(`${file.path}:${lines[0] ?? 0}`, `${name}${more}: not about FastCGI; not carried over`);
    }
  }

  /**
   * A directive import-apache does not translate. Nothing is dropped in silence: a misspelled
   * Fcgid directive (Apache itself refuses to start on it) gets a did-you-mean, one that
   * matters to a FastCGI app says what to do instead, and the rest are listed as not carried
   * over, once per name with every line (`unrelated`).
   */
  private notCarried(written: string, at: string, unrelated: Map<string, number[]>): void {
    const canonical = Object.keys(NOT_CARRIED).find((n) => n.toLowerCase() === written.toLowerCase());
    if (canonical !== undefined) {
      this.warn(at, `${written}: ${NOT_CARRIED[canonical] ?? ''}`);
      return;
    }
    const guess = nearest(written, ALL_NAMES);
    if (/^fcgi/i.test(written)) {
      this.warn(at, `${written} is not a mod_fcgid directive (Apache refuses to start on it${guess !== undefined ? `; did you mean ${guess}?` : ''}); skipped`);
      return;
    }
    if (guess !== undefined) {
      this.warn(at, `${written} is not a directive import-apache knows (did you mean ${guess}?); skipped`);
      return;
    }
    const line = Number(at.slice(at.lastIndexOf(':') + 1));
    const lines = unrelated.get(written) ?? [];
    lines.push(line);
    unrelated.set(written, lines);
  }

  // ---- interpreting ----------------------------------------------------------------------

  build(files: readonly string[]): string {
    const top = new Map<string, Sourced<string | number>>();
    const defaults: PoolDraft = new Map();
    const defaultEnv = new Map<string, Sourced<string>>();
    const commands = new Map<string, { pool: PoolDraft; env: Map<string, Sourced<string>>; from: string; listed: Set<string> }>();

    const serverSite = this.newSite('the main server', files[0] ?? '');
    for (const item of this.server) {
      const { d } = item;
      if (item.containers.length > 0) {
        serverSite.deferred.push(item);
        continue;
      }
      if (d.name === 'FcgidIPCDir') {
        const dir = d.args[0] ?? '';
        if (!path.isAbsolute(dir)) this.warn(d.at, `${d.written} ${dir}: a relative path is relative to Apache's ServerRoot; set ipcDir to an absolute path yourself`);
        else top.set('ipcDir', { value: dir, from: this.from(d) });
      } else if (d.name === 'FcgidMaxProcesses') {
        const n = this.number(d, 1);
        if (n !== undefined) top.set('maxProcesses', { value: n, from: this.from(d) });
      } else if (d.name in POOL_DIRECTIVES) {
        this.poolDirective(d, defaults);
      } else if (d.name === 'FcgidInitialEnv') {
        this.initialEnv(d, defaultEnv);
      } else if (d.name === 'FcgidCmdOptions') {
        this.cmdOptions(d, commands);
      } else {
        this.siteDirective(item, serverSite);
      }
    }
    const sites: SiteDraft[] = [];
    for (const vhost of this.vhosts) {
      const site = this.newSite(`<VirtualHost ${vhost.arg}> (${vhost.at})`, vhost.at);
      for (const item of vhost.items) {
        const { d } = item;
        if (item.containers.length > 0) {
          site.deferred.push(item);
        } else if (SERVER_ONLY.has(d.name)) {
          this.warn(d.at, `${d.written} is a server-wide directive; Apache refuses it inside <VirtualHost>; ignored`);
        } else if (d.name in POOL_DIRECTIVES) {
          this.poolDirective(d, site.pool);
        } else if (d.name === 'FcgidInitialEnv') {
          this.initialEnv(d, site.env);
        } else if (d.name === 'FcgidCmdOptions') {
          this.warn(d.at, `${d.written} inside <VirtualHost ${vhost.arg}>: fcgipm's commands: entries apply to the command in every site`);
          this.cmdOptions(d, commands);
        } else {
          this.siteDirective(item, site);
        }
      }
      sites.push(site);
    }

    const finished = this.finishSites(serverSite, sites);
    const setAnywhere = new Set<string>([...defaults.keys(), ...finished.flatMap((s) => [...s.pool.keys()])]);
    const anyEnv = defaultEnv.size > 0 || finished.some((s) => s.env.size > 0);
    // Commands under FcgidCmdOptions take the compiled defaults, not the server's or the
    // vhost's values, for the options they do not list (mod_fcgid 2.3.9); fcgipm layers
    // them instead, so an option some level sets is written out at its compiled default.
    for (const [command, c] of commands) {
      for (const option of Object.values(CMD_OPTIONS)) {
        if (!c.listed.has(option.key) && setAnywhere.has(option.key)) {
          c.pool.set(option.key, { value: option.compiled, from: `mod_fcgid's compiled default: FcgidCmdOptions (${c.from}) does not list it` });
        }
      }
      if (anyEnv) this.warn(c.from, `FcgidCmdOptions ${command}: mod_fcgid ignores FcgidInitialEnv for this command; fcgipm passes those variables to it too (env is merged by layer)`);
    }
    return this.yaml(files, top, defaults, defaultEnv, commands, finished);
  }

  private newSite(label: string, at: string): SiteDraft {
    return {
      label,
      at,
      hosts: [],
      documentRoot: undefined,
      directoryIndex: undefined,
      handlers: new Map(),
      wrappers: new Map(),
      auth: new Map(),
      passHeaders: new Map(),
      maxRequestBody: undefined,
      pool: new Map(),
      env: new Map(),
      deferred: [],
    };
  }

  private from(d: Directive): string {
    const alias = d.written.toLowerCase() !== d.name.toLowerCase() ? ` (old name of ${d.name})` : '';
    const text = [d.written, ...d.args.map((a) => (/\s/.test(a) || a === '' ? JSON.stringify(a) : a))].join(' ');
    const short = text.length > 60 ? `${text.slice(0, 57)}...` : text;
    return `${short}${alias}, ${d.at}`;
  }

  /** mod_fcgid reads numbers with atol (garbage is 0); here garbage is reported and skipped. */
  private number(d: Directive, min: number): number | undefined {
    const text = d.args[0];
    if (d.args.length !== 1 || text === undefined || !/^-?\d+$/.test(text)) {
      this.warn(d.at, `${d.written}: expected one whole number, got "${d.args.join(' ')}"; skipped`);
      return undefined;
    }
    const n = Number(text);
    if (n < min) {
      this.warn(d.at, `${d.written} ${text}: below ${min}, which fcgipm does not accept; skipped`);
      return undefined;
    }
    return n;
  }

  /** Checks a per-class value the way the loader will (schema.ts), so the YAML always loads. */
  private poolValue(d: Directive, key: string, raw: number): number | undefined {
    const spec = SCHEMA.find((s) => s.section === 'pool' && s.key === key);
    if (spec?.type === 'duration') {
      const r = parseDuration(raw, { zeroOff: spec.zeroOff ?? false });
      if (!r.ok) {
        this.warn(d.at, `${d.written} ${raw}: ${r.error}; skipped (fcgipm's default applies)`);
        return undefined;
      }
    } else if (spec?.min !== undefined && raw < spec.min) {
      this.warn(d.at, `${d.written} ${raw}: fcgipm needs ${key} >= ${spec.min}; skipped (fcgipm's default applies)`);
      return undefined;
    }
    return raw;
  }

  private poolDirective(d: Directive, into: PoolDraft): void {
    const key = POOL_DIRECTIVES[d.name];
    if (key === undefined) return;
    let n = this.number(d, -1);
    if (n === undefined) return;
    // "−1 treated as 0" (FcgidMaxRequestsPerProcess, fcgid_conf.c).
    if (n < 0) n = 0;
    const value = this.poolValue(d, key, n);
    if (value === undefined) return;
    if (d.name === 'FcgidMinProcessesPerClass' && value > 0) {
      this.warn(d.at, `${d.written} ${value}: mod_fcgid only keeps idle processes down to this many, fcgipm starts this many per class at once; lower it if that is not what you want`);
    }
    into.set(key, { value, from: this.from(d) });
  }

  private initialEnv(d: Directive, into: Map<string, Sourced<string>>): void {
    const [name, value] = d.args;
    if (name === undefined || d.args.length > 2) {
      this.warn(d.at, `${d.written}: expected NAME [VALUE]; skipped`);
      return;
    }
    into.set(name, { value: value ?? '', from: this.from(d) });
  }

  private cmdOptions(d: Directive, commands: Map<string, { pool: PoolDraft; env: Map<string, Sourced<string>>; from: string; listed: Set<string> }>): void {
    const [command, ...rest] = d.args;
    if (command === undefined || rest.length === 0) {
      this.warn(d.at, `${d.written}: expected a command path and options; skipped`);
      return;
    }
    if (commands.has(command)) this.warn(d.at, `${d.written} ${command} is given again; this one replaces the earlier one`);
    const entry = { pool: new Map() as PoolDraft, env: new Map<string, Sourced<string>>(), from: d.at, listed: new Set<string>() };
    for (let i = 0; i < rest.length; i += 2) {
      const option = rest[i] ?? '';
      const value = rest[i + 1];
      if (value === undefined) {
        this.warn(d.at, `${d.written} ${command}: option ${option} has no value; skipped`);
        break;
      }
      const lower = option.toLowerCase();
      if (lower === 'initialenv') {
        const eq = value.indexOf('=');
        entry.env.set(eq >= 0 ? value.slice(0, eq) : value, { value: eq >= 0 ? value.slice(eq + 1) : '', from: `${d.written} InitialEnv, ${d.at}` });
        continue;
      }
      if (lower === 'connecttimeout') {
        this.warn(d.at, `${d.written} ${command} ConnectTimeout: ${NOT_NEEDED.FcgidConnectTimeout ?? ''}`);
        continue;
      }
      const known = CMD_OPTIONS[lower];
      if (!known || !/^-?\d+$/.test(value)) {
        this.warn(d.at, `${d.written} ${command}: ${known ? `${option} ${value} is not a whole number` : `unknown option ${option}`}; skipped`);
        continue;
      }
      const n = Math.max(0, Number(value));
      const checked = this.poolValue(d, known.key, n);
      entry.listed.add(known.key);
      if (checked !== undefined) entry.pool.set(known.key, { value: checked, from: `${d.written} ${option} ${value}, ${d.at}` });
    }
    commands.set(command, entry);
  }

  /** DocumentRoot, ServerName, handlers, wrappers… outside any per-directory section. */
  private siteDirective(item: Placed, site: SiteDraft): void {
    const { d } = item;
    switch (d.name) {
      case 'DocumentRoot': {
        const root = d.args[0] ?? '';
        if (!path.isAbsolute(root)) this.warn(d.at, `DocumentRoot ${root}: a relative path is relative to Apache's ServerRoot, fcgipm reads it relative to the YAML file; make it absolute`);
        site.documentRoot = { value: root.replace(/(.)\/+$/, '$1'), from: this.from(d) };
        break;
      }
      case 'ServerName': {
        const host = hostOf(d.args[0] ?? '');
        if (host) site.hosts = [{ value: host, from: this.from(d) }, ...site.hosts.filter((h) => !h.from.startsWith('ServerName'))];
        break;
      }
      case 'ServerAlias':
        for (const alias of d.args) {
          const host = hostOf(alias);
          if (!host) continue;
          if (host.includes('?') || (host.includes('*') && !/^\*\.[^*]+$/.test(host))) {
            this.warn(d.at, `ServerAlias ${alias}: fcgipm matches "*" or "*.domain" wildcards only; skipped`);
            continue;
          }
          site.hosts.push({ value: host, from: this.from(d) });
        }
        break;
      default:
        this.perDirDirective(item, site);
    }
  }

  /** Directives that may also sit in <Directory>/<Location>/<Files>; `containers` says where. */
  private perDirDirective(item: Placed, site: SiteDraft): void {
    const { d, containers } = item;
    const scope = this.scopeOf(containers, site);
    const role = AUTH_DIRECTIVES[d.name];
    if (role) {
      this.authDirective(d, role, scope, site);
      return;
    }
    switch (d.name) {
      case 'FcgidPassHeader':
        for (const h of d.args) site.passHeaders.set(h, this.from(d));
        return;
      case 'FcgidMaxRequestLen': {
        const n = this.number(d, 0);
        if (n !== undefined) site.maxRequestBody = { value: n, from: this.from(d) };
        return;
      }
      case 'FcgidAuthenticatorAuthoritative':
      case 'FcgidAuthorizerAuthoritative':
      case 'FcgidAccessCheckerAuthoritative':
        if ((d.args[0] ?? '').toLowerCase() === 'off') {
          this.warn(d.at, `${d.written} Off: not supported; the FastCGI authorizer's answer is always final in fcgipm`);
        }
        return;
      case 'DirectoryIndex': {
        const names = d.args.filter((n) => n.toLowerCase() !== 'disabled');
        const usable = names.filter((n) => !n.includes('/'));
        if (usable.length < names.length) this.warn(d.at, 'DirectoryIndex: entries with a "/" (local URLs) are not supported; skipped');
        this.widened(d, scope, 'DirectoryIndex');
        site.directoryIndex = { value: usable, from: this.from(d) };
        return;
      }
      case 'AddHandler': {
        if ((d.args[0] ?? '').toLowerCase() !== 'fcgid-script') return;
        this.widened(d, scope, 'AddHandler fcgid-script');
        for (const ext of d.args.slice(1)) {
          const suffix = ext.startsWith('.') ? ext : `.${ext}`;
          if (/^\.[^./\s]+$/.test(suffix)) site.handlers.set(suffix, this.from(d));
          else this.warn(d.at, `AddHandler fcgid-script ${ext}: not a plain extension; skipped`);
        }
        return;
      }
      case 'SetHandler': {
        if ((d.args[0] ?? '').toLowerCase() !== 'fcgid-script') return;
        const files = containers.find((c) => c.kind === 'files' || c.kind === 'filesmatch');
        const suffixes = files ? suffixesOf(files) : ['*'];
        if (!suffixes) {
          this.warn(d.at, `SetHandler fcgid-script in <${files?.kind ?? ''} ${files?.arg ?? ''}>: the pattern is not a list of extensions; skipped (add the suffixes to handlers yourself)`);
          return;
        }
        this.widened(d, scope, 'SetHandler fcgid-script');
        for (const s of suffixes) site.handlers.set(s, this.from(d));
        return;
      }
      case 'FcgidWrapper':
        this.wrapperDirective(d, scope, site);
        return;
      case 'Include':
      case 'IncludeOptional':
        this.warn(d.at, `${d.written} ${d.args.join(' ')}: not followed; pass the included files to import-apache as well`);
        return;
      default:
        // Only per-directory sections get here with anything but the unneeded directives.
        if (d.name in NOT_NEEDED) this.warn(d.at, `${d.written} is not needed: ${NOT_NEEDED[d.name] ?? ''}`);
        else this.warn(d.at, `${d.written} inside <${containers[0]?.kind ?? ''}>: Apache refuses it there (server or <VirtualHost> only); ignored`);
    }
  }

  /**
   * Where a per-directory directive applies, as a URL prefix of the site: "/" for the whole
   * site, undefined when it cannot be expressed (a regex, a directory outside the root).
   */
  private scopeOf(containers: readonly Container[], site: SiteDraft): { prefix: string | undefined; what: string } {
    const outer = containers.find((c) => c.kind !== 'files' && c.kind !== 'filesmatch' && c.kind !== 'limit' && c.kind !== 'limitexcept');
    if (!outer) return { prefix: '/', what: '' };
    const what = `<${outer.kind} ${outer.arg}> (${outer.at})`;
    if (outer.kind.endsWith('match') || outer.arg.startsWith('~')) return { prefix: undefined, what };
    if (outer.kind === 'location') return { prefix: outer.arg.replace(/(.)\/+$/, '$1') || '/', what };
    if (outer.kind === 'directory') {
      const root = site.documentRoot?.value;
      const dir = outer.arg.replace(/(.)\/+$/, '$1');
      if (root !== undefined) {
        const rel = path.posix.relative(root, dir);
        if (rel === '') return { prefix: '/', what };
        if (!rel.startsWith('..') && !path.posix.isAbsolute(rel)) return { prefix: `/${rel}`, what };
        // A directory that contains the root covers all of it.
        if (path.posix.relative(dir, root).startsWith('..') === false) return { prefix: '/', what };
      }
      return { prefix: undefined, what };
    }
    return { prefix: undefined, what };
  }

  /**
   * Whether a main-server <Directory> can concern this site at all: it contains the site's
   * DocumentRoot or lies under it. Others (and every non-directory section) are applied.
   */
  private touches(containers: readonly Container[], site: SiteDraft): boolean {
    const dir = containers.find((c) => c.kind === 'directory' && !c.arg.startsWith('~'));
    const root = site.documentRoot?.value;
    if (!dir || root === undefined) return true;
    const d = dir.arg.replace(/(.)\/+$/, '$1');
    const inside = (a: string, b: string): boolean => {
      const rel = path.posix.relative(a, b);
      return rel === '' || (!rel.startsWith('..') && !path.posix.isAbsolute(rel));
    };
    return inside(d, root) || inside(root, d);
  }

  /** A directive scoped to part of a site becomes site-wide: say so. */
  private widened(d: Directive, scope: { prefix: string | undefined; what: string }, name: string): void {
    if (scope.prefix !== '/') this.warn(d.at, `${name} inside ${scope.what}: fcgipm applies it to the whole site`);
  }

  private authDirective(d: Directive, role: Role, scope: { prefix: string | undefined; what: string }, site: SiteDraft): void {
    const words = d.args.flatMap((a) => {
      const split = splitCommandLine(a);
      return split.ok ? split.value : [a];
    });
    const [command, ...args] = words;
    if (command === undefined) {
      this.warn(d.at, `${d.written}: no command; skipped`);
      return;
    }
    if (scope.prefix === undefined) {
      this.warn(d.at, `${d.written} inside ${scope.what || 'this section'}: cannot be expressed as a URL prefix of the site; skipped (add an auth rule yourself)`);
      return;
    }
    const rule = site.auth.get(scope.prefix) ?? { prefix: scope.prefix, roles: {} };
    rule.roles[role] = { value: { command, args }, from: this.from(d) };
    site.auth.set(scope.prefix, rule);
  }

  /** FcgidWrapper "command args" [.suffix] [virtual] (fcgid_conf.c set_wrapper_config). */
  private wrapperDirective(d: Directive, scope: { prefix: string | undefined; what: string }, site: SiteDraft): void {
    const [line, second, third] = d.args;
    if (line === undefined || d.args.length > 3) {
      this.warn(d.at, `${d.written}: expected "command args" [.suffix] [virtual]; skipped`);
      return;
    }
    let suffix = second ?? '';
    let virtual = third !== undefined && third.toLowerCase() === 'virtual';
    // "FcgidWrapper cmd virtual": the one optional word is the flag, not a suffix.
    if (third === undefined && suffix.toLowerCase() === 'virtual') {
      suffix = '';
      virtual = true;
    }
    if (suffix !== '' && !/^\.[^./\s]+$/.test(suffix)) {
      this.warn(d.at, `${d.written}: suffix ${suffix} must start with "." (mod_fcgid refuses it too); skipped`);
      return;
    }
    if (third !== undefined && !virtual) {
      this.warn(d.at, `${d.written}: third word ${third} is not "virtual"; skipped`);
      return;
    }
    const words = splitCommandLine(line);
    const [command, ...args] = words.ok ? words.value : [];
    if (command === undefined) {
      this.warn(d.at, `${d.written}: ${words.ok ? 'no command' : words.error}; skipped`);
      return;
    }
    this.widened(d, scope, `${d.written}`);
    if (site.wrappers.has(suffix)) {
      this.warn(d.at, `${d.written} for ${suffix === '' ? 'the default (no suffix)' : suffix} replaces the one at ${site.wrappers.get(suffix)?.at ?? ''} (the last one wins, as in mod_fcgid)`);
    }
    site.wrappers.set(suffix, { suffix, command, args, virtual, from: this.from(d), at: d.at });
  }

  /** Applies deferred per-directory directives, inheritance from the main server, and host clashes. */
  private finishSites(server: SiteDraft, vhosts: SiteDraft[]): SiteDraft[] {
    // The main server's <Directory> sections only concern sites whose root they overlap; a
    // site's own are all taken (with a warning when they cannot be scoped).
    const apply = (site: SiteDraft, items: readonly Placed[], fromServer: boolean): void => {
      for (const item of items) {
        if (!fromServer || this.touches(item.containers, site)) this.perDirDirective(item, site);
      }
    };
    if (vhosts.length === 0) {
      apply(server, server.deferred, false);
      // Without <VirtualHost> the main server answers every name.
      server.hosts = [{ value: '*', from: 'no <VirtualHost>: the main server answers every host' }];
      return [this.completeSite(server)];
    }
    const taken = new Map<string, string>();
    const out: SiteDraft[] = [];
    for (const site of vhosts) {
      // A <VirtualHost> inherits the main server's settings it does not set itself.
      site.documentRoot ??= server.documentRoot;
      site.directoryIndex ??= server.directoryIndex;
      site.maxRequestBody ??= server.maxRequestBody;
      for (const [k, v] of server.handlers) if (!site.handlers.has(k)) site.handlers.set(k, v);
      for (const [k, v] of server.wrappers) if (!site.wrappers.has(k)) site.wrappers.set(k, v);
      site.passHeaders = new Map([...server.passHeaders, ...site.passHeaders]);
      if (site.hosts.length === 0) site.hosts = server.hosts.length > 0 ? [...server.hosts] : [{ value: '*', from: 'no ServerName: answers every host' }];
      // <Directory> sections apply by path wherever they are written; <Location> ones of the
      // main server apply to every host.
      apply(site, server.deferred, true);
      apply(site, site.deferred, false);
      site.hosts = site.hosts.filter((h) => {
        const first = taken.get(h.value);
        if (first === undefined) {
          taken.set(h.value, site.label);
          return true;
        }
        this.warn(site.at, `host ${h.value} is also in ${first}; fcgipm does not route by port (TLS stays in the web server in front), so it is kept there only`);
        return false;
      });
      if (site.hosts.length === 0) {
        this.warn(site.at, `${site.label} has no host left of its own; left out`);
        continue;
      }
      out.push(this.completeSite(site));
    }
    return out;
  }

  /**
   * A FcgidWrapper without suffix runs only files Apache hands to fcgid-script; fcgipm's
   * default wrapper would run every file. So it becomes one wrapper per handled suffix,
   * unless SetHandler made every file a script.
   */
  private completeSite(site: SiteDraft): SiteDraft {
    const fallback = site.wrappers.get('');
    if (fallback && !site.handlers.has('*')) {
      site.wrappers.delete('');
      for (const suffix of site.handlers.keys()) {
        if (!site.wrappers.has(suffix)) site.wrappers.set(suffix, { ...fallback, suffix, from: `${fallback.from}; for ${suffix}` });
      }
      if (site.handlers.size === 0) this.warn(fallback.at, `${site.label}: FcgidWrapper without a suffix, but no AddHandler/SetHandler fcgid-script: it would run no file under Apache; left out`);
    }
    for (const w of site.wrappers.values()) {
      if (!site.handlers.has(w.suffix) && !site.handlers.has('*')) {
        this.warn(w.at, `FcgidWrapper for ${w.suffix}: Apache only runs it for files handled by fcgid-script (no AddHandler fcgid-script ${w.suffix} in ${site.label}); fcgipm runs every ${w.suffix} file through it`);
      }
    }
    for (const suffix of site.wrappers.keys()) site.handlers.delete(suffix);
    if (site.documentRoot === undefined && (site.handlers.size > 0 || site.wrappers.size > 0)) {
      this.warn(site.at, `${site.label} has handlers or wrappers but no DocumentRoot: set documentRoot in the YAML`);
    }
    return site;
  }

  // ---- writing ---------------------------------------------------------------------------

  private yaml(
    files: readonly string[],
    top: Map<string, Sourced<string | number>>,
    defaults: PoolDraft,
    defaultEnv: Map<string, Sourced<string>>,
    commands: Map<string, { pool: PoolDraft; env: Map<string, Sourced<string>>; from: string }>,
    sites: readonly SiteDraft[],
  ): string {
    const doc = new Document();
    const root = doc.createNode({}) as YAMLMap;
    const put = (map: YAMLMap, key: string, value: unknown, comment?: string, flow = true): void => {
      const node = doc.createNode(value, { flow });
      const pair = doc.createPair(key, node);
      if (comment !== undefined) {
        if (flow || typeof value !== 'object') (node as Scalar).comment = ` ${comment}`;
        else (pair.key as Scalar).commentBefore = ` ${comment}`;
      }
      map.add(pair);
    };
    const poolInto = (map: YAMLMap, pool: PoolDraft, env: Map<string, Sourced<string>>, envKey: string): void => {
      for (const [key, v] of pool) put(map, key, v.value, v.from);
      if (env.size > 0) {
        const envMap = doc.createNode({}) as YAMLMap;
        for (const [name, v] of env) put(envMap, name, v.value, v.from);
        const pair = doc.createPair(envKey, envMap);
        map.add(pair);
      }
    };

    for (const [key, v] of top) put(root, key, v.value, v.from);
    if (defaults.size > 0 || defaultEnv.size > 0) {
      const map = doc.createNode({}) as YAMLMap;
      poolInto(map, defaults, defaultEnv, 'env');
      const pair = doc.createPair('defaults', map);
      (pair.key as Scalar).commentBefore = ' server-level Fcgid* directives: every class starts from these';
      root.add(pair);
    }
    if (commands.size > 0) {
      const map = doc.createNode({}) as YAMLMap;
      for (const [command, c] of commands) {
        const settings = doc.createNode({}) as YAMLMap;
        poolInto(settings, c.pool, c.env, 'env');
        const pair = doc.createPair(command, settings);
        (pair.key as Scalar).commentBefore = ` FcgidCmdOptions, ${c.from}`;
        map.add(pair);
      }
      root.add(doc.createPair('commands', map));
    }
    const list = doc.createNode([]) as YAMLSeq;
    for (const site of sites) {
      const map = doc.createNode({}) as YAMLMap;
      map.commentBefore = ` ${site.label}`;
      put(map, 'hosts', site.hosts.map((h) => h.value), [...new Set(site.hosts.map((h) => h.from))].join('; '));
      if (site.documentRoot) put(map, 'documentRoot', site.documentRoot.value, site.documentRoot.from);
      if (site.directoryIndex) put(map, 'directoryIndex', site.directoryIndex.value, site.directoryIndex.from);
      if (site.handlers.size > 0) put(map, 'handlers', [...site.handlers.keys()], [...new Set(site.handlers.values())].join('; '));
      if (site.wrappers.size > 0) {
        const seq = doc.createNode([]) as YAMLSeq;
        for (const w of site.wrappers.values()) {
          const wm = doc.createNode({}) as YAMLMap;
          wm.commentBefore = ` ${w.from}`;
          put(wm, 'suffix', w.suffix);
          put(wm, 'command', w.command);
          if (w.args.length > 0) put(wm, 'args', [...w.args]);
          if (w.virtual) put(wm, 'virtual', true);
          seq.add(wm);
        }
        map.add(doc.createPair('wrappers', seq));
      }
      if (site.auth.size > 0) {
        const seq = doc.createNode([]) as YAMLSeq;
        for (const rule of site.auth.values()) {
          const rm = doc.createNode({}) as YAMLMap;
          put(rm, 'prefix', rule.prefix);
          for (const role of ['authenticator', 'authorizer', 'accessChecker'] as const) {
            const r = rule.roles[role];
            if (!r) continue;
            const app = doc.createNode({}) as YAMLMap;
            put(app, 'command', r.value.command);
            if (r.value.args.length > 0) put(app, 'args', [...r.value.args]);
            const pair = doc.createPair(role, app);
            (pair.key as Scalar).commentBefore = ` ${r.from}`;
            rm.add(pair);
          }
          seq.add(rm);
        }
        map.add(doc.createPair('auth', seq));
      }
      if (site.passHeaders.size > 0) put(map, 'passHeaders', [...site.passHeaders.keys()], [...new Set(site.passHeaders.values())].join('; '));
      if (site.maxRequestBody) put(map, 'maxRequestBody', site.maxRequestBody.value, `${site.maxRequestBody.from}; over it fcgipm answers 413 (mod_fcgid: 500)`);
      poolInto(map, site.pool, site.env, 'initialEnv');
      list.add(map);
    }
    root.add(doc.createPair('sites', list));
    doc.contents = root;
    doc.commentBefore = [
      ` fcgipm configuration imported from Apache (fcgipm import-apache ${files.join(' ')}).`,
      ' Check it with: fcgipm check-config FILE.yaml. Front ends are not part of the Apache',
      ' configuration: listen.http defaults to 127.0.0.1:8080; for Apache or nginx in front set',
      ' listen.fastcgi (see docs/config.md).',
    ].join('\n');
    return doc.toString({ lineWidth: 0 });
  }
}

/** "http://www.example.com:8080" → "www.example.com" (ServerName takes [scheme://]name[:port]). */
function hostOf(value: string): string | undefined {
  let host = value.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  if (!host.startsWith('[')) host = host.replace(/:\d*$/, '');
  host = host.toLowerCase().replace(/\.$/, '');
  return host === '' ? undefined : host;
}

/**
 * The suffixes a <Files>/<FilesMatch> section names, when it is a plain list of extensions:
 * <Files "*.php">, <FilesMatch "\.php$">, <FilesMatch "\.(php|phtml)$">, <Files ~ "\.php$">.
 */
function suffixesOf(c: Container): string[] | undefined {
  let arg = c.arg;
  let regex = c.kind === 'filesmatch';
  if (arg.startsWith('~ ')) {
    regex = true;
    arg = arg.slice(2).trim();
  }
  if (!regex) {
    const glob = /^\*\.([A-Za-z0-9_-]+)$/.exec(arg);
    return glob ? [`.${glob[1] ?? ''}`] : undefined;
  }
  const m = /^\\\.(?:\(\?:|\()?([A-Za-z0-9_|-]+)\)?\$$/.exec(arg);
  if (!m) return undefined;
  return (m[1] ?? '').split('|').map((e) => `.${e}`);
}

/** Apache configuration files to fcgipm YAML, with warnings for what does not carry over. */
export function importApache(files: ReadonlyArray<ApacheFile>): ImportResult {
  const importer = new Importer();
  for (const file of files) importer.read(file);
  const yaml = importer.build(files.map((f) => f.path));
  // In the order of the files and lines they name, however late they were noticed.
  const order = (w: string): [number, number] => {
    const file = files.findIndex((f) => w.startsWith(`${f.path}:`));
    const line = file >= 0 ? Number(/^(\d+)/.exec(w.slice((files[file]?.path.length ?? 0) + 1))?.[1] ?? 0) : 0;
    return [file, line];
  };
  const warnings = importer.warnings
    .map((w, i) => ({ w, i, key: order(w) }))
    .sort((a, b) => a.key[0] - b.key[0] || a.key[1] - b.key[1] || a.i - b.i)
    .map((x) => x.w);
  return { yaml, warnings };
}
