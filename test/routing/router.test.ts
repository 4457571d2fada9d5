import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AppRoute, AuthRule, Config, PoolSettings, SiteConfig, Wrapper } from '../../src/config/types';
import type { PoolOptionsInput } from '../../src/pm/pool-options';
import type { ProcessClass } from '../../src/pm/process-class';
import { Router, type RouteResult } from '../../src/routing/router';

// ---- config builders --------------------------------------------------------------------

function site(over: Partial<SiteConfig> = {}): SiteConfig {
  return {
    hosts: ['*'],
    documentRoot: undefined,
    handlers: [],
    wrappers: [],
    directoryIndex: [],
    static: false,
    followSymlinks: 'owner-match',
    scriptRoots: [],
    apps: [],
    auth: [],
    passHeaders: [],
    maxRequestBodyBytes: 1 << 20,
    pool: {},
    origin: 'test',
    ...over,
  };
}

function config(sites: SiteConfig[], over: Partial<Config> = {}): Config {
  return {
    source: 'test',
    ipcDir: '/tmp/fcgipm-router-test',
    maxProcesses: 100,
    listen: { http: undefined, fastcgi: undefined, admin: undefined, reusePort: false, fastcgiMode: 0o660 },
    defaults: {},
    commands: {},
    sites,
    drainTimeoutMs: 1000,
    logLevel: 'info',
    ...over,
  };
}

function app(prefix: string, command: string, over: Partial<AppRoute> = {}): AppRoute {
  return { prefix, command, args: [], handoff: false, origin: 'test', ...over };
}

function wrapper(suffix: string, command: string, over: Partial<Wrapper> = {}): Wrapper {
  return { suffix, command, args: [], virtual: false, origin: 'test', ...over };
}

type Script = Extract<RouteResult, { kind: 'script' }>;

function script(r: RouteResult): Script {
  if (r.kind === 'redirect') throw new Error(`expected a script, got a redirect to ${r.location}`);
  if (r.kind === 'static') throw new Error(`expected a script, got the static file ${r.filename}`);
  if (r.kind !== 'script') throw new Error(`expected a script, got ${r.status} ${r.reason}`);
  return r;
}

function denied(r: RouteResult): { status: number; reason: string } {
  if (r.kind === 'redirect') throw new Error(`expected a deny, got a redirect to ${r.location}`);
  if (r.kind === 'static') throw new Error(`expected a deny, got the static file ${r.filename}`);
  if (r.kind !== 'deny') throw new Error(`expected a deny, got script ${r.target.scriptFilename}`);
  return { status: r.status, reason: r.reason };
}

function fcgi(params: Record<string, string>): ReadonlyMap<string, string> {
  return new Map(Object.entries(params));
}

// ---- a real document root ---------------------------------------------------------------

const PHP = '/usr/bin/php-cgi';
let tmp: string;
let root: string;
let outside: string;

function write(rel: string, mode: number, text = '#!/bin/sh\n'): void {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
  fs.chmodSync(p, mode);
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fcgipm-router-'));
  root = path.join(tmp, 'www');
  outside = path.join(tmp, 'outside');
  fs.mkdirSync(path.join(root, 'sub', 'dir'), { recursive: true });
  fs.mkdirSync(outside);
  write('hello.fcgi', 0o755);
  write('noexec.fcgi', 0o644);
  write('index.php', 0o644, '<?php');
  write('index.html', 0o644, '<html>');
  write('sub/script.php', 0o644, '<?php');
  write('withindex/index.php', 0o644, '<?php');
  write('a.b.php', 0o644, '<?php');
  write('x.PHP', 0o644, '<?php');
  write('readme.txt', 0o644, 'text');
  write('café.php', 0o644, '<?php');
  fs.writeFileSync(Buffer.from(`${root}/\xe9.fcgi`, 'latin1'), '#!/bin/sh\n', { mode: 0o755 });
  fs.writeFileSync(path.join(outside, 'secret.php'), '<?php');
  fs.writeFileSync(path.join(outside, 'run.fcgi'), '#!/bin/sh\n', { mode: 0o755 });
  fs.symlinkSync('/etc/passwd', path.join(root, 'leak.php'));
  fs.symlinkSync(outside, path.join(root, 'outdir'));
  fs.symlinkSync('index.php', path.join(root, 'alias.php'));
  fs.symlinkSync('..', path.join(root, 'sub', 'up'));
  fs.symlinkSync(root, path.join(tmp, 'current'));
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function docSite(over: Partial<SiteConfig> = {}): SiteConfig {
  return site({
    documentRoot: root,
    handlers: ['.fcgi'],
    wrappers: [wrapper('.php', PHP)],
    directoryIndex: ['index.php'],
    ...over,
  });
}

function docRouter(over: Partial<SiteConfig> = {}): Router {
  return new Router(config([docSite(over)]));
}

// ---- HTTP: document-root mode ----------------------------------------------------------

describe('route: document root, PATH_INFO split at the first regular file', () => {
  test('/hello.fcgi/a/b: an executable handler script is its own class', () => {
    const r = script(docRouter().route('localhost', '/hello.fcgi/a/b'));
    expect(r.target).toEqual({ scriptName: '/hello.fcgi', pathInfo: '/a/b', scriptFilename: `${root}/hello.fcgi`, documentRoot: root });
    expect(r.spec).toMatchObject({ command: `${root}/hello.fcgi`, args: [], vhost: '', handoff: false });
  });

  test('/sub/script.php/x runs through the .php wrapper', () => {
    const r = script(docRouter().route(undefined, '/sub/script.php/x'));
    expect(r.target).toEqual({ scriptName: '/sub/script.php', pathInfo: '/x', scriptFilename: `${root}/sub/script.php`, documentRoot: root });
    expect(r.spec).toMatchObject({ command: PHP, args: [] });
  });

  test('/index.php has no PATH_INFO; a trailing slash is PATH_INFO "/"', () => {
    const router = docRouter();
    expect(script(router.route(undefined, '/index.php')).target).toMatchObject({ scriptName: '/index.php', pathInfo: '' });
    expect(script(router.route(undefined, '/hello.fcgi/')).target).toMatchObject({ scriptName: '/hello.fcgi', pathInfo: '/' });
  });

  test('a directory serves its DirectoryIndex; without the trailing slash it is a 301 to it (mod_dir)', () => {
    const router = docRouter();
    expect(script(router.route(undefined, '/')).target).toMatchObject({ scriptName: '/index.php', pathInfo: '', scriptFilename: `${root}/index.php` });
    expect(script(router.route(undefined, '/withindex/')).target).toMatchObject({ scriptName: '/withindex/index.php', pathInfo: '' });
    expect(router.route(undefined, '/withindex')).toMatchObject({ kind: 'redirect', location: '/withindex/' });
    expect(router.route(undefined, '/with%69ndex')).toMatchObject({ kind: 'redirect', location: '/with%69ndex/' });
  });

  test('DirectoryIndex skips names no wrapper or handler takes', () => {
    const r = script(docRouter({ directoryIndex: ['index.html', 'index.php'] }).route(undefined, '/'));
    expect(r.target.scriptName).toBe('/index.php');
  });

  test('a directory without a usable index is 403', () => {
    const router = docRouter();
    expect(denied(router.route(undefined, '/sub/dir'))).toEqual({ status: 403, reason: 'directory has no usable index' });
    expect(denied(router.route(undefined, '/sub/')).status).toBe(403);
    expect(denied(docRouter({ directoryIndex: [] }).route(undefined, '/')).status).toBe(403);
  });

  test('missing files are 404, also below an existing directory', () => {
    const router = docRouter();
    expect(denied(router.route(undefined, '/missing.fcgi'))).toEqual({ status: 404, reason: 'not found' });
    expect(denied(router.route(undefined, '/missing.php/x')).status).toBe(404);
    expect(denied(router.route(undefined, '/sub/missing/x')).status).toBe(404);
  });

  test('a handler script that is not executable is 403', () => {
    expect(denied(docRouter().route(undefined, '/noexec.fcgi'))).toEqual({ status: 403, reason: 'not executable' });
  });

  test('a file no wrapper or handler takes is 403', () => {
    expect(denied(docRouter().route(undefined, '/readme.txt'))).toEqual({ status: 403, reason: 'no handler for this file' });
  });

  test('repeated slashes collapse and dot segments resolve inside the root', () => {
    const router = docRouter();
    expect(script(router.route(undefined, '//hello.fcgi//a')).target).toMatchObject({ scriptName: '/hello.fcgi', pathInfo: '/a' });
    expect(script(router.route(undefined, '/sub/../hello.fcgi')).target.scriptName).toBe('/hello.fcgi');
    expect(script(router.route(undefined, '/./sub/./script.php/.')).target).toMatchObject({ scriptName: '/sub/script.php', pathInfo: '/' });
  });

  test('paths are byte strings: a UTF-8 name is found from its percent-encoded bytes', () => {
    const r = script(docRouter().route(undefined, '/caf%C3%A9.php/%C3%A9'));
    expect(r.target.scriptName).toBe('/caf\xc3\xa9.php');
    expect(r.target.pathInfo).toBe('/\xc3\xa9');
    expect(r.target.scriptFilename).toBe(`${Buffer.from(root, 'utf8').toString('latin1')}/caf\xc3\xa9.php`);
  });

  test('a handler script whose path is not UTF-8 cannot be a command line: 403', () => {
    expect(denied(docRouter().route(undefined, '/%E9.fcgi'))).toEqual({ status: 403, reason: 'script path is not UTF-8' });
  });

  test('a missing document root is 404', () => {
    expect(denied(docRouter({ documentRoot: path.join(tmp, 'nope') }).route(undefined, '/index.php')).reason).toBe('document root not found');
  });
});

describe('route: traversal and encoded separators', () => {
  const router = (): Router => docRouter();

  test.each([
    ['/../etc/passwd', 400],
    ['/sub/../../etc', 400],
    ['/%2e%2e/etc/passwd', 400],
    ['/sub/%2E%2E/%2e%2e/etc/passwd', 400],
    ['/..', 400],
    ['/%zz', 400],
    ['/a%2', 400],
    ['/sub%2f..%2fhello.fcgi', 404],
    ['/sub%2F..%2Fhello.fcgi', 404],
    ['/sub%5c..%5chello.fcgi', 404],
    ['/hello.fcgi%00.php', 404],
    ['hello.fcgi', 400],
  ])('%s → %i', (p, status) => {
    expect(denied(router().route(undefined, p)).status).toBe(status);
  });

  test('a literal "%2F" (encoded as %252F) is just a name', () => {
    expect(denied(router().route(undefined, '/sub%252F..'))).toEqual({ status: 404, reason: 'not found' });
  });

  test('a symlink to a file outside the root is 403', () => {
    expect(denied(router().route(undefined, '/leak.php'))).toEqual({ status: 403, reason: 'script resolves outside the document root and scriptRoots' });
  });

  test('a symlinked directory pointing outside is 403, for files and for the directory', () => {
    expect(denied(router().route(undefined, '/outdir/run.fcgi'))).toEqual({ status: 403, reason: 'script resolves outside the document root and scriptRoots' });
    expect(denied(router().route(undefined, '/outdir/secret.php/x')).status).toBe(403);
    expect(denied(router().route(undefined, '/outdir/')).status).toBe(403);
  });

  describe('followSymlinks and scriptRoots (Debian PHP apps link into /usr/share and /var/lib)', () => {
    test('owner-match (the default) follows a symlink out of the root whose owner owns its target; scripts there run only from scriptRoots', () => {
      // Files of the same owner (this test's user) on both sides: followed.
      expect(docRouter({ static: true }).route(undefined, '/outdir/secret.php').kind).toBe('deny');
      expect(denied(docRouter().route(undefined, '/outdir/run.fcgi')).reason).toBe('script resolves outside the document root and scriptRoots');
      expect(script(docRouter({ scriptRoots: [outside] }).route(undefined, '/outdir/run.fcgi')).target.scriptFilename).toBe(`${root}/outdir/run.fcgi`);
      expect(script(docRouter({ scriptRoots: [outside] }).route(undefined, '/outdir/secret.php/x')).target.pathInfo).toBe('/x');
    });

    test('a static file through such a symlink is served; with static off it is 403', () => {
      fs.writeFileSync(path.join(outside, 'style.css'), 'x');
      const r = docRouter({ static: true }).route(undefined, '/outdir/style.css');
      expect(r).toMatchObject({ kind: 'static', filename: `${root}/outdir/style.css` });
      expect(denied(docRouter().route(undefined, '/outdir/style.css')).status).toBe(403);
    });

    test('owner-match refuses a symlink whose target belongs to someone else', () => {
      if (process.getuid?.() !== 0) return; // only root can make a link owned by another user
      const link = path.join(root, 'foreign.php');
      const target = path.join(outside, 'foreign.php');
      fs.writeFileSync(target, '<?php');
      fs.symlinkSync(target, link);
      fs.lchownSync(link, 65534, 65534);
      try {
        const r = docRouter({ scriptRoots: [outside] }).route(undefined, '/foreign.php');
        expect(denied(r)).toEqual({ status: 403, reason: 'symlink and its target have different owners (followSymlinks: owner-match)' });
        expect(script(docRouter({ scriptRoots: [outside], followSymlinks: 'on' }).route(undefined, '/foreign.php')).target.scriptFilename).toBe(link);
      } finally {
        fs.unlinkSync(link);
      }
    });

    test('inside: only symlinks that stay inside the root; off: none', () => {
      expect(denied(docRouter({ followSymlinks: 'inside', scriptRoots: [outside] }).route(undefined, '/outdir/run.fcgi'))).toEqual({ status: 403, reason: 'symlink leads outside the document root' });
      expect(script(docRouter({ followSymlinks: 'inside' }).route(undefined, '/alias.php')).target.scriptFilename).toBe(`${root}/alias.php`);
      expect(denied(docRouter({ followSymlinks: 'off' }).route(undefined, '/alias.php'))).toEqual({ status: 403, reason: 'symlinks are not followed here (followSymlinks: off)' });
      expect(script(docRouter({ followSymlinks: 'off' }).route(undefined, '/index.php')).target.scriptFilename).toBe(`${root}/index.php`);
    });
  });

  test('symlinks that stay inside the root are followed; SCRIPT_FILENAME keeps the link path', () => {
    const a = script(router().route(undefined, '/alias.php'));
    expect(a.target.scriptFilename).toBe(`${root}/alias.php`);
    const b = script(router().route(undefined, '/sub/up/hello.fcgi/z'));
    expect(b.target).toMatchObject({ scriptName: '/sub/up/hello.fcgi', pathInfo: '/z', scriptFilename: `${root}/sub/up/hello.fcgi` });
  });

  test('a document root that is itself a symlink (deploy switch) works, containment by its realpath', () => {
    const r = new Router(config([docSite({ documentRoot: path.join(tmp, 'current') })]));
    expect(script(r.route(undefined, '/index.php')).target).toMatchObject({
      scriptFilename: `${tmp}/current/index.php`,
      documentRoot: `${tmp}/current`,
    });
    expect(denied(r.route(undefined, '/leak.php')).status).toBe(403);
  });

  test('a trailing slash on documentRoot is dropped', () => {
    const r = script(docRouter({ documentRoot: `${root}/` }).route(undefined, '/index.php/q'));
    expect(r.target).toMatchObject({ scriptFilename: `${root}/index.php`, documentRoot: root });
  });
});

describe('route: wrappers and handlers', () => {
  test('the wrapper is chosen by the LAST suffix: a.b.php runs through .php', () => {
    const r = script(docRouter().route(undefined, '/a.b.php'));
    expect(r.spec.command).toBe(PHP);
    expect(r.target.scriptFilename).toBe(`${root}/a.b.php`);
  });

  test('suffixes are case-sensitive like mod_fcgid: x.PHP has no wrapper → 403', () => {
    expect(denied(docRouter().route(undefined, '/x.PHP'))).toEqual({ status: 403, reason: 'no handler for this file' });
  });

  test('every script of a wrapper shares one class spec', () => {
    const router = docRouter();
    expect(script(router.route(undefined, '/index.php')).spec).toBe(script(router.route(undefined, '/sub/script.php')).spec);
  });

  test('the last wrapper for a suffix wins', () => {
    const r = docRouter({ wrappers: [wrapper('.php', '/old/php'), wrapper('.php', '/new/php')] });
    expect(script(r.route(undefined, '/index.php')).spec.command).toBe('/new/php');
  });

  test('a virtual wrapper serves a missing file: the longest prefix ending in its suffix', () => {
    const router = docRouter({ wrappers: [wrapper('.php', PHP, { virtual: true })] });
    expect(script(router.route(undefined, '/nothere.php/foo')).target).toEqual({
      scriptName: '/nothere.php',
      pathInfo: '/foo',
      scriptFilename: `${root}/nothere.php`,
      documentRoot: root,
    });
    expect(script(router.route(undefined, '/sub/a/b.php/c/d.php/e/')).target).toMatchObject({ scriptName: '/sub/a/b.php/c/d.php', pathInfo: '/e/' });
    // An existing file still splits at the first regular file.
    expect(script(router.route(undefined, '/index.php/x.php/y')).target).toMatchObject({ scriptName: '/index.php', pathInfo: '/x.php/y' });
    // Nothing to claim: still 404.
    expect(denied(router.route(undefined, '/nothere.txt/foo')).status).toBe(404);
    // Not through a symlink that leaves the root.
    expect(denied(router.route(undefined, '/outdir/nothere.php')).status).toBe(403);
  });

  test('the default wrapper (no suffix) takes files no suffix wrapper claims', () => {
    const router = docRouter({ wrappers: [wrapper('.php', PHP), wrapper('', '/usr/bin/default-wrapper', { args: ['-q'] })] });
    expect(script(router.route(undefined, '/readme.txt')).spec).toMatchObject({ command: '/usr/bin/default-wrapper', args: ['-q'] });
    expect(script(router.route(undefined, '/x.PHP')).spec.command).toBe('/usr/bin/default-wrapper');
    expect(script(router.route(undefined, '/index.php')).spec.command).toBe(PHP);
    // A wrapper takes the file whatever its mode; the handler rule (X_OK) does not apply.
    expect(script(router.route(undefined, '/noexec.fcgi')).spec.command).toBe('/usr/bin/default-wrapper');
  });

  test('a virtual default wrapper takes any missing path whole', () => {
    const router = docRouter({ wrappers: [wrapper('', '/usr/bin/front', { virtual: true })] });
    expect(script(router.route(undefined, '/no/such/page')).target).toMatchObject({ scriptName: '/no/such/page', pathInfo: '' });
  });

  test('handlers "*" (SetHandler fcgid-script): every executable file is a script', () => {
    const router = docRouter({ handlers: ['*'], wrappers: [] });
    expect(script(router.route(undefined, '/hello.fcgi')).spec.command).toBe(`${root}/hello.fcgi`);
    expect(denied(router.route(undefined, '/readme.txt'))).toEqual({ status: 403, reason: 'not executable' });
  });

  test('without handlers an executable file is not run', () => {
    expect(denied(docRouter({ handlers: [] }).route(undefined, '/hello.fcgi')).reason).toBe('no handler for this file');
  });
});

// ---- HTTP: explicit apps ---------------------------------------------------------------

describe('route: explicit apps', () => {
  const apps = [app('/app', '/opt/a.fcgi'), app('/app/admin/', '/opt/admin.fcgi'), app('/', '/opt/root.fcgi', { script: '/srv/front.php' })];

  test('the longest prefix wins, on whole segments', () => {
    const router = new Router(config([site({ apps })]));
    expect(script(router.route(undefined, '/app')).target).toEqual({ scriptName: '/app', pathInfo: '', scriptFilename: '/opt/a.fcgi', documentRoot: '/opt' });
    expect(script(router.route(undefined, '/app/x/y')).target).toMatchObject({ scriptName: '/app', pathInfo: '/x/y' });
    expect(script(router.route(undefined, '/app/admin/y')).target).toMatchObject({ scriptName: '/app/admin', pathInfo: '/y', scriptFilename: '/opt/admin.fcgi' });
    expect(script(router.route(undefined, '/app/administrator')).spec.command).toBe('/opt/a.fcgi');
    const apple = script(router.route(undefined, '/apple'));
    expect(apple.target).toEqual({ scriptName: '', pathInfo: '/apple', scriptFilename: '/srv/front.php', documentRoot: '/srv' });
    expect(apple.spec.command).toBe('/opt/root.fcgi');
    expect(script(router.route(undefined, '/')).target).toMatchObject({ scriptName: '', pathInfo: '/' });
  });

  test('apps win over the document root; other paths fall through to it', () => {
    const router = docRouter({ apps: [app('/app', '/opt/a.fcgi'), app('/hello.fcgi', '/opt/shadow')] });
    expect(script(router.route(undefined, '/app/x')).target).toMatchObject({ scriptName: '/app', pathInfo: '/x', documentRoot: root });
    expect(script(router.route(undefined, '/hello.fcgi')).spec.command).toBe('/opt/shadow');
    expect(denied(router.route(undefined, '/apple')).status).toBe(404);
  });

  test('app paths are decoded and normalised before matching', () => {
    const router = new Router(config([site({ apps: [app('/app', '/opt/a.fcgi')] })]));
    expect(script(router.route(undefined, '/x/../%61pp//b%20c')).target).toMatchObject({ scriptName: '/app', pathInfo: '/b c' });
    expect(denied(router.route(undefined, '/app%2fx')).status).toBe(404);
    expect(denied(router.route(undefined, '/nope')).status).toBe(404);
  });

  test('handoff and args are carried to the spec', () => {
    const router = new Router(config([site({ apps: [app('/h', '/opt/h', { handoff: true, args: ['--x'] })] })]));
    expect(script(router.route(undefined, '/h')).spec).toMatchObject({ command: '/opt/h', args: ['--x'], handoff: true });
  });
});

// ---- virtual hosts ---------------------------------------------------------------------

describe('site selection', () => {
  const a = site({ hosts: ['a.example', 'alias.example'], origin: 'a' });
  const b = site({ hosts: ['b.example', '*.b.example'], origin: 'b' });
  const c = site({ hosts: ['*.sub.b.example'], origin: 'c' });
  const v6 = site({ hosts: ['[::1]'], origin: 'v6' });
  const any = site({ hosts: ['*'], origin: 'any' });

  test('exact, then the longest wildcard, then "*"', () => {
    const router = new Router(config([a, b, c, v6, any]));
    expect(router.site('a.example')).toBe(a);
    expect(router.site('alias.example')).toBe(a);
    expect(router.site('b.example')).toBe(b);
    expect(router.site('www.b.example')).toBe(b);
    expect(router.site('x.y.b.example')).toBe(b);
    expect(router.site('y.sub.b.example')).toBe(c);
    expect(router.site('sub.b.example')).toBe(b);
    expect(router.site('other.example')).toBe(any);
    expect(router.site(undefined)).toBe(any);
    expect(router.site('')).toBe(any);
  });

  test('port stripped, case ignored, a trailing dot ignored, IPv6 literals', () => {
    const router = new Router(config([a, b, v6, any]));
    expect(router.site('A.Example:8080')).toBe(a);
    expect(router.site('a.example.')).toBe(a);
    expect(router.site('A.EXAMPLE.:443')).toBe(a);
    expect(router.site('[::1]:8080')).toBe(v6);
    expect(router.site('[::1]')).toBe(v6);
  });

  test('without a "*" site, unknown hosts get the FIRST site (Apache default vhost)', () => {
    const router = new Router(config([b, a]));
    expect(router.site('nowhere')).toBe(b);
    expect(router.site(undefined)).toBe(b);
  });

  test('no sites: route denies with 404', () => {
    expect(new Router(config([])).route('x', '/')).toEqual({ kind: 'deny', status: 404, reason: 'no site is configured', site: undefined });
  });

  test('the class vhost is the site first host name, "" for "*"', () => {
    const sa = site({ hosts: ['A.example', 'alias.example'], apps: [app('/', '/opt/x')] });
    const sany = site({ hosts: ['*'], apps: [app('/', '/opt/x')] });
    const router = new Router(config([sa, sany]));
    expect(script(router.route('a.example', '/')).spec.vhost).toBe('A.example');
    expect(script(router.route('zzz', '/')).spec.vhost).toBe('');
    const deniedSite = router.route('a.example', '/../x');
    expect(deniedSite).toMatchObject({ kind: 'deny', status: 400, site: sa });
  });
});

/** The merged settings a class's pool is made with (its command line left out). */
function settingsOf(spec: ProcessClass): Partial<PoolOptionsInput> {
  return Object.fromEntries(Object.entries(spec.poolInput()).filter(([key]) => key !== 'command' && key !== 'args'));
}

// ---- settings merge through the router -------------------------------------------------

describe('class settings: app/wrapper > commands[command] > site.pool > defaults', () => {
  const defaults: PoolSettings = { maxProcesses: 10, idleTimeoutMs: 1, env: { A: 'defaults', B: 'defaults', C: 'defaults', D: 'defaults' } };
  const pool: PoolSettings = { maxProcesses: 8, lifetimeMs: 2, env: { B: 'site', C: 'site', D: 'site' } };

  test('an app', () => {
    const cfg = config(
      [site({ pool, apps: [app('/', '/opt/app', { maxProcesses: 4, env: { D: 'app' } })] })],
      { defaults, commands: { '/opt/app': { maxProcesses: 6, ioTimeoutMs: 3, env: { C: 'command', D: 'command' } } } },
    );
    expect(settingsOf(script(new Router(cfg).route(undefined, '/x')).spec)).toEqual({
      maxProcesses: 4,
      idleTimeoutMs: 1,
      lifetimeMs: 2,
      ioTimeoutMs: 3,
      env: { A: 'defaults', B: 'site', C: 'command', D: 'app' },
    });
  });

  test('a wrapper: FcgidCmdOptions keyed by the wrapper command', () => {
    const cfg = config([docSite({ pool, wrappers: [wrapper('.php', PHP, { maxRequestsPerProcess: 500 })] })], {
      defaults,
      commands: { [PHP]: { maxProcesses: 6, env: { PHP_FCGI_CHILDREN: '0' } } },
    });
    expect(settingsOf(script(new Router(cfg).route(undefined, '/index.php')).spec)).toEqual({
      maxProcesses: 6,
      idleTimeoutMs: 1,
      lifetimeMs: 2,
      maxRequestsPerProcess: 500,
      env: { A: 'defaults', B: 'site', C: 'site', D: 'site', PHP_FCGI_CHILDREN: '0' },
    });
  });

  test('a handler script: FcgidCmdOptions keyed by the script path', () => {
    const cfg = config([docSite({ pool })], { defaults, commands: { [`${root}/hello.fcgi`]: { maxProcesses: 2 } } });
    const router = new Router(cfg);
    expect(settingsOf(script(router.route(undefined, '/hello.fcgi')).spec)).toMatchObject({ maxProcesses: 2, lifetimeMs: 2 });
    expect(settingsOf(script(router.route(undefined, '/sub/up/hello.fcgi')).spec)).toMatchObject({ maxProcesses: 8 });
  });
});

// ---- AAA -------------------------------------------------------------------------------

describe('authFor / authSpec', () => {
  const authApp = { command: '/opt/auth', args: ['-v'], maxProcesses: 2 };
  const rules: AuthRule[] = [
    { prefix: '/', accessChecker: authApp, origin: 'r0' },
    { prefix: '/admin', authenticator: authApp, origin: 'r1' },
    { prefix: '/admin/secret/', authorizer: authApp, origin: 'r2' },
  ];
  const s = site({ hosts: ['a.example'], auth: rules, pool: { maxProcesses: 9, idleTimeoutMs: 5 } });
  const router = new Router(config([s], { commands: { '/opt/auth': { ioTimeoutMs: 7 } } }));

  test('the longest prefix on segment boundaries', () => {
    expect(router.authFor(s, '/admin/x')?.origin).toBe('r1');
    expect(router.authFor(s, '/admin')?.origin).toBe('r1');
    expect(router.authFor(s, '/administrator')?.origin).toBe('r0');
    expect(router.authFor(s, '/admin/secret')?.origin).toBe('r2');
    expect(router.authFor(s, '/admin/secret/x')?.origin).toBe('r2');
    expect(router.authFor(s, '/')?.origin).toBe('r0');
    expect(router.authFor(site(), '/admin')).toBeUndefined();
  });

  test('an auth app is its own class with merged settings, built once', () => {
    const spec = router.authSpec(s, authApp);
    expect(spec).toMatchObject({ command: '/opt/auth', args: ['-v'], vhost: 'a.example', handoff: false });
    expect(settingsOf(spec)).toEqual({ maxProcesses: 2, idleTimeoutMs: 5, ioTimeoutMs: 7 });
    expect(router.authSpec(s, authApp)).toBe(spec);
  });
});

// ---- FastCGI front end -----------------------------------------------------------------

describe('routeFastcgi', () => {
  const fastcgiApps = [app('/app', '/opt/app.fcgi'), app('/php', PHP, { script: '/srv/front.php' })];
  const router = (over: Partial<SiteConfig> = {}): Router => docRouter({ apps: fastcgiApps, ...over });

  test('nginx: SCRIPT_FILENAME=$document_root$fastcgi_script_name', () => {
    const r = script(router().routeFastcgi(fcgi({ SCRIPT_FILENAME: `${root}/index.php`, SCRIPT_NAME: '/index.php', DOCUMENT_URI: '/index.php', HTTP_HOST: 'x' })));
    expect(r.target).toEqual({ scriptName: '/index.php', pathInfo: '', scriptFilename: `${root}/index.php`, documentRoot: root });
    expect(r.spec.command).toBe(PHP);
  });

  test('nginx with fastcgi_split_path_info: its SCRIPT_NAME and PATH_INFO are kept', () => {
    const r = script(
      router().routeFastcgi(fcgi({ SCRIPT_FILENAME: `${root}/index.php`, SCRIPT_NAME: '/index.php', PATH_INFO: '/a/b', DOCUMENT_URI: '/index.php/a/b' })),
    );
    expect(r.target).toMatchObject({ scriptName: '/index.php', pathInfo: '/a/b', scriptFilename: `${root}/index.php` });
  });

  test('nginx without a split: the walk splits SCRIPT_FILENAME and SCRIPT_NAME loses the tail', () => {
    const r = script(router().routeFastcgi(fcgi({ SCRIPT_FILENAME: `${root}/hello.fcgi/a/b`, SCRIPT_NAME: '/hello.fcgi/a/b', PATH_INFO: '' })));
    expect(r.target).toEqual({ scriptName: '/hello.fcgi', pathInfo: '/a/b', scriptFilename: `${root}/hello.fcgi`, documentRoot: root });
    expect(r.spec.command).toBe(`${root}/hello.fcgi`);
  });

  test('no SCRIPT_NAME: derived from the walk', () => {
    const r = script(router().routeFastcgi(fcgi({ SCRIPT_FILENAME: `${root}/sub/script.php/x` })));
    expect(r.target).toMatchObject({ scriptName: '/sub/script.php', pathInfo: '/x' });
  });

  test('a missing script with a trailing path: 404, or the virtual wrapper takes it', () => {
    const params = fcgi({ SCRIPT_FILENAME: `${root}/nope.php/x`, SCRIPT_NAME: '/nope.php/x' });
    expect(denied(router().routeFastcgi(params)).status).toBe(404);
    const virtual = router({ wrappers: [wrapper('.php', PHP, { virtual: true })] });
    expect(script(virtual.routeFastcgi(params)).target).toMatchObject({ scriptName: '/nope.php', pathInfo: '/x', scriptFilename: `${root}/nope.php` });
  });

  test('a directory gets its index, whatever SCRIPT_NAME says', () => {
    const r = script(router().routeFastcgi(fcgi({ SCRIPT_FILENAME: `${root}/`, SCRIPT_NAME: '/' })));
    expect(r.target).toMatchObject({ scriptName: '/index.php', pathInfo: '', scriptFilename: `${root}/index.php` });
  });

  test('Apache mod_proxy_fcgi: "proxy:fcgi://host:port" and a "?query" are stripped', () => {
    const r = script(
      router().routeFastcgi(fcgi({ SCRIPT_FILENAME: `proxy:fcgi://127.0.0.1:9000${root}/sub/script.php?q=1`, SCRIPT_NAME: '/sub/script.php', HTTP_HOST: 'h' })),
    );
    expect(r.target).toEqual({ scriptName: '/sub/script.php', pathInfo: '', scriptFilename: `${root}/sub/script.php`, documentRoot: root });
    const tail = script(router().routeFastcgi(fcgi({ SCRIPT_FILENAME: `proxy:fcgi://[::1]${root}/a.b.php/p/q`, SCRIPT_NAME: '/a.b.php/p/q' })));
    expect(tail.target).toMatchObject({ scriptName: '/a.b.php', pathInfo: '/p/q' });
  });

  test('a SCRIPT_FILENAME spelt with the realpath of a symlinked root is under it', () => {
    const r = script(docRouter({ documentRoot: path.join(tmp, 'current') }).routeFastcgi(fcgi({ SCRIPT_FILENAME: `${fs.realpathSync(root)}/index.php` })));
    expect(r.target).toMatchObject({ scriptFilename: `${tmp}/current/index.php`, documentRoot: `${tmp}/current` });
  });

  test('outside the root: nothing runs', () => {
    expect(denied(router().routeFastcgi(fcgi({ SCRIPT_FILENAME: '/etc/passwd', DOCUMENT_URI: '/etc/passwd' }))).status).toBe(404);
    expect(denied(router().routeFastcgi(fcgi({ SCRIPT_FILENAME: `${outside}/run.fcgi` }))).status).toBe(404);
    expect(denied(router().routeFastcgi(fcgi({ SCRIPT_FILENAME: `${root}/leak.php` })))).toEqual({ status: 403, reason: 'script resolves outside the document root and scriptRoots' });
    expect(denied(router().routeFastcgi(fcgi({ SCRIPT_FILENAME: `${root}/outdir/run.fcgi` }))).status).toBe(403);
    expect(denied(router().routeFastcgi(fcgi({ SCRIPT_FILENAME: `${root}/../outside/run.fcgi` }))).status).toBe(400);
    expect(denied(router().routeFastcgi(fcgi({ SCRIPT_FILENAME: `${root}/noexec.fcgi` }))).status).toBe(403);
    expect(denied(router().routeFastcgi(fcgi({ SCRIPT_FILENAME: `${root}x/index.php` }))).status).toBe(404);
  });

  test('an app by SCRIPT_FILENAME; the URI splits at its prefix', () => {
    const r = script(router().routeFastcgi(fcgi({ SCRIPT_FILENAME: '/srv/front.php', SCRIPT_NAME: '/php/x', DOCUMENT_URI: '/php/x' })));
    expect(r.target).toEqual({ scriptName: '/php', pathInfo: '/x', scriptFilename: '/srv/front.php', documentRoot: root });
    expect(r.spec.command).toBe(PHP);
    const given = script(router().routeFastcgi(fcgi({ SCRIPT_FILENAME: '/opt/app.fcgi', SCRIPT_NAME: '/other', PATH_INFO: '/p' })));
    expect(given.target).toMatchObject({ scriptName: '/other', pathInfo: '/p', scriptFilename: '/opt/app.fcgi' });
    expect(given.spec.command).toBe('/opt/app.fcgi');
    const proxied = script(router().routeFastcgi(fcgi({ SCRIPT_FILENAME: 'proxy:fcgi://localhost/opt/app.fcgi/t/u', SCRIPT_NAME: '/app/t/u' })));
    expect(proxied.target).toMatchObject({ scriptName: '/app', pathInfo: '/t/u' });
  });

  test('an app by URI prefix: DOCUMENT_URI, else SCRIPT_NAME + PATH_INFO, else REQUEST_URI', () => {
    const r = router();
    expect(script(r.routeFastcgi(fcgi({ DOCUMENT_URI: '/app/z', REQUEST_URI: '/nothing' }))).target).toMatchObject({ scriptName: '/app', pathInfo: '/z', scriptFilename: '/opt/app.fcgi' });
    expect(script(r.routeFastcgi(fcgi({ SCRIPT_NAME: '/app', PATH_INFO: '/y' }))).target).toMatchObject({ scriptName: '/app', pathInfo: '/y' });
    expect(script(r.routeFastcgi(fcgi({ REQUEST_URI: '/app/%7Ez?x=1' }))).target).toMatchObject({ scriptName: '/app', pathInfo: '/~z' });
    // SCRIPT_FILENAME outside the root does not stop an app that the URI names.
    expect(script(r.routeFastcgi(fcgi({ SCRIPT_FILENAME: '/elsewhere/x', DOCUMENT_URI: '/app/w' }))).target).toMatchObject({ pathInfo: '/w' });
    expect(denied(r.routeFastcgi(fcgi({ REQUEST_URI: '/../app' }))).status).toBe(400);
    expect(denied(r.routeFastcgi(fcgi({ REQUEST_URI: '/apple' }))).status).toBe(404);
    expect(denied(r.routeFastcgi(fcgi({}))).status).toBe(404);
  });

  test('the site comes from HTTP_HOST, else SERVER_NAME', () => {
    const sa = site({ hosts: ['a.example'], apps: [app('/', '/opt/a')] });
    const sb = site({ hosts: ['b.example'], apps: [app('/', '/opt/b')] });
    const r = new Router(config([sa, sb]));
    expect(script(r.routeFastcgi(fcgi({ HTTP_HOST: 'B.example:80', SERVER_NAME: 'a.example', REQUEST_URI: '/' }))).spec.command).toBe('/opt/b');
    expect(script(r.routeFastcgi(fcgi({ SERVER_NAME: 'b.example', REQUEST_URI: '/' }))).spec.command).toBe('/opt/b');
    expect(script(r.routeFastcgi(fcgi({ REQUEST_URI: '/' }))).spec.command).toBe('/opt/a');
  });
});
