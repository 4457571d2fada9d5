/**
 * Drop-in parity with php-fpm: the same web server config in front of a private php-fpm and
 * in front of `fcgipm run --fastcgi … -- /usr/bin/php-cgi`, the same PHP page, and `$_SERVER`
 * compared byte for byte over a table of URLs (plain script, query, path info, encoded path
 * info, trailing slash, index, double slash, dot segments, spaces and UTF-8 in names). Web
 * servers: nginx (the README's block, and without fastcgi_split_path_info), Apache
 * mod_proxy_fcgi (SetHandler proxy:fcgi:// and proxy:unix:, ProxyPass, ProxyPassMatch),
 * lighttpd mod_fastcgi (with
 * broken-scriptfilename, as its docs advise for PHP), Caddy (`php_fastcgi`) and h2o
 * (`file.custom-handler` with `fastcgi.connect`), all Debian packages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { cleanupClis, cli } from '../helpers/cli';
import { tempDir } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';
import { freePort, startApache, startCaddy, startH2o, startLighttpd, startNginx, type WebServer } from '../helpers/web-servers';

const PHP_CGI = '/usr/bin/php-cgi';
const PHP_FPM = ['/usr/sbin/php-fpm8.2', '/usr/sbin/php-fpm'].find((f) => fs.existsSync(f)) ?? '/usr/sbin/php-fpm';

const KEYS = ['SCRIPT_FILENAME', 'SCRIPT_NAME', 'PATH_INFO', 'PATH_TRANSLATED', 'ORIG_SCRIPT_NAME', 'ORIG_PATH_INFO', 'PHP_SELF', 'DOCUMENT_ROOT', 'REQUEST_URI', 'QUERY_STRING'];
const PAGE = `<?php
header('Content-Type: application/json');
$out = [];
foreach (${JSON.stringify(KEYS).replace(/"/g, "'")} as $k) $out[$k] = array_key_exists($k, $_SERVER) ? $_SERVER[$k] : null;
echo json_encode($out, JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE), "\\n";
`;

const URLS = [
  '/',
  '/sub/',
  '/info.php',
  '/info.php?q=1&r=%41',
  '/info.php/extra',
  '/info.php/a%20b/c',
  '/info.php/caf%C3%A9',
  '/info.php/',
  '/sub/index.php',
  '/sub/index.php/x?y=z',
  '//info.php',
  '/sub/../info.php',
  '/a%20b.php',
  '/caf%C3%A9.php',
  '/caf%C3%A9.php/%C3%A9t%C3%A9',
  '/missing.php',
];

function waitForSocket(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (child.exitCode !== null) return reject(new Error(`php-fpm exited with ${String(child.exitCode)}`));
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > until) reject(new Error('php-fpm did not listen'));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** A scratch dir Apache's children (nobody) can enter. */
function sharedDir(): string {
  const d = tempDir();
  fs.chmodSync(d, 0o755);
  return d;
}

interface Answer {
  status: number;
  body: string;
}

async function ask(base: string, url: string): Promise<Answer> {
  const r = await httpRequest(`${base}${url}`);
  return { status: r.status, body: r.status === 200 ? r.body.toString('latin1').trim() : '' };
}

describe('$_SERVER behind each web server: fcgipm + php-cgi against php-fpm', () => {
  let root: string;
  let www: string;
  let fpm: ChildProcess;
  let fpmPort: number;
  let fcgipmPort: number;
  /** The same two backends on Unix sockets any user may connect to (Apache runs as nobody). */
  let fpmSock: string;
  let fcgipmSock: string;
  const servers: WebServer[] = [];

  beforeAll(async () => {
    root = tempDir();
    fs.chmodSync(root, 0o755);
    www = path.join(root, 'www');
    fs.mkdirSync(path.join(www, 'sub'), { recursive: true, mode: 0o755 });
    for (const name of ['info.php', 'sub/index.php', 'a b.php', 'café.php']) fs.writeFileSync(path.join(www, name), PAGE, { mode: 0o644 });

    // php-fpm as its package runs it, from a private config: cgi.fix_pathinfo=1 (its default).
    fpmPort = await freePort();
    const fpmDir = path.join(root, 'fpm');
    fs.mkdirSync(fpmDir);
    const conf = path.join(fpmDir, 'php-fpm.conf');
    fs.writeFileSync(
      conf,
      `[global]\npid = ${fpmDir}/php-fpm.pid\nerror_log = ${fpmDir}/error.log\ndaemonize = no\n` +
        `[www]\nuser = root\ngroup = root\nlisten = 127.0.0.1:${fpmPort}\npm = static\npm.max_children = 2\n` +
        `[unix]\nuser = root\ngroup = root\nlisten = ${fpmDir}/fpm.sock\nlisten.mode = 0666\npm = static\npm.max_children = 1\n`,
    );
    fpmSock = path.join(fpmDir, 'fpm.sock');
    fpm = spawn(PHP_FPM, ['-F', '-R', '-n', '-y', conf], { stdio: 'ignore' });
    await waitForSocket(fpmPort, fpm);

    fcgipmPort = await freePort();
    const c = cli(['run', '--http', 'off', '--fastcgi', `127.0.0.1:${fcgipmPort}`, '--ipc-dir', path.join(root, 'ipc'), '--max', '2', '--', PHP_CGI, '-n']);
    await c.waitForLine((l) => l.msg === 'fcgipm ready');
    // On a Unix socket, mode 0666 (php-fpm's listen.mode): `serve` with a config file.
    fcgipmSock = path.join(root, 'fcgipm.sock');
    const configFile = path.join(root, 'fcgipm.yaml');
    fs.writeFileSync(
      configFile,
      `ipcDir: ${root}/ipc-unix\nlisten: { http: "off", fastcgi: "unix:${fcgipmSock}", fastcgiMode: "0666" }\n` +
        `defaults: { allowRoot: true, maxProcesses: 1 }\nsites:\n  - apps: [{ prefix: /, command: ${PHP_CGI}, args: [-n] }]\n`,
    );
    const u = cli(['serve', '--config', configFile]);
    await u.waitForLine((l) => l.msg === 'fcgipm ready');
  });

  afterAll(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
    fpm?.kill('SIGTERM');
    await cleanupClis();
  });

  /** Every URL through both backends; the differences, one line each. */
  /** Apache serving the test's document root (its children, nobody, may read it), `handler` added. */
  const apache = (handler: string): Promise<WebServer> =>
    startApache(sharedDir(), `\nDocumentRoot "${www}"\n<Directory "${www}">\n  Require all granted\n</Directory>\n${handler}\n`);

  /** front(port) starts the web server for one backend (TCP ports; the Unix-socket test gets 0 for php-fpm and -1 for fcgipm). */
  async function differences(front: (port: number) => Promise<WebServer>, fcgipm = fcgipmPort, fpmBackend = fpmPort): Promise<string[]> {
    const viaFpm = await front(fpmBackend);
    const viaFcgipm = await front(fcgipm === 0 ? -1 : fcgipm);
    servers.push(viaFpm, viaFcgipm);
    const out: string[] = [];
    // The comparison means something only if PHP ran: the plain page must be a 200 from both.
    const plain = await Promise.all([ask(viaFpm.base, '/info.php'), ask(viaFcgipm.base, '/info.php')]);
    if (plain.some((a) => a.status !== 200 || !a.body.includes(`"SCRIPT_FILENAME":"${www}/info.php"`))) {
      out.push(`/info.php did not run PHP: php-fpm ${plain[0].status} ${plain[0].body} | fcgipm ${plain[1].status} ${plain[1].body}`);
    }
    for (const url of URLS) {
      const [want, got] = await Promise.all([ask(viaFpm.base, url), ask(viaFcgipm.base, url)]);
      if (want.status !== got.status || want.body !== got.body) {
        out.push(`${url}: php-fpm ${want.status} ${want.body} | fcgipm ${got.status} ${got.body}`);
      }
    }
    return out;
  }

  test('nginx, the README block (fastcgi_split_path_info)', async () => {
    const diffs = await differences((port) =>
      startNginx(
        tempDir(),
        `
    root ${www};
    index index.php;
    location ~ [^/]\\.php(/|$) {
      fastcgi_split_path_info ^(.+?\\.php)(/.*)$;
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_pass 127.0.0.1:${port};
    }`,
      ),
    );
    expect(diffs).toEqual([]);
  });

  test('nginx without split_path_info (SCRIPT_FILENAME carries the path info; cgi.fix_pathinfo splits it)', async () => {
    const diffs = await differences((port) =>
      startNginx(
        tempDir(),
        `
    root ${www};
    location ~ \\.php {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$uri;
      fastcgi_pass 127.0.0.1:${port};
    }`,
      ),
    );
    expect(diffs).toEqual([]);
  });

  test('Apache mod_proxy_fcgi: SetHandler proxy:fcgi://', async () => {
    const diffs = await differences((port) => apache(`<FilesMatch "\\.php$">\n  SetHandler "proxy:fcgi://127.0.0.1:${port}"\n</FilesMatch>`));
    expect(diffs).toEqual([]);
  });

  test('Apache mod_proxy_fcgi: ProxyPassMatch with the path tail', async () => {
    const diffs = await differences((port) => apache(`ProxyPassMatch "^/(.*\\.php(/.*)?)$" "fcgi://127.0.0.1:${port}${www}/$1"`));
    expect(diffs).toEqual([]);
  });
  test('Apache mod_proxy_fcgi: ProxyPass of a whole URL space', async () => {
    const diffs = await differences((port) => apache(`ProxyPass "/" "fcgi://127.0.0.1:${port}${www}/"`));
    expect(diffs).toEqual([]);
  });

  test('Apache mod_proxy_fcgi: SetHandler proxy:unix:…|fcgi:// to a Unix socket', async () => {
    const sockFor = (port: number): string => (port === 0 ? fpmSock : fcgipmSock);
    const diffs = await differences((port) => apache(`<FilesMatch "\\.php$">\n  SetHandler "proxy:unix:${sockFor(port)}|fcgi://localhost"\n</FilesMatch>`), 0, 0);
    expect(diffs).toEqual([]);
  });

  test('lighttpd mod_fastcgi with broken-scriptfilename', async () => {
    const diffs = await differences((port) =>
      startLighttpd(
        tempDir(),
        `
server.modules = ( "mod_fastcgi" )
server.document-root = "${www}"
index-file.names = ( "index.php" )
fastcgi.server = ( ".php" => (( "host" => "127.0.0.1", "port" => ${port}, "broken-scriptfilename" => "enable", "check-local" => "disable" )) )
`,
      ),
    );
    expect(diffs).toEqual([]);
  });

  test('Caddy php_fastcgi', async () => {
    const diffs = await differences((port) => startCaddy(tempDir(), `  root * ${www}\n  php_fastcgi 127.0.0.1:${port}\n  file_server`));
    expect(diffs).toEqual([]);
  });

  test('h2o file.custom-handler with fastcgi.connect (it sends no DOCUMENT_ROOT: fcgipm is told the root)', async () => {
    const port = await freePort();
    const c = cli(['run', '--http', 'off', '--fastcgi', `127.0.0.1:${port}`, '--ipc-dir', path.join(root, 'ipc-h2o'), '--root', www, '--', PHP_CGI, '-n']);
    await c.waitForLine((l) => l.msg === 'fcgipm ready');
    const diffs = await differences((port) =>
      startH2o(
        tempDir(),
        `      /:
        file.dir: ${www}
        file.index: [index.php]
        file.custom-handler:
          extension: .php
          fastcgi.connect:
            host: 127.0.0.1
            port: ${port}
            type: tcp`,
      ),
      port,
    );
    expect(diffs).toEqual([]);
  });
});
