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
      min: 2,
      max: 8,
      maxRequests: 500,
      busyTimeoutMs: 1500,
      env: { A: 'b=c' },
      command: '/usr/bin/app',
      args: ['--flag', 'x'],
    });
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
