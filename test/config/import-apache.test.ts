import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { apacheWords, importApache, type ApacheFile } from '../../src/config/import-apache';
import { parseConfig } from '../../src/config/load';
import type { Config } from '../../src/config/types';

const FIXTURES = path.join(__dirname, 'fixtures');

let dir: string;
beforeAll(() => {
  // The Apache files name @DIR@ for programs and roots: here they exist, so the import loads.
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fcgipm-import-'));
  fs.mkdirSync(path.join(dir, 'www/example'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'www/legacy'), { recursive: true });
  for (const program of ['php-wrapper', 'auth.fcgi']) fs.writeFileSync(path.join(dir, program), '#!/bin/sh\n', { mode: 0o755 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function fixture(name: string): ApacheFile {
  return { path: name, text: fs.readFileSync(path.join(FIXTURES, name), 'utf8').replaceAll('@DIR@', dir) };
}

/** Imports, then loads the YAML as check-config would (from a file in the temp dir). */
function roundTrip(files: ApacheFile[]): { yaml: string; warnings: string[]; config: Config } {
  const { yaml, warnings } = importApache(files);
  const config = parseConfig(yaml, path.join(dir, 'fcgipm.yaml'));
  return { yaml, warnings, config };
}

describe('Debian fcgid.conf with a site file', () => {
  let result: ReturnType<typeof roundTrip>;
  beforeAll(() => {
    result = roundTrip([fixture('fcgid.conf'), fixture('example.com.conf')]);
  });

  test('the YAML loads, and server-level directives become top-level keys and defaults', () => {
    const { config } = result;
    expect(config.ipcDir).toBe('/var/lib/apache2/fcgid/sock');
    expect(config.maxProcesses).toBe(500);
    expect(config.defaults).toEqual({
      idleTimeoutMs: 600_000,
      busyTimeoutMs: 120_000,
      // IPCCommTimeout and MaxRequestsPerProcess are old names (mod_fcgid 2.3.9).
      ioTimeoutMs: 60_000,
      maxRequestsPerProcess: 500,
      env: { PHP_FCGI_MAX_REQUESTS: '500' },
    });
  });

  test('FcgidCmdOptions: listed options, InitialEnv, and the compiled defaults of options other levels set', () => {
    expect(result.config.commands).toEqual({
      [path.join(dir, 'php-wrapper')]: {
        maxProcesses: 12,
        idleTimeoutMs: 300_000,
        ioTimeoutMs: 40_000,
        maxRequestsPerProcess: 0,
        env: { PHP_INI_SCAN_DIR: '/etc/php/conf.d' },
      },
    });
  });

  test('the *:80 virtual host with its directory, wrapper, auth and Fcgid* settings', () => {
    const site = result.config.sites[0]!;
    expect(site).toMatchObject({
      hosts: ['www.example.com', 'example.com', '*.example.org'],
      documentRoot: path.join(dir, 'www/example'),
      directoryIndex: ['index.php', 'index.html'],
      // .fcgi from the server-level AddHandler; .php is the wrapper's.
      handlers: ['.fcgi'],
      passHeaders: ['Authorization'],
      maxRequestBodyBytes: 67108864,
      pool: { maxProcesses: 8, env: { APP_ENV: 'production' } },
    });
    expect(site.wrappers).toEqual([
      { suffix: '.php', command: path.join(dir, 'php-wrapper'), args: ['-d', 'display_errors=0'], virtual: false, origin: expect.any(String) },
    ]);
    expect(site.auth).toEqual([
      {
        prefix: '/private',
        authenticator: { command: path.join(dir, 'auth.fcgi'), args: [] },
        authorizer: { command: path.join(dir, 'auth.fcgi'), args: ['--role', 'authz'] },
        origin: expect.any(String),
      },
    ]);
  });

  test('the *:443 twin is left out, the lower-case legacy host keeps its FilesMatch handlers through the default wrapper', () => {
    expect(result.config.sites).toHaveLength(2);
    const legacy = result.config.sites[1]!;
    expect(legacy.hosts).toEqual(['legacy.example.net']);
    expect(legacy.documentRoot).toBe(path.join(dir, 'www/legacy'));
    // A suffix-less FcgidWrapper serves only the files fcgid-script handles: one wrapper each.
    expect(legacy.wrappers.map((w) => [w.suffix, w.command, w.virtual])).toEqual([
      ['.fcgi', path.join(dir, 'php-wrapper'), true],
      ['.php', path.join(dir, 'php-wrapper'), true],
      ['.php5', path.join(dir, 'php-wrapper'), true],
    ]);
    expect(legacy.handlers).toEqual([]);
  });

  test('comments name the source directive and line', () => {
    expect(result.yaml).toContain('idleTimeout: 600 # FcgidIdleTimeout 600, fcgid.conf:7');
    expect(result.yaml).toContain('ioTimeout: 60 # IPCCommTimeout 60 (old name of FcgidIOTimeout), fcgid.conf:10');
    expect(result.yaml).toContain('# <VirtualHost *:80> (example.com.conf:2)');
    expect(result.yaml).toContain('maxRequestBody: 67108864 # FcgidMaxRequestLen 67108864, example.com.conf:8');
  });

  test('warnings name file:line and why, in file order', () => {
    expect(result.warnings).toEqual([
      expect.stringMatching(/^fcgid\.conf:3: FcgidConnectTimeout is not needed: mod_fcgid ignores it on Unix/),
      expect.stringMatching(/^fcgid\.conf:5: FcgidProcessTableFile is not needed: /),
      expect.stringMatching(/^fcgid\.conf:8: FcgidIdleScanInterval is not needed: .*timers/),
      expect.stringMatching(/^fcgid\.conf:12: FcgidOutputBufferSize is not needed: responses stream/),
      expect.stringMatching(/^fcgid\.conf:13: FcgidSpawnScoreUpLimit is not needed: .*no spawn score/),
      expect.stringMatching(/^fcgid\.conf:15: FcgidCmdOptions .*php-wrapper: mod_fcgid ignores FcgidInitialEnv for this command/),
      expect.stringMatching(/^example\.com\.conf:14: Options: Options is not carried over: a site's followSymlinks/),
      'example.com.conf:15: AllowOverride: not about FastCGI; not carried over',
      expect.stringMatching(/^example\.com\.conf:18: Require: access control is not carried over, except mod_fcgid's authorizers/),
      expect.stringMatching(/^example\.com\.conf:24: AuthType: access control is not carried over/),
      expect.stringMatching(/^example\.com\.conf:25: AuthName: access control is not carried over/),
      expect.stringMatching(/^example\.com\.conf:26: Require: access control is not carried over/),
      'example.com.conf:29: ErrorLog: not about FastCGI; not carried over',
      expect.stringMatching(/^example\.com\.conf:32: host www\.example\.com is also in <VirtualHost \*:80> \(example\.com\.conf:2\); fcgipm does not route by port/),
      expect.stringMatching(/^example\.com\.conf:32: host example\.com is also in/),
      expect.stringMatching(/^example\.com\.conf:32: <VirtualHost \*:443> .* has no host left of its own; left out/),
      'example.com.conf:36: SSLEngine: not about FastCGI; not carried over',
      expect.stringMatching(/^example\.com\.conf:46: FcgidZombieScanInterval is a server-wide directive; Apache refuses it inside <VirtualHost>/),
    ]);
  });
});

describe('directives that are not carried over', () => {
  test('a misspelled Fcgid directive gets a did-you-mean; others that matter say what to do; the rest are listed once per name', () => {
    const { warnings, config } = roundTrip([
      {
        path: 'site.conf',
        text: [
          'FcgidMaxProcessPerClass 8',
          'FcgidIdleTimeot 300',
          'FcgidFrobnicate On',
          '<VirtualHost *:80>',
          '  ServerName x.org',
          '  DocumentRot /srv/x',
          '  DocumentRoot /srv/x',
          '  SuexecUserGroup web web',
          '  SetEnv APP_ENV prod',
          '  AddHandler fcgid-script .fcgi',
          '  CustomLog /var/log/a.log combined',
          '  CustomLog /var/log/b.log combined',
          '</VirtualHost>',
        ].join('\n'),
      },
    ]);
    expect(warnings).toEqual([
      'site.conf:1: FcgidMaxProcessPerClass is not a mod_fcgid directive (Apache refuses to start on it; did you mean FcgidMaxProcessesPerClass?); skipped',
      'site.conf:2: FcgidIdleTimeot is not a mod_fcgid directive (Apache refuses to start on it; did you mean FcgidIdleTimeout?); skipped',
      'site.conf:3: FcgidFrobnicate is not a mod_fcgid directive (Apache refuses to start on it); skipped',
      'site.conf:6: DocumentRot is not a directive import-apache knows (did you mean DocumentRoot?); skipped',
      expect.stringMatching(/^site\.conf:8: SuexecUserGroup: mod_suexec is not carried over: set user and group/),
      expect.stringMatching(/^site\.conf:9: SetEnv: request variables set by mod_env are not carried over/),
      'site.conf:11: CustomLog (also line 12): not about FastCGI; not carried over',
    ]);
    // What was understood still is.
    expect(config.sites[0]?.documentRoot).toBe('/srv/x');
    expect(config.defaults).toEqual({});
  });
});

describe('Apache syntax', () => {
  test('words, quotes and escapes as ap_getword_conf reads them', () => {
    expect(apacheWords(`FcgidWrapper "/usr/bin/php-cgi -d x=\\"1\\"" .php  virtual`)).toEqual(['FcgidWrapper', '/usr/bin/php-cgi -d x="1"', '.php', 'virtual']);
    expect(apacheWords(`ServerAlias 'a b' c`)).toEqual(['ServerAlias', 'a b', 'c']);
  });

  test('continuations, comments, case-insensitive names and sections, no <VirtualHost>', () => {
    const { yaml, config, warnings } = roundTrip([
      {
        path: 'httpd.conf',
        text: [
          '# a comment',
          '  # an indented comment',
          'documentroot /srv/www',
          '<ifmodule mod_fcgid.c>',
          '  FCGIDIDLETIMEOUT \\',
          '     90',
          '  fcgidmaxprocessesperclass 4',
          '  SetHandler fcgid-script',
          '  Include conf.d/*.conf',
          '</IfModule>',
        ].join('\n'),
      },
    ]);
    expect(config.sites).toHaveLength(1);
    expect(config.sites[0]).toMatchObject({ hosts: ['*'], documentRoot: '/srv/www', handlers: ['*'] });
    expect(config.defaults).toEqual({ idleTimeoutMs: 90_000, maxProcesses: 4 });
    expect(yaml).toContain('idleTimeout: 90 # FCGIDIDLETIMEOUT 90, httpd.conf:5');
    expect(warnings).toEqual([expect.stringMatching(/^httpd\.conf:9: Include conf\.d\/\*\.conf: not followed; pass the included files/)]);
  });

  test('deprecated aliases: DefaultInitEnv, MaxRequestsPerProcess, IPCCommTimeout, FastCgiAuthorizer, SocketPath', () => {
    const { config } = roundTrip([
      {
        path: 'old.conf',
        text: [
          'SocketPath /run/fcgid',
          'DefaultInitEnv A b',
          'MaxRequestsPerProcess -1',
          'IPCCommTimeout 30',
          'DocumentRoot /srv',
          `<Location /adm/>`,
          `  FastCgiAuthorizer ${dir}/auth.fcgi`,
          '</Location>',
          'AddHandler fcgid-script fcgi',
        ].join('\n'),
      },
    ]);
    expect(config.ipcDir).toBe('/run/fcgid');
    expect(config.defaults).toEqual({ env: { A: 'b' }, maxRequestsPerProcess: 0, ioTimeoutMs: 30_000 });
    expect(config.sites[0]!.auth).toEqual([{ prefix: '/adm', authorizer: { command: path.join(dir, 'auth.fcgi'), args: [] }, origin: expect.any(String) }]);
    expect(config.sites[0]!.handlers).toEqual(['.fcgi']);
  });

  test('the last FcgidWrapper for a suffix wins, with a warning; a bad suffix is skipped', () => {
    const { config, warnings } = roundTrip([
      {
        path: 'w.conf',
        text: [
          'DocumentRoot /srv',
          'AddHandler fcgid-script .php',
          `FcgidWrapper /bin/false .php`,
          `FcgidWrapper "${dir}/php-wrapper -c '/etc/my php.ini'" .php`,
          `FcgidWrapper /bin/true php`,
          'FcgidMaxRequestLen 131072',
          'FcgidMinProcessesPerClass 2',
          'FcgidIOTimeout 0',
        ].join('\n'),
      },
    ]);
    expect(config.sites[0]!.wrappers).toEqual([
      { suffix: '.php', command: path.join(dir, 'php-wrapper'), args: ['-c', '/etc/my php.ini'], virtual: false, origin: expect.any(String) },
    ]);
    expect(config.sites[0]!.maxRequestBodyBytes).toBe(131072);
    expect(config.defaults).toEqual({ minProcesses: 2 });
    expect(warnings).toEqual([
      expect.stringMatching(/^w\.conf:4: FcgidWrapper for \.php replaces the one at w\.conf:3 \(the last one wins, as in mod_fcgid\)/),
      expect.stringMatching(/^w\.conf:5: FcgidWrapper: suffix php must start with "\."/),
      expect.stringMatching(/^w\.conf:7: FcgidMinProcessesPerClass 2: mod_fcgid only keeps idle processes down to this many, fcgipm starts/),
      expect.stringMatching(/^w\.conf:8: FcgidIOTimeout 0: expected a duration above 0, got 0; skipped/),
    ]);
  });

  test('a <Directory> outside the document root cannot be scoped: warned, and auth in it skipped', () => {
    const { warnings, config } = roundTrip([
      {
        path: 'd.conf',
        text: [
          '<VirtualHost *:80>',
          '  ServerName a.example',
          '  DocumentRoot /srv/a',
          '  <Directory /opt/cgi>',
          '    AddHandler fcgid-script .fcgi',
          `    FcgidAuthenticator ${dir}/auth.fcgi`,
          '  </Directory>',
          '  <Directory /srv/a/admin>',
          `    FcgidAccessChecker ${dir}/auth.fcgi`,
          '  </Directory>',
          '</VirtualHost>',
        ].join('\n'),
      },
    ]);
    expect(config.sites[0]!.handlers).toEqual(['.fcgi']);
    expect(config.sites[0]!.auth.map((r) => [r.prefix, r.accessChecker?.command])).toEqual([['/admin', path.join(dir, 'auth.fcgi')]]);
    expect(warnings).toEqual([
      'd.conf:5: AddHandler fcgid-script inside <directory /opt/cgi> (d.conf:4): fcgipm applies it to the whole site',
      expect.stringMatching(/^d\.conf:6: FcgidAuthenticator inside <directory \/opt\/cgi> .*cannot be expressed as a URL prefix/),
    ]);
  });

  test('the output is YAML that names the Apache files in its header', () => {
    const { yaml } = importApache([{ path: 'empty.conf', text: '' }]);
    expect(yaml.startsWith('# fcgipm configuration imported from Apache (fcgipm import-apache empty.conf).')).toBe(true);
    expect(parse(yaml)).toEqual({ sites: [{ hosts: ['*'] }] });
  });
});
