'use strict';
/*
 * npm run bench:peers: fcgipm beside the servers it replaces, on the same apps with the same
 * number of app processes, in one run, with wrk (the C load generator) as the client.
 *
 *   node bench/peers.js [--quick] [--repeat N] [--duration S] [--procs N] [--only LIST]
 *                       [--max-seconds S] [--json FILE] [--write-docs | --no-docs]
 *
 * Stacks (each from a private config in a temp dir, 127.0.0.1 only; the system services and
 * configs are never used):
 *   fcgipm                 fcgipm run --min N --max N -- <app>: fcgipm's HTTP front end, one
 *                          fcgipm per app (fcgipm run serves one command)
 *   fcgipm-2-front-ends    the same with --front-ends 2; only with --only
 *   nginx+fcgipm           nginx fastcgi_pass unix: to fcgipm run --http off --fastcgi unix:
 *   nginx-keep+fcgipm      the same with fastcgi_keep_conn on and an upstream keepalive pool
 *   nginx+spawn-fcgi       the same nginx to spawn-fcgi -F N (N libfcgi processes on one socket)
 *   nginx-keep+spawn-fcgi  ... with fastcgi_keep_conn on
 *   lighttpd               lighttpd mod_fastcgi, "bin-path", "max-procs" N
 *   apache+fcgid           Apache 2.4 event MPM + mod_fcgid, FcgidMaxProcessesPerClass N
 *   fcgipm+php-cgi         fcgipm serve: a document root, .php through php-cgi, N processes
 *   nginx+php-fpm          nginx + php-fpm, pm = static, pm.max_children = N
 *   apache+fcgid+php-cgi   Apache + mod_fcgid, FcgidWrapper php-cgi .php, class max N
 * The PHP stacks share one private php.ini (opcache on); every PHP stack is asked whether
 * opcache is on in the process that answers, after its loads.
 *
 * Loads (wrk -t1 --latency; before each, the answer is checked byte for byte; before the first
 * load of an app, a warm-up that is not counted, 2 s at 32 connections, so that every class has
 * all its processes and opcache is filled):
 *   hello@32, hello@1      hello.fcgi at 32 and 1 connections
 *   1MiB@32                big.fcgi?bytes=1048576 (MiB/s = requests/s × 1 MiB)
 *   post32k@32             a 32 KiB POST echoed by echo.fcgi
 *   php-hello@32, php-hello@1, php-100-files@32   a PHP hello page; a page including 100 files
 *
 * Each repetition starts every stack afresh (alternating the order); the report gives the
 * median of the repetitions, the ratio of every fcgipm figure to every peer's, p50/p99, the
 * peak RSS of each server's own processes during the load (fcgipm's manager separately), the
 * number of app processes and wrk's errors. It goes to stdout and, for a full run without
 * --only (or with --write-docs), to docs/benchmarks.md between the bench:peers markers, with
 * the command. Exit 0; 1 when a stack failed, answered an error or wrong bytes, had opcache off,
 * or the time bound cut the run short; 2 on a usage error or a missing peer (it names the
 * apt-get command); 130 on SIGINT. Everything started is stopped on every path.
 */

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { ROOT, HOST, UsageError, number, fixturePath, quote, tail, commandOutput, machineFacts } = require('./lib/common');
const { childPids, exeOf, freePort, liveHandles, rssKiB, sameExeGroup, signal, socketHolders, startProcess, stopAll } = require('./lib/processes');
const { get, send, sleep, waitListening } = require('./lib/http');
const { ROOT_CONFIG_LINE, startFcgipm, startFcgipmServe } = require('./lib/fcgipm');
const { apacheFacts, missingPieces, runUser, startApache } = require('./lib/apache');
const { NGINX, nginxVersion, fastcgiLocation, upstream, startNginx } = require('./lib/nginx');
const { LIGHTTPD, lighttpdVersion, startLighttpd } = require('./lib/lighttpd');
const { PHP_CGI, PHP_FPM, phpVersions, writePhpIni, writePhpSite, startPhpFpm } = require('./lib/php');
const { WRK, wrkVersion, writePostScript, runWrk, stopWrk } = require('./lib/wrk');

const SPAWN_FCGI = '/usr/bin/spawn-fcgi';
const PACKAGES_ALL = 'apt-get install -y wrk nginx apache2 libapache2-mod-fcgid lighttpd spawn-fcgi php-cgi php-fpm libfcgi-dev';
const C_APPS = ['hello', 'big', 'echo'];
const BIG_BYTES = 1024 * 1024;
const POST_BYTES = 32 * 1024;
const MARK_BEGIN = '<!-- bench:peers:begin -->';
const MARK_END = '<!-- bench:peers:end -->';
/** fcgipm's manager under load should stay within this (MiB). */
const MANAGER_RSS_TARGET_MIB = 64;
/** Warm-up (s) before the first load of an app: every class reaches its N processes. */
const WARMUP_S = 2;
/** The whole run's bound (s) by default and with --quick. */
const BOUND_S = 600;
const QUICK_BOUND_S = 180;
/** For the time plan (s): start and stop of a stack (unless it says), checks and wrk starts of a load. */
const STACK_OVERHEAD_S = 1;
const LOAD_OVERHEAD_S = 0.5;
/** RSS sampling interval during a load (ms). */
const RSS_EVERY_MS = 200;

const LOADS = {
  'hello@32': { app: 'hello', conns: 32, path: '/hello' },
  'hello@1': { app: 'hello', conns: 1, path: '/hello' },
  '1MiB@32': { app: 'big', conns: 32, path: `/big?bytes=${BIG_BYTES}`, mib: true },
  'post32k@32': { app: 'echo', conns: 32, path: '/echo', post: true },
  'php-hello@32': { app: 'php', conns: 32, path: '/hello.php' },
  'php-hello@1': { app: 'php', conns: 1, path: '/hello.php' },
  'php-100-files@32': { app: 'php', conns: 32, path: '/page.php' },
};
const KIND_LOADS = {
  c: ['hello@32', 'hello@1', '1MiB@32', 'post32k@32'],
  php: ['php-hello@32', 'php-hello@1', 'php-100-files@32'],
};

/* ------------------------------------------------------------------ options */

const USAGE = `usage: node bench/peers.js [options]   (npm run bench:peers -- [options])
  --quick          1 repetition of 2 s per load (default 3 of 3 s); bounded to ${QUICK_BOUND_S} s
  --repeat N       repetitions (median reported)
  --duration S     seconds of wrk per load
  --procs N        app processes per class in every stack (default 4)
  --only LIST      comma-separated stacks and/or loads (default: every stack but the optional
                   ones, every load); stacks: STACKS; loads: LOADS
  --max-seconds S  bound of the whole run (default ${BOUND_S}, --quick ${QUICK_BOUND_S}); stacks that would
                   pass it are skipped (exit 1) and a watchdog stops everything 60 s after it
  --json FILE      also write every repetition's numbers, commands and configs as JSON
  --write-docs     rewrite the bench:peers section of docs/benchmarks.md (default for a run
                   without --quick and --only)
  --no-docs        do not

Needs: ${PACKAGES_ALL}
then npm run build && npm run fixtures.`;

function parseArgs(argv) {
  const o = { quick: false, repeat: 3, duration: 3, procs: 4, only: undefined, json: undefined, docs: undefined, maxSeconds: undefined };
  let repeatSet = false;
  let durationSet = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const a = arg.startsWith('--') && eq !== -1 ? arg.slice(0, eq) : arg;
    const value = () => {
      if (eq !== -1 && arg.startsWith('--')) return arg.slice(eq + 1);
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--help' || a === '-h') throw new UsageError('');
    else if (a === '--quick') o.quick = true;
    else if (a === '--repeat') (o.repeat = number(a, value(), 1, 9)), (repeatSet = true);
    else if (a === '--duration') (o.duration = number(a, value(), 1, 60)), (durationSet = true);
    else if (a === '--procs') o.procs = number(a, value(), 1, 32);
    else if (a === '--max-seconds') o.maxSeconds = number(a, value(), 10, 86400);
    else if (a === '--only') o.only = value().split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--json') o.json = value();
    else if (a === '--write-docs') o.docs = true;
    else if (a === '--no-docs') o.docs = false;
    else throw new UsageError(`unknown option ${arg}`);
  }
  if (o.quick) {
    if (!repeatSet) o.repeat = 1;
    if (!durationSet) o.duration = 2;
  }
  o.maxSeconds ??= o.quick ? QUICK_BOUND_S : BOUND_S;
  o.docs ??= !o.quick && o.only === undefined;
  const onlyStacks = (o.only ?? []).filter((n) => STACKS[n]);
  const onlyLoads = (o.only ?? []).filter((n) => LOADS[n]);
  for (const n of o.only ?? []) {
    if (!STACKS[n] && !LOADS[n]) {
      throw new UsageError(`--only: no stack or load "${n}" (stacks: ${Object.keys(STACKS).join(', ')}; loads: ${Object.keys(LOADS).join(', ')})`);
    }
  }
  if (o.only !== undefined && o.only.length === 0) throw new UsageError('--only: empty list');
  o.loads = onlyLoads.length > 0 ? onlyLoads : Object.keys(LOADS);
  const stacks = onlyStacks.length > 0 ? onlyStacks : Object.keys(STACKS).filter((n) => !STACKS[n].optional);
  o.stacks = stacks.filter((n) => loadsOf(n, o).length > 0);
  if (o.stacks.length === 0) throw new UsageError(`--only ${o.only.join(',')}: no stack runs any of these loads`);
  return o;
}

function loadsOf(stack, o) {
  return KIND_LOADS[STACKS[stack].kind].filter((l) => o.loads.includes(l));
}

/** Seconds the plan should take: every stack of every repetition, its loads and warm-ups. */
function planSeconds(o) {
  let s = 0;
  for (const name of o.stacks) {
    s += stackSeconds(name, o);
  }
  return s * o.repeat;
}

/** One run of a stack: start, loads, stop. */
function stackSeconds(name, o) {
  const seen = new Set();
  let s = STACKS[name].overheadS ?? STACK_OVERHEAD_S;
  for (const load of loadsOf(name, o)) {
    s += (seen.has(LOADS[load].app) ? 0 : WARMUP_S) + o.duration + LOAD_OVERHEAD_S;
    seen.add(LOADS[load].app);
  }
  return s;
}

/* ------------------------------------------------------------------ stacks */

/*
 * A stack's start(ctx) resolves to { url(load) → the URL of that load, children (handles to
 * stop), logs, commands (command lines to show), configs ({ name: text }), rssPids(app) →
 * { server, manager } (pids of the server's own processes serving that app; manager: fcgipm's,
 * else undefined), apps(app) → the app processes serving that app (pids) }.
 */

/** An fcgipm process and the front ends it started (node processes among its children). */
function fcgipmPids(pid) {
  const exe = exeOf(pid);
  return exe === undefined ? [] : [pid, ...childPids(pid).filter((c) => exeOf(c) === exe)];
}

/** Processes whose fd 0 is a socket bound inside dir and that run `file` (the apps there). */
function appsIn(dir, file) {
  const exe = fs.realpathSync(file);
  return socketHolders(dir).filter((pid) => exeOf(pid) === exe);
}

async function cFcgipm(ctx, extra = []) {
  const started = {};
  for (const app of C_APPS) {
    const options = { min: ctx.procs, max: ctx.procs, args: extra, command: [fixturePath(app)], asInstalled: true };
    started[app] = await startFcgipm(options, mkdir(ctx.scratch, `fcgipm-${app}`));
  }
  for (const app of C_APPS) await waitListening(started[app].port, started[app].child);
  return {
    url: (load) => `${started[load.app].base}${load.path}`,
    children: C_APPS.map((a) => started[a].child),
    logs: C_APPS.map((a) => started[a].logFile),
    commands: C_APPS.map((a) => started[a].commandLine),
    configs: {},
    rssPids: (app) => {
      const pids = fcgipmPids(started[app].child.pid);
      return { server: pids, manager: pids };
    },
    apps: (app) => appsIn(started[app].ipcDir, fixturePath(app)),
  };
}

/**
 * nginx passing /<app> to the FastCGI socket of each C app: a connection per request, or
 * (keep) fastcgi_keep_conn with an upstream keepalive pool of N connections per app.
 */
async function nginxInFront(ctx, socks, keep) {
  const port = await freePort();
  const http = keep ? C_APPS.map((app) => upstream(`up_${app}`, `unix:${socks[app]}`, ctx.procs)) : [];
  const body = C_APPS.map((app) => fastcgiLocation(`/${app}`, keep ? `up_${app}` : `unix:${socks[app]}`, fixturePath(app), keep)).join('\n');
  const nginx = startNginx(path.join(ctx.scratch, 'nginx'), [{ port, body }], http);
  await waitListening(port, nginx.child);
  return { port, nginx };
}

async function nginxFcgipm(ctx, keep) {
  const started = {};
  const socks = {};
  for (const app of C_APPS) {
    socks[app] = path.join(ctx.scratch, `fcgipm-${app}.sock`);
    started[app] = await startFcgipm(
      { http: false, fastcgi: `unix:${socks[app]}`, min: ctx.procs, max: ctx.procs, command: [fixturePath(app)], asInstalled: true },
      mkdir(ctx.scratch, `fcgipm-${app}`),
    );
  }
  await waitFor(() => C_APPS.every((app) => fs.existsSync(socks[app])), 'fcgipm FastCGI sockets', Object.values(started).map((s) => s.child));
  const { port, nginx } = await nginxInFront(ctx, socks, keep);
  return {
    url: (load) => `http://${HOST}:${port}${load.path}`,
    children: [nginx.child, ...C_APPS.map((a) => started[a].child)],
    logs: [nginx.logFile, ...C_APPS.map((a) => started[a].logFile)],
    commands: [nginx.commandLine, ...C_APPS.map((a) => started[a].commandLine)],
    configs: { 'nginx.conf': nginx.config },
    rssPids: (app) => {
      const manager = fcgipmPids(started[app].child.pid);
      return { server: [...manager, ...sameExeGroup(nginx.child.pid)], manager };
    },
    apps: (app) => appsIn(started[app].ipcDir, fixturePath(app)),
  };
}

async function nginxSpawnFcgi(ctx, keep) {
  const socks = {};
  const children = [];
  const commands = [];
  for (const app of C_APPS) {
    socks[app] = path.join(ctx.scratch, `sf-${app}.sock`);
    // spawn-fcgi forks N children on one socket and exits; the children are found at stop
    // by the socket on their fd 0 (the scratch dir is this handle's IPC dir).
    const args = ['-s', socks[app], '-M', '0600', '-F', String(ctx.procs), '--', fixturePath(app)];
    children.push(startProcess(SPAWN_FCGI, args, {}, path.join(ctx.scratch, `spawn-fcgi-${app}.log`), ctx.scratch));
    commands.push([SPAWN_FCGI, ...args].map(quote).join(' '));
  }
  await waitFor(() => C_APPS.every((app) => fs.existsSync(socks[app])), 'spawn-fcgi sockets');
  const { port, nginx } = await nginxInFront(ctx, socks, keep);
  return {
    url: (load) => `http://${HOST}:${port}${load.path}`,
    // spawn-fcgi has exited: its apps are stopped the way an init script would, with SIGTERM.
    beforeStop: () => stopHolders(ctx.scratch),
    children: [nginx.child, ...children],
    logs: [nginx.logFile],
    commands: [nginx.commandLine, ...commands],
    configs: { 'nginx.conf': nginx.config },
    rssPids: () => ({ server: sameExeGroup(nginx.child.pid) }),
    apps: (app) => appsIn(ctx.scratch, fixturePath(app)),
  };
}

async function lighttpd(ctx) {
  const port = await freePort();
  const dir = mkdir(ctx.scratch, 'lighttpd');
  const l = startLighttpd(dir, port, C_APPS.map((app) => ({ prefix: `/${app}`, command: fixturePath(app) })), ctx.procs);
  await waitListening(port, l.child);
  return {
    url: (load) => `http://${HOST}:${port}${load.path}`,
    children: [l.child],
    logs: [l.logFile],
    commands: [l.commandLine],
    configs: { 'lighttpd.conf': l.config },
    rssPids: () => ({ server: sameExeGroup(l.child.pid) }),
    apps: (app) => appsIn(dir, fixturePath(app)),
  };
}

async function apache(ctx, options, appFile) {
  const dir = mkdir(ctx.scratch, 'apache');
  const a = await startApache({ ...options, fcgid: [['FcgidMaxProcessesPerClass', ctx.procs], ['FcgidMaxProcesses', ctx.procs * C_APPS.length]] }, dir);
  await waitListening(a.port, a.child);
  return {
    url: (load) => `${a.base}${load.path}`,
    children: [a.child],
    logs: [a.logFile],
    commands: [a.commandLine],
    configs: { 'httpd.conf': a.config },
    rssPids: () => ({ server: sameExeGroup(a.child.pid) }),
    apps: (app) => appsIn(a.ipcDir, appFile(app)),
  };
}

function apacheFcgid(ctx) {
  return apache(ctx, { fixtures: C_APPS }, fixturePath);
}

function apacheFcgidPhp(ctx) {
  // php-cgi would leave after 500 requests (PHP_FCGI_MAX_REQUESTS): every PHP stack here keeps
  // its processes (fcgipm sets 0 itself, php-fpm's pm.max_requests is 0).
  const env = { PHP_FCGI_MAX_REQUESTS: '0', ...ctx.php.env };
  return apache(ctx, { wrapper: { dir: ctx.www, suffix: '.php', command: PHP_CGI, env } }, () => PHP_CGI);
}

async function fcgipmPhp(ctx) {
  const port = await freePort();
  const dir = mkdir(ctx.scratch, 'fcgipm-php');
  const ipcDir = path.join(dir, 'ipc');
  const s = JSON.stringify;
  const config = [
    '# Generated by bench/peers.js for one benchmark run.',
    `ipcDir: ${s(ipcDir)}`,
    'logLevel: warn',
    `listen: { http: ${s(`${HOST}:${port}`)} }`,
    'defaults:',
    ROOT_CONFIG_LINE,
    `  minProcesses: ${ctx.procs}`,
    `  maxProcesses: ${ctx.procs}`,
    `  env: { PHPRC: ${s(ctx.php.env.PHPRC)}, PHP_INI_SCAN_DIR: ${s(ctx.php.env.PHP_INI_SCAN_DIR)} }`,
    'sites:',
    `  - documentRoot: ${s(ctx.www)}`,
    `    wrappers: [{ suffix: .php, command: ${s(PHP_CGI)} }]`,
    '',
  ].join('\n');
  const f = startFcgipmServe(config, dir, ipcDir, { asInstalled: true });
  await waitListening(port, f.child);
  return {
    url: (load) => `http://${HOST}:${port}${load.path}`,
    children: [f.child],
    logs: [f.logFile],
    commands: [f.commandLine],
    configs: { 'fcgipm.yaml': config },
    rssPids: () => {
      const pids = fcgipmPids(f.child.pid);
      return { server: pids, manager: pids };
    },
    apps: () => appsIn(ipcDir, PHP_CGI),
  };
}

async function nginxPhpFpm(ctx) {
  const fpm = startPhpFpm(mkdir(ctx.scratch, 'php-fpm'), ctx.procs, ctx.php);
  await waitFor(() => fs.existsSync(fpm.sock), 'php-fpm socket', [fpm.child]);
  const port = await freePort();
  const body = [
    `    root ${ctx.www};`,
    fastcgiLocation('~ \\.php$', `unix:${fpm.sock}`, '$document_root$fastcgi_script_name'),
  ].join('\n');
  const nginx = startNginx(path.join(ctx.scratch, 'nginx'), [{ port, body }]);
  await waitListening(port, nginx.child);
  const fpmExe = exeOf(fpm.child.pid);
  return {
    url: (load) => `http://${HOST}:${port}${load.path}`,
    children: [nginx.child, fpm.child],
    logs: [nginx.logFile, fpm.logFile],
    commands: [nginx.commandLine, fpm.commandLine],
    configs: { 'nginx.conf': nginx.config, 'php-fpm.conf': fpm.config },
    // The php-fpm master is the process manager; its children are the apps.
    rssPids: () => ({ server: [...sameExeGroup(nginx.child.pid), fpm.child.pid] }),
    apps: () => childPids(fpm.child.pid).filter((pid) => exeOf(pid) === fpmExe),
  };
}

/**
 * kind: which loads; ours: an fcgipm stack (its figures are divided by the peers'); optional:
 * only with --only; needs: [file, Debian package] pairs; what: one line for the docs.
 */
const STACKS = {
  fcgipm: {
    kind: 'c',
    ours: true,
    needs: [],
    what: 'fcgipm run --min N --max N -- <app>, its own HTTP front end (one fcgipm per app)',
    start: (ctx) => cFcgipm(ctx),
  },
  'fcgipm-2-front-ends': {
    kind: 'c',
    ours: true,
    optional: true,
    needs: [],
    what: 'the same with --front-ends 2 (RSS: both front ends)',
    start: (ctx) => cFcgipm(ctx, ['--front-ends', '2']),
  },
  'nginx+fcgipm': {
    kind: 'c',
    ours: true,
    needs: [[NGINX, 'nginx']],
    what: 'nginx fastcgi_pass unix: to fcgipm run --http off --fastcgi unix:<sock> (RSS: nginx + fcgipm)',
    start: (ctx) => nginxFcgipm(ctx, false),
  },
  'nginx-keep+fcgipm': {
    kind: 'c',
    ours: true,
    needs: [[NGINX, 'nginx']],
    what: 'the same with fastcgi_keep_conn on and an upstream keepalive N',
    start: (ctx) => nginxFcgipm(ctx, true),
  },
  'nginx+spawn-fcgi': {
    kind: 'c',
    needs: [[NGINX, 'nginx'], [SPAWN_FCGI, 'spawn-fcgi']],
    what: 'the same nginx config to spawn-fcgi -F N (N libfcgi processes on one socket)',
    start: (ctx) => nginxSpawnFcgi(ctx, false),
  },
  'nginx-keep+spawn-fcgi': {
    kind: 'c',
    needs: [[NGINX, 'nginx'], [SPAWN_FCGI, 'spawn-fcgi']],
    what: 'the same with fastcgi_keep_conn on and an upstream keepalive N',
    start: (ctx) => nginxSpawnFcgi(ctx, true),
  },
  lighttpd: {
    kind: 'c',
    needs: [[LIGHTTPD, 'lighttpd']],
    what: 'lighttpd mod_fastcgi, "bin-path", "max-procs" N per app',
    start: lighttpd,
  },
  'apache+fcgid': {
    kind: 'c',
    needs: [],
    apache: true,
    // Apache's stop waits for the fcgid process manager's next wake-up (up to 3 s).
    overheadS: 3,
    what: 'Apache 2.4 event MPM + mod_fcgid, FcgidMaxProcessesPerClass N',
    start: apacheFcgid,
  },
  'fcgipm+php-cgi': {
    kind: 'php',
    ours: true,
    needs: [[PHP_CGI, 'php-cgi']],
    what: 'fcgipm serve: a document root, .php through php-cgi, N processes (its HTTP front end)',
    start: fcgipmPhp,
  },
  'nginx+php-fpm': {
    kind: 'php',
    needs: [[NGINX, 'nginx'], [PHP_FPM, 'php-fpm']],
    what: 'nginx + php-fpm, pm = static, pm.max_children = N',
    start: nginxPhpFpm,
  },
  'apache+fcgid+php-cgi': {
    kind: 'php',
    needs: [[PHP_CGI, 'php-cgi']],
    apache: true,
    overheadS: 3,
    what: 'Apache + mod_fcgid, FcgidWrapper php-cgi .php, class max N, PHP_FCGI_MAX_REQUESTS 0',
    start: apacheFcgidPhp,
  },
};

/* ------------------------------------------------------------------ helpers */

/** SIGTERM to the processes whose fd 0 is a socket in dir; resolves when they are gone (≤ 3 s). */
async function stopHolders(dir) {
  for (const pid of socketHolders(dir)) signal(pid, 'SIGTERM');
  for (let i = 0; i < 60 && socketHolders(dir).length > 0; i++) await sleep(50);
}

function mkdir(parent, name) {
  const dir = path.join(parent, name);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  return dir;
}

async function waitFor(check, what, children = [], timeoutMs = 10000) {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    const gone = children.find((c) => c.hasExited());
    if (gone) throw new Error(`${what}: a process exited (${JSON.stringify(gone.exitInfo())})`);
    if (Date.now() > until) throw new Error(`${what}: not there after ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Checks what the stack answers for a load, byte for byte; throws when it is wrong. */
async function checkAnswer(url, load, ctx) {
  try {
    await checkAnswerOnce(url, load, ctx);
  } catch (err) {
    throw new Error(`${load.post ? 'POST' : 'GET'} ${url}: ${err.message}`);
  }
}

async function checkAnswerOnce(url, load, ctx) {
  if (load.post) {
    const body = Buffer.alloc(POST_BYTES, 'a');
    const r = await send(url, 'POST', body, { 'content-type': 'application/octet-stream' }, 10000);
    if (r.status !== 200 || !r.body.equals(body)) throw new Error(`${r.status}, ${r.body.length} bytes, not the ${POST_BYTES} sent`);
    return;
  }
  const r = await get(url, 10000);
  const body = r.body; // latin1: one char per byte
  let ok;
  if (load.app === 'hello') ok = body.startsWith('Hello from fcgipm fixture');
  else if (load.app === 'big') ok = body.length === BIG_BYTES && [0, 1, 255, 65536, BIG_BYTES - 1].every((i) => body.charCodeAt(i) === (i * 7 + 3) % 256);
  else ok = body === ctx.expect[load.path];
  if (r.status !== 200 || !ok) throw new Error(`${r.status}, ${body.length} bytes: ${JSON.stringify(body.slice(0, 120))}`);
}

/** Whether opcache is on in the php process answering /opcache.php (and it uses our php.ini). */
async function opcacheState(base, ctx) {
  const r = await get(`${base}/opcache.php`, 10000);
  let s;
  try {
    s = JSON.parse(r.body);
  } catch {
    return { ok: false, text: `/opcache.php answered ${r.status}: ${r.body.slice(0, 120)}` };
  }
  const ours = s.ini === ctx.php.ini && !s.scanned;
  return { ...s, ok: s.opcache === true && ours, text: `${s.opcache ? 'on' : 'OFF'} (${s.sapi}, ${s.scripts} scripts cached, ${s.hits} hits in pid ${s.pid}${ours ? '' : `; php.ini ${s.ini}, scanned ${s.scanned || 'nothing'}`})` };
}

function mib(kib) {
  return kib / 1024;
}

/* ------------------------------------------------------------------ one stack */

/** Starts a stack, runs its loads, stops it (and whatever it started, also when it fails). */
async function runStack(name, ctx, loads) {
  const before = new Set(liveHandles());
  const stopRest = () => Promise.all(liveHandles().filter((h) => !before.has(h)).map((h) => h.stop()));
  const stack = STACKS[name];
  const t0 = performance.now();
  let s;
  try {
    s = await stack.start(ctx);
  } catch (err) {
    await stopRest();
    throw err;
  }
  const result = { loads: {}, commands: s.commands, configs: s.configs };
  try {
    const warmed = new Set();
    for (const loadName of loads) {
      if (ctx.outOfTime()) throw new Error('aborted');
      const load = LOADS[loadName];
      const url = s.url(load);
      const script = load.post ? ctx.postLua : undefined;
      await checkAnswer(url, load, ctx);
      if (!warmed.has(load.app)) {
        warmed.add(load.app);
        await runWrk(url, { connections: 32, seconds: WARMUP_S, script });
      }
      // The processes are listed once (a scan of /proc), their RSS read every RSS_EVERY_MS.
      const pids = s.rssPids(load.app);
      let server = 0;
      let manager;
      const sample = () => {
        server = Math.max(server, rssKiB(pids.server));
        if (pids.manager) manager = Math.max(manager ?? 0, rssKiB(pids.manager));
      };
      const w = await runWrk(url, { connections: load.conns, seconds: ctx.duration, script, onTick: sample, every: RSS_EVERY_MS });
      const r = {
        rps: w.rps,
        mibps: load.mib ? (w.rps * BIG_BYTES) / 2 ** 20 : undefined,
        transferMiBps: w.transferPerSec / 2 ** 20,
        p50: w.p50,
        p99: w.p99,
        max: w.max,
        requests: w.requests,
        errors: w.errors,
        non2xx: w.non2xx,
        socket: w.socket,
        serverRssKiB: server,
        managerRssKiB: manager,
        apps: s.apps(load.app).length,
      };
      result.loads[loadName] = r;
      const flag = r.errors > 0 ? `  ERRORS ${r.errors} (non-2xx ${r.non2xx}, socket ${JSON.stringify(r.socket)})` : '';
      process.stderr.write(
        `  ${name.padEnd(22)} ${loadName.padEnd(17)} ${fmtFigure(loadName, r).padStart(10)}  p50 ${r.p50.toFixed(2)} p99 ${r.p99.toFixed(2)} ms  ` +
          `rss ${mib(r.serverRssKiB).toFixed(0)} MiB${r.managerRssKiB !== undefined ? ` (fcgipm ${mib(r.managerRssKiB).toFixed(0)})` : ''}  apps ${r.apps}${flag}\n`,
      );
    }
    if (stack.kind === 'php') {
      result.opcache = await opcacheState(new URL(s.url(LOADS['php-hello@1'])).origin, ctx);
      process.stderr.write(`  ${name.padEnd(22)} opcache ${result.opcache.text}\n`);
    }
  } catch (err) {
    for (const log of s.logs) process.stderr.write(`--- ${log}\n${tail(log, 10)}\n`);
    throw err;
  } finally {
    const notes = [];
    if (s.beforeStop) await s.beforeStop();
    for (const c of s.children) notes.push(...(await c.stop()));
    await stopRest();
    result.stopNotes = notes;
    // An exit status after SIGTERM is no news; processes left behind are.
    for (const n of notes.filter((x) => !/after SIGTERM$/.test(x))) process.stderr.write(`  ${name}: stop: ${n}\n`);
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

function fmtFigure(load, r) {
  return LOADS[load].mib ? `${r.mibps.toFixed(0)} MiB/s` : `${r.rps.toFixed(0)}/s`;
}

function figure(load, r) {
  return LOADS[load].mib ? r.mibps : r.rps;
}

function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

/* ------------------------------------------------------------------ report */

function medians(all) {
  const med = {};
  for (const [stack, reps] of Object.entries(all)) {
    med[stack] = {};
    for (const load of Object.keys(LOADS)) {
      const rs = reps.map((rep) => rep.loads?.[load]).filter(Boolean);
      if (rs.length === 0) continue;
      const managers = rs.map((r) => r.managerRssKiB).filter((v) => v !== undefined);
      med[stack][load] = {
        runs: rs.length,
        figure: median(rs.map((r) => figure(load, r))),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        serverMiB: median(rs.map((r) => mib(r.serverRssKiB))),
        managerMiB: managers.length > 0 ? median(managers.map(mib)) : undefined,
        apps: Math.max(...rs.map((r) => r.apps)),
        errors: rs.reduce((a, r) => a + r.errors, 0),
      };
    }
  }
  return med;
}

function fmtMs(ms) {
  if (!Number.isFinite(ms)) return '-';
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(2);
}

function report(all, o, info) {
  const med = medians(all);
  const stacks = Object.keys(all);
  const facts = machineFacts();
  const flagged = [];
  const lines = [];
  lines.push(
    `Run on ${new Date().toISOString().slice(0, 10)}: ${facts.nproc} CPUs (${facts.cpu}), ${facts.memory}, ${facts.kernel}, Node ${facts.node}, ` +
      `fcgipm ${facts.fcgipm}; ${info.versions}. ${o.procs} app processes per class in every stack; wrk -t1, ${o.duration} s per load (before the first load of each app ` +
      `${WARMUP_S} s of warm-up at 32 connections, not counted), ` +
      `median of ${o.repeat} repetition(s); the whole run took ${Math.round(info.seconds)} s.`,
  );
  lines.push('', '```sh', info.commandLine, '```', '');
  // fcgipm's manager memory, up front.
  const managerPeaks = stacks
    .filter((s) => STACKS[s].ours)
    .map((s) => {
      const v = Object.values(med[s]).map((m) => m.managerMiB).filter((x) => x !== undefined);
      return v.length > 0 ? { s, peak: Math.max(...v) } : undefined;
    })
    .filter(Boolean);
  if (managerPeaks.length > 0) {
    const over = managerPeaks.filter((m) => m.peak > MANAGER_RSS_TARGET_MIB);
    lines.push(
      `**fcgipm manager RSS under load** (peak during a load, median over repetitions, highest load; target ≤ ${MANAGER_RSS_TARGET_MIB} MiB): ` +
        `${managerPeaks.map((m) => `${m.s} ${m.peak.toFixed(0)} MiB`).join(', ')} — ${over.length === 0 ? 'within the target' : `**above the target** in ${over.map((m) => m.s).join(', ')}`}.`,
    );
    lines.push('');
  }
  const opcache = stacks.filter((s) => STACKS[s].kind === 'php' && all[s].some((rep) => rep.opcache));
  if (opcache.length > 0) {
    const states = opcache.map((s) => {
      const reps = all[s].filter((rep) => rep.opcache);
      const off = reps.filter((rep) => !rep.opcache.ok).length;
      return `${s} ${off === 0 ? 'on' : `**off or not our php.ini in ${off} of ${reps.length}**`}`;
    });
    lines.push(`PHP: one private php.ini for every PHP stack (opcache on, nothing from /etc/php); opcache, asked after the loads: ${states.join(', ')}.`);
    lines.push('');
  }
  lines.push(
    "Figures are requests/s (MiB/s for 1 MiB responses), wrk's latency p50/p99 in ms, the peak RSS during the load of the server's own " +
      "processes (fcgipm's manager; nginx's master and worker; Apache's processes; lighttpd; the php-fpm master) — not the apps' — and, " +
      'for fcgipm stacks, of the fcgipm manager alone; "apps" is the number of app processes serving the load at its end. ' +
      'The ratio tables divide each fcgipm stack\'s figure by each peer\'s (above 1: fcgipm serves more).',
  );
  for (const load of Object.keys(LOADS)) {
    const rows = stacks.filter((s) => med[s][load]);
    if (rows.length === 0) continue;
    const bad = (s) => med[s][load].errors > 0 || all[s].some((rep) => rep.opcache && !rep.opcache.ok);
    lines.push('', `**${load}**${LOADS[load].mib ? ' (MiB/s)' : ' (requests/s)'}`, '');
    lines.push('| stack | figure | p50 ms | p99 ms | server RSS MiB | fcgipm manager RSS MiB | apps | errors |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const s of rows) {
      const m = med[s][load];
      if (bad(s)) flagged.push(`${s} ${load}`);
      const name = STACKS[s].ours ? `**${s}**` : s;
      const runs = m.runs < o.repeat ? ` (${m.runs} of ${o.repeat} runs)` : '';
      lines.push(
        `| ${name} | ${m.figure.toFixed(0)}${bad(s) ? ' ⚠' : ''}${runs} | ${fmtMs(m.p50)} | ${fmtMs(m.p99)} | ${m.serverMiB.toFixed(0)} | ` +
          `${m.managerMiB !== undefined ? m.managerMiB.toFixed(0) : '—'} | ${m.apps} | ${m.errors} |`,
      );
    }
    const ours = rows.filter((s) => STACKS[s].ours);
    const peers = rows.filter((s) => !STACKS[s].ours);
    if (ours.length > 0 && peers.length > 0) {
      lines.push('', `| ${load}: fcgipm ÷ peer | ${peers.join(' | ')} |`, `|---|${peers.map(() => '---:').join('|')}|`);
      for (const s of ours) {
        const cells = peers.map((p) => `${(med[s][load].figure / med[p][load].figure).toFixed(2)}×${bad(s) || bad(p) ? ' ⚠' : ''}`);
        lines.push(`| ${s} | ${cells.join(' | ')} |`);
      }
    }
  }
  const notes = [];
  if (flagged.length > 0) notes.push(`⚠: wrk counted errors (non-2xx responses or socket errors) or opcache was off: ${flagged.join('; ')}. Those figures are not comparable.`);
  if (info.failed.length > 0) notes.push(`Failed or skipped: ${info.failed.join('; ')}.`);
  if (notes.length > 0) lines.push('', ...notes);
  return { markdown: lines.join('\n'), med, flagged };
}

function writeDocs(markdown) {
  const file = path.join(ROOT, 'docs', 'benchmarks.md');
  const text = fs.readFileSync(file, 'utf8');
  const begin = text.indexOf(MARK_BEGIN);
  const end = text.indexOf(MARK_END);
  if (begin < 0 || end < begin) throw new Error(`docs/benchmarks.md has no ${MARK_BEGIN} … ${MARK_END} region`);
  fs.writeFileSync(file, `${text.slice(0, begin + MARK_BEGIN.length)}\n${markdown}\n\n${text.slice(end)}`);
}

/* ------------------------------------------------------------------ main */

/** What the selected stacks need and is not installed: { files, packages }. */
function missing(o) {
  const files = [];
  const packages = new Set();
  const need = (file, pkg) => {
    if (!fs.existsSync(file)) {
      files.push(file);
      packages.add(pkg);
    }
  };
  need(WRK, 'wrk');
  for (const name of o.stacks) {
    for (const [file, pkg] of STACKS[name].needs) need(file, pkg);
    if (STACKS[name].apache) {
      const m = missingPieces();
      if (m.missing.length > 0) {
        files.push(...m.missing);
        for (const p of m.install.split(/\s+/).slice(3)) packages.add(p);
      }
    }
    if (STACKS[name].kind === 'c') {
      for (const app of C_APPS) {
        if (!fs.existsSync(fixturePath(app))) {
          files.push(path.relative(ROOT, fixturePath(app)));
          if (!fs.existsSync('/usr/include/fcgiapp.h')) packages.add('libfcgi-dev');
        }
      }
    }
  }
  return { files: [...new Set(files)], packages: [...packages] };
}

function peerVersions(o) {
  const v = [wrkVersion()];
  const uses = (pred) => o.stacks.some((n) => pred(STACKS[n]));
  if (uses((s) => s.needs.some(([f]) => f === NGINX))) v.push(nginxVersion());
  if (uses((s) => s.needs.some(([f]) => f === SPAWN_FCGI))) v.push((commandOutput(SPAWN_FCGI, ['-v']) ?? 'spawn-fcgi unknown').split(' (')[0].replace(' v', ' '));
  if (uses((s) => s.needs.some(([f]) => f === LIGHTTPD))) v.push(lighttpdVersion());
  if (uses((s) => s.apache)) {
    const a = apacheFacts();
    v.push(`${a.apache2}, ${a['mod_fcgid package']} (as ${Object.values(runUser()).join(':')})`);
  }
  if (uses((s) => s.kind === 'php')) v.push(...new Set(Object.values(phpVersions())));
  return v.join(', ');
}

/**
 * The command that gives these numbers: the options given, less those that only say where the
 * report goes (--json FILE, --write-docs, --no-docs).
 */
function measuringCommand(argv) {
  const args = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json') i++;
    else if (!/^--json=|^--write-docs$|^--no-docs$/.test(argv[i])) args.push(argv[i]);
  }
  return `npm run bench:peers${args.length > 0 ? ` -- ${args.map(quote).join(' ')}` : ''}`;
}

let scratchRoot = null;
let aborting = false;

function removeScratch() {
  if (scratchRoot !== null) fs.rmSync(scratchRoot, { recursive: true, force: true });
  scratchRoot = null;
}

/** Stops whatever runs, removes the temp dir and exits (SIGINT, SIGTERM, watchdog, crash). */
function abort(code, why) {
  if (aborting) return;
  aborting = true;
  if (why) process.stderr.write(`bench:peers: ${why}; stopping everything\n`);
  stopWrk();
  void stopAll().then(() => {
    removeScratch();
    process.exit(code);
  });
}

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    const usage = USAGE.replace('STACKS', Object.keys(STACKS).join(', ')).replace('LOADS', Object.keys(LOADS).join(', '));
    process.stderr.write(err.message ? `bench:peers: ${err.message} (--help for the options)\n` : `${usage}\n`);
    return 2;
  }
  const gone = missing(o);
  if (gone.files.length > 0) {
    process.stderr.write(`bench:peers: missing ${gone.files.join(', ')}\n`);
    if (gone.packages.length > 0) process.stderr.write(`bench:peers: install them (as root) with: apt-get install -y ${gone.packages.join(' ')}\n`);
    process.stderr.write('bench:peers: then npm run build && npm run fixtures\n');
    return 2;
  }
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) {
    process.stderr.write('bench:peers: dist/ is not built: run npm run build\n');
    return 2;
  }
  const plan = planSeconds(o);
  if (plan > o.maxSeconds) {
    process.stderr.write(
      `bench:peers: the plan takes about ${Math.round(plan)} s, more than the ${o.maxSeconds}-s bound: fewer --repeat, a shorter --duration, --only, or --max-seconds\n`,
    );
    return 2;
  }
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const watchdog = setTimeout(() => abort(1, `watchdog: still running ${o.maxSeconds + 60} s after the start`), (o.maxSeconds + 60) * 1000);
  watchdog.unref();
  process.stderr.write(`bench:peers: ${o.stacks.length} stacks, ${o.repeat} repetition(s), about ${Math.round(plan)} s (bound ${o.maxSeconds} s)\n`);

  scratchRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'fcgipm-peers-'));
  // Apache's user (www-data) runs the apps and php-cgi: it reads the pages and the php.ini.
  fs.chmodSync(scratchRoot, 0o755);
  const php = writePhpIni(mkdir(scratchRoot, 'php'));
  const { www, expect } = writePhpSite(scratchRoot);
  const postLua = writePostScript(path.join(scratchRoot, 'post.lua'), POST_BYTES);
  const all = Object.fromEntries(o.stacks.map((n) => [n, []]));
  const failed = [];
  try {
    for (let rep = 1; rep <= o.repeat; rep++) {
      process.stderr.write(`run ${rep} of ${o.repeat} (${Math.round(elapsed())} s)\n`);
      // Alternate the order so that drift on a busy machine does not favour one side.
      const order = rep % 2 ? o.stacks : [...o.stacks].reverse();
      for (const name of order) {
        if (aborting) throw new Error('aborted');
        const need = stackSeconds(name, o);
        if (elapsed() + need > o.maxSeconds) {
          failed.push(`${name} run ${rep} skipped (the ${o.maxSeconds}-s bound)`);
          process.stderr.write(`bench:peers: ${name}: skipped, it would pass the ${o.maxSeconds}-s bound\n`);
          continue;
        }
        const scratch = fs.mkdtempSync(path.join(scratchRoot, 'stack-'));
        fs.chmodSync(scratch, 0o755);
        const ctx = { scratch, procs: o.procs, duration: o.duration, www, expect, php, postLua, outOfTime: () => aborting };
        try {
          const r = await runStack(name, ctx, loadsOf(name, o));
          all[name].push(r);
          if (r.opcache && !r.opcache.ok) failed.push(`${name} run ${rep}: opcache ${r.opcache.text}`);
          process.stderr.write(`  ${name}: ${r.seconds.toFixed(1)} s\n`);
        } catch (err) {
          failed.push(`${name} run ${rep}: ${err.message}`);
          process.stderr.write(`bench:peers: ${name} failed: ${err.message}\n`);
        }
        fs.rmSync(scratch, { recursive: true, force: true });
      }
    }
  } finally {
    clearTimeout(watchdog);
    stopWrk();
    await stopAll();
    removeScratch();
  }
  const commandLine = measuringCommand(process.argv.slice(2));
  const seconds = elapsed();
  const { markdown, med, flagged } = report(all, o, { commandLine, seconds, versions: peerVersions(o), failed });
  process.stdout.write(`${markdown}\n`);
  process.stderr.write(`bench:peers: ${Math.round(seconds)} s in all\n`);
  if (o.json) {
    fs.writeFileSync(o.json, `${JSON.stringify({ options: o, commandLine, seconds, facts: machineFacts(), runs: all, medians: med, failed, flagged }, null, 2)}\n`);
  }
  if (o.docs) {
    writeDocs(markdown);
    process.stderr.write('bench:peers: docs/benchmarks.md updated\n');
  }
  return failed.length > 0 || flagged.length > 0 ? 1 : 0;
}

process.once('SIGINT', () => abort(130, 'interrupted'));
process.once('SIGTERM', () => abort(143, 'terminated'));

main().then(
  (code) => {
    if (!aborting) process.exit(code);
  },
  (err) => {
    process.stderr.write(`bench:peers: ${err.stack ?? err}\n`);
    abort(1);
  },
);
