/**
 * A chunked upload must be spooled before the app sees CONTENT_LENGTH (RFC 3875 §4.1.2); on a
 * full disk that fails. The client gets 500 (FCGIPM_ERR_SPOOL), as nginx answers when
 * client_body_temp_path is full, and the log line names the temp file and ENOSPC. The disk
 * is a 1 MiB tmpfs mounted in the test's temp dir (the tests run as root).
 */
import fs from 'node:fs';
import path from 'node:path';
import { cleanupClis, cli, ready } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs';
import { httpRequest } from '../helpers/http-client';

let disk: Tmpfs | undefined;
let mnt = '';
let skip: string | undefined;

beforeAll(() => {
  disk = mountTmpfs('size=1m', 'spool-full');
  mnt = disk.path;
  skip = disk.skipped;
});

afterEach(cleanupClis);

afterAll(() => disk?.remove());

test('a chunked upload on a full disk: 500 FCGIPM_ERR_SPOOL, a log line naming the temp file and ENOSPC, nothing left; the next small one is 200', async () => {
  if (skip !== undefined) return;
  // The spool goes where os.tmpdir() says: TMPDIR, as for nginx's client_body_temp_path.
  const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(mnt, '..', 'sock'), fixture('echo')], 0, { env: { TMPDIR: mnt } });
  const base = await ready(c);
  const parts = Array.from({ length: 8 }, () => Buffer.alloc(256 * 1024, 0x61));
  const r = await httpRequest(`${base}/upload`, { method: 'POST', chunked: parts });
  expect(r.status).toBe(500);
  expect(r.headers['x-fcgipm-error']).toBe('FCGIPM_ERR_SPOOL');
  const line = await c.waitForLine((l) => l.code === 'FCGIPM_ERR_SPOOL');
  expect(line.msg).toBe('request failed');
  expect(String(line.err)).toMatch(new RegExp(`^cannot spool request body to ${mnt}/fcgipm-body-\\w+/body: ENOSPC`));
  expect(fs.readdirSync(mnt)).toEqual([]);
  // The app never saw it.
  expect(c.lines.some((l) => l.msg === 'worker started')).toBe(false);

  const small = await httpRequest(`${base}/upload`, { method: 'POST', chunked: ['one,', 'two'] });
  expect(small.status).toBe(200);
  expect(small.body.toString()).toBe('one,two');
});
