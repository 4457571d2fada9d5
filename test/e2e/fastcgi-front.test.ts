/**
 * fcgipm as the FastCGI server behind real web servers — php-fpm's job, for any FastCGI
 * binary: nginx (fastcgi_pass over a Unix socket, with and without fastcgi_keep_conn),
 * Apache httpd's mod_proxy_fcgi (SetHandler proxy:fcgi:// and ProxyPass), and libfcgi's own
 * cgi-fcgi client. Behind fcgipm: php-cgi through a wrapper and the C fixtures.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CAPACITY_VARIABLES, queryValues } from '../../src/client/get-values';
import { fixture, tempDir } from '../helpers/fixtures';
import { httpRequest, kv, parseEnvDump } from '../helpers/http-client';
import { closeAllConfigs, serveConfig, type ServedConfig } from '../helpers/serve-config';
import { freePort, startApache, startNginx, type WebServer } from '../helpers/web-servers';

const PHP_CGI = '/usr/bin/php-cgi';
const INFO_PHP = `<?php
header('Content-Type: text/plain');
header('X-Php: yes');
foreach (['SCRIPT_NAME', 'SCRIPT_FILENAME', 'PATH_INFO', 'REQUEST_URI'] as $k) echo $k, '=', $_SERVER[$k] ?? '(unset)', "\\n";
if (isset($_GET['echo'])) echo 'body=', md5(file_get_contents('php://input')), "\\n";
`;

const md5 = (b: Buffer): string => crypto.createHash('md5').update(b).digest('hex');

/** A world-readable scratch dir: Apache's children run as nobody and must stat the files. */
function sharedDir(): string {
  const dir = tempDir();
  fs.chmodSync(dir, 0o755);
  return dir;
}

function makeRoot(dir: string): string {
  const www = path.join(dir, 'www');
  fs.mkdirSync(www, { mode: 0o755 });
  for (const name of ['hello', 'echo', 'big']) {
    fs.copyFileSync(fixture(name), path.join(www, `${name}.fcgi`));
    fs.chmodSync(path.join(www, `${name}.fcgi`), 0o755);
  }
  fs.copyFileSync(fixture('hello'), path.join(www, 'unix-hello.fcgi'));
  fs.chmodSync(path.join(www, 'unix-hello.fcgi'), 0o755);
  fs.writeFileSync(path.join(www, 'info.php'), INFO_PHP, { mode: 0o644 });
  return www;
}

describe('FastCGI front end', () => {
  let fc: ServedConfig;
  let www: string;
  let tcpPort: number;
  let sock: string;
  const servers: WebServer[] = [];

  beforeAll(async () => {
    const dir = sharedDir();
    www = makeRoot(dir);
    tcpPort = await freePort();
    sock = path.join(dir, 'fcgipm.sock');
    // One fcgipm per listener kind would double the workers; the Unix socket serves nginx
    // and cgi-fcgi, a second instance on TCP serves Apache.
    fc = await serveConfig(
      `
ipcDir: ${dir}/ipc
listen:
  http: "off"
  fastcgi: unix:${sock}
  # Apache's children run as nobody: php-fpm's listen.mode = 0666 equivalent.
  fastcgiMode: "0666"
defaults: { maxProcesses: 4 }
sites:
  - documentRoot: ${www}
    handlers: [.fcgi]
    wrappers: [{ suffix: .php, command: ${PHP_CGI} }]
    apps: [{ prefix: /app, command: ${fixture('hello')} }]
`,
      dir,
    );
  });
  afterAll(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
    await closeAllConfigs();
  });

  describe('behind nginx', () => {
    let nginx: WebServer;
    beforeAll(async () => {
      nginx = await startNginx(
        tempDir(),
        `
    root ${www};
    location ~ [^/]\\.(php|fcgi)(/|$) {
      fastcgi_split_path_info ^(.+?\\.(?:php|fcgi))(/.*)$;
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_pass unix:${sock};
    }
    location ^~ /kept/ {
      rewrite ^/kept/(.*)$ /$1 break;
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$uri;
      fastcgi_keep_conn on;
      fastcgi_pass fcgipm_kept;
    }
    location ^~ /app/ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$uri;
      fastcgi_pass unix:${sock};
    }`,
        `upstream fcgipm_kept { server unix:${sock}; keepalive 4; }`,
      );
      servers.push(nginx);
    });

    test('php-cgi through the .php wrapper, with nginx-split PATH_INFO', async () => {
      const r = await httpRequest(`${nginx.base}/info.php/extra/path?x=1`);
      expect(r.status).toBe(200);
      expect(r.headers['x-php']).toBe('yes');
      const m = kv(r.body.toString());
      expect(m.get('SCRIPT_FILENAME')).toBe(path.join(www, 'info.php'));
      expect(m.get('SCRIPT_NAME')).toBe('/info.php');
      expect(m.get('PATH_INFO')).toBe('/extra/path');
      expect(m.get('REQUEST_URI')).toBe('/info.php/extra/path?x=1');
    });

    test('C fixtures: params as nginx sent them, bodies both ways bytes exact', async () => {
      const env = await httpRequest(`${nginx.base}/echo.fcgi?env=1`);
      const { params } = parseEnvDump(env.body.toString('latin1'));
      expect(params.get('SERVER_SOFTWARE')).toMatch(/^nginx\//);
      expect(params.get('SCRIPT_FILENAME')).toBe(path.join(www, 'echo.fcgi'));
      expect(params.get('DOCUMENT_URI')).toBe('/echo.fcgi');

      const upload = crypto.randomBytes(3 * 1024 * 1024 + 17);
      const echoed = await httpRequest(`${nginx.base}/echo.fcgi`, { method: 'POST', body: upload });
      expect(echoed.status).toBe(200);
      expect(md5(echoed.body)).toBe(md5(upload));

      const big = await httpRequest(`${nginx.base}/big.fcgi?bytes=5000000`);
      expect(big.body.length).toBe(5_000_000);
      for (let i = 0; i < big.body.length; i += 99_991) expect(big.body[i]).toBe((i * 7 + 3) % 256);

      const php = await httpRequest(`${nginx.base}/info.php?echo=1`, { method: 'POST', body: upload });
      expect(kv(php.body.toString()).get('body')).toBe(md5(upload));
    });

    test('small POST bodies from nginx (read first, one write to the worker): every size around the 8 KiB read boundary echoed exactly', async () => {
      const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const failures: string[] = [];
        for (let n = 6800; n <= 8400; n += 8) {
          const payload = crypto.randomBytes(n);
          const r = await httpRequest(`${nginx.base}/kept/echo.fcgi`, { method: 'POST', body: payload, agent });
          if (r.status !== 200 || md5(r.body) !== md5(payload)) failures.push(`${n}: ${r.status}`);
        }
        expect(failures).toEqual([]);
      } finally {
        agent.destroy();
      }
      const pool = fc.server.manager.snapshot().pools.find((p) => p.command.endsWith('echo.fcgi'));
      expect(pool?.replayed).toBe(0);
      expect(fc.lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('FCGI_KEEP_CONN'))).toEqual([]);
    });

    test('a missing script is 404, an app route by URI prefix works', async () => {
      expect((await httpRequest(`${nginx.base}/missing.php`)).status).toBe(404);
      const app = await httpRequest(`${nginx.base}/app/whatever`);
      expect(app.body.toString()).toMatch(/^Hello from fcgipm fixture/);
    });

    test('fastcgi_keep_conn: many requests over kept connections', async () => {
      const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 2 });
      try {
        const results = await Promise.all(Array.from({ length: 60 }, () => httpRequest(`${nginx.base}/kept/hello.fcgi`, { agent })));
        expect(results.every((r) => r.status === 200 && r.body.toString().startsWith('Hello from fcgipm fixture'))).toBe(true);
      } finally {
        agent.destroy();
      }
    });
  });

  describe('behind Apache mod_proxy_fcgi', () => {
    let tcp: ServedConfig;
    let apache: WebServer;
    beforeAll(async () => {
      const dir = sharedDir();
      tcp = await serveConfig(
        `
ipcDir: ${dir}/ipc
listen: { http: "off", fastcgi: "127.0.0.1:${tcpPort}" }
sites:
  - documentRoot: ${www}
    handlers: [.fcgi]
    wrappers: [{ suffix: .php, command: ${PHP_CGI} }]
    apps: [{ prefix: /app, command: ${fixture('hello')} }]
`,
        dir,
      );
      apache = await startApache(
        sharedDir(),
        `
DocumentRoot "${www}"
<Directory "${www}">
  Require all granted
</Directory>
<FilesMatch "\\.(php|fcgi)$">
  SetHandler "proxy:fcgi://127.0.0.1:${tcpPort}"
</FilesMatch>
ProxyPass "/app/" "fcgi://127.0.0.1:${tcpPort}/app/"
<Files "unix-hello.fcgi">
  SetHandler "proxy:unix:${sock}|fcgi://localhost"
</Files>
`,
      );
      servers.push(apache);
    });

    test('SetHandler proxy:fcgi:// → php-cgi and a C fixture', async () => {
      const php = await httpRequest(`${apache.base}/info.php?x=2`);
      expect(php.status).toBe(200);
      expect(kv(php.body.toString()).get('SCRIPT_FILENAME')).toBe(path.join(www, 'info.php'));
      const upload = crypto.randomBytes(200_000);
      const echoed = await httpRequest(`${apache.base}/echo.fcgi`, { method: 'POST', body: upload });
      expect(md5(echoed.body)).toBe(md5(upload));
      expect(tcp.server.fastcgiAddress).toBe(`127.0.0.1:${tcpPort}`);
    });

    test('SetHandler proxy:unix:…|fcgi:// over fcgipm\'s Unix socket (mode 0666 from listen.fastcgiMode)', async () => {
      expect(fs.statSync(sock).mode & 0o777).toBe(0o666);
      const r = await httpRequest(`${apache.base}/unix-hello.fcgi`);
      expect(r.status).toBe(200);
      expect(r.body.toString()).toMatch(/^Hello from fcgipm fixture/);
      // Served by the Unix-socket instance, not the TCP one.
      expect(fc.server.manager.snapshot().pools.some((p) => p.name === 'unix-hello.fcgi')).toBe(true);
      expect(tcp.server.manager.snapshot().pools.some((p) => p.name === 'unix-hello.fcgi')).toBe(false);
    });

    test('ProxyPass fcgi://: the "proxy:fcgi://host:port" SCRIPT_FILENAME routes by URI prefix', async () => {
      const r = await httpRequest(`${apache.base}/app/hello`);
      expect(r.status).toBe(200);
      expect(r.body.toString()).toMatch(/^Hello from fcgipm fixture/);
    });
  });

  test("libfcgi's cgi-fcgi client", async () => {
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        '/usr/bin/cgi-fcgi',
        ['-bind', '-connect', sock],
        { env: { REQUEST_METHOD: 'GET', SCRIPT_FILENAME: path.join(www, 'hello.fcgi'), QUERY_STRING: '', REQUEST_URI: '/hello.fcgi' } },
        (err, stdout) => (err ? reject(new Error(err.message)) : resolve(stdout)),
      );
    });
    expect(out).toMatch(/Content-Type: text\/plain\r\n\r\nHello from fcgipm fixture/);
    expect(fc.server.fastcgiAddress).toBe(`unix:${sock}`);
  });

  test('HTTP_PROXY from the web server (a client\'s Proxy: header) is stripped, httpoxy; listen.fastcgiPassProxy passes it', async () => {
    const paramsVia = (socket: string): Promise<Map<string, string>> =>
      new Promise((resolve, reject) => {
        execFile(
          '/usr/bin/cgi-fcgi',
          ['-bind', '-connect', socket],
          {
            env: {
              REQUEST_METHOD: 'GET',
              SCRIPT_FILENAME: path.join(www, 'echo.fcgi'),
              QUERY_STRING: 'env=1',
              REQUEST_URI: '/echo.fcgi?env=1',
              HTTP_PROXY: 'http://evil.example:3128',
              HTTP_X_OTHER: 'kept',
            },
          },
          (err, stdout) => (err ? reject(new Error(err.message)) : resolve(parseEnvDump(stdout.slice(stdout.indexOf('\r\n\r\n') + 4)).params)),
        );
      });
    const stripped = await paramsVia(sock);
    expect(stripped.get('HTTP_X_OTHER')).toBe('kept');
    expect(stripped.has('HTTP_PROXY')).toBe(false);

    const dir = sharedDir();
    await serveConfig(
      `
ipcDir: ${dir}/ipc
listen: { http: "off", fastcgi: "unix:${dir}/pass.sock", fastcgiPassProxy: true }
sites:
  - documentRoot: ${www}
    handlers: [.fcgi]
`,
      dir,
    );
    expect((await paramsVia(path.join(dir, 'pass.sock'))).get('HTTP_PROXY')).toBe('http://evil.example:3128');
  });

  test('FCGI_GET_VALUES: no multiplexing, connections up to the process cap', async () => {
    const values = await queryValues(sock, CAPACITY_VARIABLES, 2_000);
    expect(values?.get('FCGI_MPXS_CONNS')).toBe('0');
    expect(values?.get('FCGI_MAX_CONNS')).toBe('1000');
    expect(values?.get('FCGI_MAX_REQS')).toBe('1000');
  });
});
