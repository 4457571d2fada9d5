/**
 * Hostile clients against the real CLI (`fcgipm run`, a process of its own whose RSS is read
 * from /proc), each case beside a private nginx (test/helpers/web-servers.ts) with the same
 * settings in front of the same fixture app run by spawn-fcgi: slowloris on heads and bodies,
 * 10,000 idle connections, request smuggling, oversized heads and bodies, a client that stops
 * reading a large response, and a client that leaves mid-response.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { cleanupClis, cli } from '../helpers/cli';
import { fixture, tempDir } from '../helpers/fixtures';
import { startNginx, type WebServer } from '../helpers/web-servers';
import { mib, n, recordFigure } from './figures';

const SPAWN_FCGI = '/usr/bin/spawn-fcgi';
const FASTCGI_PARAMS = '/etc/nginx/fastcgi_params';

interface Target {
  readonly host: string;
  readonly port: number;
}

interface Fcgipm extends Target {
  readonly pid: number;
  readonly admin: string;
}

interface PoolDoc {
  activeProcesses: number;
  accepted: number;
  aborted: number;
  spawned: number;
  processes: Array<{ pid: number; state: string }>;
}

let root: string;
const children: ChildProcess[] = [];
const webServers: WebServer[] = [];

beforeAll(() => {
  root = tempDir('fcgipm-hostile-');
});

afterAll(async () => {
  await Promise.all(webServers.splice(0).map((w) => w.stop()));
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      const exited = new Promise((r) => c.once('exit', r));
      process.kill(c.pid, 'SIGKILL');
      await exited;
    }
  }
  await cleanupClis();
  fs.rmSync(root, { recursive: true, force: true });
});

function sub(name: string): string {
  const d = path.join(root, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

/** `fcgipm run` on loopback with an admin listener, serving one fixture app. */
async function startFcgipm(app: string, flags: string[]): Promise<Fcgipm> {
  const c = cli(['run', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--ipc-dir', path.join(root, `ipc-${app}-${Date.now()}`), ...flags, '--', fixture(app)]);
  const ready = await c.waitForLine((l) => l.msg === 'fcgipm ready');
  const http = String(ready.http);
  const colon = http.lastIndexOf(':');
  return { host: http.slice(0, colon), port: Number(http.slice(colon + 1)), pid: c.child.pid!, admin: `http://${String(ready.admin)}` };
}

/** nginx (its own prefix in a temp dir) in front of the fixture app run by spawn-fcgi on a Unix socket. */
async function startNginxPeer(name: string, app: string, serverExtra: string, workerConnections = 256): Promise<WebServer & Target & { masterPid: number }> {
  const dir = sub(name);
  const socket = path.join(dir, 'app.sock');
  const backend = spawn(SPAWN_FCGI, ['-n', '-s', socket, '-M', '0600', '--', fixture(app)], { stdio: 'ignore' });
  children.push(backend);
  while (!fs.existsSync(socket)) await new Promise((r) => setTimeout(r, 20));
  const block = `${serverExtra}
    location / { include ${FASTCGI_PARAMS}; fastcgi_param SCRIPT_FILENAME ${fixture(app)}; fastcgi_pass unix:${socket}; }`;
  const web = await startNginx(dir, block, '', workerConnections);
  webServers.push(web);
  const masterPid = Number(fs.readFileSync(path.join(dir, 'nginx.pid'), 'utf8').trim());
  return { ...web, host: '127.0.0.1', masterPid };
}

async function pool(f: Fcgipm): Promise<PoolDoc> {
  const res = await fetch(`${f.admin}/status.json`);
  const doc = (await res.json()) as { pools: PoolDoc[] };
  return doc.pools[0]!;
}

/** Resident set size of a process (VmRSS). */
function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

/** nginx's master and its workers together. */
function nginxRss(masterPid: number): number {
  let total = rss(masterPid);
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === masterPid) total += rss(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

interface Exchange {
  /** Everything the server sent. */
  readonly text: string;
  /** The server closed the connection (false: still open at the deadline). */
  readonly closed: boolean;
  readonly ms: number;
}

/** Writes raw bytes on a fresh connection; collects the answer until the server closes or deadlineMs. */
function raw(t: Target, bytes: string | Buffer, deadlineMs = 3000): Promise<Exchange> {
  return new Promise((resolve) => {
    const started = Date.now();
    let text = '';
    const socket = net.connect(t.port, t.host, () => socket.write(bytes));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false, ms: Date.now() - started });
    }, deadlineMs);
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true, ms: Date.now() - started });
    });
  });
}

/** One GET; resolves with status, body and time taken. */
async function get(t: Target, pathAndQuery: string): Promise<{ status: number; body: string; ms: number }> {
  const started = Date.now();
  const res = await fetch(`http://${t.host}:${t.port}${pathAndQuery}`);
  const body = await res.text();
  return { status: res.status, body, ms: Date.now() - started };
}

/** First line of an answer, or what the client saw instead. */
function statusOf(e: Exchange): string {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(e.text);
  if (m) return m[1]!;
  return e.closed ? 'closed, no answer' : 'no answer, left open';
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * A slowloris client: the start of a head and then a byte every everyMs (head), or a whole
 * head announcing a body and then a body byte every everyMs (body). Resolves when the server
 * closes: with the time since its last byte was sent and what the server answered.
 */
function slowloris(t: Target, kind: 'head' | 'body', everyMs: number): Promise<{ sinceConnectMs: number; sinceLastMs: number; text: string }> {
  return new Promise((resolve) => {
    const started = Date.now();
    let last = started;
    let text = '';
    let timer: NodeJS.Timeout | undefined;
    const socket = net.connect(t.port, t.host, () => {
      socket.write(kind === 'head' ? 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ' : 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx');
      last = Date.now();
      timer = setInterval(() => {
        socket.write('a');
        last = Date.now();
      }, everyMs);
    });
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearInterval(timer);
      const now = Date.now();
      resolve({ sinceConnectMs: now - started, sinceLastMs: now - last, text });
    });
  });
}

interface SlowlorisRun {
  heads: Array<{ sinceConnectMs: number; text: string }>;
  bodies: Array<{ sinceLastMs: number; text: string }>;
  served: number;
  failed: number;
  slowestMs: number;
}

/** N head and N body slowloris clients at once, and a normal GET every 100 ms until they are all closed. */
async function slowlorisRun(t: Target, clients: number): Promise<SlowlorisRun> {
  const heads = Promise.all(Array.from({ length: clients }, () => slowloris(t, 'head', 1000)));
  const bodies = Promise.all(Array.from({ length: clients }, () => slowloris(t, 'body', 3000)));
  let done = false;
  const all = Promise.all([heads, bodies]).finally(() => (done = true));
  let served = 0;
  let failed = 0;
  let slowestMs = 0;
  while (!done) {
    const r = await get(t, '/?normal=1').catch(() => ({ status: 0, body: '', ms: 0 }));
    if (r.status === 200) served += 1;
    else failed += 1;
    slowestMs = Math.max(slowestMs, r.ms);
    await new Promise((res) => setTimeout(res, 100));
  }
  const [h, b] = await all;
  return { heads: h, bodies: b, served, failed, slowestMs };
}

function range(values: number[]): string {
  return `${seconds(Math.min(...values))}–${seconds(Math.max(...values))}`;
}

function answers(texts: string[]): string {
  const counts = new Map<string, number>();
  for (const t of texts) {
    const s = /^HTTP\/1\.[01] (\d{3})/.exec(t)?.[1] ?? 'no answer';
    counts.set(s, (counts.get(s) ?? 0) + 1);
  }
  return [...counts].map(([s, c]) => `${c} × ${s}`).join(', ');
}

describe('slowloris on heads and bodies', () => {
  test('20 clients dribbling a head a byte a second and 20 pausing 3 s between body bytes are answered 408 and closed at the 2-s timeouts; the one worker is never taken from normal clients', async () => {
    const f = await startFcgipm('echo', ['--client-header-timeout', '2', '--client-body-timeout', '2', '--min', '1', '--max', '1']);
    const ng = await startNginxPeer('slowloris', 'echo', 'client_header_timeout 2s; client_body_timeout 2s;');
    const before = await pool(f);
    const ours = await slowlorisRun(f, 20);
    const after = await pool(f);
    const peer = await slowlorisRun(ng, 20);
    const reached = after.accepted - before.accepted - ours.served;
    recordFigure({
      section: 'clients',
      case: 'slowloris: 20 heads at a byte a second, 20 bodies at a byte every 3 s, timeouts 2 s, one worker',
      userSees: 'each slow client is answered 408 and closed at the timeout (head: 2 s after connecting; body: 2 s after its last byte), to the second; normal clients are served meanwhile by the one worker',
      measured: `heads closed after ${range(ours.heads.map((h) => h.sinceConnectMs))} (${answers(ours.heads.map((h) => h.text))}), bodies ${range(ours.bodies.map((b) => b.sinceLastMs))} after their last byte (${answers(ours.bodies.map((b) => b.text))}); ${reached} slow requests reached the app; ${ours.served} normal requests served, ${ours.failed} failed, slowest ${ours.slowestMs} ms`,
      peer: `nginx (client_header_timeout 2s, client_body_timeout 2s): heads closed after ${range(peer.heads.map((h) => h.sinceConnectMs))} (${answers(peer.heads.map((h) => h.text))}), bodies ${range(peer.bodies.map((b) => b.sinceLastMs))} after their last byte (${answers(peer.bodies.map((b) => b.text))}); ${peer.served} normal requests served, ${peer.failed} failed, slowest ${peer.slowestMs} ms`,
    });
    for (const h of ours.heads) {
      expect(h.text).toMatch(/^HTTP\/1\.1 408 /);
      expect(h.sinceConnectMs).toBeGreaterThanOrEqual(1900);
      expect(h.sinceConnectMs).toBeLessThan(3600);
    }
    for (const b of ours.bodies) {
      expect(b.text).toMatch(/^HTTP\/1\.1 408 /);
      expect(b.sinceLastMs).toBeGreaterThanOrEqual(1900);
      expect(b.sinceLastMs).toBeLessThan(3600);
    }
    expect(reached).toBe(0);
    expect(ours.failed).toBe(0);
    expect(ours.served).toBeGreaterThanOrEqual(5);
    // A normal request never waited for a worker held by a slow client (the app answers in ~1 ms).
    expect(ours.slowestMs).toBeLessThan(1000);
  });
});

describe('10,000 idle connections', () => {
  const COUNT = 10_000;
  /** Connections opened at once: below the listen backlog (511 for nginx and Node), so none waits in an overflowing accept queue. */
  const BATCH = 250;

  /** Opens COUNT connections that send nothing, BATCH at a time; resolves with them once all are connected. */
  async function openIdle(t: Target): Promise<net.Socket[]> {
    const sockets: net.Socket[] = [];
    for (let i = 0; i < COUNT; i += BATCH) {
      await Promise.all(
        Array.from({ length: Math.min(BATCH, COUNT - i) }, () =>
          new Promise<void>((resolve, reject) => {
            const s = net.connect(t.port, t.host, () => resolve());
            s.on('error', (err) => reject(err));
            sockets.push(s);
          }),
        ),
      );
    }
    return sockets;
  }

  async function measure(t: Target, pidRss: () => number): Promise<{ perConnection: number; requestMs: number; stillOpen: number; status: number }> {
    // Warm: the first request's code paths are in memory before the baseline.
    await get(t, '/');
    const before = pidRss();
    const sockets = await openIdle(t);
    await new Promise((r) => setTimeout(r, 500));
    const r = await get(t, '/');
    const after = pidRss();
    const stillOpen = sockets.filter((s) => !s.destroyed && !s.readableEnded).length;
    await Promise.all(
      sockets.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.destroyed) return resolve();
            s.once('close', () => resolve());
            s.destroy();
          }),
      ),
    );
    return { perConnection: (after - before) / COUNT, requestMs: r.ms, stillOpen, status: r.status };
  }

  test('a normal request still answers quickly with 10,000 idle connections open; the memory they cost', async () => {
    const f = await startFcgipm('hello', ['--min', '1']);
    // nginx closes idle connections once fewer than 1/16 of worker_connections are free
    // ("worker_connections are not enough, reusing connections"): room for all of them.
    const workerConnections = COUNT + COUNT / 8 + 256;
    const ng = await startNginxPeer('idle', 'hello', '', workerConnections);
    const ours = await measure(f, () => rss(f.pid));
    const peer = await measure(ng, () => nginxRss(ng.masterPid));
    // Why nginx dropped some, in its own words (its error log, warn level and worse).
    const ngAlert = fs.readFileSync(ng.errorLog, 'utf8').split('\n').find((l) => /\[(warn|error|crit|alert|emerg)\]/.test(l));
    const ngWhy = peer.stillOpen < COUNT && ngAlert ? ` (its log: "${ngAlert.replace(/^.*?\] \S+ /, '').replace(/, client:.*$/, '')}")` : '';
    recordFigure({
      section: 'clients',
      case: '10,000 idle connections (connected, no request yet)',
      userSees: 'all 10,000 stay open and a normal request is answered in well under a second; each costs a few KiB of the manager\'s memory',
      measured: `${n(ours.stillOpen)} open, request answered ${ours.status} in ${ours.requestMs} ms, ${(ours.perConnection / 1024).toFixed(1)} KiB per connection (RSS growth / 10,000)`,
      peer: `nginx (1 worker, worker_connections ${n(workerConnections)}): ${n(peer.stillOpen)} open${ngWhy}, request answered ${peer.status} in ${peer.requestMs} ms, ${(peer.perConnection / 1024).toFixed(1)} KiB per connection`,
    });
    expect(ours.stillOpen).toBe(COUNT);
    expect(ours.status).toBe(200);
    expect(ours.requestMs).toBeLessThan(1000);
    expect(ours.perConnection).toBeLessThan(16 * 1024);
  });
});

describe('request smuggling', () => {
  const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
  // Each is followed on the same connection by SMUGGLED: a server that reads the body
  // boundary differently from a proxy in front of it would run it as a second request.
  const CASES: Array<[string, string]> = [
    ['Content-Length and Transfer-Encoding', `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ['two differing Content-Length', `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhello${SMUGGLED}`],
    ['two equal Content-Length', `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello${SMUGGLED}`],
    ['bad chunk size', `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n${SMUGGLED}`],
    ['chunk size overflow', `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nhello\r\n0\r\n\r\n${SMUGGLED}`],
    ['obs-fold header line', `POST / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n${SMUGGLED}`],
    ['Transfer-Encoding other than chunked', `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n${SMUGGLED}`],
    ['chunked not last', `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ['space before the colon', `POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello${SMUGGLED}`],
  ];

  test('every ambiguous framing is answered 400 and closed; the app never sees a request from it', async () => {
    const f = await startFcgipm('echo', ['--min', '1']);
    const ng = await startNginxPeer('smuggling', 'echo', '');
    const before = await pool(f);
    const ours: Exchange[] = [];
    const peer: Exchange[] = [];
    for (const [, bytes] of CASES) {
      ours.push(await raw(f, bytes));
      peer.push(await raw(ng, bytes));
    }
    const after = await pool(f);
    const reached = after.accepted - before.accepted;
    const list = (ex: Exchange[]): string => CASES.map(([name], i) => `${name}: ${statusOf(ex[i]!)}${ex[i]!.text.includes('/smuggled') || /HTTP\/1\.1 \d{3}[\s\S]*HTTP\/1\.1 \d{3}/.test(ex[i]!.text) ? ' + a second answer' : ''}`).join('; ');
    recordFigure({
      section: 'clients',
      case: `smuggling: ${CASES.length} ambiguous framings, each followed by a second request`,
      userSees: 'each is answered 400 and the connection closed; no request from them, the second one included, reaches the app',
      measured: `${list(ours)}; ${reached} requests reached the app`,
      peer: `nginx: ${list(peer)}`,
    });
    for (const e of ours) {
      expect(e.text).toMatch(/^HTTP\/1\.1 400 /);
      expect(e.text.match(/HTTP\/1\.1 \d{3}/g)).toHaveLength(1);
      expect(e.closed).toBe(true);
    }
    expect(reached).toBe(0);
  });
});

describe('oversized heads and bodies', () => {
  test('a head past the limit is answered 431, a body past maxRequestBody 413, declared or chunked', async () => {
    const f = await startFcgipm('echo', ['--min', '1', '--max-body', '1048576']);
    const ng = await startNginxPeer('oversized', 'echo', 'client_max_body_size 1m;');
    const bigHead = `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`;
    const declared = `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`;
    const chunk = 'a'.repeat(256 * 1024);
    const chunked = Buffer.from(`POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${`${(chunk.length).toString(16)}\r\n${chunk}\r\n`.repeat(8)}0\r\n\r\n`);
    const run = async (t: Target): Promise<Exchange[]> => [await raw(t, bigHead), await raw(t, declared), await raw(t, chunked)];
    const before = await pool(f);
    const ours = await run(f);
    const reached = (await pool(f)).accepted - before.accepted;
    const peer = await run(ng);
    const show = (ex: Exchange[]): string => `64 KiB header: ${statusOf(ex[0]!)}; Content-Length 2 MiB: ${statusOf(ex[1]!)}; 2 MiB chunked: ${statusOf(ex[2]!)}`;
    recordFigure({
      section: 'clients',
      case: 'a 64 KiB header line; a 2 MiB body over a 1 MiB limit, declared and chunked',
      userSees: '431 for the head, 413 for the bodies (the declared one before a byte of it is read), the connection closed; the app sees none of them',
      measured: `${show(ours)}; ${reached} reached the app`,
      peer: `nginx (client_max_body_size 1m): ${show(peer)}`,
    });
    expect(statusOf(ours[0]!)).toBe('431');
    expect(statusOf(ours[1]!)).toBe('413');
    expect(statusOf(ours[2]!)).toBe('413');
    for (const e of ours) expect(e.closed).toBe(true);
    expect(reached).toBe(0);
  });
});

describe('a client that stops reading a large response', () => {
  const BYTES = 100 * 1024 * 1024;

  /** Asks for 100 MiB and reads nothing; resolves with the socket (left open) once the server has sent its head. */
  function stalledReader(t: Target): Promise<net.Socket> {
    return new Promise((resolve) => {
      const s = net.connect(t.port, t.host, () => s.write(`GET /?bytes=${BYTES} HTTP/1.1\r\nHost: x\r\n\r\n`));
      s.on('error', () => undefined);
      s.once('data', () => {
        s.pause();
        resolve(s);
      });
    });
  }

  test('the manager holds back (its memory does not grow by the response) and keeps serving others', async () => {
    const f = await startFcgipm('big', ['--min', '1', '--max', '2']);
    const ng = await startNginxPeer('stalled', 'big', '');
    await get(f, '/?bytes=10');
    const before = rss(f.pid);
    const stalled = await stalledReader(f);
    // Let every buffer on the way fill.
    await new Promise((r) => setTimeout(r, 2000));
    const growth = rss(f.pid) - before;
    const p = await pool(f);
    const other = await get(f, '/?bytes=1000');
    stalled.destroy();

    await get(ng, '/?bytes=10');
    const ngBefore = nginxRss(ng.masterPid);
    const ngStalled = await stalledReader(ng);
    await new Promise((r) => setTimeout(r, 2000));
    const ngGrowth = nginxRss(ng.masterPid) - ngBefore;
    const ngOther = await get(ng, '/?bytes=1000');
    ngStalled.destroy();

    recordFigure({
      section: 'clients',
      case: 'a client that stops reading a 100 MiB response',
      userSees: "the manager's memory grows by less than 16 MiB (back-pressure reaches the app: its worker waits, held, until the client reads or leaves), and other clients are served by another worker",
      measured: `RSS +${mib(growth)} after 2 s; the worker ${p.activeProcesses === 1 ? 'held (busy)' : 'released'}; another request answered ${other.status} in ${other.ms} ms`,
      peer: `nginx (fastcgi_buffering on, the default: the rest goes to a temp file, which releases the backend): RSS +${mib(ngGrowth)}; its one spawn-fcgi process answered another request ${ngOther.status} in ${ngOther.ms} ms`,
    });
    expect(growth).toBeLessThan(16 * 1024 * 1024);
    expect(p.activeProcesses).toBe(1);
    expect(other.status).toBe(200);
    expect(other.body).toHaveLength(1000);
  });
});

describe('aborts mid-response', () => {
  /** Starts a trickling response, reads its first chunk, then closes the connection. */
  function abortAfterFirstChunk(t: Target): Promise<void> {
    return new Promise((resolve) => {
      const s = net.connect(t.port, t.host, () => s.write('GET /?trickle=100&interval=50 HTTP/1.1\r\nHost: x\r\n\r\n'));
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => {
        if (d.toString('latin1').includes('chunk 1')) s.destroy();
      });
      s.once('close', () => resolve());
    });
  }

  async function pidAfterAbort(t: Target, idle: () => Promise<boolean>): Promise<{ first: string; next: string; ms: number }> {
    const first = /pid=(\d+)/.exec((await get(t, '/?sleep=0&pid=1')).body)?.[1] ?? '?';
    await abortAfterFirstChunk(t);
    const started = Date.now();
    while (!(await idle())) await new Promise((r) => setTimeout(r, 20));
    const next = await get(t, '/?sleep=0&pid=1');
    return { first, next: /pid=(\d+)/.exec(next.body)?.[1] ?? '?', ms: Date.now() - started };
  }

  test('a client that leaves while a response streams frees its worker, which serves the next request (same pid, no new spawn)', async () => {
    const f = await startFcgipm('slow', ['--min', '1', '--max', '1']);
    const ng = await startNginxPeer('abort', 'slow', '');
    const before = await pool(f);
    const ours = await pidAfterAbort(f, async () => (await pool(f)).activeProcesses === 0);
    const after = await pool(f);
    // spawn-fcgi runs one process: the next request waits for it to notice the client left.
    const peer = await pidAfterAbort(ng, () => Promise.resolve(true));
    recordFigure({
      section: 'clients',
      case: 'a client that closes after the first line of a 5-s streamed response, one worker',
      userSees: 'the worker is released at once (its connection closed: libfcgi sees EOF, ends the request) and the same process serves the next request; no new worker is started',
      measured: `worker ${ours.first} → next request served by ${ours.next}, ${ours.ms} ms after the client left; ${after.spawned - before.spawned} spawns, aborted +${after.aborted - before.aborted}`,
      peer: `nginx (fastcgi_ignore_client_abort off) + spawn-fcgi: process ${peer.first} → next request served by ${peer.next}, ${peer.ms} ms after the client left`,
    });
    expect(ours.next).toBe(ours.first);
    expect(after.spawned - before.spawned).toBe(0);
    expect(after.aborted - before.aborted).toBe(1);
    expect(ours.ms).toBeLessThan(1000);
  });
});
