/**
 * The README's php-fpm recipe as written: `fcgipm run --http off --fastcgi unix:SOCK
 * --fastcgi-mode 0666 --max 8 --user www-data -- php-cgi` (the real CLI) behind nginx with the
 * README's location block and behind Apache with the README's SetHandler line. The web server
 * chose the script: php-cgi must run the web server's SCRIPT_FILENAME (checked like php-fpm
 * checks it), never its own binary.
 */
import fs from 'node:fs';
import path from 'node:path';
import { cleanupClis, cli, dir } from '../helpers/cli';
import { httpRequest, kv } from '../helpers/http-client';
import { startApache, startNginx, type WebServer } from '../helpers/web-servers';

const INFO_PHP = `<?php
header('Content-Type: text/plain');
foreach (['SCRIPT_NAME', 'SCRIPT_FILENAME', 'PATH_INFO', 'PHP_SELF', 'DOCUMENT_ROOT', 'REQUEST_URI'] as $k) echo $k, '=', $_SERVER[$k] ?? '(unset)', "\\n";
`;

/** Readable by www-data (the workers) and nobody (Apache's children): not a 0700 temp dir. */
function shared(): string {
  const d = dir();
  fs.chmodSync(d, 0o755);
  return d;
}

describe("the README's php-fpm recipe behind nginx and Apache", () => {
  let nginx: WebServer;
  let apache: WebServer;
  let sock: string;
  let www: string;
  let outside: string;

  beforeAll(async () => {
    const d = shared();
    www = path.join(d, 'www');
    fs.mkdirSync(www, { mode: 0o755 });
    fs.writeFileSync(path.join(www, 'info.php'), INFO_PHP);
    fs.writeFileSync(path.join(www, 'notes.txt'), 'not a script\n');
    outside = path.join(d, 'outside.php');
    fs.writeFileSync(outside, '<?php echo "outside\\n";');
    sock = path.join(d, 'fcgipm.sock');
    const c = cli(['run', '--http', 'off', '--fastcgi', `unix:${sock}`, '--fastcgi-mode', '0666', '--max', '8', '--user', 'www-data', '--ipc-dir', path.join(d, 'ipc'), '--', 'php-cgi']);
    await c.waitForLine((l) => l.msg === 'fcgipm ready');
    apache = await startApache(
      shared(),
      `
DocumentRoot "${www}"
<Directory "${www}">
  Require all granted
</Directory>
<FilesMatch "\\.(php|fcgi)$">
    SetHandler "proxy:unix:${sock}|fcgi://localhost"
</FilesMatch>
`,
    );
    // The README's block, plus two locations that send what a misconfigured server might.
    nginx = await startNginx(
      dir(),
      `
    root ${www};
    location ~ [^/]\\.(php|fcgi)(/|$) {
      fastcgi_split_path_info ^(.+?\\.(?:php|fcgi))(/.*)$;
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_pass unix:${sock};
    }
    location = /escape {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME ${outside};
      fastcgi_pass unix:${sock};
    }
    location = /notes {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root/notes.txt;
      fastcgi_pass unix:${sock};
    }`,
    );
  });

  afterAll(async () => {
    await nginx?.stop();
    await apache?.stop();
    await cleanupClis();
  });

  test('the socket is 0666 and the workers run as www-data', async () => {
    expect(fs.statSync(sock).mode & 0o777).toBe(0o666);
    fs.writeFileSync(path.join(www, 'whoami.php'), '<?php echo posix_getpwuid(posix_geteuid())["name"] ?? getmyuid();');
    const r = await httpRequest(`${nginx.base}/whoami.php`);
    expect(r.body.toString()).toMatch(/^(www-data|33)$/);
  });

  test('behind Apache with the README’s SetHandler line: the same page, the same variables', async () => {
    const r = await httpRequest(`${apache.base}/info.php/a/b?x=1`);
    expect(r.status).toBe(200);
    const m = kv(r.body.toString());
    expect(m.get('SCRIPT_FILENAME')).toBe(path.join(www, 'info.php'));
    expect(m.get('SCRIPT_NAME')).toBe('/info.php');
    expect(m.get('PATH_INFO')).toBe('/a/b');
    expect(m.get('REQUEST_URI')).toBe('/info.php/a/b?x=1');
  });

  test('a PHP page runs: the web server’s SCRIPT_FILENAME, not php-cgi’s binary', async () => {
    const r = await httpRequest(`${nginx.base}/info.php?x=1`);
    expect(r.status).toBe(200);
    const m = kv(r.body.toString());
    expect(m.get('SCRIPT_FILENAME')).toBe(path.join(www, 'info.php'));
    expect(m.get('SCRIPT_NAME')).toBe('/info.php');
    expect(m.get('PHP_SELF')).toBe('/info.php');
    expect(m.get('DOCUMENT_ROOT')).toBe(www);
    expect(m.get('REQUEST_URI')).toBe('/info.php?x=1');
  });

  test('path info split by nginx reaches PHP as php-fpm gives it', async () => {
    const r = await httpRequest(`${nginx.base}/info.php/a/b`);
    expect(r.status).toBe(200);
    const m = kv(r.body.toString());
    expect(m.get('SCRIPT_NAME')).toBe('/info.php');
    expect(m.get('PATH_INFO')).toBe('/a/b');
    expect(m.get('PHP_SELF')).toBe('/info.php/a/b');
  });

  test('a missing script is 404 "File not found." (php-fpm: "Primary script unknown")', async () => {
    const r = await httpRequest(`${nginx.base}/missing.php`);
    expect(r.status).toBe(404);
    expect(r.body.toString()).toContain('File not found.');
  });

  test('a script outside the document root is refused with 403', async () => {
    const r = await httpRequest(`${nginx.base}/escape`);
    expect(r.status).toBe(403);
    expect(r.body.toString()).toContain('outside the allowed roots');
    expect(r.body.toString()).not.toMatch(/^outside$/m);
  });

  test('a file without a PHP extension is 403 "Access denied." (php-fpm security.limit_extensions)', async () => {
    const r = await httpRequest(`${nginx.base}/notes`);
    expect(r.status).toBe(403);
    expect(r.body.toString()).toContain('Access denied.');
    expect(r.body.toString()).not.toContain('not a script');
  });
});
