import path from 'node:path';
import { parseRunArgs } from '../../src/cli/run-args';
import { configFromRunArgs } from '../../src/cli/run-config';
import { mergePoolSettings } from '../../src/config/merge';

describe('fcgipm run flags as a Config', () => {
  test('the defaults: one site for every host, one app at "/", nothing set that the pool defaults', () => {
    const config = configFromRunArgs(parseRunArgs(['./app.fcgi']));
    expect(config).toEqual({
      source: 'command line',
      ipcDir: '/run/fcgidsock',
      maxProcesses: 1000,
      listen: { http: { kind: 'tcp', host: '127.0.0.1', port: 8080 }, fastcgi: undefined, admin: undefined, reusePort: false, fastcgiMode: 0o660, fastcgiPassProxy: false },
      defaults: {},
      commands: {},
      sites: [
        {
          hosts: ['*'],
          documentRoot: undefined,
          handlers: [],
          wrappers: [],
          directoryIndex: [],
          static: false,
          followSymlinks: 'owner-match',
          scriptRoots: [],
          apps: [{ prefix: '/', command: path.resolve('app.fcgi'), args: [], handoff: false, origin: 'command line' }],
          auth: [],
          passHeaders: [],
          maxRequestBodyBytes: 1073741824,
          pool: {},
          origin: 'command line',
        },
      ],
      drainTimeoutMs: 30_000,
      logLevel: 'info',
      accessLog: undefined,
      accessLogFormat: 'combined',
    });
  });

  test('--access-log: a path relative to where fcgipm started, "-" for stdout, "off" for none', () => {
    const on = configFromRunArgs(parseRunArgs(['--access-log', 'logs/access.log', '--access-log-format', 'json', './app.fcgi']));
    expect([on.accessLog, on.accessLogFormat]).toEqual([path.resolve('logs/access.log'), 'json']);
    expect(configFromRunArgs(parseRunArgs(['--access-log', '-', './app.fcgi'])).accessLog).toBe('-');
    expect(configFromRunArgs(parseRunArgs(['--access-log', 'off', './app.fcgi'])).accessLog).toBeUndefined();
  });

  test('every pool flag lands on the app, in Config units', () => {
    const args = parseRunArgs([
      '--http', 'off', '--admin', '127.0.0.1:9180', '--ipc-dir', 'sock', '--script', 'index.php',
      '--mode', 'dynamic', '--min', '1', '--max', '8', '--min-spare', '2', '--max-spare', '4',
      '--idle-timeout', '60', '--lifetime', '0', '--max-requests', '500', '--startup-timeout', '5',
      '--busy-timeout', '120', '--io-timeout', '30', '--queue-timeout', '1.5', '--max-queue', '64',
      '--slots', 'auto', '--processes-per-socket', '2', '--user', 'www-data', '--group', '33',
      '--allow-root', '--nice', '5', '--umask', '027', '--rlimit-nofile', '4096', '--rlimit-core', '0',
      '--rlimit-as', 'unlimited', '--rlimit-nproc', '100', '--env', 'A=b', '--max-body', '1024',
      '--drain-timeout', '10', '--log-level', 'debug',
      '--', '/usr/bin/php-cgi', '-d', 'x=1',
    ]);
    const config = configFromRunArgs(args);
    expect(config.listen).toEqual({ http: undefined, fastcgi: undefined, admin: { kind: 'tcp', host: '127.0.0.1', port: 9180 }, reusePort: false, fastcgiMode: 0o660, fastcgiPassProxy: false });
    expect(config.ipcDir).toBe(path.resolve('sock'));
    expect(config.drainTimeoutMs).toBe(10_000);
    expect(config.logLevel).toBe('debug');
    const site = config.sites[0]!;
    expect(site.maxRequestBodyBytes).toBe(1024);
    expect(site.apps).toEqual([
      {
        prefix: '/',
        command: '/usr/bin/php-cgi',
        args: ['-d', 'x=1'],
        script: path.resolve('index.php'),
        handoff: false,
        origin: 'command line',
        mode: 'dynamic',
        minProcesses: 1,
        maxProcesses: 8,
        minSpare: 2,
        maxSpare: 4,
        idleTimeoutMs: 60_000,
        lifetimeMs: 0,
        maxRequestsPerProcess: 500,
        startupTimeoutMs: 5_000,
        busyTimeoutMs: 120_000,
        ioTimeoutMs: 30_000,
        queueTimeoutMs: 1_500,
        maxQueue: 64,
        slots: 'auto',
        processesPerSocket: 2,
        user: 'www-data',
        group: '33',
        allowRoot: true,
        nice: 5,
        umask: 0o027,
        rlimits: { nofile: 4096, core: 0, as: 'unlimited', nproc: 100 },
        env: { A: 'b' },
      },
    ]);
  });

  test('merged as the router merges a class, the app keeps its flags', () => {
    const config = configFromRunArgs(parseRunArgs(['--max', '3', '/bin/true']));
    const site = config.sites[0]!;
    const app = site.apps[0]!;
    expect(mergePoolSettings(config.defaults, site.pool, config.commands[app.command], app)).toEqual({ maxProcesses: 3 });
  });

  test('contradicting pool flags are named as the user typed them, the defaults named as defaults', () => {
    const refuse = (argv: string[]): string => {
      try {
        configFromRunArgs(parseRunArgs(argv));
      } catch (err) {
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(refuse(['--min', '10', '--max', '2', '/bin/true'])).toBe('--min 10 is above --max 2');
    expect(refuse(['--mode', 'dynamic', '--min-spare', '5', '--max-spare', '2', '/bin/true'])).toBe('--min-spare 5 is above --max-spare 2');
    expect(refuse(['--mode', 'dynamic', '--max', '2', '--max-spare', '3', '/bin/true'])).toBe('--max-spare 3 is above --max 2');
    expect(refuse(['--min', '100000', '/bin/true'])).toMatch(/^--min 100000 is above the default --max \d+$/);
    expect(refuse(['--min', '2', '--max', '2', '/bin/true'])).toBe('accepted');
  });
});
