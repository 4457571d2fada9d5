/**
 * --pid-file / pidFile through the real CLI: written once fcgipm listens, removed on a clean
 * stop, a live fcgipm's file refuses a second start, a stale one is replaced.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cleanupClis, cli, dir, ready } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';

afterEach(cleanupClis);

test('the pid file holds fcgipm pid once it serves and is gone after SIGTERM', async () => {
  const d = dir();
  const pidFile = path.join(d, 'fcgipm.pid');
  const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(d, 'sock'), '--pid-file', pidFile, '--', fixture('hello')]);
  const base = await ready(c);
  expect(fs.readFileSync(pidFile, 'utf8')).toBe(`${String(c.child.pid)}\n`);
  // Written whole by a rename: no temp file is left beside it.
  expect(fs.readdirSync(d).sort()).toEqual(['fcgipm.pid', 'sock']);
  expect((await httpRequest(`${base}/`)).status).toBe(200);
  c.child.kill('SIGTERM');
  expect((await c.exited).code).toBe(0);
  expect(fs.existsSync(pidFile)).toBe(false);
});

test('a second fcgipm with the pid file of a running one is refused, naming the file and the pid', async () => {
  const d = dir();
  const pidFile = path.join(d, 'fcgipm.pid');
  const first = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(d, 'sock1'), '--pid-file', pidFile, '--', fixture('hello')]);
  await ready(first);
  const second = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(d, 'sock2'), '--pid-file', pidFile, '--', fixture('hello')]);
  expect((await second.exited).code).toBe(1);
  expect(second.stderr()).toContain(`fcgipm: pid file ${pidFile} names fcgipm pid ${String(first.child.pid)}, which is running`);
  expect(second.lines.find((l) => l.msg === 'fcgipm ready')).toBeUndefined();
  // The first one's file is untouched.
  expect(fs.readFileSync(pidFile, 'utf8')).toBe(`${String(first.child.pid)}\n`);
  expect(first.child.exitCode).toBeNull();
});

test('a stale pid file (its process is gone) is replaced; the pidFile key of serve does the same', async () => {
  const d = dir();
  const pidFile = path.join(d, 'run', 'fcgipm.pid');
  fs.mkdirSync(path.dirname(pidFile));
  // The pid of a process that has exited.
  const dead = Number(execFileSync('sh', ['-c', 'sh -c "echo \\$\\$"'], { encoding: 'utf8' }).trim());
  fs.writeFileSync(pidFile, `${dead}\n`);
  fs.writeFileSync(
    path.join(d, 'fcgipm.yaml'),
    `pidFile: run/fcgipm.pid\nipcDir: sock\nlisten:\n  http: 127.0.0.1:0\ndefaults:\n  allowRoot: true\nsites:\n  - apps:\n      - prefix: /\n        command: ${fixture('hello')}\n`,
  );
  const c = cli(['serve', '--config', path.join(d, 'fcgipm.yaml')]);
  await ready(c);
  expect(fs.readFileSync(pidFile, 'utf8')).toBe(`${String(c.child.pid)}\n`);
  c.child.kill('SIGINT');
  expect((await c.exited).code).toBe(0);
  expect(fs.existsSync(pidFile)).toBe(false);
});
