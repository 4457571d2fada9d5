/**
 * Security checks, each as a user would make them on a running fcgipm (a real process from
 * bin/fcgipm.js), beside php-fpm's and mod_fcgid's defaults measured on private instances in
 * the same run: file and socket modes, who else can connect, the identity and environment a
 * worker gets, the admin listener's protection, and document-root escapes.
 *
 * Loopback only; every process started is stopped by its pid (cleanupClis, stop()); every temp
 * dir is removed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { cleanupClis, cli, dir, type Cli } from '../helpers/cli';
import { fixture, fixtureForAnyUser } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';
import { startApache, startNginx, type WebServer } from '../helpers/web-servers';
import { recordFigure } from './figures';

jest.setTimeout(30_000);

const PHP_FPM = ['/usr/sbin/php-fpm8.2', '/usr/sbin/php-fpm'].find((f) => fs.existsSync(f)) ?? '/usr/sbin/php-fpm';
const PHP_CGI = '/usr/bin/php-cgi';
const NOBODY = { uid: 65534, gid: 65534 };
/** A secret the manager has in its environment: it must never reach a worker. */
const SECRET = { AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI-not-a-real-key', FCGIPM_TEST_LEAK: 'manager-only' };

// ---------------------------------------------------------------------------------------------
// What a user would look at: stat, /proc/PID/status, /proc/PID/environ, /proc/PID/fd.

/** "0600 root:root" for a path. */
function modeOf(p: string): string {
  const st = fs.lstatSync(p);
  const name = (id: number): string => (id === 0 ? 'root' : id === NOBODY.uid ? 'nobody' : String(id));
  const group = (id: number): string => (id === 0 ? 'root' : id === NOBODY.gid ? 'nogroup' : String(id));
  return `${(st.mode & 0o7777).toString(8).padStart(4, '0')} ${name(st.uid)}:${group(st.gid)}`;
}

/** The fields of /proc/PID/status a user reads for identity and privileges. */
function procStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim().replace(/\s+/g, ' ');
  }
  return out;
}

function environOf(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').filter((e) => e !== '');
}

/** fd number → link target ("socket:[123]", "pipe:[45]", "/var/log/x"). */
function fdsOf(pid: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.set(Number(fd), fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** "0 socket, 1 pipe, 3 php-fpm.log": what each descriptor is, for a person. */
function describeFds(fds: Map<number, string>): string {
  return [...fds.entries()]
    .sort(([a], [b]) => a - b)
    .map(([fd, t]) => `${fd} ${t.startsWith('/dev/') ? t : t.startsWith('/') ? path.basename(t) : t.replace(/:\[?[^\]]*\]?$/, '').replace(/^anon_inode$/, t.slice('anon_inode:'.length))}`)
    .join(', ');
}

/** Children of a process, from /proc (php-fpm's workers under its master). */
function childrenOf(pid: number): number[] {
  return fs
    .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter((s) => s !== '')
    .map(Number);
}

/**
 * Connects to a Unix socket as `nobody`, through runuser and a one-line Node connector: "ok"
 * or the errno name (EACCES). A real process of another user, not a permission computation.
 */
function connectAsNobody(socketPath: string): string {
  const code = `const s=require('net').connect(process.argv[1]);s.on('connect',()=>{process.stdout.write('ok');s.destroy()});s.on('error',(e)=>process.stdout.write(e.code))`;
  const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '-e', code, socketPath], { encoding: 'utf8', timeout: 10_000 });
  return r.stdout.trim() || `exit ${String(r.status)}: ${r.stderr}`;
}

/** A directory another user may traverse (the per-test temp dirs are 0700). */
function traversable(d: string): string {
  fs.chmodSync(d, 0o711);
  return d;
}

async function ready(c: Cli): Promise<Record<string, unknown>> {
  return c.waitForLine((l) => l.msg === 'fcgipm ready');
}

async function workerPids(c: Cli, n: number): Promise<number[]> {
  const pids: number[] = [];
  await c.waitForLine((l) => {
    if (l.msg === 'worker started' && typeof l.pid === 'number' && !pids.includes(l.pid)) pids.push(l.pid);
    return pids.length >= n;
  });
  return pids;
}

/** Raw request bytes, so paths reach the server exactly as written (no client normalisation). */
function rawGet(port: number, target: string, host: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0), text });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The peers: a private php-fpm (its pool defaults, workers as nobody) and Apache + mod_fcgid.

interface Fpm {
  readonly dir: string;
  readonly child: ChildProcess;
  readonly sock: string;
  readonly pidFile: string;
  readonly accessLog: string;
  /** Its worker's pid. */
  readonly worker: number;
  stop(): Promise<void>;
}

/** php-fpm with its defaults for everything a security check looks at: user nobody, listen.* unset, clear_env default. */
async function startFpm(d: string): Promise<Fpm> {
  const sock = path.join(d, 'fpm.sock');
  const pidFile = path.join(d, 'php-fpm.pid');
  const accessLog = path.join(d, 'fpm-access.log');
  const conf = path.join(d, 'php-fpm.conf');
  fs.writeFileSync(
    conf,
    `[global]\npid = ${pidFile}\nerror_log = ${d}/fpm-error.log\ndaemonize = no\n` +
      `[www]\nuser = nobody\ngroup = nogroup\nlisten = ${sock}\npm = static\npm.max_children = 1\naccess.log = ${accessLog}\nenv[APP_ENV] = production\n`,
  );
  // The manager's environment carries the secret, as fcgipm's does below.
  const child = spawn(PHP_FPM, ['-F', '-n', '-y', conf], { stdio: ['ignore', 'ignore', 'ignore'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...SECRET } });
  const deadline = Date.now() + 10_000;
  let worker: number | undefined;
  while (worker === undefined) {
    if (child.exitCode !== null) throw new Error(`php-fpm exited ${String(child.exitCode)}: ${fs.readFileSync(`${d}/fpm-error.log`, 'utf8')}`);
    if (Date.now() > deadline) throw new Error('php-fpm did not start');
    if (fs.existsSync(sock) && fs.existsSync(pidFile)) worker = childrenOf(child.pid!)[0];
    if (worker === undefined) await new Promise((r) => setTimeout(r, 25));
  }
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGQUIT');
    });
  return { dir: d, child, sock, pidFile, accessLog, worker, stop };
}

let fpm: Fpm;
beforeAll(async () => {
  fpm = await startFpm(traversable(dir()));
});
afterAll(async () => {
  // php-fpm first: its dir is one of those cleanupClis removes.
  await fpm?.stop();
  await cleanupClis();
});

// ---------------------------------------------------------------------------------------------

describe('case 1: socket, directory and file modes', () => {
  test('IPC dir 0700, worker sockets 0600 (the worker user\'s), FastCGI socket 0660, body spool 0700/0600, pid file 0644, access log 0640', async () => {
    const d = dir();
    const ipc = path.join(d, 'ipc');
    const tmp = path.join(d, 'tmp');
    fs.mkdirSync(tmp);
    const fcgiSock = path.join(d, 'fcgi.sock');
    const pidFile = path.join(d, 'fcgipm.pid');
    const accessLog = path.join(d, 'access.log');
    const c = cli(
      ['run', '--http', '127.0.0.1:0', '--fastcgi', `unix:${fcgiSock}`, '--ipc-dir', ipc, '--pid-file', pidFile, '--access-log', accessLog, '--min', '2', '--mode', 'static', '--max', '2', '--', fixture('echo')],
      0,
      { env: { TMPDIR: tmp } },
    );
    const line = await ready(c);
    const userPids = await workerPids(c, 2);
    const sockets = fs.readdirSync(ipc).map((f) => path.join(ipc, f));
    // A worker as nobody: its socket is handed to it (mod_fcgid chowns it too).
    const asNobody = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(d, 'ipc-nobody'), '--user', 'nobody', '--min', '1', '--', fixtureForAnyUser('hello')]);
    await ready(asNobody);
    await workerPids(asNobody, 1);
    const nobodySocket = path.join(d, 'ipc-nobody', fs.readdirSync(path.join(d, 'ipc-nobody'))[0]!);

    // A chunked body over the 1 MiB kept in memory is spooled: look while it is being sent.
    const port = Number(String(line.http).split(':').pop());
    const upload = net.connect(port, '127.0.0.1');
    upload.write('POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n');
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    for (let i = 0; i < 5; i += 1) upload.write(`${chunk.length.toString(16)}\r\n${chunk.toString()}\r\n`);
    let spoolDir: string | undefined;
    const until = Date.now() + 10_000;
    while (spoolDir === undefined && Date.now() < until) {
      const found = fs.readdirSync(tmp).find((f) => f.startsWith('fcgipm-body-'));
      if (found && fs.existsSync(path.join(tmp, found, 'body'))) spoolDir = path.join(tmp, found);
      else await new Promise((r) => setTimeout(r, 10));
    }
    const spool = spoolDir ? { dir: modeOf(spoolDir), file: modeOf(path.join(spoolDir, 'body')) } : { dir: 'not seen', file: 'not seen' };
    const answered = new Promise<string>((resolve) => {
      let text = '';
      upload.on('data', (b: Buffer) => (text += b.toString('latin1')));
      upload.on('close', () => resolve(text));
    });
    upload.write('0\r\n\r\n');
    const response = await answered;

    const seen = {
      ipcDir: modeOf(ipc),
      workerSockets: [...new Set(sockets.map(modeOf))].join(', '),
      nobodyWorkerSocket: modeOf(nobodySocket),
      fastcgiSocket: modeOf(fcgiSock),
      spoolDir: spool.dir,
      spoolFile: spool.file,
      pidFile: modeOf(pidFile),
      accessLog: modeOf(accessLog),
    };
    const peer = { socket: modeOf(fpm.sock), pidFile: modeOf(fpm.pidFile), accessLog: modeOf(fpm.accessLog) };
    const fcgid = await modFcgidModes();
    recordFigure({
      section: 'security',
      case: 'modes of sockets, directories and files',
      userSees: 'nothing fcgipm creates is group- or world-writable; sockets, the body spool and the access log are not for other users (the FastCGI socket is for the group configured for the web server)',
      measured: `IPC dir ${seen.ipcDir}; worker sockets ${seen.workerSockets} (${seen.nobodyWorkerSocket} for a worker run as nobody); FastCGI socket ${seen.fastcgiSocket}; body spool dir ${seen.spoolDir}, file ${seen.spoolFile}; pid file ${seen.pidFile}; access log ${seen.accessLog}`,
      peer: `php-fpm (defaults, pool user nobody): socket ${peer.socket}, pid file ${peer.pidFile}, access.log ${peer.accessLog}; Apache + mod_fcgid (User nobody): IPC dir ${fcgid.dir}, worker socket ${fcgid.socket}`,
    });

    expect(userPids).toHaveLength(2);
    expect(sockets).toHaveLength(2);
    // Files opened with a mode get it less the umask fcgipm inherited (this test's).
    const umask = parseInt(procStatus(process.pid).Umask ?? '022', 8);
    const file = (mode: number): string => `${(mode & ~umask).toString(8).padStart(4, '0')} root:root`;
    expect(seen).toEqual({
      ipcDir: '0700 root:root',
      workerSockets: '0600 root:root',
      nobodyWorkerSocket: '0600 nobody:nogroup',
      fastcgiSocket: '0660 root:root',
      spoolDir: '0700 root:root',
      spoolFile: '0600 root:root',
      pidFile: file(0o644),
      accessLog: file(0o640),
    });
    expect(response).toMatch(/^HTTP\/1\.1 200/);
    // The spool is removed once the request is done (within moments of the response).
    const spools = (): string[] => fs.readdirSync(tmp).filter((f) => f.startsWith('fcgipm-body-'));
    for (const end = Date.now() + 5_000; spools().length > 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
    expect(spools()).toEqual([]);
  });
});

/** Apache + mod_fcgid with User nobody, one request to a .fcgi: the modes of what it creates. */
async function modFcgidModes(): Promise<{ dir: string; socket: string }> {
  const d = traversable(dir());
  const www = path.join(d, 'www');
  fs.mkdirSync(www, { mode: 0o755 });
  fs.chmodSync(www, 0o755);
  fs.copyFileSync(fixture('hello'), path.join(www, 'hello.fcgi'));
  fs.chmodSync(path.join(www, 'hello.fcgi'), 0o755);
  const ipc = path.join(d, 'fcgidsock');
  let apache: WebServer | undefined;
  try {
    apache = await startApache(
      d,
      `TypesConfig /dev/null\nDocumentRoot "${www}"\nFcgidIPCDir "${ipc}"\nFcgidProcessTableFile "${d}/fcgid_shm"\n<Directory "${www}">\n  Options +ExecCGI\n  AddHandler fcgid-script .fcgi\n  Require all granted\n</Directory>\n`,
      ['fcgid', 'mime'],
    );
    const r = await httpRequest(`${apache.base}/hello.fcgi`);
    if (r.status !== 200) return { dir: `HTTP ${r.status}`, socket: '-' };
    const sockets = fs.readdirSync(ipc).filter((f) => fs.lstatSync(path.join(ipc, f)).isSocket());
    return { dir: modeOf(ipc), socket: sockets[0] !== undefined ? modeOf(path.join(ipc, sockets[0])) : 'none' };
  } catch (err) {
    return { dir: `not measured (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`, socket: '-' };
  } finally {
    await apache?.stop();
  }
}

describe('case 2: another local user connecting', () => {
  test('nobody cannot connect to a worker socket nor to the FastCGI socket by default; can with --fastcgi-mode 0666 or --fastcgi-group', async () => {
    const d = traversable(dir());
    const ipc = path.join(d, 'ipc');
    const closed = path.join(d, 'default.sock');
    const open = path.join(d, 'open.sock');
    const group = path.join(d, 'group.sock');
    const a = cli(['run', '--http', 'off', '--fastcgi', `unix:${closed}`, '--ipc-dir', ipc, '--min', '1', '--', fixture('hello')]);
    const b = cli(['run', '--http', 'off', '--fastcgi', `unix:${open}`, '--fastcgi-mode', '0666', '--ipc-dir', path.join(d, 'ipc2'), '--', fixture('hello')]);
    const g = cli(['run', '--http', 'off', '--fastcgi', `unix:${group}`, '--fastcgi-group', 'nogroup', '--ipc-dir', path.join(d, 'ipc3'), '--', fixture('hello')]);
    await Promise.all([ready(a), ready(b), ready(g)]);
    await workerPids(a, 1);
    const workerSocket = path.join(ipc, fs.readdirSync(ipc)[0]!);
    // The socket's own mode, without the IPC dir in the way: a hard link where nobody can reach it.
    const linked = path.join(d, 'worker-link.sock');
    fs.linkSync(workerSocket, linked);
    const seen = {
      workerSocket: connectAsNobody(workerSocket),
      workerSocketOutsideItsDir: connectAsNobody(linked),
      fastcgiDefault: connectAsNobody(closed),
      fastcgiMode0666: connectAsNobody(open),
      fastcgiGroupNogroup: connectAsNobody(group),
    };
    // php-fpm's socket with its listen.* defaults.
    const peer = connectAsNobody(fpm.sock);
    recordFigure({
      section: 'security',
      case: 'another local user (nobody) connecting',
      userSees: 'another user cannot reach a worker, nor the FastCGI front end unless it is configured for them (--fastcgi-mode, --fastcgi-group)',
      measured: `worker socket: ${seen.workerSocket} (through a hard link outside the 0700 IPC dir: ${seen.workerSocketOutsideItsDir}); FastCGI socket by default: ${seen.fastcgiDefault}; with --fastcgi-mode 0666: ${seen.fastcgiMode0666}; with --fastcgi-group nogroup: ${seen.fastcgiGroupNogroup}`,
      peer: `php-fpm socket with listen.owner/group/mode unset (${modeOf(fpm.sock)}): ${peer}`,
    });
    expect(seen).toEqual({ workerSocket: 'EACCES', workerSocketOutsideItsDir: 'EACCES', fastcgiDefault: 'EACCES', fastcgiMode0666: 'ok', fastcgiGroupNogroup: 'ok' });
  });
});

describe('case 3: worker identity and privileges', () => {
  test('as root without --allow-root: refused at start, naming both ways out', async () => {
    const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(dir(), 'ipc'), '--', fixture('hello')], 0, { asRoot: 'refused' });
    const { code } = await c.exited;
    // php-fpm with a pool whose user is root, started without -R.
    const d = dir();
    fs.writeFileSync(path.join(d, 'root.conf'), `[global]\npid = ${d}/p.pid\nerror_log = ${d}/error.log\ndaemonize = no\n[www]\nuser = root\nlisten = ${d}/s.sock\npm = static\npm.max_children = 1\n`);
    const fpmRoot = spawnSync(PHP_FPM, ['-F', '-n', '-y', path.join(d, 'root.conf')], { encoding: 'utf8', timeout: 10_000 });
    const fpmError = (fs.existsSync(path.join(d, 'error.log')) ? fs.readFileSync(path.join(d, 'error.log'), 'utf8') : '').split('\n')[0]?.replace(/^\[[^\]]*\] /, '') ?? '';
    recordFigure({
      section: 'security',
      case: 'workers as root without --allow-root',
      userSees: 'fcgipm does not start; it says to set a user or allow root',
      measured: `exit ${String(code)}: "${c.stderr().trim().split('\n')[0] ?? ''}"`,
      peer: `php-fpm, a pool with user = root, without -R (--allow-to-run-as-root): exit ${String(fpmRoot.status)}, "${fpmError}"; mod_fcgid: by design, apps run as Apache's User, which Apache refuses to be root`,
    });
    expect(code).toBe(1);
    expect(c.stderr()).toContain('refusing to run workers as root');
    expect(c.stderr()).toContain('--user USER');
    expect(c.stderr()).toContain('--allow-root');
  });

  test('--user nobody: every uid and gid is nobody\'s, its own groups only (as php-fpm), no capability left', async () => {
    const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(dir(), 'ipc'), '--user', 'nobody', '--min', '1', '--', fixtureForAnyUser('hello')]);
    await ready(c);
    const [pid] = await workerPids(c, 1);
    const s = procStatus(pid!);
    const manager = procStatus(c.child.pid!);
    const p = procStatus(fpm.worker);
    const pick = (x: Record<string, string>): Record<string, string | undefined> => ({
      Uid: x.Uid,
      Gid: x.Gid,
      Groups: x.Groups,
      CapInh: x.CapInh,
      CapPrm: x.CapPrm,
      CapEff: x.CapEff,
      CapAmb: x.CapAmb,
      CapBnd: x.CapBnd,
      NoNewPrivs: x.NoNewPrivs,
    });
    const show = (x: Record<string, string | undefined>): string =>
      Object.entries(x)
        .map(([k, v]) => `${k} ${v === '' ? '(none)' : String(v)}`)
        .join('; ');
    recordFigure({
      section: 'security',
      case: 'worker identity with --user nobody',
      userSees: 'the worker runs as nobody through and through (real, effective, saved and fs ids), in nobody\'s own groups (initgroups, as php-fpm), with no group or capability of the manager left',
      measured: show(pick(s)),
      peer: `php-fpm worker (user = nobody, group = nogroup): ${show(pick(p))}`,
    });
    const zero = '0000000000000000';
    expect(pick(s)).toEqual({
      Uid: '65534 65534 65534 65534',
      Gid: '65534 65534 65534 65534',
      // initgroups(nobody, nogroup): nogroup alone, exactly what php-fpm's worker has.
      Groups: '65534',
      CapInh: zero,
      CapPrm: zero,
      CapEff: zero,
      CapAmb: zero,
      // The bounding set is the manager's, as php-fpm leaves it: with no permitted capability
      // and no setuid-root binary reachable it grants nothing (no_new_privs is not set: a
      // mail() through a setgid sendmail still works, as under php-fpm).
      CapBnd: manager.CapBnd,
      NoNewPrivs: '0',
    });
    expect(s.Groups).toBe(p.Groups);
  });
});

describe('case 4: worker environment and descriptors', () => {
  test('the environment is PATH (LD_LIBRARY_PATH) and what is configured; only fds 0, 1 and 2 are open', async () => {
    const d = dir();
    const c = cli(
      [
        'run',
        '--http',
        '127.0.0.1:0',
        '--admin',
        '127.0.0.1:0',
        '--fastcgi',
        `unix:${path.join(d, 'fcgi.sock')}`,
        '--access-log',
        path.join(d, 'access.log'),
        '--pid-file',
        path.join(d, 'fcgipm.pid'),
        '--ipc-dir',
        path.join(d, 'ipc'),
        '--env',
        'APP_ENV=production',
        '--min',
        '1',
        '--',
        fixture('hello'),
      ],
      0,
      { env: SECRET },
    );
    await ready(c);
    const [pid] = await workerPids(c, 1);
    const env = environOf(pid!);
    const names = env.map((e) => e.slice(0, e.indexOf('='))).sort();
    const fds = fdsOf(pid!);
    const managerFds = fdsOf(c.child.pid!);
    // What the manager holds that a worker must not: its listeners, log files, admin socket.
    const managerOnly = [...managerFds.values()].filter((t) => t.startsWith('socket:') || t.startsWith('/'));
    const leaked = [...fds.entries()].filter(([fd, t]) => fd > 2 || managerOnly.includes(t));
    const peerEnv = environOf(fpm.worker);
    const peerFds = fdsOf(fpm.worker);
    const secretIn = (e: string[]): boolean => e.some((v) => v.includes(SECRET.AWS_SECRET_ACCESS_KEY));
    recordFigure({
      section: 'security',
      case: 'worker environment and descriptors',
      userSees: 'a worker sees only PATH and the variables configured for it, and holds only its listening socket (fd 0) and its output pipes (1, 2)',
      measured: `environ: ${names.join(', ')} (the manager's AWS_SECRET_ACCESS_KEY and FCGIPM_* absent); fds ${[...fds.keys()].sort((x, y) => x - y).join(', ')} (fd 0 ${fds.get(0) ?? '-'}, 1 and 2 pipes); the manager holds ${managerFds.size} fds, none of them reached the worker`,
      peer: `php-fpm worker (clear_env default): /proc/PID/environ has ${peerEnv.length} variables, the master's AWS_SECRET_ACCESS_KEY ${secretIn(peerEnv) ? 'still readable there (forked, not exec\'d: the master\'s environment block stays in its memory)' : 'absent'}; fds ${describeFds(peerFds)}`,
    });
    expect(names).toEqual(['APP_ENV', ...(process.env.LD_LIBRARY_PATH !== undefined ? ['LD_LIBRARY_PATH'] : []), 'PATH'].sort());
    expect(env).toContain('APP_ENV=production');
    expect(secretIn(env)).toBe(false);
    expect(env.filter((e) => e.startsWith('FCGIPM_'))).toEqual([]);
    expect([...fds.keys()].sort()).toEqual([0, 1, 2]);
    expect(fds.get(0)).toMatch(/^socket:/);
    expect(fds.get(1)).toMatch(/^pipe:/);
    expect(fds.get(2)).toMatch(/^pipe:/);
    expect(leaked).toEqual([]);
  });
});

describe('case 5: admin listener', () => {
  test('off loopback without a token: refused at start; with a token file: 401 without it, /healthz open', async () => {
    const d = dir();
    const refused = cli(['run', '--http', '127.0.0.1:0', '--admin', '0.0.0.0:0', '--ipc-dir', path.join(d, 'ipc0'), '--', fixture('hello')]);
    const { code } = await refused.exited;
    const tokenFile = path.join(d, 'token');
    fs.writeFileSync(tokenFile, 'reliability-token-0123456789\n', { mode: 0o600 });
    const open = cli(['run', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--ipc-dir', path.join(d, 'ipc1'), '--', fixture('hello')]);
    const guarded = cli(['run', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token-file', tokenFile, '--ipc-dir', path.join(d, 'ipc2'), '--', fixture('hello')]);
    const [o, g] = await Promise.all([ready(open), ready(guarded)]);
    const status = async (base: string, p: string, token?: string): Promise<number> =>
      (await httpRequest(`http://${base}${p}`, token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {})).status;
    const endpoints = ['/status', '/status.json', '/metrics', '/healthz'];
    const loopback = await Promise.all(endpoints.map((p) => status(String(o.admin), p)));
    const without = await Promise.all(endpoints.map((p) => status(String(g.admin), p)));
    const wrong = await Promise.all(endpoints.map((p) => status(String(g.admin), p, 'reliability-token-0123456788')));
    const right = await Promise.all(endpoints.map((p) => status(String(g.admin), p, 'reliability-token-0123456789')));
    const row = (xs: number[]): string => endpoints.map((p, i) => `${p} ${xs[i] ?? 0}`).join(', ');
    recordFigure({
      section: 'security',
      case: 'admin listener: loopback or token',
      userSees: 'an admin listener off loopback does not start without a token file; with one, only /healthz answers without the token',
      measured: `--admin 0.0.0.0 without a token: exit ${String(code)} (FCGIPM_ERR_ADMIN_ACCESS); loopback, no token: ${row(loopback)}; token file, no header: ${row(without)}; wrong token: ${row(wrong)}; right token: ${row(right)}`,
      peer: "php-fpm: by design, pm.status_path and ping.path have no authentication of their own (the web server in front must restrict them) and pm.status_listen binds whatever address it is given; mod_fcgid: by design, its process table is on mod_status's /server-status, open unless restricted with Require",
    });
    expect(code).toBe(1);
    expect(refused.stderr()).toContain('is not on loopback and has no token');
    expect(loopback).toEqual([200, 200, 200, 200]);
    expect(without).toEqual([401, 401, 401, 200]);
    expect(wrong).toEqual([401, 401, 401, 200]);
    expect(right).toEqual([200, 200, 200, 200]);
  });
});

describe('case 6: document root, traversal and symlinks', () => {
  /** What must never show in a response: the files outside the root, or a script there having run. */
  const OUTSIDE_MARKERS = ['SECRET-OUTSIDE', 'PHP-OUTSIDE', 'OUT-FCGI-RAN'];
  const POLICIES = ['owner-match', 'inside', 'off'] as const;

  /** The tree: www/ the document root, outside/ beside it; symlinks from www into both. */
  function buildTree(d: string): { www: string; outside: string } {
    const www = path.join(d, 'www');
    const outside = path.join(d, 'outside');
    for (const p of [www, path.join(www, 'sub'), outside]) {
      fs.mkdirSync(p);
      fs.chmodSync(p, 0o755);
    }
    const file = (p: string, text: string | Buffer, mode = 0o644): void => {
      fs.writeFileSync(p, text);
      fs.chmodSync(p, mode);
    };
    file(path.join(www, 'index.html'), 'INSIDE\n');
    file(path.join(www, 'info.php'), "<?php echo 'PHP-INSIDE';\n");
    file(path.join(www, 'hello.fcgi'), fs.readFileSync(fixture('hello')), 0o755);
    file(path.join(outside, 'secret.txt'), 'SECRET-OUTSIDE\n');
    file(path.join(outside, 'secret.php'), "<?php echo 'PHP-OUTSIDE';\n");
    // A FastCGI app that says it ran (env=1 prints its SCRIPT_FILENAME; the marker is in its name).
    fs.mkdirSync(path.join(outside, 'OUT-FCGI-RAN'));
    fs.chmodSync(path.join(outside, 'OUT-FCGI-RAN'), 0o755);
    file(path.join(outside, 'OUT-FCGI-RAN', 'app.fcgi'), fs.readFileSync(fixture('echo')), 0o755);
    fs.symlinkSync('../outside/secret.txt', path.join(www, 'link-out-foreign.txt'));
    // Made by another user (nobody) who can write in the root: the SymLinksIfOwnerMatch case.
    fs.lchownSync(path.join(www, 'link-out-foreign.txt'), NOBODY.uid, NOBODY.gid);
    fs.symlinkSync('../outside/secret.txt', path.join(www, 'link-out-same-owner.txt'));
    fs.symlinkSync('index.html', path.join(www, 'link-in.html'));
    fs.symlinkSync('../outside', path.join(www, 'link-dir'));
    fs.symlinkSync('../outside/OUT-FCGI-RAN/app.fcgi', path.join(www, 'link-script.fcgi'));
    fs.symlinkSync('../outside/secret.php', path.join(www, 'link-script.php'));
    return { www, outside };
  }

  /** The same request list for fcgipm and for nginx + php-fpm. */
  const REQUESTS: ReadonlyArray<readonly [string, string]> = [
    ['..', '/../outside/secret.txt'],
    ['%2e%2e', '/%2e%2e/outside/secret.txt'],
    ['%2e%2e after a script', '/hello.fcgi/%2e%2e/%2e%2e/outside/secret.txt'],
    ['%2f', '/sub/..%2f..%2foutside/secret.txt'],
    ['\\', '/..\\outside\\secret.txt'],
    ['%5c', '/..%5coutside%5csecret.txt'],
    ['NUL', '/index.html%00.txt'],
    ['overlong UTF-8 "."', '/%c0%ae%c0%ae/outside/secret.txt'],
    ['double encoding', '/%252e%252e/outside/secret.txt'],
    ['symlink out, another owner', '/link-out-foreign.txt'],
    ['symlink out, same owner', '/link-out-same-owner.txt'],
    ['symlinked dir out, same owner', '/link-dir/secret.txt'],
    ['symlink inside', '/link-in.html'],
    ['.fcgi script through a symlink out', '/link-script.fcgi?env=1'],
    ['.php script through a symlink out', '/link-script.php'],
    ['.php outside through a symlinked dir', '/link-dir/secret.php'],
    ['a script inside', '/info.php'],
  ];

  test('every escape is answered 400, 403 or 404; nothing outside is served or run but what the policy allows', async () => {
    const d = traversable(dir());
    const { www } = buildTree(d);
    const sites = POLICIES.map(
      (p) => `  - hosts: [${p}.test]\n    documentRoot: ${www}\n    followSymlinks: ${p}\n    handlers: [.fcgi]\n    wrappers: [{ suffix: .php, command: ${PHP_CGI}, args: [-n] }]\n`,
    ).join('');
    const configFile = path.join(d, 'fcgipm.yaml');
    fs.writeFileSync(configFile, `ipcDir: ${d}/ipc\nlisten:\n  http: 127.0.0.1:0\n  admin: 127.0.0.1:0\ndefaults: { allowRoot: true }\nsites:\n${sites}`);
    const c = cli(['serve', '--config', configFile]);
    const line = await ready(c);
    const port = Number(String(line.http).split(':').pop());

    const results: Record<string, Record<string, number>> = {};
    const leaks: string[] = [];
    for (const policy of POLICIES) {
      results[policy] = {};
      for (const [name, target] of REQUESTS) {
        const r = await rawGet(port, target, `${policy}.test`);
        results[policy][name] = r.status;
        const body = r.text.slice(r.text.indexOf('\r\n\r\n'));
        for (const m of OUTSIDE_MARKERS) if (body.includes(m)) leaks.push(`${policy} ${name}: ${m}`);
      }
    }
    const pools = (JSON.parse((await httpRequest(`http://${String(line.admin)}/status.json`)).body.toString()) as { pools: Array<{ command: string }> }).pools.map((p) => p.command);

    // The peer: nginx (static files, .php to php-fpm, as Debian's snippets/fastcgi-php.conf does) on the same tree.
    const nginxDir = dir();
    const nginx = await startNginx(
      nginxDir,
      `root ${www};\n    location ~ \\.php$ {\n      fastcgi_pass unix:${fpm.sock};\n      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;\n      fastcgi_param SCRIPT_NAME $fastcgi_script_name;\n      fastcgi_param REQUEST_METHOD $request_method;\n      fastcgi_param QUERY_STRING $query_string;\n      fastcgi_param REQUEST_URI $request_uri;\n      fastcgi_param DOCUMENT_ROOT $document_root;\n      fastcgi_param SERVER_PROTOCOL $server_protocol;\n    }`,
    );
    const peer: Record<string, number> = {};
    const peerLeaks: string[] = [];
    try {
      for (const [name, target] of REQUESTS) {
        const r = await rawGet(nginx.port, target, 'localhost');
        peer[name] = r.status;
        const body = r.text.slice(r.text.indexOf('\r\n\r\n'));
        for (const m of OUTSIDE_MARKERS) if (body.includes(m)) peerLeaks.push(`${name}: ${m}`);
      }
    } finally {
      await nginx.stop();
    }

    const table = (row: (name: string) => string): string => REQUESTS.map(([name]) => `${name} ${row(name)}`).join('; ');
    recordFigure({
      section: 'security',
      case: 'document root: traversal and symlinks',
      userSees: 'no request reaches a file outside the document root or runs a script there, except a symlink whose owner owns its target under followSymlinks owner-match (Apache\'s SymLinksIfOwnerMatch)',
      measured: `${REQUESTS.length} requests × 3 policies (owner-match/inside/off): ${table((n) => POLICIES.map((p) => results[p]![n]).join('/'))}; served from outside: ${leaks.length === 0 ? 'none' : leaks.join(', ')}`,
      peer: `nginx (disable_symlinks off, its default) + php-fpm on the same tree: ${table((n) => String(peer[n]))}; served or run from outside: ${peerLeaks.length === 0 ? 'none' : peerLeaks.join(', ')}`,
    });

    // Leaks: only the owner-match policy's same-owner links, by design.
    expect(leaks.sort()).toEqual(['owner-match symlink out, same owner: SECRET-OUTSIDE', 'owner-match symlinked dir out, same owner: SECRET-OUTSIDE'].sort());
    expect(pools.filter((cmd) => cmd.includes('/outside/'))).toEqual([]);
    const expected = (policy: string): Record<string, number> => ({
      '..': 400,
      '%2e%2e': 400,
      '%2e%2e after a script': 400,
      '%2f': 404,
      '\\': 404,
      '%5c': 404,
      NUL: 404,
      'overlong UTF-8 "."': 404,
      'double encoding': 404,
      'symlink out, another owner': 403,
      'symlink out, same owner': policy === 'owner-match' ? 200 : 403,
      'symlinked dir out, same owner': policy === 'owner-match' ? 200 : 403,
      'symlink inside': policy === 'off' ? 403 : 200,
      '.fcgi script through a symlink out': 403,
      '.php script through a symlink out': 403,
      '.php outside through a symlinked dir': 403,
      'a script inside': 200,
    });
    for (const policy of POLICIES) expect([policy, results[policy]]).toEqual([policy, expected(policy)]);
  });
});
