/**
 * Document-root mode, as an Apache + mod_fcgid site runs: `.fcgi` files are their own
 * process classes (AddHandler fcgid-script .fcgi), `.php` files run through one php-cgi
 * class (FcgidWrapper /usr/bin/php-cgi .php), PATH_INFO splits at the script, nothing
 * outside the root runs. Real fixtures, real php-cgi, the real config loader.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fixture } from '../helpers/fixtures';
import { httpRequest, parseEnvDump } from '../helpers/http-client';
import { closeAllConfigs, serveConfig, type ServedConfig } from '../helpers/serve-config';

const PHP_CGI = '/usr/bin/php-cgi';

const INFO_PHP = `<?php
header('Content-Type: text/plain');
foreach (['SCRIPT_NAME', 'SCRIPT_FILENAME', 'PATH_INFO', 'PATH_TRANSLATED', 'DOCUMENT_ROOT', 'REQUEST_URI'] as $k) {
  echo $k, '=', $_SERVER[$k] ?? '(unset)', "\\n";
}
echo 'pid=', getmypid(), "\\n";
`;

/** Raw request line, so paths reach the server exactly as written (no client normalisation). */
function rawGet(base: string, target: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(url.port), url.hostname, () => {
      const extra = Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      s.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\n${extra}Connection: close\r\n\r\n`);
    });
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
    });
  });
}

function lines(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of text.split('\n')) {
    const i = l.indexOf('=');
    if (i > 0) m.set(l.slice(0, i), l.slice(i + 1));
  }
  return m;
}

describe('document-root mode (mod_fcgid routing)', () => {
  let s: ServedConfig;
  let www: string;
  let outside: string;

  beforeAll(async () => {
    s = await serveConfig((dir) => {
      www = path.join(dir, 'www');
      outside = path.join(dir, 'outside');
      fs.mkdirSync(path.join(www, 'sub', 'empty'), { recursive: true });
      fs.mkdirSync(path.join(www, 'private'), { recursive: true });
      fs.mkdirSync(outside);
      fs.copyFileSync(fixture('hello'), path.join(www, 'hello.fcgi'));
      fs.copyFileSync(fixture('echo'), path.join(www, 'echo.fcgi'));
      fs.copyFileSync(fixture('echo'), path.join(www, 'private', 'echo.fcgi'));
      fs.chmodSync(path.join(www, 'hello.fcgi'), 0o755);
      fs.chmodSync(path.join(www, 'echo.fcgi'), 0o755);
      fs.chmodSync(path.join(www, 'private', 'echo.fcgi'), 0o755);
      fs.copyFileSync(fixture('hello'), path.join(www, 'noexec.fcgi'));
      fs.chmodSync(path.join(www, 'noexec.fcgi'), 0o644);
      fs.writeFileSync(path.join(www, 'index.php'), INFO_PHP);
      fs.writeFileSync(path.join(www, 'sub', 'info.php'), INFO_PHP);
      fs.mkdirSync(path.join(www, 'docs'));
      fs.writeFileSync(path.join(www, 'docs', 'index.php'), INFO_PHP);
      fs.writeFileSync(path.join(www, 'readme.txt'), 'not a script\n');
      fs.writeFileSync(path.join(outside, 'secret.php'), '<?php echo "LEAKED";');
      fs.copyFileSync(fixture('hello'), path.join(outside, 'out.fcgi'));
      fs.chmodSync(path.join(outside, 'out.fcgi'), 0o755);
      fs.symlinkSync(path.join(outside, 'secret.php'), path.join(www, 'leak.php'));
      fs.symlinkSync(outside, path.join(www, 'linked'));
      return `
ipcDir: ${dir}/sock
listen:
  http: 127.0.0.1:0
defaults:
  maxProcesses: 4
sites:
  - documentRoot: ${www}
    directoryIndex: [index.php]
    handlers: [.fcgi]
    wrappers:
      - { suffix: .php, command: ${PHP_CGI} }
    apps:
      - { prefix: /app, command: ${fixture('hello')} }
    passHeaders: [Authorization]
    maxRequestBody: 4K
    initialEnv: { SITE_ENV: production }
`;
    });
  });
  afterAll(closeAllConfigs);

  test('an executable .fcgi file runs as its own class, with PATH_INFO split at the script', async () => {
    const r = await httpRequest(`${s.base}/echo.fcgi/a/b%20c?env=1`);
    expect(r.status).toBe(200);
    const { params, environ } = parseEnvDump(r.body.toString('latin1'));
    expect(params.get('SCRIPT_NAME')).toBe('/echo.fcgi');
    expect(params.get('PATH_INFO')).toBe('/a/b c');
    expect(params.get('SCRIPT_FILENAME')).toBe(path.join(www, 'echo.fcgi'));
    expect(params.get('PATH_TRANSLATED')).toBe(`${www}/a/b c`);
    expect(params.get('DOCUMENT_ROOT')).toBe(www);
    expect(environ.get('SITE_ENV')).toBe('production');
    // Without path info there is no PATH_INFO at all, as under Apache (never an empty one).
    const bare = parseEnvDump((await httpRequest(`${s.base}/echo.fcgi?env=1`)).body.toString('latin1')).params;
    expect(bare.get('SCRIPT_NAME')).toBe('/echo.fcgi');
    expect(bare.has('PATH_INFO')).toBe(false);
    expect(bare.has('PATH_TRANSLATED')).toBe(false);
    const hello = await httpRequest(`${s.base}/hello.fcgi`);
    expect(hello.body.toString()).toMatch(/^Hello from fcgipm fixture/);
    const names = s.server.manager.snapshot().pools.map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(['echo.fcgi', 'hello.fcgi']));
  });

  test('.php files run through one php-cgi class; / serves the directory index', async () => {
    const a = lines((await httpRequest(`${s.base}/index.php/x/y?q=1`)).body.toString());
    expect(a.get('SCRIPT_NAME')).toBe('/index.php');
    expect(a.get('PATH_INFO')).toBe('/x/y');
    expect(a.get('SCRIPT_FILENAME')).toBe(path.join(www, 'index.php'));
    expect(a.get('PATH_TRANSLATED')).toBe(`${www}/x/y`);
    expect(a.get('REQUEST_URI')).toBe('/index.php/x/y?q=1');
    const b = lines((await httpRequest(`${s.base}/sub/info.php`)).body.toString());
    expect(b.get('SCRIPT_NAME')).toBe('/sub/info.php');
    expect(b.get('PATH_INFO')).toBe('(unset)');
    const dirNoSlash = await httpRequest(`${s.base}/docs?page=2`);
    expect(dirNoSlash.status).toBe(301);
    expect(dirNoSlash.headers.location).toBe('/docs/?page=2');
    expect(lines((await httpRequest(`${s.base}/docs/`)).body.toString()).get('SCRIPT_NAME')).toBe('/docs/index.php');
    const root = await httpRequest(`${s.base}/`);
    expect(root.status).toBe(200);
    expect(lines(root.body.toString()).get('SCRIPT_FILENAME')).toBe(path.join(www, 'index.php'));
    const phpPools = s.server.manager.snapshot().pools.filter((p) => p.name.startsWith('php-cgi'));
    expect(phpPools).toHaveLength(1);
  });

  test('missing script 404, non-executable 403, directory 403, a file without handler served as it is', async () => {
    expect((await httpRequest(`${s.base}/nope.fcgi`)).status).toBe(404);
    expect((await httpRequest(`${s.base}/nope.php`)).status).toBe(404);
    const noexec = await httpRequest(`${s.base}/noexec.fcgi`);
    expect(noexec.status).toBe(403);
    expect((await httpRequest(`${s.base}/sub/empty/`)).status).toBe(403);
    const readme = await httpRequest(`${s.base}/readme.txt`);
    expect(readme.status).toBe(200);
    expect(readme.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  test('nothing outside the root runs: dot-dot, encoded dots and slashes, symlinks out', async () => {
    for (const target of ['/../outside/out.fcgi', '/sub/../../outside/out.fcgi', '/%2e%2e/outside/out.fcgi', '/sub/%2E%2E/%2e%2e/outside/out.fcgi']) {
      const r = await rawGet(s.base, target);
      expect([400, 404]).toContain(r.status);
      expect(r.text).not.toMatch(/Hello from fcgipm fixture/);
    }
    const slash = await rawGet(s.base, '/sub%2f..%2f..%2foutside%2fout.fcgi');
    expect(slash.status).toBe(404);
    const leak = await rawGet(s.base, '/leak.php');
    expect(leak.status).toBe(403);
    expect(leak.text).not.toMatch(/LEAKED/);
    const linked = await rawGet(s.base, '/linked/out.fcgi');
    expect(linked.status).toBe(403);
    expect(linked.text).not.toMatch(/Hello from fcgipm fixture/);
  });

  test('an app route by prefix wins over the document root, on whole segments', async () => {
    const r = await httpRequest(`${s.base}/app/anything`);
    expect(r.body.toString()).toMatch(/^Hello from fcgipm fixture/);
    expect((await httpRequest(`${s.base}/apple`)).status).toBe(404);
  });

  test('FcgidPassHeader Authorization reaches the app under its own name', async () => {
    const r = await httpRequest(`${s.base}/echo.fcgi?env=1`, { headers: { authorization: 'Bearer t0ken' } });
    const { params } = parseEnvDump(r.body.toString('latin1'));
    expect(params.get('Authorization')).toBe('Bearer t0ken');
    expect(params.get('HTTP_AUTHORIZATION')).toBe('Bearer t0ken');
  });

  test('a body over the site limit is answered 413 without reaching the app', async () => {
    const ok = await httpRequest(`${s.base}/echo.fcgi`, { method: 'POST', body: Buffer.alloc(4096, 1) });
    expect(ok.status).toBe(200);
    expect(ok.body.length).toBe(4096);
    const big = await httpRequest(`${s.base}/echo.fcgi`, { method: 'POST', body: Buffer.alloc(4097, 1) });
    expect(big.status).toBe(413);
  });
});

describe('virtual hosts', () => {
  afterAll(closeAllConfigs);

  test('each Host gets its own document root and its own pools; unknown hosts get the first site', async () => {
    const s = await serveConfig((dir) => {
      for (const site of ['a', 'b']) {
        fs.mkdirSync(path.join(dir, site));
        fs.copyFileSync(fixture('echo'), path.join(dir, site, 'who.fcgi'));
        fs.chmodSync(path.join(dir, site, 'who.fcgi'), 0o755);
      }
      return `
ipcDir: ${dir}/sock
listen: { http: 127.0.0.1:0 }
sites:
  - { hosts: [a.example], documentRoot: ${dir}/a, handlers: [.fcgi] }
  - { hosts: [b.example, "*.b.example"], documentRoot: ${dir}/b, handlers: [.fcgi] }
`;
    });
    const root = (host: string): Promise<string | undefined> =>
      httpRequest(`${s.base}/who.fcgi?env=1`, { headers: { host } }).then((r) => parseEnvDump(r.body.toString()).params.get('DOCUMENT_ROOT'));
    expect(await root('a.example')).toBe(path.join(s.dir, 'a'));
    expect(await root('B.Example:8080')).toBe(path.join(s.dir, 'b'));
    expect(await root('www.b.example')).toBe(path.join(s.dir, 'b'));
    expect(await root('other.example')).toBe(path.join(s.dir, 'a'));
    expect(s.server.manager.snapshot().pools).toHaveLength(2);
  });
});

describe('process classes follow the binary', () => {
  afterAll(closeAllConfigs);

  test('a script deployed by rename is a new class: requests move to it at once, with no stat per request', async () => {
    const s = await serveConfig((dir) => {
      fs.mkdirSync(path.join(dir, 'www'));
      fs.copyFileSync(fixture('hello'), path.join(dir, 'www', 'app.fcgi'));
      fs.chmodSync(path.join(dir, 'www', 'app.fcgi'), 0o755);
      return `
ipcDir: ${dir}/sock
listen: { http: 127.0.0.1:0 }
sites:
  - { documentRoot: ${dir}/www, handlers: [.fcgi] }
`;
    });
    for (let i = 0; i < 20; i += 1) expect((await httpRequest(`${s.base}/app.fcgi`)).body.toString()).toMatch(/^Hello from fcgipm fixture/);
    const app = path.join(s.dir, 'www', 'app.fcgi');
    fs.copyFileSync(fixture('nokeep'), `${app}.new`);
    fs.renameSync(`${app}.new`, app);
    // The class is trusted between requests; inotify tells the server the file changed.
    const started = Date.now();
    let body = '';
    while (Date.now() - started < 5_000) {
      body = (await httpRequest(`${s.base}/app.fcgi`)).body.toString();
      if (!body.startsWith('Hello')) break;
      await new Promise((res) => setTimeout(res, 10));
    }
    expect(body).toMatch(/^nokeep pid=\d+ request=1/);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(s.server.manager.snapshot().pools).toHaveLength(2);
  });
});
