/**
 * `fcgipm run` as an operator runs it: the real bin/fcgipm.js (from dist/, built by
 * `npm test`'s pretest), real signals, exit codes and the one-line start-up errors.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { cleanupClis, cli, dir, ready } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';

afterEach(cleanupClis);

describe('fcgipm run', () => {
  test('serves the app, and SIGTERM lets the in-flight request finish before exiting 0', async () => {
    const ipc = path.join(dir(), 'sock');
    const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', ipc, '--max', '2', '--', fixture('slow')]);
    const base = await ready(c);
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get(`${base}/?trickle=4&interval=200`, (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => {
            if (text === '') c.child.kill('SIGTERM'); // the request is in flight now
            text += chunk.toString();
          });
          res.on('end', () => resolve(text));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    expect(body).toBe('chunk 1\nchunk 2\nchunk 3\nchunk 4\n');
    const exit = await c.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(c.lines.some((l) => l.msg === 'stopping gracefully')).toBe(true);
    expect(c.lines.some((l) => l.msg === 'stopped')).toBe(true);
    expect(fs.readdirSync(ipc)).toEqual([]);
  });

  test('workers see fds 0, 1, 2 only, even when fcgipm inherited more', async () => {
    const d = dir();
    const report = path.join(d, 'report');
    const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(d, 'sock'), '--min', '1',
      '--env', `PROBE_REPORT=${report}`, '--', fixture('probe')], 2);
    const base = await ready(c);
    const r = await httpRequest(`${base}/`);
    expect(r.status).toBe(200);
    const text = fs.readFileSync(report, 'utf8');
    expect(text).toMatch(/^fds 0,1,2$/m);
    expect(text).toMatch(/^peername ENOTCONN$/m);
    c.child.kill('SIGINT');
    expect((await c.exited).code).toBe(0);
  });

  test('a bare command name is looked up in PATH, as a shell would; one found nowhere is a usage error naming PATH', async () => {
    const found = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(dir(), 'sock'), '--', 'sh', '-c', 'exit 0']);
    const started = await found.waitForLine((l) => l.msg === 'fcgipm ready');
    expect(started).toBeDefined();
    expect(found.lines.some((l) => l.command === '/usr/bin/sh' || l.command === '/bin/sh')).toBe(true);
    const missing = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(dir(), 'sock'), '--', 'no-such-command-anywhere']);
    expect((await missing.exited).code).toBe(2);
    expect(missing.stderr()).toContain(`fcgipm: cannot run no-such-command-anywhere: not found in PATH (${process.env.PATH ?? ''})\n`);
  });

  const asRoot = process.geteuid?.() === 0 ? test : test.skip;
  asRoot('as root without --user or --allow-root, workers are refused before anything listens: one line naming the pool and both ways out', async () => {
    const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(dir(), 'sock'), '--', fixture('hello')], 0, { asRoot: 'refused' });
    expect((await c.exited).code).toBe(1);
    expect(c.stderr()).toBe(
      'fcgipm: pool hello.fcgi: refusing to run workers as root (fcgipm runs as root and no user is set): set a user for them (--user USER, or user: in the config) or allow root (--allow-root, or allowRoot: true)\n',
    );
    expect(c.lines.some((l) => l.msg === 'fcgipm ready')).toBe(false);
  });

  test('a missing command is one clear line and exit 1', async () => {
    const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(dir(), 'sock'), '--', './no/such/app.fcgi']);
    const exit = await c.exited;
    expect(exit.code).toBe(1);
    // The path as resolved from where fcgipm started: the operator sees which file was tried.
    expect(c.stderr()).toBe(`fcgipm: cannot run ${path.resolve('no/such/app.fcgi')}: ENOENT (no such file)\n`);
  });

  test('an unusable IPC directory is one clear line naming it, and exit 1', async () => {
    const file = path.join(dir(), 'plain-file');
    fs.writeFileSync(file, '');
    const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(file, 'sock'), '--', fixture('hello')]);
    const exit = await c.exited;
    expect(exit.code).toBe(1);
    const lines = c.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(path.join(file, 'sock'));
    expect(lines[0]).toMatch(/^fcgipm: /);
  });

  test('a port in use is one clear line and exit 1', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const c = cli(['run', '--http', `127.0.0.1:${port}`, '--ipc-dir', path.join(dir(), 'sock'), '--', fixture('hello')]);
      const exit = await c.exited;
      expect(exit.code).toBe(1);
      expect(c.stderr()).toBe(`fcgipm: listen.http 127.0.0.1:${port}: address already in use (set another with --http or listen.http)\n`);
    } finally {
      blocker.close();
    }
  });

  test('a bad option is a usage error: exit 2, naming the option', async () => {
    const c = cli(['run', '--max', 'lots', fixture('hello')]);
    expect((await c.exited).code).toBe(2);
    expect(c.stderr()).toMatch(/^fcgipm: --max: expected a whole number >= 1, got "lots"\n/);
  });

  test('flags that contradict each other are a usage error naming both flags, not config keys', async () => {
    const c = cli(['run', '--min', '10', '--max', '2', fixture('hello')]);
    expect((await c.exited).code).toBe(2);
    expect(c.stderr()).toMatch(/^fcgipm: --min 10 is above --max 2\n/);
    expect(c.stderr()).not.toMatch(/minProcesses/);
  });

  test('a misspelled option gets a did-you-mean; an unknown user names its flag', async () => {
    const typo = cli(['run', '--max-request', '5', fixture('hello')]);
    expect((await typo.exited).code).toBe(2);
    expect(typo.stderr()).toMatch(/^fcgipm: unknown option --max-request \(did you mean --max-requests\?\)\n/);
    const user = cli(['run', '--user', 'no-such-user-here', fixture('hello')]);
    expect((await user.exited).code).toBe(2);
    expect(user.stderr()).toMatch(/^fcgipm: --user no-such-user-here: no such user "no-such-user-here" in \/etc\/passwd\n/);
    const serve = cli(['serve', '--config', 'x.yaml', '--wach']);
    expect((await serve.exited).code).toBe(2);
    expect(serve.stderr()).toMatch(/unknown option --wach \(did you mean --watch\?\)/);
  });
});
