/**
 * The FastCGI front end (behind nginx or Apache) when the app breaks the protocol: the web
 * server gets a 502 answer and fcgipm's warning names the pool and the worker pid. cgi-fcgi
 * (libfcgi-bin) stands for the web server.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fixture, tempDir } from '../helpers/fixtures';
import { closeAllConfigs, serveConfig } from '../helpers/serve-config';

const CGI_FCGI = '/usr/bin/cgi-fcgi';
let d = '';

afterEach(async () => {
  await closeAllConfigs();
  fs.rmSync(d, { recursive: true, force: true });
});

function cgiFcgi(sock: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(CGI_FCGI, ['-bind', '-connect', sock], { env, encoding: 'latin1' }, (err, stdout) =>
      err ? reject(new Error(err.message)) : resolve(stdout),
    );
    child.stdin?.end();
  });
}

test('a record with a bad version: Status 502 to the web server, a warning naming the pool and the pid', async () => {
  d = tempDir();
  const www = path.join(d, 'www');
  fs.mkdirSync(www);
  fs.copyFileSync(fixture('hostile'), path.join(www, 'hostile.fcgi'));
  fs.chmodSync(path.join(www, 'hostile.fcgi'), 0o755);
  const s = await serveConfig(
    `
ipcDir: ${d}/ipc
listen: { http: "off", fastcgi: "unix:${d}/fcgi.sock" }
sites:
  - { documentRoot: ${www}, handlers: [.fcgi] }
`,
    d,
  );
  const env = { SCRIPT_FILENAME: path.join(www, 'hostile.fcgi'), REQUEST_METHOD: 'GET', REQUEST_URI: '/hostile.fcgi', SERVER_PROTOCOL: 'HTTP/1.1' };
  const bad = await cgiFcgi(path.join(d, 'fcgi.sock'), { ...env, QUERY_STRING: 'mode=bad-version' });
  expect(bad).toMatch(/^Status: 502/);
  const line = await s.waitForLine((l) => l.msg === 'request failed');
  expect(line).toMatchObject({ level: 40, pool: expect.stringContaining('hostile.fcgi'), pid: expect.any(Number), code: 'FCGIPM_ERR_PROTOCOL', status: 502 });
  const good = await cgiFcgi(path.join(d, 'fcgi.sock'), { ...env, QUERY_STRING: 'mode=ok' });
  expect(good).toMatch(/ok pid=\d+/);
});
