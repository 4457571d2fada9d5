/**
 * The access log end to end: a real fcgipm (in-process from YAML, and the CLI for a stop by
 * SIGTERM) with libfcgi fixtures, requests over HTTP and over FastCGI (libfcgi's cgi-fcgi),
 * and the lines read back from the file as an operator would.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { cleanupClis, cli, dir, ready } from '../helpers/cli';
import { fixture, tempDir } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';
import { closeAllConfigs, serveConfig, type ServedConfig } from '../helpers/serve-config';

const CGI_FCGI = '/usr/bin/cgi-fcgi';

const dirs: string[] = [];
afterEach(async () => {
  await closeAllConfigs();
  await cleanupClis();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A combined line, split into its fields (the regex an operator's log parser would use). */
interface Combined {
  remote: string;
  user: string;
  time: string;
  request: string;
  status: number;
  bytes: string;
  referer: string;
  userAgent: string;
  durationMs: number;
  queueWait: string;
  pool: string;
  pid: string;
}

const COMBINED =
  /^(\S+) - (\S+) \[(\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)" (\d+\.\d{3}) (\d+|-) ("(?:[^"\\]|\\.)*"|-) (\d+|-)$/;

function parseCombined(line: string): Combined {
  const m = COMBINED.exec(line);
  if (!m) throw new Error(`not a combined line: ${JSON.stringify(line)}`);
  return {
    remote: m[1]!,
    user: m[2]!,
    time: m[3]!,
    request: m[4]!,
    status: Number(m[5]),
    bytes: m[6]!,
    referer: m[7]!,
    userAgent: m[8]!,
    durationMs: Number(m[9]),
    queueWait: m[10]!,
    pool: m[11]!,
    pid: m[12]!,
  };
}

function readLines(file: string): string[] {
  try {
    return fs.readFileSync(file, 'latin1').split('\n').filter((l) => l !== '');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * Resolves with the file's lines once it has at least n (lines reach the file in batches, at
 * the latest a second after they were logged).
 */
async function waitForLines(file: string, n: number, timeoutMs = 5_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = readLines(file);
    if (lines.length >= n) return lines;
    if (Date.now() > deadline) throw new Error(`${file}: ${lines.length} lines, expected ${n}:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A document root with the fixtures as .fcgi scripts and one static file. */
function site(): { dir: string; www: string } {
  const d = tempDir();
  dirs.push(d);
  const www = path.join(d, 'www');
  fs.mkdirSync(www);
  for (const name of ['hello', 'echo', 'crash', 'slow']) {
    fs.copyFileSync(fixture(name), path.join(www, `${name}.fcgi`));
    fs.chmodSync(path.join(www, `${name}.fcgi`), 0o755);
  }
  fs.writeFileSync(path.join(www, 'robots.txt'), 'User-agent: *\nDisallow:\n');
  // A directory whose index is a script: named without its "/", it is redirected.
  fs.mkdirSync(path.join(www, 'docs'));
  fs.copyFileSync(fixture('hello'), path.join(www, 'docs', 'index.fcgi'));
  fs.chmodSync(path.join(www, 'docs', 'index.fcgi'), 0o755);
  return { dir: d, www };
}

function config(d: string, www: string, extra = ''): string {
  return `
ipcDir: ${d}/ipc
accessLog: ${d}/access.log
${extra}
listen:
  http: 127.0.0.1:0
  fastcgi: unix:${d}/fcgi.sock
sites:
  - documentRoot: ${www}
    handlers: [.fcgi]
    directoryIndex: [index.fcgi]
    apps: [{ prefix: /app, command: ${path.join(www, 'hello.fcgi')} }]
`;
}

function cgiFcgi(sock: string, env: Record<string, string>, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(CGI_FCGI, ['-bind', '-connect', sock], { env, encoding: 'latin1' }, (err, stdout) =>
      err ? reject(new Error(err.message)) : resolve(stdout),
    );
    child.stdin?.end(input);
  });
}

/** Sends bytes as they are (latin1) on a new connection; resolves with all it gets back. */
function rawRequest(base: string, text: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    // Not ended: Node's server drops a connection whose client half-closed before the answer.
    const socket = net.connect(Number(port), hostname, () => socket.write(Buffer.from(text, 'latin1')));
    let got = '';
    socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
    socket.on('end', () => resolve(got));
    socket.on('error', reject);
  });
}

/** A GET whose head (status 200) and whole body are awaited apart. */
function streamed(url: string): { head: Promise<void>; body: Promise<string> } {
  let onHead: () => void = () => undefined;
  const head = new Promise<void>((resolve) => (onHead = resolve));
  const body = new Promise<string>((resolve, reject) => {
    http
      .get(url, (res) => {
        if (res.statusCode !== 200) reject(new Error(`${url}: status ${String(res.statusCode)}`));
        onHead();
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(text));
        res.on('error', reject);
      })
      .on('error', reject);
  });
  return { head, body };
}

/** Body bytes after the CGI head in cgi-fcgi's output. */
function bodyLength(cgiOutput: string): number {
  return Buffer.byteLength(cgiOutput.slice(cgiOutput.indexOf('\r\n\r\n') + 4), 'latin1');
}

describe('HTTP front end, combined format', () => {
  let s: ServedConfig;
  let log: string;

  beforeEach(async () => {
    const { dir: d, www } = site();
    log = path.join(d, 'access.log');
    s = await serveConfig(config(d, www), d);
  });

  test('a GET with Referer and User-Agent: the combined fields, then duration, queue wait, pool and worker pid', async () => {
    // By hand: Node's client would percent-encode the quotes in the target. HTTP/1.0, so that
    // the body comes without chunked framing and its length can be read off the response.
    const raw = await rawRequest(
      s.base,
      'GET /app/page?x=1&y="2" HTTP/1.0\r\nHost: t\r\nReferer: http://example.com/start "here"\r\n' +
        'User-Agent: Mozilla/5.0 (X11) caf\xc3\xa9\r\n\r\n',
    );
    expect(raw).toMatch(/^HTTP\/1\.1 200 /);
    expect(raw).not.toMatch(/transfer-encoding/i);
    const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
    const pid = /pid=(\d+)/.exec(body)![1];
    const [line] = await waitForLines(log, 1);
    const f = parseCombined(line!);
    expect(f).toMatchObject({
      remote: '127.0.0.1',
      user: '-',
      request: 'GET /app/page?x=1&y=\\"2\\" HTTP/1.0',
      status: 200,
      bytes: String(Buffer.byteLength(body, 'latin1')),
      referer: 'http://example.com/start \\"here\\"',
      userAgent: 'Mozilla/5.0 (X11) caf\\xc3\\xa9',
      pool: '"hello.fcgi"',
      pid,
    });
    expect(Number(f.queueWait)).toBeGreaterThanOrEqual(0);
    expect(f.durationMs).toBeGreaterThan(0);
    // The first request waited for its worker to start: the wait is part of the duration
    // (the wait is in whole ms of the wall clock, the duration in µs of the monotonic one).
    expect(Number(f.queueWait)).toBeLessThanOrEqual(f.durationMs + 1);
  });

  test('a POST, a 404, a static file, a redirect and a 502 from a crashing app each get their line with the status sent', async () => {
    const post = await httpRequest(`${s.base}/echo.fcgi`, { method: 'POST', body: 'a=1&b=2' });
    expect(post.status).toBe(200);
    expect(post.body.toString()).toBe('a=1&b=2');
    const missing = await httpRequest(`${s.base}/nothing-here.fcgi`);
    expect(missing.status).toBe(404);
    const robots = await httpRequest(`${s.base}/robots.txt`);
    expect(robots.status).toBe(200);
    const moved = await httpRequest(`${s.base}/docs?page=2`);
    expect(moved.status).toBe(301);
    const crash = await httpRequest(`${s.base}/crash.fcgi?crash=before`);
    expect(crash.status).toBe(502);
    const lines = (await waitForLines(log, 5)).map(parseCombined);
    expect(lines.map((l) => [l.request, l.status, l.bytes])).toEqual([
      ['POST /echo.fcgi HTTP/1.1', 200, '7'],
      ['GET /nothing-here.fcgi HTTP/1.1', 404, String(missing.body.length)],
      ['GET /robots.txt HTTP/1.1', 200, String(robots.body.length)],
      ['GET /docs?page=2 HTTP/1.1', 301, String(moved.body.length)],
      ['GET /crash.fcgi?crash=before HTTP/1.1', 502, String(crash.body.length)],
    ]);
    // The POST and the crash went through pools and workers; the 404 and the file did not.
    expect(lines[0]!.pool).toMatch(/"echo\.fcgi"$/);
    expect(lines[0]!.pid).toMatch(/^\d+$/);
    expect([lines[1]!.pool, lines[1]!.pid, lines[1]!.queueWait]).toEqual(['-', '-', '-']);
    expect([lines[2]!.pool, lines[2]!.pid, lines[2]!.queueWait]).toEqual(['-', '-', '-']);
    expect([lines[3]!.pool, lines[3]!.pid]).toEqual(['-', '-']);
    expect(lines[4]!.pool).toMatch(/"crash\.fcgi"$/);
    expect(lines[4]!.pid).toMatch(/^\d+$/);
  });

  test('HEAD logs no body bytes; a client that leaves before the answer is logged 499 with the worker it had', async () => {
    const head = await httpRequest(`${s.base}/robots.txt`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    const req = http.get(`${s.base}/slow.fcgi?sleep=1500`);
    req.on('error', () => undefined);
    // The request has reached the pool once a worker starts for it; then the client leaves.
    await s.waitForLine((l) => l.msg === 'worker started' && String(l.pool).includes('slow.fcgi'));
    req.destroy();
    const lines = (await waitForLines(log, 2)).map(parseCombined);
    expect([lines[0]!.request, lines[0]!.status, lines[0]!.bytes]).toEqual(['HEAD /robots.txt HTTP/1.1', 200, '-']);
    expect([lines[1]!.request, lines[1]!.status, lines[1]!.bytes]).toEqual(['GET /slow.fcgi?sleep=1500 HTTP/1.1', 499, '-']);
    expect(lines[1]!.pool).toMatch(/slow\.fcgi"$/);
  });
});

describe('FastCGI front end', () => {
  test("a line per request from the web server's params, like php-fpm's access.log", async () => {
    const { dir: d, www } = site();
    const log = path.join(d, 'access.log');
    await serveConfig(config(d, www), d);
    const sock = path.join(d, 'fcgi.sock');
    const base = { SCRIPT_FILENAME: path.join(www, 'hello.fcgi'), QUERY_STRING: 'q=1', SERVER_PROTOCOL: 'HTTP/2.0', REMOTE_ADDR: '203.0.113.7' };
    const out = await cgiFcgi(sock, {
      ...base,
      REQUEST_METHOD: 'GET',
      REQUEST_URI: '/hello.fcgi?q=1',
      REMOTE_USER: 'alice',
      HTTP_REFERER: 'https://example.org/',
      HTTP_USER_AGENT: 'curl/8 "quoted"',
    });
    expect(out).toMatch(/^Content-Type: text\/plain\r\n\r\nHello from fcgipm fixture pid=\d+/);
    const pid = /pid=(\d+)/.exec(out)![1];
    const denied = await cgiFcgi(sock, { ...base, SCRIPT_FILENAME: path.join(www, 'gone.fcgi'), REQUEST_METHOD: 'GET', REQUEST_URI: '/gone.fcgi' });
    expect(denied).toMatch(/^Status: 404/);
    const lines = (await waitForLines(log, 2)).map(parseCombined);
    expect(lines[0]).toMatchObject({
      remote: '203.0.113.7',
      user: 'alice',
      request: 'GET /hello.fcgi?q=1 HTTP/2.0',
      status: 200,
      bytes: String(bodyLength(out)),
      referer: 'https://example.org/',
      userAgent: 'curl/8 \\"quoted\\"',
      pid,
    });
    expect(lines[0]!.pool).toMatch(/hello\.fcgi"$/);
    expect(lines[1]).toMatchObject({ remote: '203.0.113.7', user: '-', request: 'GET /gone.fcgi HTTP/2.0', status: 404, bytes: String(bodyLength(denied)), pool: '-', pid: '-' });
  });
});

describe('JSON format and reopening', () => {
  test('accessLogFormat json: one object per line with named fields', async () => {
    const { dir: d, www } = site();
    const log = path.join(d, 'access.log');
    const s = await serveConfig(config(d, www, 'accessLogFormat: json'), d);
    const r = await httpRequest(`${s.base}/app/x?y=1`, { headers: { 'User-Agent': 'ua/1', Referer: 'http://r/' } });
    const pid = Number(/pid=(\d+)/.exec(r.body.toString())![1]);
    const [line] = await waitForLines(log, 1);
    const o = JSON.parse(line!) as Record<string, unknown>;
    expect(o).toMatchObject({
      remote: '127.0.0.1',
      user: null,
      method: 'GET',
      uri: '/app/x?y=1',
      protocol: 'HTTP/1.1',
      status: 200,
      bytes: r.body.length,
      referer: 'http://r/',
      userAgent: 'ua/1',
      workerPid: pid,
    });
    expect(String(o.pool)).toMatch(/hello\.fcgi$/);
    expect(Math.abs(Date.parse(String(o.time)) - Date.now())).toBeLessThan(60_000);
    expect(typeof o.durationMs).toBe('number');
    expect(typeof o.queueWaitMs).toBe('number');
  });

  test('after logrotate renames the file, reopenLogs() (SIGUSR1) writes a new one at the path', async () => {
    const { dir: d, www } = site();
    const log = path.join(d, 'access.log');
    const s = await serveConfig(config(d, www), d);
    await httpRequest(`${s.base}/app/before`);
    await waitForLines(log, 1);
    fs.renameSync(log, `${log}.1`);
    s.server.reopenLogs();
    await httpRequest(`${s.base}/app/after`);
    const after = await waitForLines(log, 1);
    expect(after.map((l) => parseCombined(l).request)).toEqual(['GET /app/after HTTP/1.1']);
    expect(readLines(`${log}.1`).map((l) => parseCombined(l).request)).toEqual(['GET /app/before HTTP/1.1']);
  });

  test('a path that cannot be opened stops the start-up, naming it', async () => {
    const { dir: d, www } = site();
    await expect(serveConfig(config(d, www).replace(`accessLog: ${d}/access.log`, `accessLog: ${d}/no/such/dir/access.log`), d)).rejects.toThrow(
      `access log ${d}/no/such/dir/access.log: cannot open it (ENOENT)`,
    );
  });
});

describe('fcgipm run --access-log', () => {
  test('on SIGTERM every answered request has its line, those still running when it came included', async () => {
    const d = dir();
    const log = path.join(d, 'access.log');
    const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(d, 'ipc'), '--max', '4', '--access-log', log, fixture('slow')]);
    const base = await ready(c);
    const quick = await Promise.all(Array.from({ length: 30 }, (_, i) => httpRequest(`${base}/quick/${i}?sleep=0`)));
    expect(quick.every((r) => r.status === 200)).toBe(true);
    // Four requests running when the signal comes (their heads have arrived, their bodies
    // trickle for about 600 ms more); they finish during the drain.
    const slow = Array.from({ length: 4 }, (_, i) => streamed(`${base}/slow/${i}?trickle=4&interval=150`));
    await Promise.all(slow.map((r) => r.head));
    c.child.kill('SIGTERM');
    const bodies = await Promise.all(slow.map((r) => r.body));
    expect(bodies.every((b) => b.endsWith('chunk 4\n'))).toBe(true);
    expect(await c.exited).toEqual({ code: 0, signal: null });
    const requests = readLines(log).map((l) => parseCombined(l).request);
    expect(requests).toHaveLength(34);
    const want = [
      ...Array.from({ length: 30 }, (_, i) => `GET /quick/${i}?sleep=0 HTTP/1.1`),
      ...Array.from({ length: 4 }, (_, i) => `GET /slow/${i}?trickle=4&interval=150 HTTP/1.1`),
    ];
    expect([...requests].sort()).toEqual([...want].sort());
  });
});
