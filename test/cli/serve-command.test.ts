/**
 * `fcgipm serve --config FILE.yaml` as an operator runs it: the real CLI, a config file on
 * disk, SIGHUP and --watch reloads (a broken file keeps the running config), SIGTERM.
 */
import fs from 'node:fs';
import path from 'node:path';
import { cleanupClis, cli, dir } from '../helpers/cli';
import { fixture, processAlive } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';

afterEach(cleanupClis);

function config(d: string, prefix: string, extra = ''): string {
  return `
ipcDir: ${d}/sock
listen: { http: 127.0.0.1:0 }
# The tests run as root on CI.
defaults: { allowRoot: true }
sites:
  - apps:
      - { prefix: ${prefix}, command: ${fixture('hello')} }
${extra}`;
}

async function base(c: ReturnType<typeof cli>): Promise<string> {
  const line = await c.waitForLine((l) => l.msg === 'fcgipm ready');
  return `http://${String(line.http)}`;
}

describe('fcgipm serve', () => {
  test('serves the config; SIGHUP applies a new one; a broken one is refused and the old stays', async () => {
    const d = dir();
    const file = path.join(d, 'fcgipm.yaml');
    fs.writeFileSync(file, config(d, /* prefix */ '/one'));
    const c = cli(['serve', '--config', file]);
    const url = await base(c);
    expect((await httpRequest(`${url}/one`)).status).toBe(200);
    expect((await httpRequest(`${url}/two`)).status).toBe(404);

    fs.writeFileSync(file, config(d, '/two'));
    c.child.kill('SIGHUP');
    await c.waitForLine((l) => l.msg === 'configuration reloaded');
    expect((await httpRequest(`${url}/two`)).status).toBe(200);
    expect((await httpRequest(`${url}/one`)).status).toBe(404);

    fs.writeFileSync(file, config(d, '/three').replace('prefix: /three', 'prefx: /three'));
    c.child.kill('SIGHUP');
    const refused = await c.waitForLine((l) => l.msg === 'configuration not reloaded; the running one stays');
    expect(JSON.stringify(refused.problems)).toMatch(/fcgipm\.yaml:\d+:\d+: sites\[0\]\.apps\[0\]\.prefx: unknown key/);
    expect((await httpRequest(`${url}/two`)).status).toBe(200);

    c.child.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
  });

  test('a reload that drops or changes a class retires its pool: its warm workers stop', async () => {
    const d = dir();
    const file = path.join(d, 'fcgipm.yaml');
    const withMin = (max: number): string =>
      config(d, '/one').replace(`command: ${fixture('hello')} }`, `command: ${fixture('hello')}, minProcesses: 1, maxProcesses: ${max} }`);
    fs.writeFileSync(file, withMin(3));
    const c = cli(['serve', '--config', file]);
    const url = await base(c);
    const first = await c.waitForLine((l) => l.msg === 'worker started');
    fs.writeFileSync(file, withMin(5));
    c.child.kill('SIGHUP');
    await c.waitForLine((l) => l.msg === 'process class retired');
    // The old pool's warm worker is stopped (SIGTERM after its drain), the new pool warms one.
    await c.waitForLine((l) => l.msg === 'worker started' && l.pid !== first.pid);
    const alive = processAlive;
    const deadline = Date.now() + 10_000;
    while (alive(Number(first.pid)) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    expect(alive(Number(first.pid))).toBe(false);
    const r = await httpRequest(`${url}/one`);
    expect(r.status).toBe(200);
    expect(r.body.toString()).not.toContain(`pid=${String(first.pid)} `);
    c.child.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
  });

  test('--watch reloads when the file changes', async () => {
    const d = dir();
    const file = path.join(d, 'fcgipm.yaml');
    fs.writeFileSync(file, config(d, '/one'));
    const c = cli(['serve', '--config', file, '--watch']);
    const url = await base(c);
    await c.waitForLine((l) => l.msg === 'watching the configuration file');
    // A deploy writes a new file and renames it into place.
    fs.writeFileSync(`${file}.new`, config(d, '/two'));
    fs.renameSync(`${file}.new`, file);
    await c.waitForLine((l) => l.msg === 'configuration reloaded');
    expect((await httpRequest(`${url}/two`)).status).toBe(200);
    c.child.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
  });

  test('an invalid file at start-up: every problem as file:line:col, exit 1', async () => {
    const d = dir();
    const file = path.join(d, 'bad.yaml');
    fs.writeFileSync(file, `ipcDir: ${d}/sock\nmaxProcess: 3\nsites:\n  - apps:\n      - { prefix: /, command: ${d}/nope.fcgi }\n`);
    const c = cli(['serve', '--config', file]);
    expect((await c.exited).code).toBe(1);
    const lines = c.stderr().trim().split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^${file}:2:1: maxProcess: unknown key "maxProcess" \\(did you mean maxProcesses\\?\\)`)),
        expect.stringMatching(new RegExp(`^${file}:5:\\d+: sites\\[0\\]\\.apps\\[0\\]\\.command: .*nope\\.fcgi`)),
      ]),
    );
  });

  test('usage errors exit 2', async () => {
    const c = cli(['serve']);
    expect((await c.exited).code).toBe(2);
    expect(c.stderr()).toMatch(/serve needs --config FILE\.yaml/);
  });
});
