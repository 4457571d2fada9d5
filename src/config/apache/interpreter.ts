/**
 * The directives read from Apache configuration, turned into fcgipm's sections: server-level
 * Fcgid* directives into top-level keys and defaults, FcgidCmdOptions into commands, and each
 * <VirtualHost> (or the main server) into a site, with what it inherits from the main server.
 * Whatever does not carry over exactly becomes a warning naming its line.
 */
import path from 'node:path';
import { CMD_OPTIONS, NOT_NEEDED, POOL_DIRECTIVES, SERVER_ONLY } from './directives';
import { checkPoolValue, newSite, readNumber, sourceOf, type CommandDraft, type ImportDraft, type PoolDraft, type SiteDraft, type Sourced } from './drafts';
import type { ApacheReader, Container, Directive, Placed, Warn } from './reader';
import { perDirDirective, siteDirective } from './site-directives';

/** The directives read, interpreted as fcgipm's sections: the drafts the YAML is written from. */
export function interpret(warn: Warn, reader: ApacheReader, files: readonly string[]): ImportDraft {
  const top = new Map<string, Sourced<string | number>>();
  const defaults: PoolDraft = new Map();
  const defaultEnv = new Map<string, Sourced<string>>();
  const commands = new Map<string, CommandDraft>();

  const serverSite = newSite('the main server', files[0] ?? '');
  for (const item of reader.server) {
    const { d } = item;
    if (item.containers.length > 0) {
      serverSite.deferred.push(item);
      continue;
    }
    if (d.name === 'FcgidIPCDir') {
      const dir = d.args[0] ?? '';
      if (!path.isAbsolute(dir)) warn(d.at, `${d.written} ${dir}: a relative path is relative to Apache's ServerRoot; set ipcDir to an absolute path yourself`);
      else top.set('ipcDir', { value: dir, from: sourceOf(d) });
    } else if (d.name === 'FcgidMaxProcesses') {
      const n = readNumber(warn, d, 1);
      if (n !== undefined) top.set('maxProcesses', { value: n, from: sourceOf(d) });
    } else if (d.name in POOL_DIRECTIVES) {
      poolDirective(warn, d, defaults);
    } else if (d.name === 'FcgidInitialEnv') {
      initialEnv(warn, d, defaultEnv);
    } else if (d.name === 'FcgidCmdOptions') {
      cmdOptions(warn, d, commands);
    } else {
      siteDirective(warn, item, serverSite);
    }
  }
  const sites: SiteDraft[] = [];
  for (const vhost of reader.vhosts) {
    const site = newSite(`<VirtualHost ${vhost.arg}> (${vhost.at})`, vhost.at);
    for (const item of vhost.items) {
      const { d } = item;
      if (item.containers.length > 0) {
        site.deferred.push(item);
      } else if (SERVER_ONLY.has(d.name)) {
        warn(d.at, `${d.written} is a server-wide directive; Apache refuses it inside <VirtualHost>; ignored`);
      } else if (d.name in POOL_DIRECTIVES) {
        poolDirective(warn, d, site.pool);
      } else if (d.name === 'FcgidInitialEnv') {
        initialEnv(warn, d, site.env);
      } else if (d.name === 'FcgidCmdOptions') {
        warn(d.at, `${d.written} inside <VirtualHost ${vhost.arg}>: fcgipm's commands: entries apply to the command in every site`);
        cmdOptions(warn, d, commands);
      } else {
        siteDirective(warn, item, site);
      }
    }
    sites.push(site);
  }

  const finished = finishSites(warn, serverSite, sites);
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
    if (anyEnv) warn(c.from, `FcgidCmdOptions ${command}: mod_fcgid ignores FcgidInitialEnv for this command; fcgipm passes those variables to it too (env is merged by layer)`);
  }
  return { top, defaults, defaultEnv, commands, sites: finished };
}


function poolDirective(warn: Warn, d: Directive, into: PoolDraft): void {
  const key = POOL_DIRECTIVES[d.name];
  if (key === undefined) return;
  let n = readNumber(warn, d, -1);
  if (n === undefined) return;
  // "−1 treated as 0" (FcgidMaxRequestsPerProcess, fcgid_conf.c).
  if (n < 0) n = 0;
  const value = checkPoolValue(warn, d, key, n);
  if (value === undefined) return;
  if (d.name === 'FcgidMinProcessesPerClass' && value > 0) {
    warn(d.at, `${d.written} ${value}: mod_fcgid only keeps idle processes down to this many, fcgipm starts this many per class at once; lower it if that is not what you want`);
  }
  into.set(key, { value, from: sourceOf(d) });
}

function initialEnv(warn: Warn, d: Directive, into: Map<string, Sourced<string>>): void {
  const [name, value] = d.args;
  if (name === undefined || d.args.length > 2) {
    warn(d.at, `${d.written}: expected NAME [VALUE]; skipped`);
    return;
  }
  into.set(name, { value: value ?? '', from: sourceOf(d) });
}

function cmdOptions(warn: Warn, d: Directive, commands: Map<string, CommandDraft>): void {
  const [command, ...rest] = d.args;
  if (command === undefined || rest.length === 0) {
    warn(d.at, `${d.written}: expected a command path and options; skipped`);
    return;
  }
  if (commands.has(command)) warn(d.at, `${d.written} ${command} is given again; this one replaces the earlier one`);
  const entry = { pool: new Map() as PoolDraft, env: new Map<string, Sourced<string>>(), from: d.at, listed: new Set<string>() };
  for (let i = 0; i < rest.length; i += 2) {
    const option = rest[i] ?? '';
    const value = rest[i + 1];
    if (value === undefined) {
      warn(d.at, `${d.written} ${command}: option ${option} has no value; skipped`);
      break;
    }
    const lower = option.toLowerCase();
    if (lower === 'initialenv') {
      const eq = value.indexOf('=');
      entry.env.set(eq >= 0 ? value.slice(0, eq) : value, { value: eq >= 0 ? value.slice(eq + 1) : '', from: `${d.written} InitialEnv, ${d.at}` });
      continue;
    }
    if (lower === 'connecttimeout') {
      warn(d.at, `${d.written} ${command} ConnectTimeout: ${NOT_NEEDED.FcgidConnectTimeout ?? ''}`);
      continue;
    }
    const known = CMD_OPTIONS[lower];
    if (!known || !/^-?\d+$/.test(value)) {
      warn(d.at, `${d.written} ${command}: ${known ? `${option} ${value} is not a whole number` : `unknown option ${option}`}; skipped`);
      continue;
    }
    const n = Math.max(0, Number(value));
    const checked = checkPoolValue(warn, d, known.key, n);
    entry.listed.add(known.key);
    if (checked !== undefined) entry.pool.set(known.key, { value: checked, from: `${d.written} ${option} ${value}, ${d.at}` });
  }
  commands.set(command, entry);
}

/**
 * Whether a main-server <Directory> can concern this site at all: it contains the site's
 * DocumentRoot or lies under it. Others (and every non-directory section) are applied.
 */
function touches(containers: readonly Container[], site: SiteDraft): boolean {
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

/** Applies deferred per-directory directives, inheritance from the main server, and host clashes. */
function finishSites(warn: Warn, server: SiteDraft, vhosts: SiteDraft[]): SiteDraft[] {
  // The main server's <Directory> sections only concern sites whose root they overlap; a
  // site's own are all taken (with a warning when they cannot be scoped).
  const apply = (site: SiteDraft, items: readonly Placed[], fromServer: boolean): void => {
    for (const item of items) {
      if (!fromServer || touches(item.containers, site)) perDirDirective(warn, item, site);
    }
  };
  if (vhosts.length === 0) {
    apply(server, server.deferred, false);
    // Without <VirtualHost> the main server answers every name.
    server.hosts = [{ value: '*', from: 'no <VirtualHost>: the main server answers every host' }];
    return [completeSite(warn, server)];
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
      warn(site.at, `host ${h.value} is also in ${first}; fcgipm does not route by port (TLS stays in the web server in front), so it is kept there only`);
      return false;
    });
    if (site.hosts.length === 0) {
      warn(site.at, `${site.label} has no host left of its own; left out`);
      continue;
    }
    out.push(completeSite(warn, site));
  }
  return out;
}

/**
 * A FcgidWrapper without suffix runs only files Apache hands to fcgid-script; fcgipm's
 * default wrapper would run every file. So it becomes one wrapper per handled suffix,
 * unless SetHandler made every file a script.
 */
function completeSite(warn: Warn, site: SiteDraft): SiteDraft {
  const fallback = site.wrappers.get('');
  if (fallback && !site.handlers.has('*')) {
    site.wrappers.delete('');
    for (const suffix of site.handlers.keys()) {
      if (!site.wrappers.has(suffix)) site.wrappers.set(suffix, { ...fallback, suffix, from: `${fallback.from}; for ${suffix}` });
    }
    if (site.handlers.size === 0) warn(fallback.at, `${site.label}: FcgidWrapper without a suffix, but no AddHandler/SetHandler fcgid-script: it would run no file under Apache; left out`);
  }
  for (const w of site.wrappers.values()) {
    if (!site.handlers.has(w.suffix) && !site.handlers.has('*')) {
      warn(w.at, `FcgidWrapper for ${w.suffix}: Apache only runs it for files handled by fcgid-script (no AddHandler fcgid-script ${w.suffix} in ${site.label}); fcgipm runs every ${w.suffix} file through it`);
    }
  }
  for (const suffix of site.wrappers.keys()) site.handlers.delete(suffix);
  if (site.documentRoot === undefined && (site.handlers.size > 0 || site.wrappers.size > 0)) {
    warn(site.at, `${site.label} has handlers or wrappers but no DocumentRoot: set documentRoot in the YAML`);
  }
  return site;
}
