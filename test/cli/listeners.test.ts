/**
 * The listeners through the real CLI: the FastCGI Unix socket's owner, group and mode (php-fpm's
 * listen.owner, listen.group, listen.mode); a listener that cannot bind is named with the flag
 * and key that change it; `serve --http/--fastcgi/--admin` override the file's listen.*.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { cleanupClis, cli, dir, ready } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';
import { lookupGroup, lookupUser } from '../../src/spawn/user-db';

afterEach(cleanupClis);

const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A port something else already listens on. */
async function busyPort(): Promise<number> {
  const s = net.createServer();
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as net.AddressInfo).port;
}

describe('FastCGI Unix socket owner, group and mode', () => {
  test('--fastcgi-owner, --fastcgi-group and --fastcgi-mode 0600 are what stat shows', async () => {
    const d = dir();
    const sock = path.join(d, 'fcgi.sock');
    const c = cli(['run', '--http', 'off', '--fastcgi', `unix:${sock}`, '--fastcgi-owner', 'nobody', '--fastcgi-group', 'nogroup', '--fastcgi-mode', '0600',
      '--ipc-dir', path.join(d, 'sock'), '--', fixture('hello')]);
    await ready(c);
    const st = fs.statSync(sock);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(lookupUser('nobody').uid);
    expect(st.gid).toBe(lookupGroup('nogroup'));
    c.child.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
  });

  test('serve: listen.fastcgiGroup alone, the mode defaults to 0660 and the owner stays fcgipm\'s', async () => {
    const d = dir();
    const sock = path.join(d, 'fcgi.sock');
    const file = path.join(d, 'fcgipm.yaml');
    fs.writeFileSync(file, `ipcDir: sock\nlisten:\n  http: "off"\n  fastcgi: unix:fcgi.sock\n  fastcgiGroup: nogroup\ndefaults: { allowRoot: true }\nsites:\n  - apps:\n      - { prefix: /, command: ${fixture('hello')} }\n`);
    const c = cli(['serve', '--config', file]);
    await ready(c);
    const st = fs.statSync(sock);
    expect(st.mode & 0o777).toBe(0o660);
    expect(st.uid).toBe(process.getuid!());
    expect(st.gid).toBe(lookupGroup('nogroup'));
    c.child.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
  });

  test('an owner that does not exist refuses the start, naming the key', async () => {
    const d = dir();
    const c = cli(['run', '--http', 'off', '--fastcgi', `unix:${path.join(d, 'fcgi.sock')}`, '--fastcgi-owner', 'no-such-user-x', '--ipc-dir', path.join(d, 'sock'), '--', fixture('hello')]);
    expect((await c.exited).code).toBe(1);
    expect(c.stderr()).toContain('fcgipm: listen.fastcgiOwner / fastcgiGroup: no such user "no-such-user-x"');
    expect(fs.existsSync(path.join(d, 'fcgi.sock'))).toBe(false);
  });
});

describe('a listener that cannot bind is named', () => {
  test.each([
    ['http', '--http'],
    ['admin', '--admin'],
    ['fastcgi', '--fastcgi'],
  ])('listen.%s on a port in use: exit 1, the message names the listener, its address and %s', async (listener, flag) => {
    const port = await busyPort();
    const d = dir();
    const args = ['run', '--http', listener === 'http' ? `127.0.0.1:${port}` : '127.0.0.1:0', '--ipc-dir', path.join(d, 'sock')];
    if (listener !== 'http') args.push(flag, `127.0.0.1:${port}`);
    const c = cli([...args, '--', fixture('hello')]);
    expect((await c.exited).code).toBe(1);
    expect(c.stderr()).toBe(`fcgipm: listen.${listener} 127.0.0.1:${port}: address already in use (set another with ${flag} or listen.${listener})\n`);
  });

  test('listen.fastcgi on a Unix socket another fcgipm serves: named, and the socket is left alone', async () => {
    const d = dir();
    const sock = path.join(d, 'fcgi.sock');
    const first = cli(['run', '--http', 'off', '--fastcgi', `unix:${sock}`, '--ipc-dir', path.join(d, 'sock1'), '--', fixture('hello')]);
    await ready(first);
    const second = cli(['run', '--http', 'off', '--fastcgi', `unix:${sock}`, '--ipc-dir', path.join(d, 'sock2'), '--', fixture('hello')]);
    expect((await second.exited).code).toBe(1);
    expect(second.stderr()).toBe(`fcgipm: listen.fastcgi unix:${sock}: address already in use (set another with --fastcgi or listen.fastcgi)\n`);
    expect(fs.statSync(sock).isSocket()).toBe(true);
  });
});

describe('serve --http, --fastcgi, --admin', () => {
  function configFile(d: string, http: string): string {
    const file = path.join(d, 'fcgipm.yaml');
    fs.writeFileSync(file, `ipcDir: sock\nlisten:\n  http: ${http}\n  admin: "off"\ndefaults: { allowRoot: true }\nsites:\n  - apps:\n      - { prefix: /, command: ${fixture('hello')} }\n`);
    return file;
  }

  test('override the file\'s listen.*; a reload keeps them without a "listen address changed" warning', async () => {
    const d = dir();
    const busy = await busyPort();
    const sock = path.join(d, 'fcgi.sock');
    const c = cli(['serve', '--config', configFile(d, `127.0.0.1:${busy}`), '--http', '127.0.0.1:0', '--fastcgi', `unix:${sock}`, '--admin=127.0.0.1:0']);
    const base = await ready(c);
    const line = c.lines.find((l) => l.msg === 'fcgipm ready')!;
    expect(line.http).not.toBe(`127.0.0.1:${busy}`);
    expect(line.fastcgi).toBe(`unix:${sock}`);
    expect(String(line.admin)).toMatch(/^127\.0\.0\.1:\d+$/);
    expect((await httpRequest(`${base}/`)).status).toBe(200);
    expect((await httpRequest(`http://${String(line.admin)}/healthz`)).status).toBe(200);
    expect(fs.statSync(sock).isSocket()).toBe(true);
    c.child.kill('SIGHUP');
    await c.waitForLine((l) => l.msg === 'configuration reloaded');
    expect(c.lines.filter((l) => l.msg === 'listen address changed; restart fcgipm to apply it')).toEqual([]);
    c.child.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
  });

  test('--http off turns the file\'s HTTP listener off', async () => {
    const d = dir();
    const sock = path.join(d, 'fcgi.sock');
    const c = cli(['serve', '--config', configFile(d, '127.0.0.1:0'), '--http', 'off', '--fastcgi', `unix:${sock}`]);
    await c.waitForLine((l) => l.msg === 'fcgipm ready');
    expect(c.lines.find((l) => l.msg === 'fcgipm ready')).toMatchObject({ http: 'off', fastcgi: `unix:${sock}` });
  });

  test('a bad address or an unknown option is a usage error (exit 2) naming it', async () => {
    const d = dir();
    const file = configFile(d, '127.0.0.1:0');
    const bad = cli(['serve', '--config', file, '--http', 'unix:/tmp/x.sock']);
    expect((await bad.exited).code).toBe(2);
    expect(bad.stderr()).toContain('fcgipm: --http: expected HOST:PORT, got "unix:/tmp/x.sock"');
    const unknown = cli(['serve', '--config', file, '--htp', '127.0.0.1:0']);
    expect((await unknown.exited).code).toBe(2);
    expect(unknown.stderr()).toContain('fcgipm: unknown option --htp');
  });
});
