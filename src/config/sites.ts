/**
 * The sites list: each site's hosts, document root, handlers and the process classes it
 * declares (wrappers, apps, auth rules with their authorizer apps). Every class is noted in
 * `classes` so that its merged limits can be checked once the whole file is read.
 */
import path from 'node:path';
import { isSeq } from 'yaml';
import { claimHost, reportDuplicates, type ClassRef, type Seen } from './cross-checks';
import { canonicalHost, headerNameProblem, hostProblem, suffixProblem } from './name-checks';
import { readPool } from './pool-section';
import type { AppRoute, AuthApp, AuthRule, SiteConfig, SymlinkPolicy, Wrapper } from './types';
import { showValue } from './units';
import { readArgs, readBoolean, readCommand, readEnum, readFilePath, readSize, readString, readStringList } from './value-readers';
import type { Entry, YamlNode, YamlSource } from './yaml-source';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export function readSites(src: YamlSource, e: Entry, classes: ClassRef[]): SiteConfig[] {
  if (!isSeq(e.node)) {
    src.problem(e.node, 'sites', `expected a list of sites (each starting with "- "), got ${src.describe(e.node)}`);
    return [];
  }
  if (e.node.items.length === 0) src.problem(e.node, 'sites', 'no sites: fcgipm would answer every request with 404; give at least one');
  const out: SiteConfig[] = [];
  const hosts = new Map<string, Seen>();
  e.node.items.forEach((item, i) => {
    const site = readSite(src, src.deref(item), `sites[${i}]`, i, hosts, classes);
    if (site) out.push(site);
  });
  return out;
}

function readSite(src: YamlSource, node: YamlNode | null, p: string, index: number, allHosts: Map<string, Seen>, classes: ClassRef[]): SiteConfig | undefined {
  const e = src.readMap(node, p, 'site', 'a site');
  if (!e || !node) return undefined;
  const hostsEntry = src.need(e, 'site', 'hosts', p);
  const hosts: string[] = [];
  for (const h of readStringList(src, hostsEntry, 'a host name', (s) => hostProblem(canonicalHost(s)))) {
    const host = canonicalHost(h.value);
    const at = hostsEntry.keyNode ? h.node : node;
    const clash = claimHost(allHosts, host, { path: p, line: src.where(at).line }, !hostsEntry.keyNode);
    if (clash !== undefined) src.problem(at, hostsEntry.keyNode ? h.path : hostsEntry.path, clash);
    if (!hosts.includes(host)) hosts.push(host);
  }

  const documentRoot = e.has('documentRoot') ? readFilePath(src, src.need(e, 'site', 'documentRoot', p)) : undefined;
  const directoryIndex = readStringList(src, src.need(e, 'site', 'directoryIndex', p), 'a file name', (s) =>
    s.includes('/') ? `expected a file name such as index.php (no "/"), got ${showValue(s)}` : undefined,
  ).map((x) => x.value);
  const handlers = readStringList(src, src.need(e, 'site', 'handlers', p), 'a suffix such as .fcgi', (s) => suffixProblem(s, true)).map((x) => x.value);
  const passHeaders = readStringList(src, src.need(e, 'site', 'passHeaders', p), 'a header name', headerNameProblem).map((x) => x.value);
  const maxRequestBodyBytes = readSize(src, src.need(e, 'site', 'maxRequestBody', p));
  const serveStatic = readBoolean(src, src.need(e, 'site', 'static', p)) ?? true;
  const followSymlinks = (readEnum(src, src.need(e, 'site', 'followSymlinks', p)) ?? 'owner-match') as SymlinkPolicy;
  const scriptRoots = readStringList(src, src.need(e, 'site', 'scriptRoots', p), 'a directory', (s) => (s === '' ? 'expected a directory, got an empty string' : undefined)).map((x) =>
    path.resolve(src.dir, x.value),
  );
  const pool = readPool(src, e);

  const wrappers = src.list(src.need(e, 'site', 'wrappers', p), 'a list of wrappers', (n, wp) => readWrapper(src, n, wp, index, classes));
  const apps = src.list(src.need(e, 'site', 'apps', p), 'a list of apps', (n, ap) => readApp(src, n, ap, index, classes));
  const auth = src.list(src.need(e, 'site', 'auth', p), 'a list of auth rules', (n, ap) => readAuthRule(src, n, ap, index, classes));
  reportDuplicates(src, wrappers, 'wrapper suffix', (w) => JSON.stringify(w.value.suffix), 'mod_fcgid lets the last FcgidWrapper win; keep one');
  reportDuplicates(src, apps, 'app prefix', (a) => JSON.stringify(a.value.prefix), 'keep one');
  reportDuplicates(src, auth, 'auth prefix', (a) => JSON.stringify(a.value.prefix), 'put the roles in one rule');
  if (handlers.length > 0 || documentRoot !== undefined) {
    classes.push({ node, path: p, site: index, command: undefined, own: {} });
  }

  return {
    hosts,
    documentRoot,
    handlers: [...new Set(handlers)],
    wrappers: wrappers.map((w) => w.value),
    directoryIndex,
    static: serveStatic,
    followSymlinks,
    scriptRoots,
    apps: apps.map((a) => a.value),
    auth: auth.map((a) => a.value),
    passHeaders,
    maxRequestBodyBytes: maxRequestBodyBytes ?? 0,
    pool,
    origin: src.origin(node),
  };
}

function readWrapper(src: YamlSource, node: YamlNode | null, p: string, site: number, classes: ClassRef[]): Wrapper | undefined {
  const e = src.readMap(node, p, 'wrapper', 'a wrapper');
  if (!e || !node) return undefined;
  const suffixEntry = src.need(e, 'wrapper', 'suffix', p);
  let suffix = readString(src, suffixEntry);
  const bad = suffix === undefined || suffix === '' ? undefined : suffixProblem(suffix, false);
  if (bad !== undefined) {
    src.problem(suffixEntry.node, suffixEntry.path, bad);
    suffix = undefined;
  }
  const commandEntry = e.get('command');
  const command = commandEntry ? readCommand(src, commandEntry) : undefined;
  const args = readArgs(src, src.need(e, 'wrapper', 'args', p));
  const virtual = readBoolean(src, src.need(e, 'wrapper', 'virtual', p));
  const pool = readPool(src, e);
  classes.push({ node, path: p, site, command, own: pool });
  if (suffix === undefined || command === undefined || args === undefined || virtual === undefined) return undefined;
  return { ...pool, suffix, command, args, virtual, origin: src.origin(node) };
}

function readPrefix(src: YamlSource, e: Entry | undefined): string | undefined {
  if (!e) return undefined;
  const v = readString(src, e);
  if (v === undefined) return undefined;
  if (!v.startsWith('/') || /[?#\s]/.test(v) || v.split('/').some((s) => s === '.' || s === '..')) {
    src.problem(e.node, e.path, `expected a URL path starting with "/" such as /app, got ${showValue(v)}`);
    return undefined;
  }
  // "/app/" and "/app" are the same prefix: it is matched on whole segments.
  return v.length > 1 ? v.replace(/\/+$/, '') || '/' : v;
}

function readApp(src: YamlSource, node: YamlNode | null, p: string, site: number, classes: ClassRef[]): AppRoute | undefined {
  const e = src.readMap(node, p, 'app', 'an app');
  if (!e || !node) return undefined;
  const prefix = readPrefix(src, e.get('prefix'));
  const commandEntry = e.get('command');
  const command = commandEntry ? readCommand(src, commandEntry) : undefined;
  const args = readArgs(src, src.need(e, 'app', 'args', p));
  const scriptEntry = e.get('script');
  const script = scriptEntry ? readFilePath(src, scriptEntry) : undefined;
  const handoff = readBoolean(src, src.need(e, 'app', 'handoff', p));
  const roots = readStringList(src, src.need(e, 'app', 'roots', p), 'a directory', (s) => (s === '' ? 'expected a directory, got an empty string' : undefined)).map((x) =>
    path.resolve(src.dir, x.value),
  );
  const pool = readPool(src, e);
  classes.push({ node, path: p, site, command, own: pool });
  if (prefix === undefined || command === undefined || args === undefined || handoff === undefined) return undefined;
  return { ...pool, prefix, command, args, ...(script !== undefined ? { script } : {}), ...(roots.length > 0 ? { roots } : {}), handoff, origin: src.origin(node) };
}

function readAuthRule(src: YamlSource, node: YamlNode | null, p: string, site: number, classes: ClassRef[]): AuthRule | undefined {
  const e = src.readMap(node, p, 'auth', 'an auth rule');
  if (!e || !node) return undefined;
  const prefix = readPrefix(src, e.get('prefix'));
  const rule: Mutable<AuthRule> = { prefix: prefix ?? '', origin: src.origin(node) };
  let complete = prefix !== undefined;
  for (const role of ['authenticator', 'authorizer', 'accessChecker'] as const) {
    const r = e.get(role);
    if (!r) continue;
    const authApp = readAuthApp(src, r.node, r.path, site, classes);
    if (authApp) rule[role] = authApp;
    else complete = false;
  }
  if (!e.has('authenticator') && !e.has('authorizer') && !e.has('accessChecker')) {
    src.problem(node, p, 'an auth rule needs an authenticator, an authorizer or an accessChecker');
    complete = false;
  }
  return complete ? rule : undefined;
}

function readAuthApp(src: YamlSource, node: YamlNode, p: string, site: number, classes: ClassRef[]): AuthApp | undefined {
  const e = src.readMap(node, p, 'authApp', 'an authorizer app');
  if (!e) return undefined;
  const commandEntry = e.get('command');
  const command = commandEntry ? readCommand(src, commandEntry) : undefined;
  const args = readArgs(src, src.need(e, 'authApp', 'args', p));
  const pool = readPool(src, e);
  classes.push({ node, path: p, site, command, own: pool });
  if (command === undefined || args === undefined) return undefined;
  return { ...pool, command, args };
}
