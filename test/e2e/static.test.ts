/**
 * Static files under a document root (a mod_fcgid site's CSS, JavaScript and images), served
 * by the HTTP front end beside the PHP wrapper: MIME types, validators, conditional GET,
 * Range, HEAD, a 1 GiB file streamed with flat memory, and the refusals (dot files, path info
 * after a file, traversal, `static: off`).
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { tempDir } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';
import { closeAllConfigs, serveConfig, type ServedConfig } from '../helpers/serve-config';

const PHP_CGI = '/usr/bin/php-cgi';
const CSS = 'body { color: #333; }\n';

describe('static files under a document root', () => {
  let s: ServedConfig;
  let off: ServedConfig;
  let www: string;

  beforeAll(async () => {
    const dir = tempDir();
    www = path.join(dir, 'www');
    fs.mkdirSync(path.join(www, 'docs'), { recursive: true });
    fs.writeFileSync(path.join(www, 'style.css'), CSS);
    fs.writeFileSync(path.join(www, 'app.js'), 'console.log(1);\n');
    fs.writeFileSync(path.join(www, 'logo.png'), Buffer.from('89504e470d0a1a0a', 'hex'));
    fs.writeFileSync(path.join(www, '.htpasswd'), 'admin:secret\n');
    fs.writeFileSync(path.join(www, 'docs', 'index.html'), '<h1>docs</h1>\n');
    fs.writeFileSync(path.join(www, 'index.php'), '<?php echo "php\\n";');
    // Sparse: 1 GiB on disk costs nothing, and reading it streams zeros.
    fs.closeSync(fs.openSync(path.join(www, 'big.bin'), 'w'));
    fs.truncateSync(path.join(www, 'big.bin'), 1 << 30);
    const site = (extra: string): string => `
    documentRoot: ${www}
    directoryIndex: [index.php, index.html]
    wrappers: [{ suffix: .php, command: ${PHP_CGI} }]${extra}`;
    fs.mkdirSync(path.join(dir, 'on'));
    fs.mkdirSync(path.join(dir, 'off'));
    s = await serveConfig(`ipcDir: {{dir}}/ipc\nlisten: { http: 127.0.0.1:0 }\nsites:\n  -${site('')}\n`, path.join(dir, 'on'));
    off = await serveConfig(`ipcDir: {{dir}}/ipc\nlisten: { http: 127.0.0.1:0 }\nsites:\n  -${site('\n    static: false')}\n`, path.join(dir, 'off'));
  });
  afterAll(closeAllConfigs);

  test('CSS, JavaScript and images with their MIME types, length and validators; PHP still runs', async () => {
    const css = await httpRequest(`${s.base}/style.css`);
    expect(css.status).toBe(200);
    expect(css.body.toString()).toBe(CSS);
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(css.headers['content-length']).toBe(String(CSS.length));
    expect(css.headers.etag).toMatch(/^W\/"/);
    expect(new Date(css.headers['last-modified']!).getTime()).toBe(Math.floor(fs.statSync(path.join(www, 'style.css')).mtimeMs / 1000) * 1000);
    expect(css.headers['accept-ranges']).toBe('bytes');
    expect((await httpRequest(`${s.base}/app.js`)).headers['content-type']).toBe('text/javascript; charset=utf-8');
    const png = await httpRequest(`${s.base}/logo.png`);
    expect(png.headers['content-type']).toBe('image/png');
    expect(png.body).toEqual(Buffer.from('89504e470d0a1a0a', 'hex'));
    expect((await httpRequest(`${s.base}/index.php`)).body.toString()).toBe('php\n');
  });

  test('conditional GET: If-None-Match and If-Modified-Since answer 304 without a body', async () => {
    const first = await httpRequest(`${s.base}/style.css`);
    const byTag = await httpRequest(`${s.base}/style.css`, { headers: { 'if-none-match': first.headers.etag! } });
    expect(byTag.status).toBe(304);
    expect(byTag.body.length).toBe(0);
    const byDate = await httpRequest(`${s.base}/style.css`, { headers: { 'if-modified-since': first.headers['last-modified']! } });
    expect(byDate.status).toBe(304);
    const stale = await httpRequest(`${s.base}/style.css`, { headers: { 'if-none-match': '"other"' } });
    expect(stale.status).toBe(200);
  });

  test('Range: 206 with Content-Range; an unsatisfiable range is 416', async () => {
    const part = await httpRequest(`${s.base}/style.css`, { headers: { range: 'bytes=5-9' } });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 5-9/${CSS.length}`);
    expect(part.body.toString()).toBe(CSS.slice(5, 10));
    const tail = await httpRequest(`${s.base}/big.bin`, { headers: { range: 'bytes=-4' } });
    expect(tail.status).toBe(206);
    expect(tail.headers['content-range']).toBe(`bytes ${(1 << 30) - 4}-${(1 << 30) - 1}/${1 << 30}`);
    const beyond = await httpRequest(`${s.base}/style.css`, { headers: { range: `bytes=${CSS.length + 10}-` } });
    expect(beyond.status).toBe(416);
  });

  test('HEAD: the headers of a GET, no body', async () => {
    const head = await httpRequest(`${s.base}/style.css`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(CSS.length));
    expect(head.body.length).toBe(0);
  });

  test('DirectoryIndex: index.html serves a directory when no index.php is there', async () => {
    const r = await httpRequest(`${s.base}/docs/`);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('<h1>docs</h1>\n');
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
  });

  test('refused: dot files (403), path info after a file (404), traversal, a missing file (404)', async () => {
    const dot = await httpRequest(`${s.base}/.htpasswd`);
    expect(dot.status).toBe(403);
    expect(dot.body.toString()).not.toContain('secret');
    expect((await httpRequest(`${s.base}/style.css/extra`)).status).toBe(404);
    const traversal = await httpRequest(`${s.base}/docs/%2e%2e/%2e%2e/etc/passwd`);
    expect([400, 403, 404]).toContain(traversal.status);
    expect(traversal.body.toString()).not.toContain('root:');
    expect((await httpRequest(`${s.base}/nope.css`)).status).toBe(404);
  });

  test('static: false leaves files to a web server in front: 403, PHP still runs', async () => {
    expect((await httpRequest(`${off.base}/style.css`)).status).toBe(403);
    expect((await httpRequest(`${off.base}/index.php`)).body.toString()).toBe('php\n');
  });

  test('a 1 GiB file is streamed with flat memory, every byte delivered', async () => {
    const before = process.memoryUsage().rss;
    let peak = before;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const received = await new Promise<number>((resolve, reject) => {
      http
        .get(`${s.base}/big.bin`, { agent: false }, (res) => {
          let n = 0;
          res.on('data', (c: Buffer) => (n += c.length));
          res.on('end', () => resolve(n));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    clearInterval(timer);
    expect(received).toBe(1 << 30);
    // Server and client share this process: a buffered file would add 1 GiB.
    expect(peak - before).toBeLessThan(128 * 1024 * 1024);
  }, 60_000);
});
