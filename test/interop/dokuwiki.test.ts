/**
 * A real PHP application from a Debian package, served the mod_fcgid way: Debian's DokuWiki
 * (package dokuwiki: /usr/share/dokuwiki, whose template and plugins are symlinks into
 * /var/lib/dokuwiki) under `fcgipm serve` with its document root, a .php wrapper to php-cgi
 * (FcgidWrapper) and DirectoryIndex doku.php. A person's session: the home page, its CSS and
 * JavaScript (made by PHP) and its logo (a static file reached through a symlink), logging in,
 * and saving a page through the edit form.
 *
 * It adds a user to the package's users.auth.php and writes one page; both are removed after.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { closeAllConfigs, serveConfig, type ServedConfig } from '../helpers/serve-config';

const ROOT = '/usr/share/dokuwiki';
const USERS = '/var/lib/dokuwiki/acl/users.auth.php';
const DATA = '/var/lib/dokuwiki/data';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A browser's minimum: cookies kept across requests, forms posted urlencoded. */
class Browser {
  private readonly cookies = new Map<string, string>();
  constructor(private readonly base: string) {}

  request(method: 'GET' | 'POST', url: string, form?: Record<string, string>): Promise<Reply> {
    const body = form ? new URLSearchParams(form).toString() : undefined;
    const headers: Record<string, string> = {};
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (body !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    return new Promise((resolve, reject) => {
      const req = http.request(`${this.base}${url}`, { method, headers, agent: false }, (res) => {
        for (const c of res.headers['set-cookie'] ?? []) {
          const [pair] = c.split(';');
          const eq = pair!.indexOf('=');
          this.cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
        }
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }
}

/** The hidden inputs of the form that has `marker` among its fields. */
function hiddenInputs(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) out[m[1]!] = m[2]!;
  return out;
}

describe('Debian DokuWiki through fcgipm serve (the mod_fcgid recipe)', () => {
  let s: ServedConfig;
  let usersBefore: string;
  const user = `fcgipm${crypto.randomBytes(4).toString('hex')}`;
  const page = `fcgipm_test_${crypto.randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    if (!fs.existsSync(path.join(ROOT, 'doku.php'))) throw new Error('DokuWiki is missing: apt-get install -y dokuwiki');
    usersBefore = fs.readFileSync(USERS, 'utf8');
    const md5 = crypto.createHash('md5').update('s3cret-test').digest('hex');
    fs.appendFileSync(USERS, `${user}:${md5}:Test User:${user}@localhost:admin,user\n`);
    s = await serveConfig(`
ipcDir: "{{dir}}/ipc"
listen: { http: 127.0.0.1:0 }
defaults: { maxProcesses: 2 }
sites:
  - documentRoot: ${ROOT}
    directoryIndex: [doku.php, index.php]
    scriptRoots: [/var/lib/dokuwiki]
    wrappers: [{ suffix: .php, command: /usr/bin/php-cgi }]
`);
  });

  afterAll(async () => {
    await closeAllConfigs();
    if (usersBefore !== undefined) fs.writeFileSync(USERS, usersBefore);
    for (const dir of ['pages', 'meta', 'attic', 'index']) {
      const d = path.join(DATA, dir);
      if (!fs.existsSync(d)) continue;
      for (const f of fs.readdirSync(d)) if (f.startsWith(page)) fs.rmSync(path.join(d, f), { force: true });
    }
  });

  test('home page, its CSS and JavaScript from PHP, its logo through the symlinked template dir', async () => {
    const b = new Browser(s.base);
    const home = await b.request('GET', '/');
    expect(home.status).toBe(200);
    const html = home.body.toString();
    expect(html).toContain('DokuWiki');
    const css = /href="(\/lib\/exe\/css\.php[^"]*)"/.exec(html)![1]!.replace(/&amp;/g, '&');
    const js = /src="(\/lib\/exe\/js\.php[^"]*)"/.exec(html)![1]!.replace(/&amp;/g, '&');
    const logo = /src="(\/lib\/tpl\/[^"]*logo\.png)"/.exec(html)![1]!;
    const [cssReply, jsReply, logoReply] = await Promise.all([b.request('GET', css), b.request('GET', js), b.request('GET', logo)]);
    expect(cssReply.status).toBe(200);
    expect(cssReply.headers['content-type']).toMatch(/^text\/css/);
    expect(cssReply.body.length).toBeGreaterThan(10_000);
    expect(jsReply.status).toBe(200);
    expect(jsReply.headers['content-type']).toMatch(/javascript/);
    expect(logoReply.status).toBe(200);
    expect(logoReply.headers['content-type']).toBe('image/png');
    // The logo is the package's file, reached through lib/tpl -> /var/lib/dokuwiki/lib/tpl.
    expect(logoReply.body.equals(fs.readFileSync(path.join(ROOT, logo)))).toBe(true);
  });

  test('logging in, then saving a page through the edit form', async () => {
    const b = new Browser(s.base);
    const loginForm = await b.request('GET', '/doku.php?id=start&do=login');
    expect(loginForm.status).toBe(200);
    const login = await b.request('POST', '/doku.php', { ...hiddenInputs(loginForm.body.toString()), id: 'start', do: 'login', u: user, p: 's3cret-test' });
    expect(login.status).toBe(302);
    const start = await b.request('GET', '/doku.php?id=start');
    expect(start.body.toString()).toMatch(/Logged in as: <bdi>Test User<\/bdi>/);

    const editForm = await b.request('GET', `/doku.php?id=${page}&do=edit`);
    expect(editForm.status).toBe(200);
    const fields = hiddenInputs(editForm.body.toString());
    expect(fields.sectok).toMatch(/^[0-9a-f]{32}$/);
    const text = `Served through fcgipm and php-cgi, ${page}.`;
    const saved = await b.request('POST', '/doku.php', { ...fields, id: page, do: 'edit', wikitext: text, summary: 'fcgipm test', 'do[save]': '1' });
    expect(saved.status).toBe(302);
    const shown = await new Browser(s.base).request('GET', `/doku.php?id=${page}`);
    expect(shown.body.toString()).toContain(text);
  });
});
