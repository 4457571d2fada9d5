/**
 * The directives that shape a site — DocumentRoot, ServerName and ServerAlias, handlers,
 * wrappers, authorizers, passed headers, the request body limit — wherever they are written:
 * outside any section, or inside <Directory>, <Location> or <Files>, whose scope is turned into
 * a URL prefix of the site when it can be.
 */
import path from 'node:path';
import { splitCommandLine } from '../units';
import { AUTH_DIRECTIVES, NOT_NEEDED, type Role } from './directives';
import { readNumber, sourceOf, type SiteDraft } from './drafts';
import type { Container, Directive, Placed, Warn } from './reader';

/** DocumentRoot, ServerName, handlers, wrappers… outside any per-directory section. */
export function siteDirective(warn: Warn, item: Placed, site: SiteDraft): void {
  const { d } = item;
  switch (d.name) {
    case 'DocumentRoot': {
      const root = d.args[0] ?? '';
      if (!path.isAbsolute(root)) warn(d.at, `DocumentRoot ${root}: a relative path is relative to Apache's ServerRoot, fcgipm reads it relative to the YAML file; make it absolute`);
      site.documentRoot = { value: root.replace(/(.)\/+$/, '$1'), from: sourceOf(d) };
      break;
    }
    case 'ServerName': {
      const host = hostOf(d.args[0] ?? '');
      if (host) site.hosts = [{ value: host, from: sourceOf(d) }, ...site.hosts.filter((h) => !h.from.startsWith('ServerName'))];
      break;
    }
    case 'ServerAlias':
      for (const alias of d.args) {
        const host = hostOf(alias);
        if (!host) continue;
        if (host.includes('?') || (host.includes('*') && !/^\*\.[^*]+$/.test(host))) {
          warn(d.at, `ServerAlias ${alias}: fcgipm matches "*" or "*.domain" wildcards only; skipped`);
          continue;
        }
        site.hosts.push({ value: host, from: sourceOf(d) });
      }
      break;
    default:
      perDirDirective(warn, item, site);
  }
}

/** Directives that may also sit in <Directory>/<Location>/<Files>; `containers` says where. */
export function perDirDirective(warn: Warn, item: Placed, site: SiteDraft): void {
  const { d, containers } = item;
  const scope = scopeOf(containers, site);
  const role = AUTH_DIRECTIVES[d.name];
  if (role) {
    authDirective(warn, d, role, scope, site);
    return;
  }
  switch (d.name) {
    case 'FcgidPassHeader':
      for (const h of d.args) site.passHeaders.set(h, sourceOf(d));
      return;
    case 'FcgidMaxRequestLen': {
      const n = readNumber(warn, d, 0);
      if (n !== undefined) site.maxRequestBody = { value: n, from: sourceOf(d) };
      return;
    }
    case 'FcgidAuthenticatorAuthoritative':
    case 'FcgidAuthorizerAuthoritative':
    case 'FcgidAccessCheckerAuthoritative':
      if ((d.args[0] ?? '').toLowerCase() === 'off') {
        warn(d.at, `${d.written} Off: not supported; the FastCGI authorizer's answer is always final in fcgipm`);
      }
      return;
    case 'DirectoryIndex': {
      const names = d.args.filter((n) => n.toLowerCase() !== 'disabled');
      const usable = names.filter((n) => !n.includes('/'));
      if (usable.length < names.length) warn(d.at, 'DirectoryIndex: entries with a "/" (local URLs) are not supported; skipped');
      widened(warn, d, scope, 'DirectoryIndex');
      site.directoryIndex = { value: usable, from: sourceOf(d) };
      return;
    }
    case 'AddHandler': {
      if ((d.args[0] ?? '').toLowerCase() !== 'fcgid-script') return;
      widened(warn, d, scope, 'AddHandler fcgid-script');
      for (const ext of d.args.slice(1)) {
        const suffix = ext.startsWith('.') ? ext : `.${ext}`;
        if (/^\.[^./\s]+$/.test(suffix)) site.handlers.set(suffix, sourceOf(d));
        else warn(d.at, `AddHandler fcgid-script ${ext}: not a plain extension; skipped`);
      }
      return;
    }
    case 'SetHandler': {
      if ((d.args[0] ?? '').toLowerCase() !== 'fcgid-script') return;
      const files = containers.find((c) => c.kind === 'files' || c.kind === 'filesmatch');
      const suffixes = files ? suffixesOf(files) : ['*'];
      if (!suffixes) {
        warn(d.at, `SetHandler fcgid-script in <${files?.kind ?? ''} ${files?.arg ?? ''}>: the pattern is not a list of extensions; skipped (add the suffixes to handlers yourself)`);
        return;
      }
      widened(warn, d, scope, 'SetHandler fcgid-script');
      for (const s of suffixes) site.handlers.set(s, sourceOf(d));
      return;
    }
    case 'FcgidWrapper':
      wrapperDirective(warn, d, scope, site);
      return;
    case 'Include':
    case 'IncludeOptional':
      warn(d.at, `${d.written} ${d.args.join(' ')}: not followed; pass the included files to import-apache as well`);
      return;
    default:
      // Only per-directory sections get here with anything but the unneeded directives.
      if (d.name in NOT_NEEDED) warn(d.at, `${d.written} is not needed: ${NOT_NEEDED[d.name] ?? ''}`);
      else warn(d.at, `${d.written} inside <${containers[0]?.kind ?? ''}>: Apache refuses it there (server or <VirtualHost> only); ignored`);
  }
}

/**
 * Where a per-directory directive applies, as a URL prefix of the site: "/" for the whole
 * site, undefined when it cannot be expressed (a regex, a directory outside the root).
 */
function scopeOf(containers: readonly Container[], site: SiteDraft): { prefix: string | undefined; what: string } {
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

/** A directive scoped to part of a site becomes site-wide: say so. */
function widened(warn: Warn, d: Directive, scope: { prefix: string | undefined; what: string }, name: string): void {
  if (scope.prefix !== '/') warn(d.at, `${name} inside ${scope.what}: fcgipm applies it to the whole site`);
}

function authDirective(warn: Warn, d: Directive, role: Role, scope: { prefix: string | undefined; what: string }, site: SiteDraft): void {
  const words = d.args.flatMap((a) => {
    const split = splitCommandLine(a);
    return split.ok ? split.value : [a];
  });
  const [command, ...args] = words;
  if (command === undefined) {
    warn(d.at, `${d.written}: no command; skipped`);
    return;
  }
  if (scope.prefix === undefined) {
    warn(d.at, `${d.written} inside ${scope.what || 'this section'}: cannot be expressed as a URL prefix of the site; skipped (add an auth rule yourself)`);
    return;
  }
  const rule = site.auth.get(scope.prefix) ?? { prefix: scope.prefix, roles: {} };
  rule.roles[role] = { value: { command, args }, from: sourceOf(d) };
  site.auth.set(scope.prefix, rule);
}

/** FcgidWrapper "command args" [.suffix] [virtual] (fcgid_conf.c set_wrapper_config). */
function wrapperDirective(warn: Warn, d: Directive, scope: { prefix: string | undefined; what: string }, site: SiteDraft): void {
  const [line, second, third] = d.args;
  if (line === undefined || d.args.length > 3) {
    warn(d.at, `${d.written}: expected "command args" [.suffix] [virtual]; skipped`);
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
    warn(d.at, `${d.written}: suffix ${suffix} must start with "." (mod_fcgid refuses it too); skipped`);
    return;
  }
  if (third !== undefined && !virtual) {
    warn(d.at, `${d.written}: third word ${third} is not "virtual"; skipped`);
    return;
  }
  const words = splitCommandLine(line);
  const [command, ...args] = words.ok ? words.value : [];
  if (command === undefined) {
    warn(d.at, `${d.written}: ${words.ok ? 'no command' : words.error}; skipped`);
    return;
  }
  widened(warn, d, scope, `${d.written}`);
  if (site.wrappers.has(suffix)) {
    warn(d.at, `${d.written} for ${suffix === '' ? 'the default (no suffix)' : suffix} replaces the one at ${site.wrappers.get(suffix)?.at ?? ''} (the last one wins, as in mod_fcgid)`);
  }
  site.wrappers.set(suffix, { suffix, command, args, virtual, from: sourceOf(d), at: d.at });
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
