/**
 * A CLI without surprises: -h/--help on every command, `fcgipm help COMMAND`, -V/--version,
 * and `fcgipm status` against something that is not fcgipm saying so in one line.
 */
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BIN } from '../helpers/cli';

function fcgipm(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('fcgipm help', () => {
  test('-h, --help and help list the commands; -V, --version and version print the version', () => {
    for (const flag of ['-h', '--help', 'help']) {
      const r = fcgipm(flag);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^usage: fcgipm <command> \[options\]/);
      expect(r.stdout).toContain('help COMMAND');
    }
    for (const flag of ['-V', '--version', 'version']) expect(fcgipm(flag).stdout).toMatch(/^fcgipm \d+\.\d+\.\d+\n$/);
  });

  test.each([
    ['run', 'usage: fcgipm run [options] [--] COMMAND [ARG...]'],
    ['serve', 'usage: fcgipm serve --config FILE.yaml'],
    ['status', 'usage: fcgipm status'],
    ['check-config', 'usage: fcgipm check-config FILE.yaml'],
    ['import-apache', 'usage: fcgipm import-apache FILE.conf'],
  ])('%s: -h, --help and help COMMAND print its usage, exit 0', (command, usage) => {
    for (const args of [[command, '-h'], [command, '--help'], ['help', command]]) {
      const r = fcgipm(...args);
      expect({ args, status: r.status }).toEqual({ args, status: 0 });
      expect(r.stdout.startsWith(usage)).toBe(true);
    }
  });

  test('run: -h among its options is help, also after an option and its value; after COMMAND or "--" it belongs to the program', () => {
    expect(fcgipm('run', '--max', '2', '-h').stdout).toMatch(/^usage: fcgipm run/);
    expect(fcgipm('run', '--handoff', '--help').stdout).toMatch(/^usage: fcgipm run/);
    // "-h" as the value of --script is a file name, not help: the usage error names the file.
    const asValue = fcgipm('run', '--http', 'off', '--script', '-h', '--', '/no/such/app');
    expect(asValue.stdout).toBe('');
    expect(asValue.status).not.toBe(0);
    // After "--" (or COMMAND) it is the app's argument: fcgipm tries to run the app.
    const forApp = fcgipm('run', '--http', 'off', '--', '/no/such/app', '-h');
    expect(forApp.stdout).toBe('');
    expect(forApp.stderr).toContain('cannot run /no/such/app');
  });

  test('help of an unknown command is a usage error naming it', () => {
    const r = fcgipm('help', 'nope');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("fcgipm: help: unknown command 'nope'");
  });
});

describe('fcgipm status against something that is not fcgipm', () => {
  test('one line saying so, exit 1, no stack trace', async () => {
    const server = http.createServer((_req, res) => res.end('<html>not fcgipm</html>'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const r = await new Promise<ReturnType<typeof fcgipm>>((resolve) => {
        // Asynchronously: this process serves the port being asked.
        const child = spawn(process.execPath, [BIN, 'status', '--admin', `127.0.0.1:${port}`]);
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('close', (status) => resolve({ status, stdout, stderr }));
      });
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`fcgipm: 127.0.0.1:${port} answered /status.json, but not with fcgipm's status: is this fcgipm's admin listener (listen.admin, --admin)?\n`);
    } finally {
      server.close();
    }
  });
});
