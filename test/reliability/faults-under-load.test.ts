/**
 * Faults under load: workers SIGKILLed, SIGSTOPped and cut off in the middle of a response
 * while clients keep asking, and the manager's memory and descriptors across a million
 * requests. fcgipm runs as a real `fcgipm run` process (test/helpers/cli.ts), wrk drives the
 * load and counts every response status in a Lua script, and /proc gives the pids, RSS and
 * descriptor counts. The peers run beside it in the same test: a private php-fpm behind a
 * private nginx, and spawn-fcgi behind nginx for the same C app.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { cleanupClis, cli, dir, ready } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';
import { startNginx } from '../helpers/web-servers';
import { mib, n, recordFigure } from './figures';

const WRK = '/usr/bin/wrk';
const PHP_FPM = ['/usr/sbin/php-fpm8.2', '/usr/sbin/php-fpm'].find((f) => fs.existsSync(f)) ?? '/usr/sbin/php-fpm';
const SPAWN_FCGI = '/usr/bin/spawn-fcgi';
const FASTCGI_PARAMS = '/etc/nginx/fastcgi_params';

/** What every case stops by pid in afterEach: wrk runs, php-fpm masters, nginx, spawn-fcgi apps. */
const wrks = new Set<ChildProcess>();
const stoppers: Array<() => Promise<void>> = [];
const pidsToKill = new Set<number>();

afterEach(async () => {
  for (const w of wrks) w.kill('SIGKILL');
  wrks.clear();
  for (const pid of pidsToKill) signal(pid, 'SIGKILL');
  pidsToKill.clear();
  for (const stop of stoppers.splice(0).reverse()) await stop();
  await cleanupClis();
});

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// /proc

/** Live (not zombie) children of pid whose command name is comm. */
function childrenOf(pid: number, comm: string): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const task of tasks) {
    let text = '';
    try {
      text = fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const word of text.trim().split(/\s+/)) {
      const child = Number(word);
      if (word !== '' && processState(child) !== 'Z' && commOf(child) === comm) out.push(child);
    }
  }
  return out;
}

/** The state letter of /proc/PID/stat ("R", "S", "T", "Z"...), or undefined once it is gone. */
function processState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

function commOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Gone, or a zombie waiting for its parent: the process runs no more. */
function ended(pid: number): boolean {
  const state = processState(pid);
  return state === undefined || state === 'Z';
}

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

// ---------------------------------------------------------------------------------------------
// wrk with every status counted

/**
 * wrk's Lua side: each thread counts the statuses it sees (and stops itself after `limit`
 * responses when the first script argument is not 0, saying so: wrk's main thread sleeps out
 * -d unless SIGINT cuts it short); done() sums the threads and prints one JSON line with wrk's
 * own socket error counts.
 */
const COUNT_STATUSES = `-- Written by test/reliability/faults-under-load.test.ts: every response status counted.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  statuses = {}
  seen = 0
  limit = tonumber(args[1] or "0")
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  seen = seen + 1
  if limit > 0 and seen == limit then
    io.write("WRK-LIMIT\\n")
    io.flush()
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    for status, count in pairs(t:get("statuses")) do all[status] = (all[status] or 0) + count end
  end
  local parts = {}
  for status, count in pairs(all) do table.insert(parts, string.format('"%d":%d', status, count)) end
  local e = summary.errors
  io.write(string.format('WRK-COUNTS {"statuses":{%s},"us":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\\n',
    table.concat(parts, ","), summary.duration, e.connect, e.read, e.write, e.timeout))
end
`;

interface Load {
  /** Responses by status. */
  statuses: Map<number, number>;
  /** Responses, whatever their status. */
  responses: number;
  seconds: number;
  /** wrk's socket errors: connect, read, write, timeout. */
  socketErrors: number;
}

function statusCount(load: Load, status: number): number {
  return load.statuses.get(status) ?? 0;
}

/** Responses other than 200 and socket errors: what a client counts as failed. */
function failed(load: Load): number {
  return load.responses - statusCount(load, 200) + load.socketErrors;
}

/** `wrk -t1 -c<connections> -d<seconds>s` on url; with limit, it stops after that many responses (with -t1). */
function wrk(url: string, scratch: string, options: { connections: number; seconds: number; limit?: number }): Promise<Load> {
  const script = path.join(scratch, 'count-statuses.lua');
  fs.writeFileSync(script, COUNT_STATUSES);
  const args = ['-t1', `-c${options.connections}`, `-d${options.seconds}s`, '--timeout', '10s', '-s', script, url, '--', String(options.limit ?? 0)];
  return new Promise((resolve, reject) => {
    const child = spawn(WRK, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    wrks.add(child);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('WRK-LIMIT')) child.kill('SIGINT');
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('error', reject);
    child.once('close', (code) => {
      wrks.delete(child);
      const line = /^WRK-COUNTS (.*)$/m.exec(out);
      if (code !== 0 || !line) return reject(new Error(`wrk ${args.join(' ')} failed (${String(code)}): ${out.slice(0, 500)}`));
      const r = JSON.parse(line[1]!) as { statuses: Record<string, number>; us: number; connect: number; read: number; write: number; timeout: number };
      const statuses = new Map(Object.entries(r.statuses).map(([k, v]) => [Number(k), v]));
      resolve({
        statuses,
        responses: [...statuses.values()].reduce((a, b) => a + b, 0),
        seconds: r.us / 1e6,
        socketErrors: r.connect + r.read + r.write + r.timeout,
      });
    });
  });
}

function describeLoad(load: Load): string {
  const others = [...load.statuses].filter(([s]) => s !== 200 && s !== 502 && s !== 503 && s !== 504);
  const parts = [
    `${n(load.responses)} responses in ${load.seconds.toFixed(0)} s (${n(load.responses / load.seconds)} req/s)`,
    `${n(statusCount(load, 502))} × 502`,
    `${n(statusCount(load, 503))} × 503`,
  ];
  if (statusCount(load, 504) > 0) parts.push(`${n(statusCount(load, 504))} × 504`);
  for (const [s, c] of others) parts.push(`${n(c)} × ${s}`);
  parts.push(`${n(load.socketErrors)} connection errors`);
  return parts.join(', ');
}

// ---------------------------------------------------------------------------------------------
// The servers

interface Fcgipm {
  base: string;
  /** Its JSON log lines so far. */
  lines: Array<Record<string, unknown>>;
  admin: string;
  pid: number;
  scratch: string;
}

/** `fcgipm run` with the HTTP front end and the admin listener on free loopback ports. */
async function startFcgipm(app: string, flags: string[]): Promise<Fcgipm> {
  const scratch = dir();
  const c = cli(['run', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--ipc-dir', path.join(scratch, 'ipc'), ...flags, '--', app]);
  const base = await ready(c);
  const line = await c.waitForLine((l) => l.msg === 'fcgipm ready');
  return { base, lines: c.lines, admin: `http://${String(line.admin)}`, pid: c.child.pid!, scratch };
}

interface PoolStatus {
  responses502: number;
  responses503: number;
  responses504: number;
  totalProcesses: number;
  processes: Array<{ pid?: number; state: string; currentRequest?: { uri: string } }>;
}

async function poolStatus(f: Fcgipm): Promise<PoolStatus> {
  const r = await httpRequest(`${f.admin}/status.json`);
  return (JSON.parse(r.body.toString()) as { pools: PoolStatus[] }).pools[0]!;
}

/** Resolves once something accepts on the Unix socket. */
async function waitForUnixSocket(sock: string, child: ChildProcess | undefined, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`${String(child.spawnfile)} exited with ${String(child.exitCode)}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(sock, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${sock}`);
    await sleep(50);
  }
}

interface PhpFpm {
  base: string;
  master: number;
}

/**
 * A private php-fpm (pm = static, `children` children, no php.ini: -n) behind a private nginx,
 * serving <scratch>/www/hello.php; `pool` is added to its pool section.
 */
async function startPhpFpm(scratch: string, children: number, pool: string[] = [], nginxLocation: string[] = []): Promise<PhpFpm> {
  const www = path.join(scratch, 'www');
  fs.mkdirSync(www, { recursive: true });
  fs.writeFileSync(path.join(www, 'hello.php'), '<?php\necho "Hello from php-fpm pid=", getmypid(), "\\n";\n');
  fs.writeFileSync(path.join(www, 'sleep.php'), '<?php\nfile_put_contents(__DIR__ . "/busy.pid", getmypid());\nusleep((int)($_GET["ms"] ?? 0) * 1000);\necho "slept pid=", getmypid(), "\\n";\n');
  const sock = path.join(scratch, 'fpm.sock');
  const conf = path.join(scratch, 'php-fpm.conf');
  fs.writeFileSync(
    conf,
    [
      '[global]',
      `pid = ${scratch}/php-fpm.pid`,
      `error_log = ${scratch}/php-fpm.log`,
      'daemonize = no',
      '[www]',
      'user = root',
      'group = root',
      `listen = ${sock}`,
      'listen.mode = 0600',
      'pm = static',
      `pm.max_children = ${children}`,
      ...pool,
      '',
    ].join('\n'),
  );
  const fpm = spawn(PHP_FPM, ['-F', '-R', '-n', '-y', conf], { stdio: 'ignore' });
  stoppers.push(() => stopChild(fpm));
  await waitForUnixSocket(sock, fpm);
  const nginx = await startNginx(
    path.join(scratch, 'nginx'),
    [
      'location ~ \\.php$ {',
      `  include ${FASTCGI_PARAMS};`,
      `  fastcgi_param SCRIPT_FILENAME ${www}$fastcgi_script_name;`,
      ...nginxLocation.map((l) => `  ${l}`),
      `  fastcgi_pass unix:${sock};`,
      '}',
    ].join('\n'),
  );
  stoppers.push(() => nginx.stop());
  return { base: nginx.base, master: fpm.pid! };
}

/** SIGTERM, SIGKILL after 10 s; resolves once it exited. */
function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

// ---------------------------------------------------------------------------------------------
// The kill storm

/**
 * SIGKILL of a random live child of parent named comm every 100 ms for ms, those that came up
 * since the previous kill first (they have served little or nothing yet: the workers a crash
 * guard could take for an app that cannot start); resolves to the kills.
 */
async function killStorm(parent: number, comm: string, ms: number): Promise<number> {
  const start = Date.now();
  let kills = 0;
  let known = new Set<number>();
  for (let i = 1; Date.now() - start < ms; i += 1) {
    await sleep(Math.max(0, start + i * 100 - Date.now()));
    const pids = childrenOf(parent, comm);
    const fresh = pids.filter((p) => !known.has(p));
    const from = fresh.length > 0 && i > 1 ? fresh : pids;
    const pid = from[Math.floor(Math.random() * from.length)];
    known = new Set(pids);
    if (pid !== undefined && signal(pid, 'SIGKILL')) kills += 1;
  }
  return kills;
}

function perSecond(count: number, seconds: number): string {
  return (count / seconds).toFixed(1);
}

describe('kill -9 storm under load', () => {
  const WORKERS = 4;
  const STORM_S = 60;
  const PEER_S = 20;

  test(`a random worker (new ones first) SIGKILLed every 100 ms for ${STORM_S} s at 32 clients (--max ${WORKERS}): no 503, failed requests at most the kills`, async () => {
    const f = await startFcgipm(fixture('hello'), ['--max', String(WORKERS)]);
    const loading = wrk(`${f.base}/`, f.scratch, { connections: 32, seconds: STORM_S + 1 });
    const kills = await killStorm(f.pid, 'hello.fcgi', STORM_S * 1000);
    const load = await loading;
    const pool = await poolStatus(f);
    const after = await httpRequest(`${f.base}/`);

    // The peer: the same storm on php-fpm's children (pm = static, as many), behind nginx.
    const peerDir = dir();
    const fpm = await startPhpFpm(peerDir, WORKERS);
    const peerLoading = wrk(`${fpm.base}/hello.php`, peerDir, { connections: 32, seconds: PEER_S + 1 });
    const peerKills = await killStorm(fpm.master, commOf(fpm.master), PEER_S * 1000);
    const peer = await peerLoading;

    recordFigure({
      section: 'faults',
      case: `kill -9 of a random worker (new ones first) every 100 ms, ${STORM_S} s, 32 clients, --max ${WORKERS} (hello)`,
      userSees:
        'no 503; only a request its worker was running when killed fails (502), so failures ≤ kills (a request still unread in its socket goes to another worker: in all, under a quarter of the kills); the pool serves on',
      measured:
        `${describeLoad(load)} for ${n(kills)} kills: ${perSecond(failed(load), load.seconds)} failed/s for ${perSecond(kills, load.seconds)} kills/s; ` +
        `the pool counted ${n(pool.responses503)} × 503`,
      peer:
        `php-fpm (pm = static, ${WORKERS} children) behind nginx, the same storm for ${PEER_S} s: ${describeLoad(peer)} for ${n(peerKills)} kills ` +
        `(${perSecond(failed(peer), peer.seconds)} failed/s for ${perSecond(peerKills, peer.seconds)} kills/s)`,
    });

    expect(kills).toBeGreaterThan(STORM_S * 10 * 0.8);
    expect(load.responses).toBeGreaterThan(STORM_S * 500);
    expect(statusCount(load, 503)).toBe(0);
    expect(pool.responses503).toBe(0);
    expect(failed(load)).toBeLessThanOrEqual(kills);
    // A hello worker spends little of its time running a request: most kills find it waiting,
    // or with the next request unread in its socket, which goes to another worker. Before that
    // replay, 56 to 91 % of the kills cost a request on this machine.
    expect(failed(load)).toBeLessThanOrEqual(kills / 4);
    expect(after.status).toBe(200);
    // Workers killed while idle close their kept connections: the pool must not take that
    // for an app that ignores FCGI_KEEP_CONN (a connection per request from then on).
    expect(f.lines.filter((l) => String(l.msg).includes('FCGI_KEEP_CONN'))).toEqual([]);
    // The storm reached the peer. How many kills it finds there is php-fpm's own figure: when
    // its master is slow to fork new children (one run here: 32 kills in 20 s, 1,107 req/s),
    // there are fewer children to kill, and the figure says so.
    expect(peerKills).toBeGreaterThan(0);
  }, 180_000);
});

// ---------------------------------------------------------------------------------------------
// SIGSTOP

/** Polls /status.json until a worker runs a request whose URI contains text; resolves to its pid. */
async function busyWorker(f: Fcgipm, text: string): Promise<number> {
  const until = Date.now() + 10_000;
  for (;;) {
    const found = (await poolStatus(f)).processes.find((p) => p.currentRequest?.uri.includes(text));
    if (found?.pid !== undefined) return found.pid;
    if (Date.now() > until) throw new Error(`no worker runs ${text}`);
    await sleep(20);
  }
}

/** Resolves to the time (ms since epoch) at which check() first held; rejects after timeoutMs. */
async function waitUntil(check: () => boolean, timeoutMs: number): Promise<number> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return Date.now();
    if (Date.now() > until) throw new Error('condition not reached');
    await sleep(20);
  }
}

describe('SIGSTOP of a busy worker', () => {
  const BUSY_TIMEOUT_S = 3;

  test(`its request gets 504 within --busy-timeout ${BUSY_TIMEOUT_S}, the stopped worker is killed and replaced, the other requests are served`, async () => {
    const f = await startFcgipm(fixture('slow'), ['--max', '4', '--busy-timeout', String(BUSY_TIMEOUT_S)]);
    const sent = Date.now();
    const victim = httpRequest(`${f.base}/?sleep=60000&pid=1`).then((r) => ({ status: r.status, ms: Date.now() - sent }));
    const pid = await busyWorker(f, 'sleep=60000');
    pidsToKill.add(pid);
    signal(pid, 'SIGSTOP');
    const stoppedAt = Date.now();
    // The others meanwhile: 8 clients asking for a 5 ms request until the stopped worker is gone.
    const others = wrk(`${f.base}/?sleep=5`, f.scratch, { connections: 8, seconds: 4 });
    const answer = await victim;
    const goneMs = (await waitUntil(() => ended(pid), 20_000)) - stoppedAt;
    const load = await others;
    // Replaced: four requests at once run on four live workers, the stopped one not among them.
    const four = await Promise.all(Array.from({ length: 4 }, () => httpRequest(`${f.base}/?sleep=300&pid=1`)));
    const pids = new Set(four.map((r) => /pid=(\d+)/.exec(r.body.toString())?.[1]));

    // The peer: php-fpm with request_terminate_timeout = the same, behind nginx (whose own
    // fastcgi_read_timeout, 6 s here, is what answers if php-fpm does not).
    const peerDir = dir();
    const fpm = await startPhpFpm(peerDir, 4, [`request_terminate_timeout = ${BUSY_TIMEOUT_S}s`], ['fastcgi_read_timeout 6s;']);
    const peerSent = Date.now();
    const peerVictim = httpRequest(`${fpm.base}/sleep.php?ms=60000`).then((r) => ({ status: r.status, ms: Date.now() - peerSent }));
    // The child that took it: sleep.php writes its pid before it sleeps.
    const pidFile = path.join(peerDir, 'www', 'busy.pid');
    await waitUntil(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8') !== '', 5_000);
    const peerPid = Number(fs.readFileSync(pidFile, 'utf8'));
    pidsToKill.add(peerPid);
    signal(peerPid, 'SIGSTOP');
    const peerAnswer = await peerVictim;
    const peerState = processState(peerPid);

    recordFigure({
      section: 'faults',
      case: `SIGSTOP of a busy worker, --busy-timeout ${BUSY_TIMEOUT_S}, 8 clients beside it`,
      userSees: `that request gets 504 within the busy timeout; the stopped worker is killed and replaced; other requests all 200`,
      measured:
        `504 after ${(answer.ms / 1000).toFixed(1)} s; the stopped worker gone ${(goneMs / 1000).toFixed(1)} s after SIGSTOP (SIGTERM, then SIGKILL after the 5 s grace); ` +
        `the others: ${describeLoad(load)}; then 4 requests at once on ${pids.size} live workers`,
      peer:
        `php-fpm (request_terminate_timeout = ${BUSY_TIMEOUT_S}s) behind nginx: ${peerAnswer.status} after ${(peerAnswer.ms / 1000).toFixed(1)} s; ` +
        `its stopped child ${peerState === 'T' ? 'still there, stopped (state T)' : `in state ${String(peerState ?? 'gone')}`} after that`,
    });

    expect(answer.status).toBe(504);
    expect(answer.ms).toBeGreaterThanOrEqual(BUSY_TIMEOUT_S * 1000 - 100);
    expect(answer.ms).toBeLessThan(BUSY_TIMEOUT_S * 1000 + 1_500);
    expect(goneMs).toBeLessThan(BUSY_TIMEOUT_S * 1000 + 5_000 + 2_000);
    expect(load.responses).toBeGreaterThan(100);
    expect(failed(load)).toBe(0);
    expect(four.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(pids.size).toBe(4);
    expect(pids.has(String(pid))).toBe(false);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------
// A worker that closes mid-response

interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
  /** The server neither finished the body nor closed the connection within 2 s of its last byte. */
  leftOpen?: boolean;
}

/** Status, headers and body bytes of what a raw socket received. */
function parseRaw(all: Buffer): RawResponse {
  const end = all.indexOf('\r\n\r\n');
  const head = all.subarray(0, end < 0 ? all.length : end).toString('latin1').split('\r\n');
  const headers = new Map<string, string>();
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0), headers, body: end < 0 ? Buffer.alloc(0) : all.subarray(end + 4) };
}

/**
 * One HTTP/1.1 GET on a raw socket, read until the server closes it, the response is complete
 * by its own framing (a server may keep the connection open after it), or nothing more came
 * for 2 s (leftOpen).
 */
function rawGet(port: number, target: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`));
    let timer = setTimeout(() => finish(true), 10_000);
    const finish = (leftOpen = false): void => {
      clearTimeout(timer);
      s.destroy();
      resolve({ ...parseRaw(Buffer.concat(chunks)), ...(leftOpen ? { leftOpen } : {}) });
    };
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      clearTimeout(timer);
      timer = setTimeout(() => finish(true), 2_000);
      const r = parseRaw(Buffer.concat(chunks));
      if (r.status !== 0 && framedComplete(r)) finish();
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.once('close', () => finish());
  });
}

/** Whether the body is whole by its framing: the last chunk, or Content-Length bytes. */
function framedComplete(r: RawResponse): boolean {
  if (r.headers.get('transfer-encoding') === 'chunked') return chunkedComplete(r.body);
  const length = r.headers.get('content-length');
  return length !== undefined && r.body.length >= Number(length);
}

/** Whether a chunked body reaches its last (zero-size) chunk and the blank line after it. */
function chunkedComplete(body: Buffer): boolean {
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol < 0) return false;
    const size = parseInt(body.subarray(at, eol).toString('latin1'), 16);
    if (Number.isNaN(size)) return false;
    if (size === 0) return body.indexOf('\r\n', eol + 2) >= 0;
    at = eol + 2 + size + 2;
    if (at > body.length) return false;
  }
}

type Outcome = '502' | 'cut chunked' | 'cut length' | 'short and left open' | 'complete-looking';

/** What a client makes of the response: an error, a response it can tell is cut, or one it cannot. */
function outcome(r: RawResponse): Outcome {
  if (r.status === 502) return '502';
  if (framedComplete(r)) return 'complete-looking';
  // The client waits for the rest until some timeout of its own.
  if (r.leftOpen) return 'short and left open';
  if (r.headers.get('transfer-encoding') === 'chunked') return 'cut chunked';
  // Delimited by the close, a body cannot tell a cut from an end.
  return r.headers.has('content-length') ? 'cut length' : 'complete-looking';
}

function tally(outcomes: Outcome[]): string {
  const counts = new Map<Outcome, number>();
  for (const o of outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
  return [...counts].map(([o, c]) => `${c} × ${o}`).join(', ');
}

describe('a worker that closes mid-response', () => {
  const WAVES = 20;

  test('the client gets 502 or a response it can tell is cut, never a complete-looking one; the requests beside it all 200', async () => {
    const f = await startFcgipm(fixture('crash'), ['--max', '4']);
    const port = Number(new URL(f.base).port);
    const cut: Outcome[] = [];
    const beside: number[] = [];
    // Each wave: one request whose worker dies mid-response (chunked, or short of its
    // Content-Length) and 8 ordinary ones to the same pool at the same time.
    for (let wave = 0; wave < WAVES; wave += 1) {
      const mode = wave % 2 === 0 ? 'body' : 'length';
      const [bad, ...good] = await Promise.all([
        rawGet(port, `/?crash=${mode}`),
        ...Array.from({ length: 8 }, () => httpRequest(`${f.base}/`).then((r) => r.status, () => -1)),
      ]);
      cut.push(outcome(bad));
      beside.push(...(good));
    }
    const pool = await poolStatus(f);

    // The peer: spawn-fcgi (two processes of the same app) behind nginx.
    const peerDir = dir();
    const sock = path.join(peerDir, 'app.sock');
    const pidFile = path.join(peerDir, 'spawn-fcgi.pid');
    await new Promise<void>((resolve, reject) => {
      const sp = spawn(SPAWN_FCGI, ['-s', sock, '-F', '2', '-P', pidFile, '--', fixture('crash')], { stdio: 'ignore' });
      sp.once('error', reject);
      sp.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`spawn-fcgi exited with ${String(code)}`))));
    });
    for (const p of fs.readFileSync(pidFile, 'utf8').split(/\s+/).filter(Boolean)) pidsToKill.add(Number(p));
    await waitForUnixSocket(sock, undefined);
    const nginx = await startNginx(path.join(peerDir, 'nginx'), [`location / {`, `  include ${FASTCGI_PARAMS};`, `  fastcgi_pass unix:${sock};`, '}'].join('\n'));
    stoppers.push(() => nginx.stop());
    const peerCut = [outcome(await rawGet(nginx.port, '/?crash=body')), outcome(await rawGet(nginx.port, '/?crash=length'))];
    const peerAfter = await httpRequest(`${nginx.base}/`);

    recordFigure({
      section: 'faults',
      case: `a worker that dies mid-response (${WAVES} times, each beside 8 ordinary requests), --max 4`,
      userSees: 'a 502, or a response the client can tell is cut (chunked without its last chunk, or short of its Content-Length, and closed at once); never a complete-looking one; the requests beside it all 200',
      measured: `${tally(cut)}; beside them ${beside.filter((s) => s === 200).length} of ${beside.length} × 200; the pool counted ${pool.responses503} × 503`,
      peer: `spawn-fcgi (-F 2) behind nginx: ${tally(peerCut)}; then nothing respawns the app: the next request gets ${peerAfter.status}`,
    });

    expect(cut).toHaveLength(WAVES);
    expect(cut.filter((o) => o === 'complete-looking' || o === 'short and left open')).toEqual([]);
    expect(beside.filter((s) => s !== 200)).toEqual([]);
    expect(pool.responses503).toBe(0);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------
// A million requests

/** RSS and descriptors of an idle manager: sampled once its fd count held for 3 looks in a row. */
async function idleSample(pid: number): Promise<{ rss: number; fds: number }> {
  let last = -1;
  let same = 0;
  for (let i = 0; i < 100 && same < 3; i += 1) {
    await sleep(100);
    const fds = fdCount(pid);
    same = fds === last ? same + 1 : 0;
    last = fds;
  }
  return { rss: rssBytes(pid), fds: fdCount(pid) };
}

describe('a million requests', () => {
  const WORKERS = 4;
  const WARM = 100_000;
  const MAIN = 900_000;

  test(`the manager's RSS and descriptors stay flat across ${n(WARM + MAIN)} keep-alive requests at 32 clients, workers within --max ${WORKERS}`, async () => {
    const f = await startFcgipm(fixture('hello'), ['--max', String(WORKERS)]);
    const warmLoad = await wrk(`${f.base}/`, f.scratch, { connections: 32, seconds: 120, limit: WARM });
    const warm = await idleSample(f.pid);
    let peakWorkers = 0;
    let peakRss = 0;
    const ticker = setInterval(() => {
      peakWorkers = Math.max(peakWorkers, childrenOf(f.pid, 'hello.fcgi').length);
      peakRss = Math.max(peakRss, rssBytes(f.pid));
    }, 250);
    const load = await wrk(`${f.base}/`, f.scratch, { connections: 32, seconds: 400, limit: MAIN }).finally(() => clearInterval(ticker));
    const end = await idleSample(f.pid);
    const growth = end.rss - warm.rss;

    recordFigure({
      section: 'faults',
      case: `${n(WARM + MAIN)} keep-alive requests, 32 clients, --max ${WORKERS} (hello)`,
      userSees: `the manager's memory and descriptors do not grow with the requests served: RSS growth < 32 MiB, descriptors back to their idle count (± one kept connection per worker); never more than ${WORKERS} workers`,
      measured:
        `${n(warmLoad.responses + load.responses)} requests (${n(load.responses / load.seconds)} req/s), ${n(failed(warmLoad) + failed(load))} failed; ` +
        `RSS ${mib(warm.rss)} after the ${n(WARM)} warm-up, ${mib(end.rss)} at the end (${growth >= 0 ? '+' : ''}${mib(growth)}; peak under load ${mib(peakRss)}); ` +
        `descriptors idle ${warm.fds} → ${end.fds}; at most ${peakWorkers} workers`,
      peer: 'php-fpm: by design, its master serves no request (nginx holds the client connections), so it has no per-request state to leak; its children are recycled by pm.max_requests, 0 (never) by default',
    });

    expect(warmLoad.responses).toBeGreaterThanOrEqual(WARM);
    expect(load.responses).toBeGreaterThanOrEqual(MAIN);
    expect(failed(warmLoad) + failed(load)).toBe(0);
    expect(growth).toBeLessThan(32 * 1024 * 1024);
    // Idle, the manager may hold one kept FastCGI connection per worker (FCGI_KEEP_CONN) or
    // not, depending on which workers the load last used: up to WORKERS either way, plus a
    // few. A leak grows with the 900,000 requests, far past that.
    expect(Math.abs(end.fds - warm.fds)).toBeLessThanOrEqual(WORKERS + 3);
    expect(peakWorkers).toBeGreaterThan(0);
    expect(peakWorkers).toBeLessThanOrEqual(WORKERS);
  }, 420_000);
});
