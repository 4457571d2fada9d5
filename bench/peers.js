'use strict';
/*
 * npm run bench:peers: fcgipm beside the servers it replaces, same apps, same number of app
 * processes, one run, wrk as the load generator.
 *
 *   node bench/peers.js [--quick] [--repeat N] [--duration S] [--procs N] [--only LIST]
 *                       [--json FILE] [--no-docs]
 *
 * Stacks (private configs in a temp dir, 127.0.0.1 only, the system services never used):
 *   fcgipm             fcgipm run --min N --max N -- <app>, its own HTTP front end
 *   fcgipm-2-front-ends  the same with --front-ends 2 (two front-end processes, N/2 workers each);
 *                      only with --only (the default run stays within 10 minutes)
 *   nginx+fcgipm       nginx fastcgi_pass to fcgipm run --http off --fastcgi unix:<sock>
 *   nginx-keep+fcgipm  the same with fastcgi_keep_conn and an upstream keepalive pool
 *   nginx+spawn-fcgi   nginx fastcgi_pass to spawn-fcgi -F N (libfcgi apps on one socket)
 *   nginx-keep+spawn-fcgi  the same with fastcgi_keep_conn
 *   lighttpd           lighttpd mod_fastcgi, bin-path, max-procs N
 *   apache+fcgid       Apache 2.4 event MPM + mod_fcgid, FcgidMaxProcessesPerClass N
 *   fcgipm+php-cgi     fcgipm serve: a document root, .php through php-cgi (N workers)
 *   nginx+php-fpm      nginx + php-fpm, pm = static, pm.max_children = N
 *   apache+fcgid+php-cgi  Apache + mod_fcgid, FcgidWrapper php-cgi .php
 * Loads (wrk -t1; 2 s of warm-up at 32 connections before the first load of each app, 1 s
 * before the others):
 *   hello@32, hello@1   fixtures/fcgi-apps/build/hello.fcgi at 32 and 1 connections
 *   1MiB@32             big.fcgi?bytes=1048576, reported in MiB/s
 *   post32k@32          a 32 KiB POST echoed by echo.fcgi
 *   php-hello@32, php-hello@1, php-100-files@32   a PHP hello page, and a page that includes
 *                       a hundred files (opcache on: Debian's php.ini for each SAPI)
 *
 * Each repetition starts every stack afresh; the median of the repetitions is reported. The
 * server's RSS (its own processes, not the apps') is read right after each load. Results go to
 * docs/benchmarks.md between the bench:peers markers (unless --no-docs), with the command.
 * Exit 0; 1 when a stack failed or answered errors; 2 on a usage error or a missing peer.
 */

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { ROOT, HOST, UsageError, number, fixturePath, tail, machineFacts } = require('./lib/common');
const { freePort, groupMembers, startProcess, stopAll } = require('./lib/processes');
const { waitListening, get, sleep } = require('./lib/http');
const { runUser } = require('./lib/apache');

const NGINX = '/usr/sbin/nginx';
const APACHE = '/usr/sbin/apache2';
const LIGHTTPD = '/usr/sbin/lighttpd';
const SPAWN_FCGI = '/usr/bin/spawn-fcgi';
const PHP_CGI = '/usr/bin/php-cgi';
const PHP_FPM = fs.existsSync('/usr/sbin/php-fpm8.2') ? '/usr/sbin/php-fpm8.2' : '/usr/sbin/php-fpm';
const WRK = '/usr/bin/wrk';
const MODULES = '/usr/lib/apache2/modules';
const PACKAGES = 'apt-get install -y wrk nginx apache2 libapache2-mod-fcgid lighttpd spawn-fcgi php-cgi php-fpm libfcgi-dev';
const C_APPS = ['hello', 'big', 'echo'];
const BIG_BYTES = 1024 * 1024;
const POST_BYTES = 32 * 1024;
const MARK_BEGIN = '<!-- bench:peers:begin -->';
const MARK_END = '<!-- bench:peers:end -->';

const LOADS = {
  'hello@32': { app: 'hello', conns: 32, url: '/hello' },
  'hello@1': { app: 'hello', conns: 1, url: '/hello' },
  '1MiB@32': { app: 'big', conns: 32, url: `/big?bytes=${BIG_BYTES}`, mib: true },
  'post32k@32': { app: 'echo', conns: 32, url: '/echo', post: true },
  'php-hello@32': { app: 'php', conns: 32, url: '/hello.php' },
  'php-hello@1': { app: 'php', conns: 1, url: '/hello.php' },
  'php-100-files@32': { app: 'php', conns: 32, url: '/page.php' },
};
const C_LOADS = ['hello@32', 'hello@1', '1MiB@32', 'post32k@32'];
const PHP_LOADS = ['php-hello@32', 'php-hello@1', 'php-100-files@32'];

/* ------------------------------------------------------------------ options */

function parseArgs(argv) {
  const o = { quick: false, repeat: 3, duration: 3, procs: 4, only: undefined, json: undefined, docs: true };
  let repeatSet = false;
  let durationSet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--repeat') (o.repeat = number(a, value(), 1, 9)), (repeatSet = true);
    else if (a === '--duration') (o.duration = number(a, value(), 1, 60)), (durationSet = true);
    else if (a === '--procs') o.procs = number(a, value(), 1, 32);
    else if (a === '--only') o.only = value().split(',');
    else if (a === '--json') o.json = value();
    else if (a === '--no-docs') o.docs = false;
    else throw new UsageError(`unknown option ${a}`);
  }
  if (o.quick) {
    if (!repeatSet) o.repeat = 1;
    if (!durationSet) o.duration = 2;
  }
  for (const name of o.only ?? []) {
    if (!STACKS[name]) throw new UsageError(`--only: no stack "${name}" (stacks: ${Object.keys(STACKS).join(', ')})`);
  }
  return o;
}

/* ------------------------------------------------------------------ helpers */

function write(file, text, mode = 0o644) {
  fs.writeFileSync(file, text, { mode });
  return file;
}

/** nginx.conf for a private instance: `servers` is a list of { port, body }, `http` extra lines. */
function nginxConf(dir, servers, http = '') {
  return `user root;
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/nginx-body;
  fastcgi_temp_path ${dir}/nginx-fastcgi;
  client_body_buffer_size 64k;
  ${http}
${servers.map((s) => `  server {\n    listen ${HOST}:${s.port};\n${s.body}\n  }`).join('\n')}
}
`;
}

function fastcgiLocation(prefix, pass, script, keep) {
  return `    location ${prefix} {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME ${script};
      ${keep ? 'fastcgi_keep_conn on;' : ''}
      fastcgi_pass ${pass};
    }`;
}

async function startNginx(scratch, name, servers, http) {
  const dir = path.join(scratch, name);
  fs.mkdirSync(dir, { recursive: true });
  const conf = write(path.join(dir, 'nginx.conf'), nginxConf(dir, servers, http));
  const child = startProcess(NGINX, ['-p', dir, '-c', conf], {}, path.join(dir, 'stdout.log'), undefined);
  return { child, log: path.join(dir, 'nginx-error.log') };
}

/** The server's own processes (its process group, same executable): the apps are not counted. */
function serverPids(leader, onlyLeader = false) {
  if (onlyLeader) return [leader];
  let exe;
  try {
    exe = fs.readlinkSync(`/proc/${leader}/exe`);
  } catch {
    return [leader];
  }
  return groupMembers(leader).filter((pid) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/exe`) === exe;
    } catch {
      return false;
    }
  });
}

function rssKiB(pids) {
  let sum = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) sum += Number(m[1]);
    } catch {
      // gone
    }
  }
  return sum;
}

function fcgipmCommand(args) {
  // As a user runs it: the installed bin (its shebang carries the node flags).
  return [path.join(ROOT, 'bin', 'fcgipm.js'), args];
}

async function startFcgipm(scratch, name, args) {
  const dir = path.join(scratch, name);
  fs.mkdirSync(path.join(dir, 'ipc'), { recursive: true, mode: 0o700 });
  const [file, rest] = fcgipmCommand(['run', '--ipc-dir', path.join(dir, 'ipc'), ...args]);
  const child = startProcess(file, rest, { FCGIPM_LOG_LEVEL: 'warn' }, path.join(dir, 'fcgipm.log'), path.join(dir, 'ipc'));
  return { child, log: path.join(dir, 'fcgipm.log') };
}

/* ------------------------------------------------------------------ stacks */

/*
 * A stack's start(ctx) returns { base (http://host:port), children (handles to stop), logs,
 * rss(app) → KiB of the server's own processes serving that app }.
 */

async function cFcgipm(ctx, extra = []) {
  const port = await freePort();
  // One fcgipm per app (fcgipm run serves one command), each on its own port.
  const ports = {};
  const started = {};
  for (const app of C_APPS) {
    ports[app] = app === 'hello' ? port : await freePort();
    started[app] = await startFcgipm(ctx.scratch, `fcgipm-${app}`, [
      '--http', `${HOST}:${ports[app]}`, '--min', String(ctx.procs), '--max', String(ctx.procs), ...extra, '--', fixturePath(app),
    ]);
  }
  for (const app of C_APPS) await waitListening(ports[app], started[app].child);
  return {
    // fcgipm run: one app serves every path of its port.
    url: (load) => `http://${HOST}:${ports[load.app]}${load.url}`,
    children: Object.values(started).map((s) => s.child),
    logs: Object.values(started).map((s) => s.log),
    // With --front-ends the other front ends are the first one's children: all count.
    rss: (app) => rssKiB(frontEndPids(started[app].child.pid)),
  };
}

/** An fcgipm manager and the front ends it started (node processes among its children). */
function frontEndPids(pid) {
  const out = [pid];
  let children = '';
  try {
    children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
  } catch {
    return out;
  }
  for (const c of children.trim().split(/\s+/).filter(Boolean).map(Number)) {
    try {
      if (path.basename(fs.readlinkSync(`/proc/${c}/exe`)) === path.basename(process.execPath)) out.push(c);
    } catch {
      // gone
    }
  }
  return out;
}

/**
 * nginx passing /<app> to the FastCGI socket of each C app: a connection per request, or with
 * `keep` fastcgi_keep_conn and an upstream keepalive pool of one connection per app process.
 */
async function nginxInFront(ctx, socks, keep) {
  const port = await freePort();
  const upstreams = keep ? C_APPS.map((app) => `upstream up_${app} { server unix:${socks[app]}; keepalive ${ctx.procs}; }`).join('\n  ') : '';
  const body = C_APPS.map((app) => fastcgiLocation(`/${app}`, keep ? `up_${app}` : `unix:${socks[app]}`, fixturePath(app), keep)).join('\n');
  const nginx = await startNginx(ctx.scratch, 'nginx', [{ port, body }], upstreams);
  await waitListening(port, nginx.child);
  return { port, nginx };
}

async function nginxFcgipm(ctx, keep) {
  const started = {};
  const socks = {};
  for (const app of C_APPS) {
    socks[app] = path.join(ctx.scratch, `fp-${app}.sock`);
    started[app] = await startFcgipm(ctx.scratch, `fcgipm-fast-${app}`, [
      '--http', 'off', '--fastcgi', `unix:${socks[app]}`, '--min', String(ctx.procs), '--max', String(ctx.procs), '--', fixturePath(app),
    ]);
  }
  await waitFor(() => C_APPS.every((app) => fs.existsSync(socks[app])), 'fcgipm FastCGI sockets');
  const { port, nginx } = await nginxInFront(ctx, socks, keep);
  return {
    url: (load) => `http://${HOST}:${port}${load.url}`,
    children: [nginx.child, ...Object.values(started).map((s) => s.child)],
    logs: [nginx.log, ...Object.values(started).map((s) => s.log)],
    rss: (app) => rssKiB(serverPids(started[app].child.pid)) + rssKiB(serverPids(nginx.child.pid)),
  };
}

async function nginxSpawnFcgi(ctx, keep) {
  const socks = {};
  const children = [];
  for (const app of C_APPS) {
    socks[app] = path.join(ctx.scratch, `sf-${app}.sock`);
    // spawn-fcgi forks N children on one socket and exits; the children are found at stop
    // by the socket on their fd 0 (startProcess's ipcDir is the scratch dir).
    children.push(
      startProcess(SPAWN_FCGI, ['-s', socks[app], '-M', '0600', '-F', String(ctx.procs), '--', fixturePath(app)], {}, path.join(ctx.scratch, `spawn-fcgi-${app}.log`), ctx.scratch),
    );
  }
  await waitFor(() => C_APPS.every((app) => fs.existsSync(socks[app])), 'spawn-fcgi sockets');
  const { port, nginx } = await nginxInFront(ctx, socks, keep);
  return {
    url: (load) => `http://${HOST}:${port}${load.url}`,
    children: [nginx.child, ...children],
    logs: [nginx.log],
    rss: () => rssKiB(serverPids(nginx.child.pid)),
  };
}

async function lighttpd(ctx) {
  const port = await freePort();
  const dir = path.join(ctx.scratch, 'lighttpd');
  fs.mkdirSync(path.join(dir, 'www'), { recursive: true });
  const servers = C_APPS.map(
    (app) =>
      `  "/${app}" => (( "socket" => "${dir}/${app}.sock", "bin-path" => "${fixturePath(app)}", "max-procs" => ${ctx.procs}, "check-local" => "disable" ))`,
  );
  const conf = write(
    path.join(dir, 'lighttpd.conf'),
    `server.modules = ( "mod_fastcgi" )
server.document-root = "${dir}/www"
server.bind = "${HOST}"
server.port = ${port}
server.errorlog = "${dir}/error.log"
server.pid-file = "${dir}/lighttpd.pid"
server.max-connections = 1024
fastcgi.server = (
${servers.join(',\n')}
)
`,
  );
  const child = startProcess(LIGHTTPD, ['-D', '-f', conf], {}, path.join(dir, 'stdout.log'), dir);
  await waitListening(port, child);
  return {
    url: (load) => `http://${HOST}:${port}${load.url}`,
    children: [child],
    logs: [path.join(dir, 'error.log')],
    rss: () => rssKiB(serverPids(child.pid)),
  };
}

function apacheConf(dir, port, procs, body) {
  const { user, group } = runUser();
  const q = (p) => `"${p}"`;
  return [
    `ServerRoot ${q(dir)}`,
    `DefaultRuntimeDir ${q(dir)}`,
    `PidFile ${q(path.join(dir, 'httpd.pid'))}`,
    `ErrorLog ${q(path.join(dir, 'error.log'))}`,
    'LogLevel warn',
    `Listen ${HOST}:${port}`,
    `ServerName ${HOST}`,
    `User ${user}`,
    `Group ${group}`,
    ...[
      ['mpm_event_module', 'mod_mpm_event.so'],
      ['authz_core_module', 'mod_authz_core.so'],
      ['alias_module', 'mod_alias.so'],
      ['fcgid_module', 'mod_fcgid.so'],
    ].map(([name, file]) => `LoadModule ${name} ${q(path.join(MODULES, file))}`),
    'StartServers 2',
    'ServerLimit 2',
    'ThreadLimit 64',
    'ThreadsPerChild 64',
    'MinSpareThreads 64',
    'MaxSpareThreads 128',
    'MaxRequestWorkers 128',
    'KeepAlive On',
    'MaxKeepAliveRequests 0',
    `DocumentRoot ${q(path.join(dir, 'htdocs'))}`,
    `FcgidIPCDir ${q(path.join(dir, 'fcgidsock'))}`,
    `FcgidProcessTableFile ${q(path.join(dir, 'fcgid_shm'))}`,
    `FcgidMaxProcessesPerClass ${procs}`,
    `FcgidMaxProcesses ${procs * 4}`,
    // mod_fcgid's default FcgidMaxRequestLen (128 KiB) admits the 32 KiB POST.
    ...body,
  ].join('\n');
}

async function startApacheWith(ctx, name, body) {
  const dir = path.join(ctx.scratch, name);
  fs.mkdirSync(path.join(dir, 'htdocs'), { recursive: true });
  fs.chmodSync(dir, 0o711);
  const port = await freePort();
  const conf = write(path.join(dir, 'httpd.conf'), `${apacheConf(dir, port, ctx.procs, body)}\n`);
  const child = startProcess(APACHE, ['-f', conf, '-DFOREGROUND'], { LANG: 'C' }, path.join(dir, 'stdout.log'), path.join(dir, 'fcgidsock'), {
    cwd: dir,
    stopGrace: 20000,
    pidFile: path.join(dir, 'httpd.pid'),
  });
  await waitListening(port, child);
  return {
    url: (load) => `http://${HOST}:${port}${load.url}`,
    children: [child],
    logs: [path.join(dir, 'error.log')],
    rss: () => rssKiB(serverPids(child.pid)),
  };
}

function apacheFcgid(ctx) {
  const body = [];
  for (const app of C_APPS) body.push(`Alias /${app} "${fixturePath(app)}"`);
  body.push(`<Directory "${path.dirname(fixturePath('hello'))}">`, '  Options +ExecCGI', '  SetHandler fcgid-script', '  Require all granted', '</Directory>');
  return startApacheWith(ctx, 'apache', body);
}

function apacheFcgidPhp(ctx) {
  return startApacheWith(ctx, 'apache-php', [
    `Alias /hello.php "${ctx.www}/hello.php"`,
    `Alias /page.php "${ctx.www}/page.php"`,
    // php-cgi would leave after 500 requests; both sides keep their workers here.
    'FcgidInitialEnv PHP_FCGI_MAX_REQUESTS 0',
    `<Directory "${ctx.www}">`,
    '  Options +ExecCGI',
    '  <FilesMatch "\\.php$">',
    '    SetHandler fcgid-script',
    '  </FilesMatch>',
    `  FcgidWrapper ${PHP_CGI} .php`,
    '  Require all granted',
    '</Directory>',
  ]);
}

async function fcgipmPhp(ctx) {
  const port = await freePort();
  const dir = path.join(ctx.scratch, 'fcgipm-php');
  fs.mkdirSync(dir, { recursive: true });
  const conf = write(
    path.join(dir, 'fcgipm.yaml'),
    `ipcDir: ${dir}/ipc
logLevel: warn
listen: { http: "${HOST}:${port}" }
defaults: { minProcesses: ${ctx.procs}, maxProcesses: ${ctx.procs} }
sites:
  - documentRoot: ${ctx.www}
    wrappers: [{ suffix: .php, command: ${PHP_CGI} }]
`,
  );
  const [file, rest] = fcgipmCommand(['serve', '--config', conf]);
  const child = startProcess(file, rest, { FCGIPM_LOG_LEVEL: 'warn' }, path.join(dir, 'fcgipm.log'), path.join(dir, 'ipc'));
  await waitListening(port, child);
  return {
    url: (load) => `http://${HOST}:${port}${load.url}`,
    children: [child],
    logs: [path.join(dir, 'fcgipm.log')],
    rss: () => rssKiB(serverPids(child.pid)),
  };
}

async function nginxPhpFpm(ctx) {
  const dir = path.join(ctx.scratch, 'php-fpm');
  fs.mkdirSync(dir, { recursive: true });
  const sock = path.join(dir, 'fpm.sock');
  const conf = write(
    path.join(dir, 'php-fpm.conf'),
    `[global]
pid = ${dir}/php-fpm.pid
error_log = ${dir}/php-fpm.log
daemonize = no
[www]
user = root
group = root
listen = ${sock}
listen.mode = 0600
pm = static
pm.max_children = ${ctx.procs}
`,
  );
  // Debian's php.ini for the fpm SAPI (opcache enabled there, as for cgi); -R: run as root.
  const fpm = startProcess(PHP_FPM, ['-F', '-R', '-y', conf], {}, path.join(dir, 'stdout.log'), undefined);
  await waitFor(() => fs.existsSync(sock), 'php-fpm socket', fpm);
  const port = await freePort();
  const body = `    root ${ctx.www};
    location ~ \\.php$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_pass unix:${sock};
    }`;
  const nginx = await startNginx(ctx.scratch, 'nginx', [{ port, body }]);
  await waitListening(port, nginx.child);
  return {
    url: (load) => `http://${HOST}:${port}${load.url}`,
    children: [nginx.child, fpm],
    logs: [nginx.log, path.join(dir, 'php-fpm.log')],
    // The php-fpm master is the process manager; its children are the apps.
    rss: () => rssKiB(serverPids(nginx.child.pid)) + rssKiB(serverPids(fpm.pid, true)),
  };
}

const STACKS = {
  fcgipm: { kind: 'c', ours: true, start: (ctx) => cFcgipm(ctx) },
  // Not in the default run (it would pass the 10-minute bound): --only fcgipm,fcgipm-2-front-ends.
  'fcgipm-2-front-ends': { kind: 'c', ours: true, optional: true, start: (ctx) => cFcgipm(ctx, ['--front-ends', '2']) },
  'nginx+fcgipm': { kind: 'c', ours: true, start: (ctx) => nginxFcgipm(ctx, false) },
  'nginx-keep+fcgipm': { kind: 'c', ours: true, start: (ctx) => nginxFcgipm(ctx, true) },
  'nginx+spawn-fcgi': { kind: 'c', start: (ctx) => nginxSpawnFcgi(ctx, false) },
  'nginx-keep+spawn-fcgi': { kind: 'c', start: (ctx) => nginxSpawnFcgi(ctx, true) },
  lighttpd: { kind: 'c', start: lighttpd },
  'apache+fcgid': { kind: 'c', start: apacheFcgid },
  'fcgipm+php-cgi': { kind: 'php', ours: true, start: fcgipmPhp },
  'nginx+php-fpm': { kind: 'php', start: nginxPhpFpm },
  'apache+fcgid+php-cgi': { kind: 'php', start: apacheFcgidPhp },
};

/* ------------------------------------------------------------------ load */

async function waitFor(check, what, child, timeoutMs = 10000) {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (child?.hasExited()) throw new Error(`${what}: the process exited`);
    if (Date.now() > until) throw new Error(`${what}: not there after ${timeoutMs} ms`);
    await sleep(20);
  }
}

function parseDuration(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text ?? '');
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60000 }[m[2]];
}

/** One wrk run; latencies in ms. */
function wrk(url, conns, seconds, luaScript) {
  const args = ['-t1', `-c${conns}`, `-d${seconds}s`, '--latency', '--timeout', '10s'];
  if (luaScript) args.push('-s', luaScript);
  args.push(url);
  const out = execFileSync(WRK, args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const num = (re) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : 0;
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50: parseDuration(/^\s+50%\s+(\S+)/m.exec(out)?.[1]),
    p99: parseDuration(/^\s+99%\s+(\S+)/m.exec(out)?.[1]),
    errors: num(/Non-2xx or 3xx responses: (\d+)/) + (socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
  };
}

async function runStack(name, ctx, loads) {
  const stack = STACKS[name];
  const s = await stack.start(ctx);
  const results = {};
  try {
    // Every class warm (mod_fcgid spawns about one process a second) before anything counts.
    const warmed = new Set();
    for (const load of loads) {
      const l = LOADS[load];
      const url = s.url(l);
      const probe = await get(url, 10000).catch((err) => ({ status: 0, err }));
      if (probe.status !== 200) throw new Error(`${name}: GET ${url} answered ${probe.status || probe.err}`);
      if (!warmed.has(l.app)) {
        warmed.add(l.app);
        wrk(url, 32, 2, l.post ? ctx.postLua : undefined);
      } else {
        wrk(url, l.conns, 1, l.post ? ctx.postLua : undefined);
      }
      const r = wrk(url, l.conns, ctx.duration, l.post ? ctx.postLua : undefined);
      r.rssKiB = s.rss(l.app);
      if (l.mib) r.mibps = (r.rps * BIG_BYTES) / 2 ** 20;
      results[load] = r;
      process.stderr.write(`  ${name.padEnd(22)} ${load.padEnd(17)} ${fmtFigure(load, r).padStart(9)}  p99 ${r.p99.toFixed(2)} ms  rss ${(r.rssKiB / 1024).toFixed(0)} MiB${r.errors ? `  ERRORS ${r.errors}` : ''}\n`);
    }
  } catch (err) {
    for (const log of s.logs) process.stderr.write(`--- ${log}\n${tail(log, 10)}\n`);
    throw err;
  } finally {
    for (const c of s.children) await c.stop();
  }
  return results;
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

function report(all, o, commandLine, seconds) {
  const stacks = Object.keys(all);
  const med = {};
  for (const stack of stacks) {
    med[stack] = {};
    const loads = new Set(all[stack].flatMap((rep) => Object.keys(rep)));
    for (const load of loads) {
      const reps = all[stack].map((rep) => rep[load]).filter(Boolean);
      med[stack][load] = {
        figure: median(reps.map((r) => figure(load, r))),
        p50: median(reps.map((r) => r.p50)),
        p99: median(reps.map((r) => r.p99)),
        rssMiB: median(reps.map((r) => r.rssKiB / 1024)),
        errors: reps.reduce((a, r) => a + r.errors, 0),
      };
    }
  }
  const facts = machineFacts();
  const lines = [];
  lines.push(`Run on ${new Date().toISOString().slice(0, 10)}, ${facts.nproc} CPUs (${facts.cpu}), ${facts.memory}, ${facts.kernel}, Node ${facts.node}, fcgipm ${facts.fcgipm}; ${o.procs} app processes per class in every stack; wrk -t1, ${o.duration} s per load after a warm-up, median of ${o.repeat} run(s); the whole run took ${Math.round(seconds)} s.`);
  lines.push('');
  lines.push('```sh');
  lines.push(commandLine);
  lines.push('```');
  lines.push('');
  lines.push('Figures are requests/s (MiB/s for 1 MiB responses), latency p50/p99 in ms, and the RSS of the server\'s own processes (fcgipm\'s manager; nginx, Apache or lighttpd; the php-fpm master), not of the apps, read right after the load.');
  for (const load of Object.keys(LOADS)) {
    const rows = stacks.filter((s) => med[s][load]);
    if (rows.length === 0) continue;
    lines.push('');
    lines.push(`**${load}**${LOADS[load].mib ? ' (MiB/s)' : ''}`);
    lines.push('');
    lines.push('| stack | figure | p50 ms | p99 ms | server RSS MiB | errors |');
    lines.push('|---|---:|---:|---:|---:|---:|');
    for (const s of rows) {
      const m = med[s][load];
      const name = STACKS[s].ours ? `**${s}**` : s;
      lines.push(`| ${name} | ${m.figure.toFixed(0)} | ${m.p50.toFixed(2)} | ${m.p99.toFixed(2)} | ${m.rssMiB.toFixed(0)} | ${m.errors} |`);
    }
    const ours = rows.filter((s) => STACKS[s].ours);
    const peers = rows.filter((s) => !STACKS[s].ours);
    if (ours.length > 0 && peers.length > 0) {
      lines.push('');
      lines.push(`| ${load}: fcgipm ÷ peer | ${peers.join(' | ')} |`);
      lines.push(`|---|${peers.map(() => '---:').join('|')}|`);
      for (const s of ours) {
        lines.push(`| ${s} | ${peers.map((p) => `${(med[s][load].figure / med[p][load].figure).toFixed(2)}×`).join(' | ')} |`);
      }
    }
  }
  return { markdown: lines.join('\n'), med };
}

function writeDocs(markdown) {
  const file = path.join(ROOT, 'docs', 'benchmarks.md');
  const text = fs.readFileSync(file, 'utf8');
  const begin = text.indexOf(MARK_BEGIN);
  const end = text.indexOf(MARK_END);
  if (begin < 0 || end < begin) throw new Error(`docs/benchmarks.md has no ${MARK_BEGIN} … ${MARK_END} region`);
  fs.writeFileSync(file, `${text.slice(0, begin + MARK_BEGIN.length)}\n${markdown}\n${text.slice(end)}`);
}

/* ------------------------------------------------------------------ main */

function missing() {
  const need = [WRK, NGINX, APACHE, path.join(MODULES, 'mod_fcgid.so'), LIGHTTPD, SPAWN_FCGI, PHP_CGI, PHP_FPM, '/usr/include/fcgiapp.h'];
  const out = need.filter((f) => !fs.existsSync(f));
  for (const app of C_APPS) if (!fs.existsSync(fixturePath(app))) out.push(fixturePath(app));
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) out.push('dist/ (npm run build)');
  return out;
}

function phpSite(dir) {
  const www = path.join(dir, 'www');
  fs.mkdirSync(path.join(www, 'inc'), { recursive: true });
  fs.chmodSync(dir, 0o755);
  fs.chmodSync(www, 0o755);
  write(path.join(www, 'hello.php'), '<?php\necho "Hello from PHP\\n";\n');
  const requires = [];
  for (let i = 1; i <= 100; i++) {
    write(path.join(www, 'inc', `f${i}.php`), `<?php\nfunction f${i}($x) { return $x + ${i}; }\n$GLOBALS['t${i}'] = ['a' => ${i}, 'b' => 's${i}'];\n`);
    requires.push(`require __DIR__ . '/inc/f${i}.php';`);
  }
  write(path.join(www, 'page.php'), `<?php\n${requires.join('\n')}\n$s = 0;\nfor ($i = 1; $i <= 100; $i++) { $s += ('f' . $i)($i); }\necho "sum=$s\\n";\n`);
  return www;
}

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`bench:peers: ${err.message}\n`);
    return 2;
  }
  const gone = missing();
  if (gone.length > 0) {
    process.stderr.write(`bench:peers: missing ${gone.join(', ')}\ninstall: ${PACKAGES}; then npm run build && npm run fixtures\n`);
    return 2;
  }
  const started = Date.now();
  const scratchRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'fcgipm-peers-'));
  fs.chmodSync(scratchRoot, 0o755);
  const www = phpSite(scratchRoot);
  const postLua = write(
    path.join(scratchRoot, 'post.lua'),
    `wrk.method = "POST"\nwrk.body = string.rep("a", ${POST_BYTES})\nwrk.headers["Content-Type"] = "application/octet-stream"\n`,
  );
  const names = o.only ?? Object.keys(STACKS).filter((n) => !STACKS[n].optional);
  const all = Object.fromEntries(names.map((n) => [n, []]));
  let failed = false;
  const onSignal = () => {
    process.stderr.write('bench:peers: interrupted; stopping everything\n');
    void stopAll().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (let rep = 1; rep <= o.repeat; rep++) {
      process.stderr.write(`run ${rep} of ${o.repeat}\n`);
      // Alternate the order so that drift on a noisy machine does not favour one side.
      const order = rep % 2 ? names : [...names].reverse();
      for (const name of order) {
        const scratch = fs.mkdtempSync(path.join(scratchRoot, 'stack-'));
        fs.chmodSync(scratch, 0o755);
        const ctx = { scratch, procs: o.procs, duration: o.duration, www, postLua };
        try {
          all[name].push(await runStack(name, ctx, STACKS[name].kind === 'c' ? C_LOADS : PHP_LOADS));
        } catch (err) {
          failed = true;
          process.stderr.write(`bench:peers: ${name} failed: ${err.message}\n`);
        }
      }
    }
  } finally {
    await stopAll();
    fs.rmSync(scratchRoot, { recursive: true, force: true });
  }
  const commandLine = `npm run bench:peers${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const { markdown, med } = report(all, o, commandLine, (Date.now() - started) / 1000);
  process.stdout.write(`${markdown}\n`);
  if (o.json) fs.writeFileSync(o.json, JSON.stringify({ options: o, runs: all, medians: med }, null, 2));
  if (o.docs && !o.only) writeDocs(markdown);
  const errors = Object.values(med).some((loads) => Object.values(loads).some((m) => m.errors > 0));
  return failed || errors ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench:peers: ${err.stack ?? err}\n`);
    void stopAll().then(() => process.exit(1));
  },
);
