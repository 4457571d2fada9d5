/**
 * --reuse-port: a zero-downtime upgrade. A second fcgipm binds the same HTTP port while the
 * first still serves; the first is stopped with SIGTERM; a client hammering the port all the
 * while never sees a refused connection or a failed request.
 */
import fs from 'node:fs';
import path from 'node:path';
import { cleanupClis, cli, dir } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';
import { freePort } from '../helpers/web-servers';

afterEach(cleanupClis);

/**
 * Without net.ipv4.tcp_migrate_req=1 (Linux >= 5.14) the kernel resets connections queued on
 * the listener being closed; fcgipm warns about it at start-up. The test turns it on for its
 * run (it is per network namespace) and puts the old value back.
 */
const MIGRATE = '/proc/sys/net/ipv4/tcp_migrate_req';
let savedMigrate: string | undefined;
beforeAll(() => {
  try {
    savedMigrate = fs.readFileSync(MIGRATE, 'utf8');
    fs.writeFileSync(MIGRATE, '1');
  } catch {
    savedMigrate = undefined;
  }
});
afterAll(() => {
  if (savedMigrate !== undefined) fs.writeFileSync(MIGRATE, savedMigrate);
});

test('two fcgipm on one port with --reuse-port; stopping the old one loses no request', async () => {
  const port = await freePort();
  const start = (): ReturnType<typeof cli> =>
    cli(['run', '--reuse-port', '--http', `127.0.0.1:${port}`, '--ipc-dir', path.join(dir(), 'sock'), '--', fixture('hello')]);
  const old = start();
  await old.waitForLine((l) => l.msg === 'fcgipm ready');

  let failures = 0;
  const seen: string[] = [];
  let done = 0;
  let stop = false;
  const client = (async () => {
    while (!stop) {
      try {
        const r = await httpRequest(`http://127.0.0.1:${port}/`);
        if (r.status !== 200) {
          failures += 1;
          seen.push(`status ${r.status}: ${r.body.toString()}`);
        }
      } catch (err) {
        failures += 1;
        seen.push((err as Error).message);
      }
      done += 1;
    }
  })();

  const fresh = start();
  await fresh.waitForLine((l) => l.msg === 'fcgipm ready');
  old.child.kill('SIGTERM');
  expect((await old.exited).code).toBe(0);
  const after = done;
  // The new one alone answers now.
  while (done < after + 50) await new Promise((r) => setTimeout(r, 10));
  stop = true;
  await client;
  expect(seen).toEqual([]);
  expect(failures).toBe(0);
  fresh.child.kill('SIGTERM');
  expect((await fresh.exited).code).toBe(0);
});

test('without --reuse-port the second one is refused with one clear line', async () => {
  const port = await freePort();
  const first = cli(['run', '--http', `127.0.0.1:${port}`, '--ipc-dir', path.join(dir(), 'sock'), '--', fixture('hello')]);
  await first.waitForLine((l) => l.msg === 'fcgipm ready');
  const second = cli(['run', '--http', `127.0.0.1:${port}`, '--ipc-dir', path.join(dir(), 'sock'), '--', fixture('hello')]);
  expect((await second.exited).code).toBe(1);
  expect(second.stderr()).toMatch(/address already in use/);
});
