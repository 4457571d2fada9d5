/**
 * The manager's own faults: fcgipm itself SIGKILLed and restarted, its IPC socket directory
 * removed while it serves, its disk full. fcgipm runs as a real process (the CLI); its peers
 * (a private php-fpm, a private nginx) run beside it from configs generated in the test's
 * temp dir. Every process started here is stopped by pid, every temp dir removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { cleanupClis, cli, dir, ready, type Cli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs';
import { freePort, startNginx } from '../helpers/web-servers';
import { n, recordFigure } from './figures';

const PHP_FPM = '/usr/sbin/php-fpm8.2';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Pids this file signals or starts outside cli(): SIGKILLed in afterEach if still running. */
const strays = new Set<number>();
const stopPeers: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const stop of stopPeers.splice(0)) await stop();
  for (const pid of strays) if (running(pid)) process.kill(pid, 'SIGKILL');
  strays.clear();
  await cleanupClis();
});

/** Running: exists and is not a zombie (an orphan's zombie waits for whoever reaps it). */
function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Children of `pid`, from /proc (php-fpm's workers). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Resolves with the ms it took once check() holds, or undefined after timeoutMs. */
async function within(check: () => boolean, timeoutMs: number, stepMs = 20): Promise<number | undefined> {
  const start = performance.now();
  for (;;) {
    if (check()) return performance.now() - start;
    if (performance.now() - start > timeoutMs) return undefined;
    await sleep(stepMs);
  }
}

function get(url: string, method = 'GET'): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(url, { method, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(-1));
    });
    req.on('error', () => resolve(-1));
    req.end();
  });
}

/** A chunked POST of `bytes` (so it must be spooled before the app sees CONTENT_LENGTH). */
function chunkedPost(url: string, bytes: number): Promise<{ status: number; error: string }> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, error: String(res.headers['x-fcgipm-error'] ?? '') }));
    });
    req.on('error', () => resolve({ status: -1, error: '' }));
    const piece = Buffer.alloc(64 * 1024, 0x61);
    for (let sent = 0; sent < bytes; sent += piece.length) req.write(piece);
    req.end();
  });
}

/** `clients` loops of GET: what a light load sees, status by status, with times. */
interface Load {
  readonly seen: Array<{ at: number; status: number }>;
  stop(): Promise<void>;
  count(from: number, to: number, match: (status: number) => boolean): number;
}

function startLoad(url: string, clients: number): Load {
  const seen: Array<{ at: number; status: number }> = [];
  let on = true;
  const loops = Array.from({ length: clients }, async () => {
    while (on) {
      const status = await get(url);
      seen.push({ at: performance.now(), status });
      // Refused while no manager listens: do not spin.
      if (status === -1) await sleep(10);
    }
  });
  return {
    seen,
    stop: async () => {
      on = false;
      await Promise.all(loops);
    },
    count: (from, to, match) => seen.filter((s) => s.at >= from && s.at < to && match(s.status)).length,
  };
}

/** A private php-fpm (pm static, 2 children, a Unix socket in `d`), foreground, as root. */
function startPhpFpm(d: string): { child: ChildProcess; sock: string; conf: string } {
  fs.mkdirSync(d, { recursive: true });
  const sock = path.join(d, 'fpm.sock');
  const conf = path.join(d, 'php-fpm.conf');
  fs.writeFileSync(
    conf,
    [
      '[global]',
      `pid = ${path.join(d, 'php-fpm.pid')}`,
      `error_log = ${path.join(d, 'php-fpm.log')}`,
      'daemonize = no',
      '[www]',
      'user = root',
      'group = root',
      `listen = ${sock}`,
      'pm = static',
      'pm.max_children = 2',
      '',
    ].join('\n'),
  );
  const child = spawn(PHP_FPM, ['-F', '-R', '-n', '-y', conf], { stdio: 'ignore' });
  if (child.pid !== undefined) strays.add(child.pid);
  return { child, sock, conf };
}

function connects(sock: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(sock, () => {
      s.destroy();
      resolve('ok');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

/** A log line's field as text ('' when absent). */
function field(line: Record<string, unknown> | undefined, key: string): string {
  const v = line?.[key];
  return typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v);
}

function workerPids(c: Cli): number[] {
  return c.lines.filter((l) => l.msg === 'worker started').map((l) => Number(l.pid));
}

describe('SIGKILL of the manager, then a restart', () => {
  test('the restarted manager serves at once, the orphaned workers are stopped by pid, stale sockets and the pid file are replaced', async () => {
    const d = dir();
    const ipc = path.join(d, 'sock');
    const pidFile = path.join(d, 'fcgipm.pid');
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const args = ['run', '--http', `127.0.0.1:${port}`, '--ipc-dir', ipc, '--pid-file', pidFile, '--min', '2', '--max', '4', fixture('hello')];
    const first = cli(args);
    await ready(first);
    const load = startLoad(`${base}/`, 4);
    await within(() => load.seen.length >= 200, 5_000);
    const oldPids = workerPids(first);
    for (const pid of oldPids) strays.add(pid);
    first.child.kill('SIGKILL');
    await first.exited;
    // What is left while no manager runs: its workers, in sessions of their own.
    await sleep(300);
    const orphans = oldPids.filter(running);

    const restartedAt = performance.now();
    const second = cli(args);
    const toFirst200 = await within(() => load.seen.some((s) => s.at > restartedAt && s.status === 200), 10_000, 5);
    await ready(second);
    const gone = await within(() => oldPids.every((pid) => !running(pid)), 10_000);
    const orphansGoneMs = gone === undefined ? undefined : performance.now() - restartedAt;
    await sleep(200);
    await load.stop();
    const afterRestart = load.seen.filter((s) => s.at > restartedAt + (toFirst200 ?? 0));
    const failedAfter = afterRestart.filter((s) => s.status !== 200).length;
    const staleSockets = fs.readdirSync(ipc).filter((name) => !name.startsWith(`${second.child.pid}.`));
    const pidInFile = Number(fs.readFileSync(pidFile, 'utf8').trim());
    const stopLines = second.lines.filter((l) => l.msg === 'stopping a worker whose manager is gone').length;

    // The peer: php-fpm's master SIGKILLed, then started again with the same config.
    const fpmDir = path.join(d, 'fpm');
    const fpm = startPhpFpm(fpmDir);
    const fpmReady = await within(() => fs.existsSync(fpm.sock) && childrenOf(fpm.child.pid!).length === 2, 10_000);
    const fpmChildren = childrenOf(fpm.child.pid!);
    for (const pid of fpmChildren) strays.add(pid);
    fpm.child.kill('SIGKILL');
    await sleep(300);
    const fpmOrphans = fpmChildren.filter(running).length;
    const fpmRestartedAt = performance.now();
    const fpm2 = startPhpFpm(fpmDir);
    const exited = (): boolean => fpm2.child.exitCode !== null || fpm2.child.signalCode !== null;
    await within(() => exited() || childrenOf(fpm2.child.pid!).length === 2, 5_000);
    const fpm2Ms = exited() ? undefined : performance.now() - fpmRestartedAt;
    const fpm2Why = /ERROR: ([^\n]*listen[^\n]*)/.exec(fs.readFileSync(path.join(fpmDir, 'php-fpm.log'), 'utf8'))?.[1] ?? '';
    await sleep(500);
    const fpmOrphansLater = fpmChildren.filter(running).length;
    for (const pid of childrenOf(fpm2.child.pid!)) strays.add(pid);
    fpm2.child.kill('SIGTERM');
    await within(exited, 5_000);

    recordFigure({
      section: 'faults',
      case: 'fcgipm SIGKILLed under load (4 clients), restarted with the same config',
      userSees: 'the restarted fcgipm answers 200 within 3 s of its start; no worker of the killed one is left 6 s later; no stale socket; the pid file names the new fcgipm',
      measured:
        `first 200 ${toFirst200 === undefined ? 'never' : `${Math.round(toFirst200)} ms`} after the restart; ` +
        `${orphans.length} of ${oldPids.length} workers orphaned until then, stopped ${orphansGoneMs === undefined ? 'never' : `${Math.round(orphansGoneMs)} ms`} after it ` +
        `(${stopLines} "stopping a worker whose manager is gone" lines); ${staleSockets.length} stale sockets; ${n(failedAfter)} non-200 of ${n(afterRestart.length)} requests after the first 200`,
      peer:
        `php-fpm (measured, pm static 2): ${fpmOrphans} of ${fpmChildren.length} children outlive a SIGKILLed master and ${fpmOrphansLater} are still running 0.5 s after a new master ` +
        `${fpm2Ms === undefined ? `refused to start ("${fpm2Why.replaceAll(fpmDir, '<tmp>')}")` : `started in ${Math.round(fpm2Ms)} ms`}: nothing stops them (the first master was ready in ${Math.round(fpmReady ?? -1)} ms)`,
    });

    expect(oldPids.length).toBeGreaterThanOrEqual(2);
    expect(toFirst200).toBeLessThan(3_000);
    expect(orphansGoneMs).toBeLessThan(6_000);
    expect(stopLines).toBe(orphans.length);
    expect(staleSockets).toEqual([]);
    expect(pidInFile).toBe(second.child.pid);
    expect(failedAfter).toBe(0);
  }, 40_000);
});

/** Longest stretch (ms) from `from` on without a 200: what an outage looks like to a client. */
function longestGap(load: Load, from: number, to: number): number {
  let last = from;
  let gap = 0;
  for (const s of load.seen) {
    if (s.at < from || s.at > to || s.status !== 200) continue;
    gap = Math.max(gap, s.at - last);
    last = s.at;
  }
  return Math.max(gap, to - last);
}

describe('the IPC socket directory removed at run time', () => {
  test('rm -rf of the directory while serving: no 5xx, the directory is made again with its mode, workers are replaced in it', async () => {
    const d = dir();
    const ipc = path.join(d, 'sock');
    const port = await freePort();
    // nokeep: a connection per request, so every request looks the worker's socket up by path;
    // --max-requests: workers are replaced during the event, each needing a new socket.
    const c = cli(['run', '--http', `127.0.0.1:${port}`, '--ipc-dir', ipc, '--min', '2', '--max', '4', '--max-requests', '50', fixture('nokeep')]);
    const base = await ready(c);
    const load = startLoad(`${base}/`, 4);
    await within(() => load.seen.length >= 200, 5_000);
    const removedAt = performance.now();
    fs.rmSync(ipc, { recursive: true, force: true });
    const remadeMs = await within(() => fs.existsSync(ipc), 5_000, 5);
    await within(() => load.seen.filter((s) => s.at > removedAt).length >= 600, 10_000);
    const endedAt = performance.now();
    await load.stop();
    const during = load.seen.filter((s) => s.at > removedAt && s.at <= endedAt);
    const fivexx = during.filter((s) => s.status >= 500).length;
    const other = during.filter((s) => s.status !== 200).length;
    const gap = longestGap(load, removedAt, endedAt);
    const mode = (fs.statSync(ipc).mode & 0o777).toString(8);
    const warned = c.lines.filter((l) => l.msg === 'IPC socket directory was removed; made it again' && l.dir === ipc).length;
    const replaced = c.lines.filter((l) => l.msg === 'worker started' && String(l.socket).startsWith(`${ipc}/`)).length;
    const sockets = fs.readdirSync(ipc).length;

    // The peer: php-fpm's listen socket in a directory that is removed.
    const fpmDir = path.join(d, 'fpm');
    const fpm = startPhpFpm(fpmDir);
    await within(() => fs.existsSync(fpm.sock), 10_000);
    const fpmBefore = await connects(fpm.sock);
    fs.rmSync(fpmDir, { recursive: true, force: true });
    await sleep(500);
    const fpmAfter = await connects(fpm.sock);
    for (const pid of childrenOf(fpm.child.pid!)) strays.add(pid);
    fpm.child.kill('SIGTERM');
    await within(() => fpm.child.exitCode !== null || fpm.child.signalCode !== null, 5_000);

    recordFigure({
      section: 'faults',
      case: 'IPC socket directory removed (rm -rf) while serving 4 clients, workers replaced every 50 requests',
      userSees: 'no 5xx; no stretch without a 200 longer than 1 s (a spawn); the directory is back with its mode and a warning names it',
      measured: `${n(fivexx)} × 5xx, ${n(other)} non-200 of ${n(during.length)} requests; longest stretch without a 200 ${Math.round(gap)} ms; directory made again ${remadeMs === undefined ? 'never' : `after ${Math.round(remadeMs)} ms`}, mode 0${mode}; ${replaced} workers started in it, ${sockets} sockets there at the end`,
      peer: `php-fpm (measured): its listen socket answers ${fpmBefore} before and ${fpmAfter} 0.5 s after its directory is removed — it is made only at start, so a web server in front gets 502 until php-fpm is restarted; mod_fcgid: by design, FcgidIPCDir is made when Apache starts, not before a spawn`,
    });

    expect(fivexx).toBe(0);
    expect(other).toBe(0);
    expect(gap).toBeLessThan(1_000);
    expect(remadeMs).toBeDefined();
    expect(mode).toBe('700');
    expect(warned).toBeGreaterThanOrEqual(1);
    expect(sockets).toBeGreaterThanOrEqual(1);
    expect(fpmAfter).toBe('ENOENT');
  }, 40_000);

  test('a directory that cannot be made again: 503 and a log line naming it, then serving again once it can', async () => {
    const d = dir();
    const run = path.join(d, 'run');
    const ipc = path.join(run, 'sock');
    const port = await freePort();
    const c = cli(['run', '--http', `127.0.0.1:${port}`, '--ipc-dir', ipc, '--max', '1', '--max-requests', '1', fixture('nokeep')]);
    const base = await ready(c);
    expect(await get(`${base}/`)).toBe(200);
    // Its parent is now a file: mkdir fails (ENOTDIR) as it would on a read-only or full /run.
    fs.rmSync(run, { recursive: true, force: true });
    fs.writeFileSync(run, '');
    const askedAt = performance.now();
    const statuses = [await get(`${base}/`)];
    const firstMs = performance.now() - askedAt;
    statuses.push(await get(`${base}/`));
    const line = await within(() => c.lines.some((l) => l.msg === 'workers cannot be started; backing off'), 5_000);
    const err = field(c.lines.find((l) => l.msg === 'workers cannot be started; backing off'), 'err');
    fs.rmSync(run);
    const fixedAt = performance.now();
    let recoveredMs: number | undefined;
    while (recoveredMs === undefined && performance.now() - fixedAt < 15_000) {
      if ((await get(`${base}/`)) === 200) recoveredMs = performance.now() - fixedAt;
      else await sleep(50);
    }

    recordFigure({
      section: 'faults',
      case: 'IPC socket directory that cannot be made again (its parent replaced by a file)',
      userSees: '503 within 10 s (not held to the 30 s queue timeout); an error line naming the directory and the reason; 200 again within 10 s once the directory can be made',
      measured: `${statuses.join(', ')} (the first after ${n(firstMs)} ms of spawn attempts); log: "${err.replaceAll(d, '<tmp>')}"; 200 again ${recoveredMs === undefined ? 'never' : `${Math.round(recoveredMs)} ms`} after the file was removed`,
      peer: 'php-fpm: by design, its socket is made at start only; a pool whose socket is gone answers nothing until restarted',
    });

    expect(line).toBeDefined();
    expect(statuses.every((s) => s === 503)).toBe(true);
    expect(firstMs).toBeLessThan(10_000);
    expect(err).toContain(ipc);
    expect(err).toContain('ENOTDIR');
    expect(recoveredMs).toBeLessThan(10_000);
  }, 40_000);
});

/** Fills the filesystem at `dir` (bytes) with one file; returns its size. */
function fillBytes(file: string): number {
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(256 * 1024, 0x78);
  let size = 0;
  try {
    for (;;) size += fs.writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    fs.closeSync(fd);
  }
  return size;
}

/** Uses up the inodes of the filesystem at `dir` with empty files; returns how many. */
function fillInodes(dir: string): number {
  fs.mkdirSync(dir, { recursive: true });
  let count = 0;
  try {
    for (;;) fs.closeSync(fs.openSync(path.join(dir, String(count++)), 'w'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  }
  return count - 1;
}

describe('disk full at run time', () => {
  let disk: Tmpfs | undefined;
  let mnt = '';
  let skip: string | undefined;

  beforeAll(() => {
    disk = mountTmpfs('size=4m,nr_inodes=256,mode=0755', 'manager-faults, disk full');
    mnt = disk.path;
    skip = disk.skipped;
  });

  afterAll(() => disk?.remove());

  test('a chunked upload that must be spooled on a full disk: 500 naming the file and ENOSPC; small requests and a full access log do not stop serving', async () => {
    if (skip !== undefined) return;
    const spool = path.join(mnt, 'spool');
    const accessLog = path.join(mnt, 'access.log');
    fs.mkdirSync(spool);
    const port = await freePort();
    const c = cli(
      ['run', '--http', `127.0.0.1:${port}`, '--ipc-dir', path.join(mnt, 'sock'), '--min', '2', '--max', '2', '--access-log', accessLog, fixture('echo')],
      0,
      { env: { TMPDIR: spool } },
    );
    const base = await ready(c);
    const nginx = await startNginx(
      path.join(mnt, 'nginx'),
      `access_log ${path.join(mnt, 'nginx', 'access.log')};\n    location = /ok { return 200 "ok\\n"; }\n    location / { proxy_pass ${base}; }`,
    );
    stopPeers.push(() => nginx.stop());
    expect(await get(`${base}/`)).toBe(200);
    expect(await get(`${nginx.base}/ok`)).toBe(200);

    const filled = fillBytes(path.join(mnt, 'fill'));
    const upload = await chunkedPost(`${base}/upload`, 2 * 1024 * 1024);
    const failLine = c.lines.find((l) => l.msg === 'request failed' && l.code === 'FCGIPM_ERR_SPOOL');
    const leftInSpool = fs.readdirSync(spool).length;
    const nginxUpload = await chunkedPost(`${nginx.base}/upload`, 2 * 1024 * 1024);

    // Small requests (the body fits in memory) and every line of the access log on the full disk.
    const startedAt = performance.now();
    const load = startLoad(`${base}/`, 4);
    const warnedMs = await within(() => c.lines.some((l) => l.msg === 'cannot write the access log'), 5_000);
    await within(() => load.seen.length >= 1_000, 10_000);
    await load.stop();
    const seconds = (performance.now() - startedAt) / 1000;
    const ok = load.seen.filter((s) => s.status === 200).length;
    const logErr = field(c.lines.find((l) => l.msg === 'cannot write the access log'), 'err');
    const smallPost = await chunkedPost(`${base}/small`, 64 * 1024);
    const nginxLoad = startLoad(`${nginx.base}/ok`, 4);
    await within(() => nginxLoad.seen.length >= 500, 10_000);
    await nginxLoad.stop();
    const nginxOk = nginxLoad.seen.filter((s) => s.status === 200).length;
    const alive = c.child.exitCode === null && c.child.signalCode === null;
    // Space again: the lines held in memory meanwhile reach the file, none lost.
    fs.rmSync(path.join(mnt, 'fill'));
    const answered = 3 + load.seen.length;
    const lines = (): number => fs.readFileSync(accessLog, 'utf8').split('\n').filter(Boolean).length;
    await get(`${base}/after`);
    const caughtUpMs = await within(() => lines() >= answered + 1, 5_000, 50);
    const written = lines();

    recordFigure({
      section: 'faults',
      case: 'disk full (tmpfs): a 2 MiB chunked upload to spool, then 4 clients with the access log on it',
      userSees: '500 for the upload with a log line naming the temp file and ENOSPC, nothing left behind; every small request 200; a warning that the access log cannot be written; fcgipm keeps running; once there is space, every access log line is on disk',
      measured:
        `upload: ${upload.status} ${upload.error}; log: "${field(failLine, 'err').replaceAll(mnt, '<tmpfs>')}"; ${leftInSpool} files left in the spool dir (${n(filled)} bytes filled the disk); ` +
        `${n(ok)} × 200 of ${n(load.seen.length)} small requests in ${seconds.toFixed(1)} s; access log warning after ${warnedMs === undefined ? 'never' : `${Math.round(warnedMs)} ms`} (${logErr}); 64 KiB chunked POST: ${smallPost.status}; ` +
        `space freed: ${n(written)} of ${n(answered + 1)} access log lines on disk ${caughtUpMs === undefined ? 'after 5 s' : `${Math.round(caughtUpMs)} ms later`}`,
      peer: `nginx (measured, client_body_temp_path and access_log on the same full disk): the upload gets ${nginxUpload.status}; ${n(nginxOk)} × 200 of ${n(nginxLoad.seen.length)} small requests`,
    });

    expect(upload.status).toBe(500);
    expect(upload.error).toBe('FCGIPM_ERR_SPOOL');
    expect(field(failLine, 'err')).toContain(`${spool}/fcgipm-body-`);
    expect(field(failLine, 'err')).toContain('ENOSPC');
    expect(leftInSpool).toBe(0);
    expect(ok).toBe(load.seen.length);
    expect(warnedMs).toBeDefined();
    expect(logErr).toBe('ENOSPC');
    expect(smallPost.status).toBe(200);
    expect(alive).toBe(true);
    expect(written).toBe(answered + 1);
  }, 40_000);

  test('no inode left for a worker socket: 503 and a log line naming the socket and ENOSPC; 200 again once there is', async () => {
    if (skip !== undefined) return;
    const ipc = path.join(mnt, 'sock2');
    const port = await freePort();
    // ondemand, no worker yet: the first request needs a new socket.
    const c = cli(['run', '--http', `127.0.0.1:${port}`, '--ipc-dir', ipc, '--max', '1', fixture('nokeep')]);
    const base = await ready(c);
    const files = fillInodes(path.join(mnt, 'inodes'));
    const askedAt = performance.now();
    const status = await get(`${base}/`);
    const statusMs = performance.now() - askedAt;
    const line = c.lines.find((l) => l.msg === 'workers cannot be started; backing off');
    const err = field(line, 'err');
    fs.rmSync(path.join(mnt, 'inodes'), { recursive: true, force: true });
    const freedAt = performance.now();
    let recoveredMs: number | undefined;
    while (recoveredMs === undefined && performance.now() - freedAt < 15_000) {
      if ((await get(`${base}/`)) === 200) recoveredMs = performance.now() - freedAt;
      else await sleep(50);
    }

    recordFigure({
      section: 'faults',
      case: 'no inode left in the IPC directory for a new worker socket',
      userSees: '503 within 10 s (not held to the 30 s queue timeout) and an error line naming the socket path and ENOSPC; 200 again within 10 s once an inode is free',
      measured: `${status} after ${n(statusMs)} ms of spawn attempts (${n(files)} files used the inodes up); log: "${err.replaceAll(mnt, '<tmpfs>')}"; 200 again ${recoveredMs === undefined ? 'never' : `${Math.round(recoveredMs)} ms`} after they were removed`,
      peer: 'php-fpm: by design, its one listen socket is made at start, so a full disk stops a start, never a running pool; mod_fcgid makes a socket per process in FcgidIPCDir, as fcgipm does',
    });

    expect(status).toBe(503);
    expect(statusMs).toBeLessThan(10_000);
    expect(err).toContain(`${ipc}/`);
    expect(err).toContain('ENOSPC');
    expect(recoveredMs).toBeLessThan(10_000);
  }, 40_000);
});
