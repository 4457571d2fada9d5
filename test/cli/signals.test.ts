/**
 * The signal table (src/cli/signals.ts) through the real CLI: TERM, INT and QUIT stop
 * gracefully with exit 0 and no worker left, HUP and USR2 reload, USR1 reopens the log file
 * and never opens Node's inspector.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { cleanupClis, cli, dir, ready, type Cli } from '../helpers/cli';
import { fixture, processAlive } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';

afterEach(cleanupClis);

/** Pids of the workers fcgipm reported starting. */
function workerPids(c: Cli): number[] {
  return c.lines.filter((l) => l.msg === 'worker started').map((l) => l.pid as number);
}

/** Resolves with the connect error code, or 'connected'. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

test.each(['SIGTERM', 'SIGINT', 'SIGQUIT'] as const)('%s stops gracefully: exit 0, every worker gone', async (signal) => {
  const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(dir(), 'sock'), '--min', '2', '--', fixture('hello')]);
  await ready(c);
  const pids = workerPids(c);
  expect(pids).toHaveLength(2);
  expect(pids.every(processAlive)).toBe(true);
  c.child.kill(signal);
  expect(await c.exited).toEqual({ code: 0, signal: null });
  expect(c.lines.find((l) => l.msg === 'stopping gracefully')).toMatchObject({ signal });
  expect(pids.filter(processAlive)).toEqual([]);
});

test.each(['SIGHUP', 'SIGUSR2'] as const)('%s reloads: a new generation of workers, fcgipm keeps serving', async (signal) => {
  const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(dir(), 'sock'), '--min', '1', '--', fixture('hello')]);
  const base = await ready(c);
  c.child.kill(signal);
  await c.waitForLine((l) => l.msg === 'reloading' && l.generation === 2);
  await c.waitForLine((l) => l.msg === 'worker started' && l.generation === 2);
  expect((await httpRequest(`${base}/`)).status).toBe(200);
  expect(c.child.exitCode).toBeNull();
  c.child.kill('SIGTERM');
  expect((await c.exited).code).toBe(0);
});

test('SIGUSR1 never starts the inspector: nothing listens on 9229, fcgipm serves on', async () => {
  expect(await tryConnect(9229)).toBe('ECONNREFUSED');
  const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(dir(), 'sock'), '--', fixture('hello')]);
  const base = await ready(c);
  c.child.kill('SIGUSR1');
  await c.waitForLine((l) => l.msg === 'log files reopened' && l.signal === 'SIGUSR1');
  expect(await tryConnect(9229)).toBe('ECONNREFUSED');
  expect(c.stderr()).not.toMatch(/Debugger listening/);
  expect((await httpRequest(`${base}/`)).status).toBe(200);
  c.child.kill('SIGTERM');
  expect((await c.exited).code).toBe(0);
});

test('a second SIGTERM while stopping is logged; the request in flight still completes, exit 0', async () => {
  const c = cli(['run', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--ipc-dir', path.join(dir(), 'sock'), '--min', '1', '--', fixture('slow')]);
  const base = await ready(c);
  const admin = `http://${String(c.lines.find((l) => l.msg === 'fcgipm ready')!.admin)}`;
  const inFlight = httpRequest(`${base}/?sleep=1500`);
  for (;;) {
    const s = JSON.parse((await httpRequest(`${admin}/status.json`)).body.toString()) as { pools: Array<{ accepted: number }> };
    if ((s.pools[0]?.accepted ?? 0) >= 1) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  c.child.kill('SIGTERM');
  await c.waitForLine((l) => l.msg === 'stopping gracefully');
  c.child.kill('SIGTERM');
  await c.waitForLine((l) => l.msg === 'already stopping; in-flight requests are being drained' && l.signal === 'SIGTERM');
  const r = await inFlight;
  expect(r.status).toBe(200);
  expect(r.body.toString()).toBe('slept 1500\n');
  expect((await c.exited).code).toBe(0);
});

/** The JSON lines of a log file, [] when it does not exist yet. */
function fileLines(file: string): Array<Record<string, unknown>> {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Waits, watching the file's directory, until a line of the file matches. */
async function waitForFileLine(file: string, match: (l: Record<string, unknown>) => boolean, c: Cli): Promise<Record<string, unknown>> {
  const watcher = fs.watch(path.dirname(file));
  try {
    for (;;) {
      const found = fileLines(file).find(match);
      if (found) return found;
      if (c.child.exitCode !== null) throw new Error(`fcgipm exited: ${c.stderr()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        watcher.once('change', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  } finally {
    watcher.close();
  }
}

describe('--log-file', () => {
  test('the log goes to the file, not stdout; after a rename (logrotate), SIGUSR1 starts a new file', async () => {
    const d = dir();
    const log = path.join(d, 'fcgipm.log');
    const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(d, 'sock'), '--log-file', log, '--', fixture('hello')]);
    const readyLine = await waitForFileLine(log, (l) => l.msg === 'fcgipm ready', c);
    expect(c.lines).toEqual([]);
    fs.renameSync(log, `${log}.1`);
    c.child.kill('SIGUSR1');
    await waitForFileLine(log, (l) => l.msg === 'log files reopened', c);
    // A request's lines land in the new file too.
    expect((await httpRequest(`http://${String(readyLine.http)}/`)).status).toBe(200);
    await waitForFileLine(log, (l) => l.msg === 'worker started', c);
    c.child.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
    const rotated = fileLines(`${log}.1`).map((l) => l.msg);
    const current = fileLines(log).map((l) => l.msg);
    expect(rotated).toContain('fcgipm ready');
    expect(rotated).not.toContain('log files reopened');
    expect(current[0]).toBe('log files reopened');
    expect(current).toContain('stopped');
    expect(current).not.toContain('fcgipm ready');
  });

  test('SIGUSR1 reopens the access log as well: after a rename, the next requests go to a new file at the path', async () => {
    const d = dir();
    const access = path.join(d, 'access.log');
    const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(d, 'sock'), '--access-log', access, '--', fixture('hello')]);
    const base = `http://${String((await c.waitForLine((l) => l.msg === 'fcgipm ready')).http)}`;
    expect((await httpRequest(`${base}/before`)).status).toBe(200);
    fs.renameSync(access, `${access}.1`);
    c.child.kill('SIGUSR1');
    await c.waitForLine((l) => l.msg === 'log files reopened');
    expect((await httpRequest(`${base}/after`)).status).toBe(200);
    c.child.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
    // A line still buffered at the signal may land in either file, but in exactly one; every
    // line written after the signal is in the new file.
    const rotated = fs.readFileSync(`${access}.1`, 'utf8');
    const current = fs.readFileSync(access, 'utf8');
    expect(`${rotated}${current}`.match(/"GET \/before HTTP\/1\.1" 200 /g)).toHaveLength(1);
    expect(rotated).not.toContain('/after');
    expect(current).toMatch(/^127\.0\.0\.1 - - \[[^\]]+\] "GET \/after HTTP\/1\.1" 200 /m);
  });

  test('SIGUSR1 when the path cannot be opened again: the error is logged to the old file, which stays in use', async () => {
    const d = dir();
    const log = path.join(d, 'fcgipm.log');
    const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(d, 'sock'), '--log-file', log, '--', fixture('hello')]);
    await waitForFileLine(log, (l) => l.msg === 'fcgipm ready', c);
    fs.renameSync(log, `${log}.1`);
    // A directory where the file was: opening it for appending fails (EISDIR), even as root.
    fs.mkdirSync(log);
    c.child.kill('SIGUSR1');
    const failed = await waitForFileLine(`${log}.1`, (l) => l.msg === 'cannot reopen the log files; still writing to the old ones', c);
    expect(String(failed.err)).toContain(`log file ${log}: cannot open it for writing (EISDIR)`);
    c.child.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
    expect(fileLines(`${log}.1`).at(-1)).toMatchObject({ msg: 'stopped' });
  });

  test('a log file that cannot be opened is named; exit 1', async () => {
    const d = dir();
    const log = path.join(d, 'no-such-dir', 'fcgipm.log');
    const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(d, 'sock'), '--log-file', log, '--', fixture('hello')]);
    expect((await c.exited).code).toBe(1);
    expect(c.stderr()).toContain(`fcgipm: log file ${log}: cannot open it for writing (ENOENT)`);
    expect(fs.existsSync(path.dirname(log))).toBe(false);
  });
});
