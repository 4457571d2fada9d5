import { InvalidArgumentError } from '../../src/errors';
import { parseListenAddress, parseRunArgs } from '../../src/cli/run-args';

describe('fcgipm run arguments', () => {
  test('defaults follow the CLI contract', () => {
    const a = parseRunArgs(['./app.fcgi']);
    expect(a.command).toBe('./app.fcgi');
    expect(a.args).toEqual([]);
    expect(a.http).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(a.ipcDir).toBe('/run/fcgidsock');
  });

  test('options, then the command and its own arguments after --', () => {
    const a = parseRunArgs([
      '--http', '0.0.0.0:9000', '--ipc-dir=/tmp/s', '--min', '2', '--max', '8', '--max-requests', '500',
      '--busy-timeout', '1.5', '--env', 'A=b=c', '--', '/usr/bin/app', '--flag', 'x',
    ]);
    expect(a).toMatchObject({
      http: { host: '0.0.0.0', port: 9000 },
      ipcDir: '/tmp/s',
      pool: { minProcesses: 2, maxProcesses: 8, maxRequestsPerProcess: 500, busyTimeoutMs: 1500, env: { A: 'b=c' } },
      command: '/usr/bin/app',
      args: ['--flag', 'x'],
    });
  });

  test('every pool flag is the YAML key of the same table, in Config units; a flag not given stays out', () => {
    const a = parseRunArgs([
      '--mode', 'dynamic', '--min-spare', '1', '--max-spare', '3', '--idle-timeout', '0', '--lifetime', '60',
      '--startup-timeout', '2.5', '--slow-request-timeout', '0.25', '--io-timeout', '9', '--queue-timeout', '4',
      '--max-queue', '0', '--slots', 'auto', '--processes-per-socket', '2', '--user', 'www-data', '--group', 'www-data',
      '--allow-root', '--nice', '-5', '--umask', '027', '--rlimit-nofile', '4096', '--rlimit-core', '0',
      '--rlimit-as', 'unlimited', '--rlimit-nproc', '10', '--env', 'X=1', '--env', 'Y=', 'app',
    ]);
    expect(a.pool).toEqual({
      mode: 'dynamic', minSpare: 1, maxSpare: 3, idleTimeoutMs: 0, lifetimeMs: 60_000, startupTimeoutMs: 2500,
      slowRequestTimeoutMs: 250, ioTimeoutMs: 9000, queueTimeoutMs: 4000, maxQueue: 0, slots: 'auto', processesPerSocket: 2,
      user: 'www-data', group: 'www-data', allowRoot: true, nice: -5, umask: 0o27,
      rlimits: { nofile: 4096, core: 0, as: 'unlimited', nproc: 10 }, env: { X: '1', Y: '' },
    });
    expect(parseRunArgs(['app']).pool).toEqual({});
  });

  test('--http off disables the front end', () => {
    expect(parseRunArgs(['--http', 'off', 'x']).http).toBeUndefined();
  });

  test.each([
    [['--max', '0', 'x'], /--max: expected a whole number >= 1/],
    [['--min', 'two', 'x'], /--min: expected a whole number/],
    [['--busy-timeout', '-1', 'x'], /--busy-timeout: expected a number of seconds/],
    [['--http', 'localhost:99999', 'x'], /--http: expected HOST:PORT/],
    [['--bogus', 'x'], /unknown option --bogus/],
    [['--max'], /--max: missing value/],
    [['--max', '2'], /missing COMMAND/],
    [['--handoff=yes', 'x'], /--handoff takes no value/],
    [['--fastcgi', 'unix:', 'x'], /--fastcgi: expected unix:\/path/],
    [['--fastcgi', 'nowhere:port', 'x'], /--fastcgi: expected HOST:PORT/],
    [['--access-log-format', 'common', 'x'], /--access-log-format: expected combined or json, got "common"/],
    [['--access-log', '', 'x'], /--access-log: expected a file path/],
    [['--mode', 'dyn', 'x'], /--mode: expected ondemand, dynamic or static, got "dyn"/],
    [['--nice', '20', 'x'], /--nice: expected a whole number from -20 to 19, got "20"/],
    [['--umask', '999', 'x'], /--umask: expected an octal mask such as 027, got "999"/],
    [['--slots', '0', 'x'], /--slots: expected a whole number >= 1, got "0"/],
    [['--idle-timeout', '5x', 'x'], /--idle-timeout: expected a number of seconds > 0, got "5x"/],
    [['--rlimit-core', 'big', 'x'], /--rlimit-core: expected a whole number >= 0, got "big"/],
    [['--env', 'FOO', 'x'], /--env: expected NAME=VALUE, got "FOO"/],
    [['--allow-root=yes', 'x'], /--allow-root takes no value/],
  ])('%j is refused naming the option', (argv, message) => {
    expect(() => parseRunArgs(argv)).toThrow(InvalidArgumentError);
    expect(() => parseRunArgs(argv)).toThrow(message);
  });

  test('--fastcgi and --handoff', () => {
    const a = parseRunArgs(['--fastcgi', 'unix:/run/fcgipm.sock', '--handoff', 'app']);
    expect(a.fastcgi).toEqual({ kind: 'unix', path: '/run/fcgipm.sock' });
    expect(a.handoff).toBe(true);
    expect(parseRunArgs(['--fastcgi', '127.0.0.1:9000', 'app']).fastcgi).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 9000 });
    expect(parseRunArgs(['app']).fastcgi).toBeUndefined();
    expect(parseRunArgs(['app']).handoff).toBe(false);
  });

  test('listen addresses', () => {
    expect(parseListenAddress('[::1]:8081', '--http')).toEqual({ host: '::1', port: 8081 });
    expect(parseListenAddress(':8082', '--http')).toEqual({ host: '0.0.0.0', port: 8082 });
    expect(parseListenAddress('8083', '--http')).toEqual({ host: '127.0.0.1', port: 8083 });
  });
});
