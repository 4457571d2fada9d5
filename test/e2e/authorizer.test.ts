/**
 * FcgidAuthenticator / FcgidAuthorizer / FcgidAccessChecker: a real libfcgi app in the
 * AUTHORIZER role (fixtures/fcgi-apps/auth.c) guards /private; the responder is the echo
 * fixture dumping what it received.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fixture } from '../helpers/fixtures';
import { httpRequest, parseEnvDump } from '../helpers/http-client';
import { closeAllConfigs, serveConfig, type ServedConfig } from '../helpers/serve-config';

const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

describe('authorizer role', () => {
  let s: ServedConfig;

  beforeAll(async () => {
    s = await serveConfig((dir) => {
      const www = path.join(dir, 'www');
      fs.mkdirSync(path.join(www, 'private'), { recursive: true });
      fs.mkdirSync(path.join(www, 'gate'), { recursive: true });
      for (const d of ['private', 'gate']) {
        fs.copyFileSync(fixture('echo'), path.join(www, d, 'echo.fcgi'));
        fs.chmodSync(path.join(www, d, 'echo.fcgi'), 0o755);
      }
      return `
ipcDir: ${dir}/sock
listen: { http: 127.0.0.1:0 }
sites:
  - documentRoot: ${www}
    handlers: [.fcgi]
    auth:
      - prefix: /private
        authenticator: { command: ${fixture('auth')} }
        authorizer: { command: ${fixture('auth')} }
      - prefix: /gate
        accessChecker: { command: ${fixture('auth')} }
`;
    });
  });
  afterAll(closeAllConfigs);

  test('without credentials an authenticator route is challenged with 401 Basic', async () => {
    const r = await httpRequest(`${s.base}/private/echo.fcgi?env=1`);
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toMatch(/^Basic realm=/);
  });

  test('allowed: Variable-* reach the responder as variables, the authorizer headers do not leak', async () => {
    const r = await httpRequest(`${s.base}/private/echo.fcgi/more?env=1`, { headers: { authorization: basic('alice', 'secret') } });
    expect(r.status).toBe(200);
    expect(r.headers['x-leak']).toBeUndefined();
    const { params } = parseEnvDump(r.body.toString('latin1'));
    expect(params.get('AUTH_USER_ID')).toBe('42');
    expect(params.get('AUTHZ')).toBe('granted');
    expect(params.get('REMOTE_USER')).toBe('alice');
    expect(params.get('PATH_INFO')).toBe('/more');
    expect(params.has('REMOTE_PASSWD')).toBe(false);
  });

  test('denied by the authenticator: the app\'s own 401 goes to the client as sent', async () => {
    const r = await httpRequest(`${s.base}/private/echo.fcgi`, { headers: { authorization: basic('alice', 'wrong') } });
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Basic realm="fixture"');
    const body = r.body.toString();
    expect(body).toMatch(/^bad credentials: role=AUTHORIZER apache_role=AUTHENTICATOR user=alice/);
    // The authorizer saw no CONTENT_LENGTH and no PATH_INFO (mod_fcgid removes them).
    expect(body).toMatch(/content_length=unset path_info=unset/);
  });

  test('denied by the authorizer: 403 stays 403 with its headers and body (mod_fcgid would say 401)', async () => {
    const r = await httpRequest(`${s.base}/private/echo.fcgi?deny=1`, { headers: { authorization: basic('alice', 'secret') } });
    expect(r.status).toBe(403);
    expect(r.headers['x-auth-reason']).toBe('nope');
    expect(r.body.toString()).toMatch(/^denied by app: role=AUTHORIZER apache_role=AUTHORIZER user=alice/);
  });

  test('an authorizer answering with a Location does not pass: the redirect goes to the client', async () => {
    const r = await httpRequest(`${s.base}/private/echo.fcgi?redirect=1`, { headers: { authorization: basic('alice', 'secret') } });
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe('http://login.example/');
  });

  test('access checker: passes with its variable, blocks with its own 403', async () => {
    const ok = await httpRequest(`${s.base}/gate/echo.fcgi?env=1`);
    expect(ok.status).toBe(200);
    expect(parseEnvDump(ok.body.toString()).params.get('ACCESS')).toBe('ok');
    const blocked = await httpRequest(`${s.base}/gate/echo.fcgi?blocked=1`);
    expect(blocked.status).toBe(403);
    expect(blocked.body.toString()).toMatch(/^blocked: role=AUTHORIZER apache_role=ACCESS_CHECKER/);
  });
});
