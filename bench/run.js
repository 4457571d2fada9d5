'use strict';
/*
 * npm run bench: HTTP requests/s and latency through a FastCGI manager in front of a fixture
 * app, measured with autocannon at 1 connection and at 32.
 *
 *   node bench/run.js [--duration SEC] [--max N] [--fixture NAME] [--path URL-PATH]
 *                     [--connections LIST] [--warmup SEC] [--cli FILE] [--json FILE]
 *
 * Every option also reads an environment variable (BENCH_DURATION, BENCH_MAX, BENCH_FIXTURE,
 * BENCH_PATH, BENCH_CONNECTIONS, BENCH_WARMUP, BENCH_CLI, BENCH_JSON); argv wins.
 *
 * Each system under test is a *target*: an object with `name`, `describe(opts)` and
 * `start(opts, scratch)`, where start resolves to `{ url, commandLine, stop() }`. TARGETS below
 * lists them and selectTargets() picks the ones a run measures; a peer such as Apache
 * mod_fcgid joins as one more entry, measured with the same fixture and the same scenarios.
 *
 * Everything started here is stopped here: the manager gets SIGTERM and is waited for, its
 * process group is killed if it outlives the grace period, and a watchdog bounds the whole
 * run. Only 127.0.0.1 is ever targeted.
 */

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const autocannon = require('autocannon');

const ROOT = path.resolve(__dirname, '..');
const HOST = '127.0.0.1';

const DEFAULTS = {
  duration: 10,
  warmup: 3,
  max: 4,
  fixture: 'hello',
  path: '/',
  connections: [1, 32],
  cli: 'bin/fcgipm.js',
  json: '',
};

/* Time limits (ms). Each loop below is bounded by one of these and by a count. */
const READY_TIMEOUT = 15000;
const READY_INTERVAL = 100;
const STOP_GRACE = 10000;
const KILL_WAIT = 3000;
/* Latency samples kept per scenario (reservoir sampling beyond that): 8 bytes each. */
const MAX_SAMPLES = 1 << 21;

const USAGE = `usage: node bench/run.js [options]
  --duration SEC      seconds per scenario (default ${DEFAULTS.duration}; env BENCH_DURATION)
  --warmup SEC        warm-up seconds before the scenarios (default ${DEFAULTS.warmup}; env BENCH_WARMUP)
  --max N             --max passed to fcgipm (default ${DEFAULTS.max}; env BENCH_MAX)
  --fixture NAME      fixtures/fcgi-apps/build/NAME.fcgi (default ${DEFAULTS.fixture}; env BENCH_FIXTURE)
  --path PATH         request path and query, e.g. /?bytes=65536 (default /; env BENCH_PATH)
  --connections LIST  comma-separated connection counts (default ${DEFAULTS.connections.join(',')}; env BENCH_CONNECTIONS)
  --cli FILE          the fcgipm CLI script, relative to the project root (default ${DEFAULTS.cli}; env BENCH_CLI)
  --json FILE         also write the results as JSON (env BENCH_JSON)`;

class UsageError extends Error {}

function parseOptions(argv, env) {
  const raw = {
    duration: env.BENCH_DURATION,
    warmup: env.BENCH_WARMUP,
    max: env.BENCH_MAX,
    fixture: env.BENCH_FIXTURE,
    path: env.BENCH_PATH,
    connections: env.BENCH_CONNECTIONS,
    cli: env.BENCH_CLI,
    json: env.BENCH_JSON,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') throw new UsageError('');
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') ? arg.slice(2, eq === -1 ? undefined : eq) : '';
    if (!Object.prototype.hasOwnProperty.call(DEFAULTS, name)) throw new UsageError(`unknown option ${arg}`);
    if (eq !== -1) {
      raw[name] = arg.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      raw[name] = argv[++i];
    }
  }
  const pick = (name) => (raw[name] === undefined || raw[name] === '' ? undefined : raw[name]);
  const opts = {
    duration: number('--duration', pick('duration') ?? DEFAULTS.duration, 1, 3600),
    warmup: number('--warmup', pick('warmup') ?? DEFAULTS.warmup, 0, 600),
    max: number('--max', pick('max') ?? DEFAULTS.max, 1, 1024),
    fixture: String(pick('fixture') ?? DEFAULTS.fixture),
    path: String(pick('path') ?? DEFAULTS.path),
    connections: DEFAULTS.connections,
    cli: String(pick('cli') ?? DEFAULTS.cli),
    json: String(pick('json') ?? DEFAULTS.json),
    targets: ['fcgipm'],
  };
  if (pick('connections') !== undefined) {
    opts.connections = String(pick('connections'))
      .split(',')
      .map((c) => number('--connections', c.trim(), 1, 10000));
  }
  if (!/^[A-Za-z0-9_-]+$/.test(opts.fixture)) throw new UsageError(`--fixture: not a fixture name: ${opts.fixture}`);
  if (!opts.path.startsWith('/')) throw new UsageError(`--path must start with /: ${opts.path}`);
  return opts;
}

function number(option, value, min, max) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${option}: expected an integer from ${min} to ${max}, got ${value}`);
  }
  return n;
}

/* ---------------------------------------------------------------- targets */

/** fcgipm's own CLI, started the way a user starts it (DESIGN.md, "CLI contract"). */
const fcgipmTarget = {
  name: 'fcgipm',

  describe(opts) {
    return `fcgipm run --max ${opts.max}`;
  },

  async start(opts, scratch) {
    const cli = path.resolve(ROOT, opts.cli);
    if (!fs.existsSync(cli)) throw new Error(`fcgipm CLI not found at ${cli}: run npm run build (or pass --cli)`);
    const port = await freePort();
    const ipcDir = path.join(scratch, 'ipc');
    fs.mkdirSync(ipcDir, { mode: 0o700 });
    const args = [
      cli.startsWith(ROOT + path.sep) ? path.relative(ROOT, cli) : cli,
      'run',
      '--http', `${HOST}:${port}`,
      '--ipc-dir', ipcDir,
      '--max', String(opts.max),
      '--',
      path.relative(ROOT, fixturePath(opts.fixture)),
    ];
    // Per-request logging would measure the logger; FCGIPM_LOG_LEVEL from the caller wins.
    const logLevel = process.env.FCGIPM_LOG_LEVEL || 'warn';
    const logFile = path.join(scratch, 'fcgipm.log');
    const child = startProcess(process.execPath, args, { FCGIPM_LOG_LEVEL: logLevel }, logFile, ipcDir);
    const commandLine = `cd ${quote(ROOT)} && FCGIPM_LOG_LEVEL=${logLevel} ${[process.execPath, ...args].map(quote).join(' ')}`;
    const url = `http://${HOST}:${port}${opts.path}`;
    try {
      await waitReady(url, child);
    } catch (err) {
      await child.stop();
      err.message += `\n--- last lines of ${logFile} ---\n${tail(logFile, 40)}`;
      throw err;
    }
    return { url, commandLine, logFile, stop: () => child.stop() };
  },
};

/** Every target by name. */
const TARGETS = new Map([[fcgipmTarget.name, fcgipmTarget]]);

/** The targets one run measures, in the order of the table (opts.targets, by name). */
function selectTargets(opts) {
  return opts.targets.map((name) => TARGETS.get(name));
}

/* -------------------------------------------------------------- processes */

const live = new Set();

/**
 * Spawns a process in its own process group (so a stuck manager and the workers it spawned
 * can be killed together) with stdout and stderr appended to logFile. Workers that run in a
 * session of their own are found by their socket instead: fd 0 bound inside ipcDir.
 */
function startProcess(file, args, extraEnv, logFile, ipcDir) {
  if (aborting) throw new Error('aborted');
  const fd = fs.openSync(logFile, 'a');
  let proc;
  try {
    proc = spawn(file, args, {
      cwd: ROOT,
      env: { ...process.env, ...extraEnv },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    fs.closeSync(fd);
  }
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
    proc.once('error', (err) => resolve({ code: null, signal: null, error: err }));
  });
  let exitInfo = null;
  void exited.then((info) => {
    exitInfo = info;
  });
  const handle = {
    pid: proc.pid,
    exited,
    hasExited: () => exitInfo !== null,
    exitInfo: () => exitInfo,
    /** SIGTERM, wait STOP_GRACE, then SIGKILL the whole group. Resolves to a short report. */
    async stop() {
      const notes = [];
      if (exitInfo === null) {
        signal(proc.pid, 'SIGTERM');
        if ((await within(exited, STOP_GRACE)) === undefined) {
          notes.push(`did not exit within ${STOP_GRACE / 1000} s of SIGTERM; killed its process group`);
          signal(-proc.pid, 'SIGKILL');
          await within(exited, KILL_WAIT);
        }
      }
      const info = exitInfo ?? { code: null, signal: 'unknown' };
      if (info.error) notes.push(`spawn failed: ${info.error.message}`);
      else if (info.code !== 0 && notes.length === 0) {
        notes.push(`exited with ${info.code !== null ? `code ${info.code}` : `signal ${info.signal}`} after SIGTERM`);
      }
      const left = groupMembers(proc.pid);
      if (left.length > 0) {
        notes.push(`left ${left.length} process(es) in its group (${left.join(', ')}); killed them`);
        signal(-proc.pid, 'SIGKILL');
      }
      const workers = ipcDir ? socketHolders(ipcDir).filter((pid) => !left.includes(pid)) : [];
      if (workers.length > 0) {
        notes.push(`left ${workers.length} worker(s) listening in ${ipcDir} (${workers.join(', ')}); killed them`);
        for (const pid of workers) signal(pid, 'SIGKILL');
      }
      live.delete(handle);
      return notes;
    },
  };
  live.add(handle);
  return handle;
}

function signal(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if (err.code !== 'ESRCH') throw err;
  }
}

/** Live (non-zombie) processes of process group pgid, from /proc. */
function groupMembers(pgid) {
  const members = [];
  let entries;
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return members;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the parenthesised command name: state ppid pgrp ...
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') members.push(Number(entry));
  }
  return members;
}

/**
 * Live processes whose fd 0 is a Unix socket bound to a path inside dir (the workers of a
 * manager using dir as its IPC dir), from /proc/net/unix and /proc/<pid>/fd/0.
 */
function socketHolders(dir) {
  const inodes = new Set();
  let table;
  try {
    table = fs.readFileSync('/proc/net/unix', 'utf8').split('\n');
  } catch {
    return [];
  }
  for (const row of table.slice(1)) {
    // Num RefCount Protocol Flags Type St Inode Path
    const cols = row.trim().split(/\s+/);
    if (cols.length >= 8 && cols[7].startsWith(dir + path.sep)) inodes.add(cols[6]);
  }
  if (inodes.size === 0) return [];
  const holders = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${entry}/fd/0`));
      if (m && inodes.has(m[1])) holders.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return holders;
}

/** Resolves to the promise's value, or to undefined after ms. */
function within(promise, ms) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, ms, undefined);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/* ------------------------------------------------------------ measurement */

/** One GET; resolves to the status code, rejects on a connection error or after 2 s. */
function probe(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error('timed out')));
    req.once('error', reject);
  });
}

/** Polls url until it answers 2xx; fails early when the process exits. */
async function waitReady(url, child) {
  const deadline = Date.now() + READY_TIMEOUT;
  const attempts = Math.ceil(READY_TIMEOUT / READY_INTERVAL);
  let last = 'no answer';
  for (let i = 0; i < attempts && Date.now() < deadline; i++) {
    if (child.hasExited()) {
      const info = child.exitInfo();
      throw new Error(`exited before answering (code ${info.code}, signal ${info.signal})`);
    }
    try {
      const status = await probe(url);
      if (status >= 200 && status < 300) return;
      last = `HTTP ${status}`;
    } catch (err) {
      last = err.code ?? err.message;
    }
    await new Promise((resolve) => setTimeout(resolve, READY_INTERVAL));
  }
  throw new Error(`${url} did not answer 2xx within ${READY_TIMEOUT / 1000} s (last: ${last})`);
}

/** The autocannon run in progress, for abort(). */
let running = null;

/**
 * One autocannon run. Latency percentiles come from the per-response times autocannon
 * reports (float ms), because its own histogram records whole milliseconds and a local
 * FastCGI round trip is well under one.
 */
async function measure(url, connections, duration) {
  let samples = new Float64Array(Math.min(MAX_SAMPLES, 1 << 16));
  let seen = 0;
  const instance = autocannon({ url, connections, duration, pipelining: 1, timeout: 10 });
  running = instance;
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    if (statusCode < 200 || statusCode >= 300) return;
    if (seen < samples.length) {
      samples[seen] = responseTime;
    } else if (samples.length < MAX_SAMPLES) {
      const grown = new Float64Array(Math.min(MAX_SAMPLES, samples.length * 2));
      grown.set(samples);
      samples = grown;
      samples[seen] = responseTime;
    } else {
      const j = Math.floor(Math.random() * (seen + 1));
      if (j < samples.length) samples[j] = responseTime;
    }
    seen++;
  });
  const result = await instance;
  running = null;
  const kept = samples.subarray(0, Math.min(seen, samples.length)).sort();
  return {
    connections,
    rps: result.requests.average,
    total: result.totalCompletedRequests,
    p50: percentile(kept, 0.5),
    p99: percentile(kept, 0.99),
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    durationS: result.duration,
  };
}

function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/* ----------------------------------------------------------------- output */

function machineFacts() {
  const cpus = os.cpus();
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    // Not a git checkout (a tarball, the Docker image): the version below still identifies it.
  }
  return {
    nproc: os.availableParallelism(),
    cpu: cpus.length > 0 ? cpus[0].model.trim() : 'unknown',
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    autocannon: require('autocannon/package.json').version,
    fcgipm: `${require(path.join(ROOT, 'package.json')).version} (${commit})`,
  };
}

function printTable(rows) {
  const header = ['scenario', 'connections', 'requests/s', 'p50 ms', 'p99 ms', 'errors/non-2xx'];
  const body = rows.map((r) => [
    r.scenario,
    String(r.connections),
    r.rps.toFixed(0),
    fmtMs(r.p50),
    fmtMs(r.p99),
    `${r.errors}/${r.non2xx}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  process.stdout.write(`${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const b of body) process.stdout.write(`${line(b)}\n`);
}

function fmtMs(ms) {
  return Number.isNaN(ms) ? '-' : ms.toFixed(2);
}

function quote(s) {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function tail(file, lines) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}

function fixturePath(name) {
  return path.join(ROOT, 'fixtures', 'fcgi-apps', 'build', `${name}.fcgi`);
}

/* ------------------------------------------------------------------- main */

async function main() {
  let opts;
  try {
    opts = parseOptions(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(err.message ? `bench: ${err.message}\n${USAGE}\n` : `${USAGE}\n`);
    return err.message ? 2 : 0;
  }
  if (!fs.existsSync(fixturePath(opts.fixture))) {
    process.stderr.write(`bench: ${path.relative(ROOT, fixturePath(opts.fixture))} not built: run npm run fixtures\n`);
    return 1;
  }

  const targets = selectTargets(opts);
  // Start-up, warm-up, every scenario and a stop per target, with room to spare.
  const budget =
    targets.length * (READY_TIMEOUT + (opts.warmup + opts.connections.length * opts.duration) * 1500 + STOP_GRACE + KILL_WAIT) + 30000;
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench: watchdog: still running after ${Math.round(budget / 1000)} s; killing everything\n`);
    abort(1);
  }, budget);

  const facts = machineFacts();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'fcgipm-bench-'));
  scratchDir = scratch;
  const rows = [];
  const runs = [];
  let failed = false;
  try {
    for (const target of targets) {
      const scenario = `${target.name} ${opts.fixture}${opts.path === '/' ? '' : ` ${opts.path}`}`;
      const dir = fs.mkdtempSync(path.join(scratch, `${target.name}-`));
      process.stderr.write(`bench: starting ${target.describe(opts)} (${opts.fixture})\n`);
      const started = await target.start(opts, dir);
      let notes = [];
      try {
        if (opts.warmup > 0) {
          process.stderr.write(`bench: warming up ${opts.warmup} s at ${Math.max(...opts.connections)} connections\n`);
          const warm = await measure(started.url, Math.max(...opts.connections), opts.warmup);
          if (warm.total === 0) throw new Error(`${target.name}: no request completed during warm-up`);
        }
        for (const connections of opts.connections) {
          if (aborting) throw new Error('aborted');
          process.stderr.write(`bench: ${scenario}: ${connections} connection(s) for ${opts.duration} s\n`);
          rows.push({ scenario, ...(await measure(started.url, connections, opts.duration)) });
        }
      } finally {
        notes = await started.stop();
        // The log goes with the scratch dir: keep its end when something needs explaining.
        if (notes.length > 0 && started.logFile) notes.push(`last lines of its log:\n${tail(started.logFile, 20)}`);
      }
      runs.push({ target: target.name, commandLine: started.commandLine, url: started.url, notes });
      if (notes.length > 0) failed = true;
    }
  } finally {
    clearTimeout(watchdog);
    removeScratch();
  }

  process.stdout.write('\n');
  for (const run of runs) {
    process.stdout.write(`${run.target}: ${run.commandLine}\n`);
    process.stdout.write(`${run.target}: GET ${run.url}\n`);
    for (const note of run.notes) process.stdout.write(`${run.target}: WARNING: ${note}\n`);
  }
  process.stdout.write(`bench: node ${[path.relative(process.cwd(), __filename), ...process.argv.slice(2)].map(quote).join(' ')}\n`);
  process.stdout.write(`${Object.entries(facts).map(([k, v]) => `${k}: ${v}`).join('\n')}\n`);
  process.stdout.write(`autocannon in-process, pipelining 1, ${opts.duration} s per row after ${opts.warmup} s warm-up; latency of 2xx responses\n\n`);
  printTable(rows);
  if (opts.json) {
    fs.writeFileSync(opts.json, `${JSON.stringify({ options: opts, facts, runs, rows }, null, 2)}\n`);
  }
  return failed ? 1 : 0;
}

let scratchDir = null;

function removeScratch() {
  if (scratchDir !== null) fs.rmSync(scratchDir, { recursive: true, force: true });
  scratchDir = null;
}

/** Stops whatever is running, removes the scratch dir and exits (watchdog, SIGINT, SIGTERM). */
let aborting = false;
function abort(code) {
  if (aborting) return;
  aborting = true;
  if (running) running.stop();
  const stops = [...live].map((h) => h.stop().catch(() => []));
  void within(Promise.all(stops), STOP_GRACE + KILL_WAIT + 1000).then(() => {
    removeScratch();
    process.exit(code);
  });
}

process.once('SIGINT', () => abort(130));
process.once('SIGTERM', () => abort(143));

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    abort(1);
  },
);
