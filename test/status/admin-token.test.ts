/**
 * The admin listener is loopback or token-protected: off loopback without a token file fcgipm
 * refuses to start; with one, every endpoint but /healthz answers 401 without the bearer token;
 * a token file others can read is refused, as ssh refuses a private key.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { checkAdminExposure, isLoopbackHost } from '../../src/config/admin-exposure';
import { bearerMatches, readAdminToken } from '../../src/status/admin-token';
import { lookupUser } from '../../src/spawn/user-db';
import { BIN, cleanupClis, cli, dir } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';
import { closeAllConfigs, serveConfig } from '../helpers/serve-config';

afterEach(async () => {
  await closeAllConfigs();
  await cleanupClis();
});

const TOKEN = 'f00dfeed0123456789abcdef';

function tokenFile(d: string, mode = 0o600, text = `${TOKEN}\n`): string {
  const file = path.join(d, 'admin-token');
  fs.writeFileSync(file, text);
  fs.chmodSync(file, mode);
  return file;
}

describe('start-up', () => {
  test('an admin address off loopback without a token file: exit 1, naming the flag, the key and both ways out', async () => {
    const c = cli(['run', '--http', '127.0.0.1:0', '--admin', '0.0.0.0:0', '--', fixture('hello')]);
    const { code } = await c.exited;
    expect(code).toBe(1);
    expect(c.stderr()).toContain('admin listener 0.0.0.0:0 (--admin / listen.admin) is not on loopback and has no token');
    expect(c.stderr()).toContain('bind it to 127.0.0.1 or [::1], or give a token file (--admin-token-file / listen.adminTokenFile)');
  });

  test('a token file others can read: exit 1 with the mode and chmod 600', async () => {
    const file = tokenFile(dir(), 0o644);
    const c = cli(['run', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token-file', file, '--', fixture('hello')]);
    expect((await c.exited).code).toBe(1);
    expect(c.stderr()).toContain(`admin token file ${file} (--admin-token-file / listen.adminTokenFile): permissions 0644 are too open`);
    expect(c.stderr()).toContain(`chmod 600 ${file}`);
  });

  test('a token file that is missing or empty: exit 1 saying so', async () => {
    const d = dir();
    const missing = cli(['run', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token-file', path.join(d, 'none'), '--', fixture('hello')]);
    expect((await missing.exited).code).toBe(1);
    expect(missing.stderr()).toContain('cannot read it (ENOENT)');
    const empty = cli(['run', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token-file', tokenFile(d, 0o600, '\n'), '--', fixture('hello')]);
    expect((await empty.exited).code).toBe(1);
    expect(empty.stderr()).toContain('it is empty');
  });
});

describe('with --admin-token-file', () => {
  test('every endpoint but /healthz answers 401 with WWW-Authenticate without the token, 200 with it', async () => {
    const file = tokenFile(dir());
    const c = cli(['run', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token-file', file, '--', fixture('hello')]);
    const ready = await c.waitForLine((l) => l.msg === 'fcgipm ready');
    const admin = `http://${String(ready.admin)}`;
    // The token is not on fcgipm's command line, where ps shows it.
    expect(fs.readFileSync(`/proc/${c.child.pid!}/cmdline`, 'utf8')).not.toContain(TOKEN);
    for (const endpoint of ['/status', '/status.json', '/status/history.json', '/metrics', '/static/uplot.min.js', '/nope']) {
      const none = await httpRequest(`${admin}${endpoint}`);
      expect([endpoint, none.status, none.headers['www-authenticate']]).toEqual([endpoint, 401, 'Bearer realm="fcgipm admin"']);
      const wrong = await httpRequest(`${admin}${endpoint}`, { headers: { authorization: `Bearer ${TOKEN}0` } });
      expect([endpoint, wrong.status]).toEqual([endpoint, 401]);
      const basic = await httpRequest(`${admin}${endpoint}`, { headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` } });
      expect([endpoint, basic.status]).toEqual([endpoint, 401]);
      const right = await httpRequest(`${admin}${endpoint}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect([endpoint, right.status]).toEqual([endpoint, endpoint === '/nope' ? 404 : 200]);
    }
    const health = await httpRequest(`${admin}/healthz`);
    expect([health.status, health.body.toString()]).toEqual([200, 'ok\n']);
  });

  test('fcgipm status sends the token from --admin-token-file; without it, it says the listener asks for one', async () => {
    const file = tokenFile(dir());
    const c = cli(['run', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token-file', file, '--', fixture('hello')]);
    const ready = await c.waitForLine((l) => l.msg === 'fcgipm ready');
    const withToken = spawnSync(process.execPath, [BIN, 'status', '--admin', String(ready.admin), '--admin-token-file', file], { encoding: 'utf8' });
    expect(withToken.status).toBe(0);
    expect(withToken.stdout).toMatch(/^fcgipm pid \d+/);
    const without = spawnSync(process.execPath, [BIN, 'status', '--admin', String(ready.admin)], { encoding: 'utf8' });
    expect(without.status).toBe(1);
    expect(without.stderr).toContain('HTTP 401: the admin listener asks for a token; give --admin-token-file');
  });

  test('serve: listen.adminTokenFile, relative to the config file, protects the listener it configures', async () => {
    const d = dir();
    tokenFile(d);
    const served = await serveConfig(
      `ipcDir: {{dir}}/sock\nlisten:\n  http: 127.0.0.1:0\n  admin: 127.0.0.1:0\n  adminTokenFile: admin-token\nsites:\n  - apps:\n      - { prefix: /, command: ${fixture('hello')} }\n`,
      d,
    );
    const admin = `http://127.0.0.1:${served.server.adminAddress!.port}`;
    expect((await httpRequest(`${admin}/status.json`)).status).toBe(401);
    expect((await httpRequest(`${admin}/status.json`, { headers: { authorization: `bearer ${TOKEN}` } })).status).toBe(200);
  });
});

describe('the rules, one by one', () => {
  test('loopback is 127.0.0.0/8, ::1, an IPv4-mapped 127.x and localhost; nothing else', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST']) expect([h, isLoopbackHost(h)]).toEqual([h, true]);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '::ffff:10.0.0.1', '128.0.0.1', 'example.org', '']) expect([h, isLoopbackHost(h)]).toEqual([h, false]);
    expect(() => checkAdminExposure('0.0.0.0', 9180, true)).not.toThrow();
    expect(() => checkAdminExposure('10.0.0.1', 9180, false)).toThrow(expect.objectContaining({ code: 'FCGIPM_ERR_ADMIN_ACCESS' }));
    expect(() => checkAdminExposure('::', 9180, false)).toThrow(/\[::\]:9180 \(--admin \/ listen.admin\)/);
  });

  test('a bearer token matches exactly: not a prefix, not longer, not another scheme', () => {
    const token = Buffer.from(TOKEN);
    expect(bearerMatches(`Bearer ${TOKEN}`, token)).toBe(true);
    expect(bearerMatches(`bearer  ${TOKEN}`, token)).toBe(true);
    for (const h of [undefined, '', 'Bearer', 'Bearer ', `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}x`, `Token ${TOKEN}`, TOKEN, `Bearer ${TOKEN} extra`]) {
      expect([h, bearerMatches(h, token)]).toEqual([h, false]);
    }
  });

  test("ssh's rule: a file fcgipm's user owns must be 0600/0400; another owner's may be group-readable, never world-readable", () => {
    const nobody = lookupUser('nobody');
    const me = process.getuid!();
    expect(readAdminToken(tokenFile(dir(), 0o600), me).toString()).toBe(TOKEN);
    expect(readAdminToken(tokenFile(dir(), 0o400), me).toString()).toBe(TOKEN);
    expect(() => readAdminToken(tokenFile(dir(), 0o640), me)).toThrow(/permissions 0640 are too open/);
    const foreign = tokenFile(dir(), 0o640);
    fs.chownSync(foreign, nobody.uid, nobody.gid);
    expect(readAdminToken(foreign, me).toString()).toBe(TOKEN);
    fs.chmodSync(foreign, 0o644);
    expect(() => readAdminToken(foreign, me)).toThrow(expect.objectContaining({ code: 'FCGIPM_ERR_ADMIN_ACCESS' }));
    expect(() => readAdminToken(tokenFile(dir(), 0o600, 'two words\n'), me)).toThrow(/one word/);
  });
});
