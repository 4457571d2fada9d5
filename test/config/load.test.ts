import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, formatConfigProblem, type ConfigProblem } from '../../src/errors';
import { loadConfigFile, parseConfig, suggestKey } from '../../src/config/load';
import { keysOf } from '../../src/config/schema';
import type { Config } from '../../src/config/types';

const FIXTURES = path.join(__dirname, 'fixtures');

/** The problems parseConfig reports for `text`, as "line:column key: message" strings. */
function problems(text: string, file = '/etc/fcgipm/fcgipm.yaml'): string[] {
  try {
    parseConfig(text, file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.map((p: ConfigProblem) => `${p.line}:${p.column} ${p.key}: ${p.message}`);
  }
  throw new Error('expected a ConfigError');
}

const SITE = 'sites:\n  - apps: [{ prefix: /, command: /bin/true }]\n';

describe('a valid configuration', () => {
  let config: Config;
  const file = path.join(FIXTURES, 'full.yaml');
  beforeAll(() => {
    config = loadConfigFile(file);
  });

  test('top level and listen addresses', () => {
    expect(config).toMatchObject({
      source: file,
      ipcDir: '/run/fcgidsock',
      maxProcesses: 1000,
      drainTimeoutMs: 30_000,
      logLevel: 'info',
      listen: {
        http: { kind: 'tcp', host: '127.0.0.1', port: 8080 },
        fastcgi: { kind: 'unix', path: '/run/fcgipm.sock' },
        admin: { kind: 'tcp', host: '127.0.0.1', port: 9180 },
      },
    });
  });

  test('defaults and commands take human units', () => {
    expect(config.defaults).toEqual({ maxProcesses: 100, idleTimeoutMs: 300_000, busyTimeoutMs: 300_000, ioTimeoutMs: 40_000 });
    expect(config.commands).toEqual({ '/bin/true': { maxProcesses: 10, lifetimeMs: 3_600_000 } });
  });

  test('a site with every kind of entry', () => {
    const site = config.sites[0]!;
    expect(site).toEqual({
      hosts: ['example.com', '*.example.org'],
      documentRoot: '/var/www/html',
      directoryIndex: ['index.php'],
      static: true,
      followSymlinks: 'owner-match',
      scriptRoots: [],
      handlers: ['.fcgi'],
      wrappers: [
        { suffix: '.php', command: '/bin/true', args: ['-d', 'display_errors=0'], virtual: false, maxProcesses: 8, origin: `${file}:24` },
        { suffix: '', command: '/bin/true', args: [], virtual: true, origin: `${file}:25` },
      ],
      apps: [
        // "/app/" is the same prefix as "/app"; args given as one string are split like a shell would.
        { prefix: '/app', command: '/bin/true', args: ['-v', '--name', 'my app'], script: '/srv/x.php', handoff: false, minProcesses: 1, origin: `${file}:27` },
      ],
      auth: [
        {
          prefix: '/private',
          authenticator: { command: '/bin/true', args: [] },
          authorizer: { command: '/bin/true', args: ['--authz'], maxProcesses: 4 },
          origin: `${file}:29`,
        },
      ],
      passHeaders: ['Authorization'],
      maxRequestBodyBytes: 64 * 1024 * 1024,
      pool: {
        env: { APP_ENV: 'prod', DEBUG: '0', EMPTY: '' },
        mode: 'dynamic',
        minSpare: 1,
        maxSpare: 4,
        user: 'www-data',
        group: 'www-data',
        nice: 5,
        umask: 0o027,
        rlimits: { nofile: 4096, core: 0, as: 2 * 1024 ** 3, nproc: 'unlimited' },
        slots: 'auto',
      },
      origin: `${file}:19`,
    });
  });

  test('a second site takes the defaults: every host, no document root, 1 GiB bodies', () => {
    expect(config.sites[1]).toEqual({
      hosts: ['*'],
      documentRoot: undefined,
      directoryIndex: [],
      static: true,
      followSymlinks: 'owner-match',
      scriptRoots: [],
      handlers: [],
      wrappers: [],
      apps: [
        {
          prefix: '/',
          command: '/bin/true',
          args: [],
          handoff: true,
          processesPerSocket: 2,
          queueTimeoutMs: 500,
          maxQueue: 10,
          startupTimeoutMs: 10_000,
          allowRoot: false,
          maxRequestsPerProcess: 500,
          env: { A: 'b' },
          origin: `${file}:45`,
        },
      ],
      auth: [],
      passHeaders: [],
      maxRequestBodyBytes: 1024 ** 3,
      pool: {},
      origin: `${file}:44`,
    });
  });

  test('a minimal file gets the documented defaults', () => {
    const c = parseConfig(SITE, '/etc/fcgipm/fcgipm.yaml');
    expect(c).toMatchObject({
      ipcDir: '/run/fcgidsock',
      maxProcesses: 1000,
      drainTimeoutMs: 30_000,
      logLevel: 'info',
      listen: { http: { kind: 'tcp', host: '127.0.0.1', port: 8080 }, fastcgi: undefined, admin: undefined },
      defaults: {},
      commands: {},
    });
  });
});

describe('values', () => {
  test.each([
    ['027', 0o027],
    ['"027"', 0o027],
    ['22', 0o022],
    ['0o077', 0o077],
    ['"0777"', 0o777],
  ])('umask %s is octal', (written, mask) => {
    expect(parseConfig(`defaults: { umask: ${written} }\n${SITE}`, 'f.yaml').defaults.umask).toBe(mask);
  });

  test('a umask with digits 8 or 9 is refused', () => {
    expect(problems(`defaults:\n  umask: 028\n${SITE}`)).toEqual(['2:10 defaults.umask: expected an octal umask such as "027", got 028']);
  });

  test.each([
    ['"off"', undefined],
    ['false', undefined],
    ['8080', { kind: 'tcp', host: '127.0.0.1', port: 8080 }],
    ['":8080"', { kind: 'tcp', host: '0.0.0.0', port: 8080 }],
    ['"[::1]:8080"', { kind: 'tcp', host: '::1', port: 8080 }],
    ['127.0.0.1:0', { kind: 'tcp', host: '127.0.0.1', port: 0 }],
    ['unix:run/fcgipm.sock', { kind: 'unix', path: '/etc/fcgipm/run/fcgipm.sock' }],
  ])('listen %s', (written, target) => {
    expect(parseConfig(`listen: { fastcgi: ${written} }\n${SITE}`, '/etc/fcgipm/fcgipm.yaml').listen.fastcgi).toEqual(target);
  });

  test.each([
    ['"off"', undefined],
    ['false', undefined],
    ['"-"', '-'],
    ['logs/access.log', '/etc/fcgipm/logs/access.log'],
    ['/var/log/fcgipm/access.log', '/var/log/fcgipm/access.log'],
  ])('accessLog %s', (written, value) => {
    expect(parseConfig(`accessLog: ${written}\n${SITE}`, '/etc/fcgipm/fcgipm.yaml').accessLog).toEqual(value);
  });

  test('accessLog is off and combined unless set; a wrong format or value is a problem', () => {
    expect(parseConfig(SITE, 'f.yaml')).toMatchObject({ accessLog: undefined, accessLogFormat: 'combined' });
    expect(parseConfig(`accessLogFormat: json\n${SITE}`, 'f.yaml').accessLogFormat).toBe('json');
    expect(problems(`accessLogFormat: jsno\naccessLog: 12\n${SITE}`)).toEqual([
      '1:18 accessLogFormat: expected one of combined, json, got "jsno" (did you mean json?)',
      '2:12 accessLog: expected a file path, "-" (stdout) or "off", got 12',
    ]);
  });

  test('a Unix socket path too long for sun_path is refused', () => {
    const long = `/tmp/${'x'.repeat(110)}`;
    expect(problems(`listen: { fastcgi: "unix:${long}" }\n${SITE}`)).toEqual([`1:20 listen.fastcgi: Unix socket path ${long} is longer than 107 bytes`]);
    // What serve cannot listen on, check-config refuses too.
    expect(problems(`listen: { http: "unix:/run/fcgipm-http.sock" }\n${SITE}`)).toEqual([
      '1:17 listen.http: the HTTP listener takes HOST:PORT, not a Unix socket (a Unix socket is for listen.fastcgi)',
    ]);
  });

  test('paths are relative to the config file', () => {
    const c = parseConfig(`ipcDir: sock\nsites:\n  - documentRoot: ../www\n    handlers: ["*"]\n`, '/etc/fcgipm/fcgipm.yaml');
    expect(c.ipcDir).toBe('/etc/fcgipm/sock');
    expect(c.sites[0]!.documentRoot).toBe('/etc/www');
    expect(c.sites[0]!.handlers).toEqual(['*']);
  });

  test('hosts are lower-cased and a single host may be written without a list', () => {
    expect(parseConfig(`sites:\n  - { hosts: Example.COM., apps: [{ prefix: /, command: /bin/true }] }\n`, 'f.yaml').sites[0]!.hosts).toEqual(['example.com']);
  });

  test('on/off/yes/no are booleans for flags', () => {
    const c = parseConfig(`sites:\n  - wrappers: [{ suffix: .php, command: /bin/true, virtual: on }]\n`, 'f.yaml');
    expect(c.sites[0]!.wrappers[0]!.virtual).toBe(true);
  });

  test('YAML anchors and merge keys share settings', () => {
    const c = parseConfig(
      [
        'x-php: &php { maxProcesses: 4, idleTimeout: 60 }',
        'sites:',
        '  - hosts: [a.example]',
        '    wrappers: [{ <<: *php, suffix: .php, command: /bin/true, idleTimeout: 30 }]',
      ].join('\n'),
      'f.yaml',
    );
    expect(c.sites[0]!.wrappers[0]).toMatchObject({ maxProcesses: 4, idleTimeoutMs: 30_000 });
  });
});

describe('each kind of problem, with its line, column and key', () => {
  test('the problems fixture: every problem in one pass, in file order', () => {
    const file = path.join(FIXTURES, 'problems.yaml');
    let err: unknown;
    try {
      loadConfigFile(file);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const lines = (err as ConfigError).problems.map((p) => formatConfigProblem(p).slice(file.length + 1));
    expect(lines).toEqual([
      '2:1: maxProcess: unknown key "maxProcess" (did you mean maxProcesses?)',
      '3:15: drainTimeout: expected a duration such as 30 or "5m" (0 = off), got "abc"',
      '5:9: listen.http: expected HOST:PORT, unix:/path or "off", got "localhost:99999"',
      '7:16: defaults.idleTimeout: expected a duration such as 30 or "5m" (0 = off), got "5 minutes"',
      '8:3: defaults.FcgidBusyTimeout: unknown key "FcgidBusyTimeout" (did you mean busyTimeout?)',
      '10:3: commands["/usr/bin/php-cgj"]: command /usr/bin/php-cgj: no such file',
      '13:16: sites[0].handlers[0]: expected a suffix starting with "." such as .fcgi, or "*" for every file, got "fcgi" (did you mean .fcgi?)',
      '16:9: sites[0].wrappers[1]: duplicate wrapper suffix ".php": sites[0].wrappers[0] (line 15) and sites[0].wrappers[1] (line 16); mod_fcgid lets the last FcgidWrapper win; keep one',
      '17:19: sites[0].wrappers[2].suffix: a wrapper suffix starts with "." such as .php (or is "" for the default wrapper), got "php" (did you mean .php?)',
      `17:33: sites[0].wrappers[2].command: command ./not-executable.sh (${FIXTURES}/not-executable.sh) is not executable (mode 0644; chmod +x it)`,
      '20:9: sites[0].apps[1]: duplicate app prefix "/app": sites[0].apps[0] (line 19) and sites[0].apps[1] (line 20); keep one',
      '21:19: sites[0].apps[2].prefix: expected a URL path starting with "/" such as /app, got "app"',
      '21:50: sites[0].apps[2].args: unterminated single quote in "\'unterminated"',
      '22:21: sites[0].maxRequestBody: expected a size such as 1048576 or "128K", got "lots"',
      '23:13: sites[1].hosts[0]: host "example.com" is also served by sites[0] (line 12); a host belongs to one site',
      '25:9: sites[1].apps[0]: minProcesses 5 is above maxProcesses 2 (merged from defaults, the site and this entry)',
      '25:82: sites[1].apps[0].mode: expected one of ondemand, dynamic, static, got "dynamc" (did you mean dynamic?)',
      '27:9: sites[1].auth[0]: an auth rule needs an authenticator, an authorizer or an accessChecker',
    ]);
  });

  test('a YAML syntax error is a problem with its line', () => {
    expect(problems('ipcDir: /x\nsites:\n  - { apps: [\n')[0]).toMatch(/^4:1 : YAML syntax: /);
    expect(problems('sites:\n\t- apps: []\n')[0]).toMatch(/^2:1 : /);
  });

  test('a key given twice in one mapping', () => {
    expect(problems(`ipcDir: /a\nipcDir: /b\n${SITE}`)).toEqual(['2:1 : key "ipcDir" is given twice in the same mapping']);
  });

  test('missing and empty required keys', () => {
    expect(problems('ipcDir: /x\n')).toEqual(['1:1 sites: missing required key "sites"']);
    expect(problems('')).toEqual(['0:0 sites: missing required key "sites"']);
    expect(problems('sites: []\n')).toEqual(['1:8 sites: no sites: fcgipm would answer every request with 404; give at least one']);
    expect(problems('sites:\n  - apps:\n      - prefix: /\n        command:\n')).toEqual(['4:9 sites[0].apps[0].command: command has no value']);
    expect(problems('sites:\n  - wrappers: [{ suffix: .php }]\n')).toEqual(['2:16 sites[0].wrappers[0].command: missing required key "command"']);
  });

  test('a missing command file, with hints for a bare name and for arguments in command', () => {
    expect(problems('sites:\n  - apps: [{ prefix: /, command: /usr/bin/php-cgj }]\n')).toEqual([
      '2:34 sites[0].apps[0].command: command /usr/bin/php-cgj: no such file',
    ]);
    expect(problems('sites:\n  - apps: [{ prefix: /, command: php-cgi }]\n')).toEqual([
      '2:34 sites[0].apps[0].command: command php-cgi (/etc/fcgipm/php-cgi): no such file (give the full path; commands are not looked up in PATH)',
    ]);
    expect(problems('sites:\n  - apps: [{ prefix: /, command: /usr/bin/php-cgi -c /etc/php.ini }]\n')).toEqual([
      '2:34 sites[0].apps[0].command: command /usr/bin/php-cgi -c /etc/php.ini: no such file (put its arguments in args)',
    ]);
    expect(problems('sites:\n  - apps: [{ prefix: /, command: /tmp }]\n')).toEqual(['2:34 sites[0].apps[0].command: command /tmp is a directory, not a program']);
  });

  test('relative commands are resolved against the config file, and must be executable', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fcgipm-config-'));
    try {
      fs.writeFileSync(path.join(dir, 'app.fcgi'), '#!/bin/sh\n', { mode: 0o755 });
      fs.writeFileSync(path.join(dir, 'plain.fcgi'), '#!/bin/sh\n', { mode: 0o644 });
      const file = path.join(dir, 'fcgipm.yaml');
      fs.writeFileSync(file, 'sites:\n  - apps:\n      - { prefix: /a, command: ./app.fcgi }\n      - { prefix: /b, command: plain.fcgi }\n');
      expect(problems(fs.readFileSync(file, 'utf8'), file)).toEqual([
        `4:32 sites[0].apps[1].command: command plain.fcgi (${dir}/plain.fcgi) is not executable (mode 0644; chmod +x it)`,
      ]);
      fs.chmodSync(path.join(dir, 'plain.fcgi'), 0o755);
      const c = loadConfigFile(file);
      expect(c.sites[0]!.apps.map((a) => a.command)).toEqual([path.join(dir, 'app.fcgi'), path.join(dir, 'plain.fcgi')]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('commands keys are resolved too, and the same command twice is a problem', () => {
    expect(problems(`commands:\n  /bin/true: {}\n  /bin/../bin/true: { maxProcesses: 2 }\n${SITE}`)).toEqual([
      '3:3 commands["/bin/../bin/true"]: command /bin/true is also configured at commands["/bin/true"] (line 2); give it once',
    ]);
  });

  test('two sites answering every host', () => {
    expect(problems('sites:\n  - apps: [{ prefix: /, command: /bin/true }]\n  - apps: [{ prefix: /, command: /bin/true }]\n')).toEqual([
      '3:5 sites[1].hosts: this site answers every host ("*", the default when hosts is not given), and so does sites[0] (line 2); only one site may',
    ]);
  });

  test.each([
    ['example.com:8080', 'give the host name without a port, got "example.com:8080" (fcgipm matches the Host header without its port)'],
    ['www.*.com', 'a wildcard is "*" or "*.domain" only, got "www.*.com"'],
    ['*example.com', 'a wildcard is "*" or "*.domain" only, got "*example.com"'],
    ['http://x', 'expected a host name such as example.com or "*.example.org", got "http://x"'],
  ])('host %s', (host, message) => {
    expect(problems(`sites:\n  - hosts: ["${host}"]\n    handlers: [.fcgi]\n`)).toEqual([`2:13 sites[0].hosts[0]: ${message}`]);
  });

  test('env and initialEnv are one setting', () => {
    expect(problems('sites:\n  - initialEnv: { A: b }\n    env: { C: d }\n    handlers: [.fcgi]\n')).toEqual([
      '3:5 sites[0].env: env and initialEnv are the same setting (FcgidInitialEnv); give one of them (the other is at line 2)',
    ]);
  });

  test('a key in the wrong place names where it belongs', () => {
    expect(problems('sites:\n  - apps: [{ prefix: /, command: /bin/true, documentRoot: /var/www }]\n')).toEqual([
      '2:45 sites[0].apps[0].documentRoot: key "documentRoot" is not allowed in an app (it goes in a site)',
    ]);
  });

  test('numbers out of range, wrong types', () => {
    expect(
      problems(
        'defaults:\n  maxProcesses: 0\n  nice: 20\n  slots: 0\n  maxQueue: many\n  rlimits: { nofile: lots, stack: 1 }\n  env: [A]\n  busyTimeout: 0\n' + SITE,
      ),
    ).toEqual([
      '2:17 defaults.maxProcesses: expected a whole number >= 1, got 0',
      '3:9 defaults.nice: expected a whole number from -20 to 19, got 20',
      '4:10 defaults.slots: expected a whole number >= 1 or "auto", got 0',
      '5:13 defaults.maxQueue: expected a whole number >= 0, got "many"',
      '6:22 defaults.rlimits.nofile: expected a whole number >= 0 or "unlimited", got "lots"',
      '6:28 defaults.rlimits.stack: unknown key "stack"',
      '7:8 defaults.env: expected a mapping of NAME: value, got a list',
      '8:16 defaults.busyTimeout: expected a duration above 0, got 0',
    ]);
  });

  test('limits that contradict each other once layers are merged', () => {
    expect(
      problems('defaults: { mode: dynamic, maxSpare: 10 }\nsites:\n  - maxProcesses: 4\n    apps: [{ prefix: /, command: /bin/true }]\n'),
    ).toEqual(['4:12 sites[0].apps[0]: maxSpare 10 is above maxProcesses 4 (merged from defaults, the site and this entry)']);
  });
});

describe('did you mean', () => {
  const pool = keysOf('pool');
  test.each([
    ['maxProcess', 'maxProcesses'],
    ['max_processes', 'maxProcesses'],
    ['MaxProcesses', 'maxProcesses'],
    ['idle-timeout', 'idleTimeout'],
    ['FcgidIdleTimeout', 'idleTimeout'],
    ['FcgidMaxProcessesPerClass', 'maxProcesses'],
    ['pm.max_children', 'maxProcesses'],
    ['pm.max_requests', 'maxRequests'],
    ['request_terminate_timeout', 'busyTimeout'],
    ['lifeTime', 'lifetime'],
  ])('%s → %s', (word, key) => {
    expect(suggestKey(word, pool)).toBe(key);
  });

  test('no suggestion for a word far from every key', () => {
    expect(suggestKey('colour', pool)).toBeUndefined();
  });
});

describe('loadConfigFile', () => {
  test('a missing file is one problem naming it', () => {
    expect(() => loadConfigFile('/nonexistent/fcgipm.yaml')).toThrow(new ConfigError([
      { file: '/nonexistent/fcgipm.yaml', line: 0, column: 0, key: '', message: 'cannot read the configuration: no such file' },
    ]));
  });
});
