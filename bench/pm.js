'use strict';
/*
 * npm run bench:pm: process-manager scenarios, fcgipm beside Apache 2.4 + mod_fcgid 2.3.9,
 * on the same libfcgi fixture binaries in the same run.
 *
 *   node bench/pm.js [--only LIST] [--quick] [--repeat N] [--json FILE] [--cli FILE]
 *
 * Scenarios (each server started fresh, cold, for every repetition; repetitions alternate
 * which server goes first):
 *   cold        first request after start-up, no worker running (fcgipm --min 0; mod_fcgid
 *               never prespawns), hello.fcgi
 *   burst       64 concurrent clients, one request each to slow.fcgi?sleep=200, class max 8
 *   recycle     25 sequential requests to hello.fcgi with max requests 1 and class max 1
 *   throughput  autocannon, 32 connections, 3 s warm-up then 10 s, hello.fcgi, class max 4
 *
 * fcgipm runs as a user runs it: node bin/fcgipm.js run --http 127.0.0.1:<port> --ipc-dir
 * <tmp> [--max N] [--max-requests N] -- fixtures/fcgi-apps/build/<fixture>.fcgi. Apache runs
 * from a config generated in a temp dir (bench/lib/apache.js): only 127.0.0.1, event MPM,
 * Fcgid* directives at their defaults except the ones a scenario sets. Workers are counted the
 * same way for both: live processes whose fd 0 is a socket inside the server's IPC dir.
 *
 * Everything started is stopped (SIGTERM, then SIGKILL to the process group, then any
 * process still holding an IPC-dir socket), every loop is bounded in count and time, and a
 * watchdog bounds the whole run. Exit 0; 1 when a repetition failed or something had to be
 * killed; 2 on a usage error or when Apache or mod_fcgid is not installed.
 */

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { ROOT, UsageError, number, fixturePath, quote, tail, percentile, machineFacts } = require('./lib/common');
const { isAborting, socketHolders, stopAll } = require('./lib/processes');
const { READY_TIMEOUT, get, measure, stopMeasurement, waitListening } = require('./lib/http');
const { DEFAULT_CLI, startFcgipm } = require('./lib/fcgipm');
const { missingPieces, apacheFacts, runUser, startApache } = require('./lib/apache');

/* --------------------------------------------------------------- settings */

const BURST_CLIENTS = 64;
const BURST_SLEEP_MS = 200;
const BURST_MAX = 8;
const RECYCLE_REQUESTS = 25;
/**
 * mod_fcgid recycles one process per ~8 s at class max 1 (each retired process counts until
 * two error scans have reaped it), so 25 requests would take ~200 s.
 */
const RECYCLE_BOUND_MS = 120000;
const THROUGHPUT_CONNECTIONS = 32;
const THROUGHPUT_SECONDS = 10;
const THROUGHPUT_WARMUP = 3;
const THROUGHPUT_MAX = 4;
/** mod_fcgid answers 503 after its 32×2 one-second polls (~64 s): wait longer. */
const REQUEST_TIMEOUT = 70000;
/** How often the burst scenario lists the IPC dir to time each worker's socket. */
const SOCKET_POLL_MS = 10;
/** Start (READY_TIMEOUT) and stop (Apache's 20-s grace, then SIGKILL) of one repetition. */
const START_STOP_MS = READY_TIMEOUT + 25000;

const SERVERS = ['fcgipm', 'mod_fcgid'];

/**
 * Each scenario: the server shape (fixture, max, maxRequests for fcgipm; the same as Fcgid*
 * directives for Apache), repetitions (full / --quick), a time bound for one repetition, and
 * run(server) → the metrics of one repetition.
 */
const SCENARIOS = {
  cold: {
    fixture: 'hello',
    reps: { full: 5, quick: 3 },
    boundMs: 2 * REQUEST_TIMEOUT,
    fcgipmArgs: {},
    fcgid: [],
    run: runCold,
  },
  burst: {
    fixture: 'slow',
    reps: { full: 5, quick: 3 },
    boundMs: REQUEST_TIMEOUT + 5000,
    fcgipmArgs: { max: BURST_MAX },
    fcgid: [
      ['FcgidMaxProcessesPerClass', BURST_MAX],
      ['FcgidMaxProcesses', BURST_CLIENTS],
    ],
    run: runBurst,
  },
  recycle: {
    fixture: 'hello',
    reps: { full: 3, quick: 1 },
    boundMs: RECYCLE_BOUND_MS + 5000,
    fcgipmArgs: { max: 1, maxRequests: 1 },
    fcgid: [
      ['FcgidMaxRequestsPerProcess', 1],
      ['FcgidMaxProcessesPerClass', 1],
    ],
    run: runRecycle,
  },
  throughput: {
    fixture: 'hello',
    reps: { full: 3, quick: 1 },
    boundMs: (THROUGHPUT_WARMUP + THROUGHPUT_SECONDS) * 1500 + 20000,
    fcgipmArgs: { max: THROUGHPUT_MAX },
    fcgid: [
      ['FcgidMaxProcessesPerClass', THROUGHPUT_MAX],
      ['FcgidMaxProcesses', THROUGHPUT_MAX],
    ],
    run: runThroughput,
  },
};

/**
 * The table: per scenario, its rows. kind 'time' (lower is better; ratio mod_fcgid/fcgipm),
 * 'rate' (higher is better; ratio fcgipm/mod_fcgid), 'count' (median and range, no ratio),
 * 'text' (the repetitions' values joined, no ratio).
 */
const ROWS = {
  cold: [
    { label: 'cold: first request, ms', kind: 'time', get: (r) => r.firstMs },
    { label: 'cold: first request sent → worker spawned, ms', kind: 'time', get: (r) => r.spawnMs },
    { label: 'cold: process start to first response, ms', kind: 'time', get: (r) => r.startToFirstMs },
  ],
  burst: [
    { label: `burst ${BURST_CLIENTS}×sleep ${BURST_SLEEP_MS} ms, max ${BURST_MAX}: all answered, ms`, kind: 'time', get: (r) => r.totalMs },
    { label: 'burst: median response, ms', kind: 'time', get: (r) => r.p50Ms },
    { label: `burst: worker #${BURST_MAX} started at, ms`, kind: 'time', get: (r) => r.maxWorkerAtMs },
    { label: 'burst: workers after the burst', kind: 'count', get: (r) => r.workers },
    { label: 'burst: statuses', kind: 'text', get: (r) => r.statusText },
  ],
  recycle: [
    { label: `recycle ${RECYCLE_REQUESTS} sequential, max-requests 1: total, s`, kind: 'time', get: (r) => r.totalMs / 1000, bound: (r) => r.hitBound },
    { label: `recycle: answered within ${RECYCLE_BOUND_MS / 1000} s`, kind: 'text', get: (r) => `${r.answered}/${RECYCLE_REQUESTS}` },
    { label: 'recycle: per-request p50, ms', kind: 'time', get: (r) => r.p50Ms },
    { label: 'recycle: per-request max, ms', kind: 'time', get: (r) => r.maxMs },
    { label: 'recycle: answers from a fresh process', kind: 'text', get: (r) => `${r.fresh}/${r.answered}` },
  ],
  throughput: [
    { label: `throughput ${THROUGHPUT_CONNECTIONS} conns, max ${THROUGHPUT_MAX}: requests/s`, kind: 'rate', get: (r) => r.rps },
    { label: 'throughput: p50 latency, ms', kind: 'time', get: (r) => r.p50Ms },
    { label: 'throughput: p99 latency, ms', kind: 'time', get: (r) => r.p99Ms },
    { label: 'throughput: max latency, ms', kind: 'time', get: (r) => r.maxMs },
    { label: 'throughput: responses taking ≥ 1 s', kind: 'count', get: (r) => r.overOneSecond },
    { label: 'throughput: errors/non-2xx', kind: 'text', get: (r) => `${r.errors}/${r.non2xx}` },
  ],
};

/* ---------------------------------------------------------------- options */

const repsText = (which) =>
  Object.entries(SCENARIOS)
    .map(([name, s]) => `${name} ${s.reps[which]}`)
    .join(', ');
const USAGE = `usage: node bench/pm.js [options]
  --only LIST   comma-separated scenarios to run: ${Object.keys(SCENARIOS).join(', ')} (default all)
  --quick       fewer repetitions (${repsText('quick')}; default ${repsText('full')})
  --repeat N    repetitions of every scenario (overrides the two above)
  --json FILE   also write every repetition's numbers, the commands and the configs as JSON
  --cli FILE    the fcgipm CLI script, relative to the project root (default ${DEFAULT_CLI})

Needs Apache 2.4 with mod_fcgid (apt-get install -y apache2 libapache2-mod-fcgid), the
fixtures (npm run fixtures) and dist/ (npx tsc -p tsconfig.build.json).`;

function parseOptions(argv) {
  const opts = { only: Object.keys(SCENARIOS), quick: false, repeat: undefined, json: '', cli: DEFAULT_CLI };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') throw new UsageError('');
    if (arg === '--quick') {
      opts.quick = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') ? arg.slice(2, eq === -1 ? undefined : eq) : '';
    if (!['only', 'repeat', 'json', 'cli'].includes(name)) throw new UsageError(`unknown option ${arg}`);
    let value;
    if (eq !== -1) {
      value = arg.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      value = argv[++i];
    }
    if (name === 'only') {
      opts.only = value.split(',').map((s) => s.trim());
      for (const s of opts.only) {
        if (!Object.prototype.hasOwnProperty.call(SCENARIOS, s)) {
          throw new UsageError(`--only: unknown scenario ${s} (known: ${Object.keys(SCENARIOS).join(', ')})`);
        }
      }
    } else if (name === 'repeat') {
      opts.repeat = number('--repeat', value, 1, 50);
    } else {
      opts[name] = value;
    }
  }
  return opts;
}

/* -------------------------------------------------------------- scenarios */

/**
 * First request to a server with no worker, then a second one for comparison. While the first
 * runs, the IPC dir is listed every millisecond: its first socket marks the spawn, which
 * splits the first request into the time before the spawn and the time after it.
 */
async function runCold(s) {
  const listeningAt = await waitListening(s.port, s.child);
  const sockets = watchSockets(s.ipcDir, 1);
  let first;
  try {
    first = await get(s.url(''), REQUEST_TIMEOUT);
  } finally {
    sockets.stop();
  }
  expectHello(first);
  const second = await get(s.url(''), REQUEST_TIMEOUT);
  expectHello(second);
  const spawnedAt = sockets.times()[0];
  return {
    firstMs: first.ms,
    spawnMs: spawnedAt !== undefined ? spawnedAt : NaN,
    startToFirstMs: first.endedAt - s.startedAt,
    listeningMs: listeningAt - s.startedAt,
    secondMs: second.ms,
    workers: socketHolders(s.ipcDir).length,
  };
}

/**
 * Lists dir every intervalMs (one readdir: cheap) and notes when each entry first appeared,
 * in ms from the call. Both managers name a worker's socket <pid>.<n> and create it just
 * before starting the worker, so a new entry marks a spawn. stop() lists once more and stops.
 */
function watchSockets(dir, intervalMs) {
  const seen = new Map();
  const t0 = performance.now();
  const list = () => {
    let names = [];
    try {
      names = fs.readdirSync(dir);
    } catch {
      // Not created yet.
    }
    const now = performance.now() - t0;
    for (const name of names) if (!seen.has(name)) seen.set(name, now);
  };
  list();
  const timer = setInterval(list, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      list();
    },
    times: () => [...seen.values()].sort((a, b) => a - b),
  };
}

/**
 * BURST_CLIENTS clients at once, each on its own connection, one slow request each. While
 * they run, the IPC dir is listed every SOCKET_POLL_MS (cheap: one readdir) to time each
 * worker socket's appearance; the worker processes are counted from /proc afterwards.
 */
async function runBurst(s) {
  await waitListening(s.port, s.child);
  const t0 = performance.now();
  const sockets = watchSockets(s.ipcDir, SOCKET_POLL_MS);
  let settled;
  try {
    const requests = [];
    for (let i = 0; i < BURST_CLIENTS; i++) requests.push(get(s.url(`sleep=${BURST_SLEEP_MS}`), REQUEST_TIMEOUT));
    settled = await Promise.allSettled(requests);
  } finally {
    sockets.stop();
  }
  const statuses = {};
  const ends = [];
  let errors = 0;
  for (const r of settled) {
    if (r.status === 'fulfilled') {
      statuses[r.value.status] = (statuses[r.value.status] ?? 0) + 1;
      ends.push(r.value.endedAt - t0);
    } else {
      errors++;
    }
  }
  ends.sort((a, b) => a - b);
  const socketTimes = sockets.times();
  const statusText =
    Object.entries(statuses)
      .map(([code, n]) => `${code}×${n}`)
      .join(' ') + (errors > 0 ? ` failed×${errors}` : '');
  return {
    totalMs: ends.length > 0 ? ends[ends.length - 1] : NaN,
    p50Ms: percentile(ends, 0.5),
    statuses,
    errors,
    statusText,
    workers: socketHolders(s.ipcDir).length,
    socketsSeen: socketTimes.length,
    socketTimesMs: socketTimes.map((t) => Math.round(t)),
    maxWorkerAtMs: socketTimes.length >= BURST_MAX ? socketTimes[BURST_MAX - 1] : NaN,
  };
}

/** RECYCLE_REQUESTS requests one after another, within RECYCLE_BOUND_MS in all. */
async function runRecycle(s) {
  await waitListening(s.port, s.child);
  const t0 = performance.now();
  const latencies = [];
  const statuses = {};
  const pids = new Set();
  let fresh = 0;
  let hitBound = false;
  let failures = 0;
  for (let i = 0; i < RECYCLE_REQUESTS; i++) {
    const remaining = RECYCLE_BOUND_MS - (performance.now() - t0);
    if (remaining <= 0 || isAborting()) {
      hitBound = remaining <= 0;
      break;
    }
    let r;
    try {
      r = await get(s.url(''), Math.min(REQUEST_TIMEOUT, remaining));
    } catch (err) {
      if (performance.now() - t0 >= RECYCLE_BOUND_MS) {
        hitBound = true;
        break;
      }
      failures++;
      latencies.push(NaN);
      statuses[err.code ?? 'error'] = (statuses[err.code ?? 'error'] ?? 0) + 1;
      continue;
    }
    latencies.push(r.ms);
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    const m = /pid=(\d+) request=(\d+)/.exec(r.body);
    if (m) {
      pids.add(m[1]);
      if (m[2] === '1') fresh++;
    }
  }
  const completed = latencies.filter((ms) => !Number.isNaN(ms));
  const sorted = [...completed].sort((a, b) => a - b);
  return {
    totalMs: hitBound ? RECYCLE_BOUND_MS : performance.now() - t0,
    hitBound,
    answered: completed.length,
    failures,
    p50Ms: percentile(sorted, 0.5),
    maxMs: sorted.length > 0 ? sorted[sorted.length - 1] : NaN,
    fresh,
    distinctPids: pids.size,
    statuses,
    latenciesMs: latencies.map((ms) => Math.round(ms * 100) / 100),
  };
}

/** autocannon at THROUGHPUT_CONNECTIONS after a warm-up that lets both grow to their max. */
async function runThroughput(s) {
  await waitListening(s.port, s.child);
  const warm = await measure(s.url(''), THROUGHPUT_CONNECTIONS, THROUGHPUT_WARMUP);
  if (warm.total === 0) throw new Error('no request completed during the warm-up');
  const r = await measure(s.url(''), THROUGHPUT_CONNECTIONS, THROUGHPUT_SECONDS);
  return {
    rps: r.rps,
    total: r.total,
    p50Ms: r.p50,
    p99Ms: r.p99,
    maxMs: r.max,
    overOneSecond: r.overOneSecond,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    warmupRequests: warm.total,
    workers: socketHolders(s.ipcDir).length,
  };
}

function expectHello(r) {
  if (r.status !== 200 || !r.body.startsWith('Hello from fcgipm fixture')) {
    throw new Error(`expected 200 and the hello body, got ${r.status}: ${r.body.slice(0, 200)}`);
  }
}

/* ---------------------------------------------------------------- servers */

/** Starts one server for a scenario; resolves to { child, port, ipcDir, url(query), ... }. */
async function startServer(serverName, scenario, opts, scratch) {
  if (serverName === 'fcgipm') {
    const s = await startFcgipm({ fixture: scenario.fixture, cli: opts.cli, ...scenario.fcgipmArgs }, scratch);
    return { ...s, url: (query) => `${s.base}/${query ? `?${query}` : ''}` };
  }
  const s = await startApache({ fixtures: [scenario.fixture], fcgid: scenario.fcgid }, scratch);
  return { ...s, url: (query) => `${s.base}/${scenario.fixture}${query ? `?${query}` : ''}` };
}

async function runOnce(serverName, name, scenario, opts, scratch) {
  const dir = fs.mkdtempSync(path.join(scratch, `${name}-${serverName}-`));
  const s = await startServer(serverName, scenario, opts, dir);
  let result;
  let error;
  let timer;
  try {
    const bound = new Promise((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no result within ${scenario.boundMs / 1000} s`)), scenario.boundMs);
    });
    result = await Promise.race([scenario.run(s), bound]);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  } finally {
    clearTimeout(timer);
    stopMeasurement();
  }
  const notes = await s.child.stop();
  if (error !== undefined || notes.length > 0) notes.push(`last lines of ${path.basename(s.logFile)}:\n${tail(s.logFile, 15)}`);
  return { result, error, notes, commandLine: s.commandLine, config: s.config };
}

/* ----------------------------------------------------------------- output */

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function fmtNum(n, kind) {
  if (Number.isNaN(n)) return '-';
  if (kind === 'count') return String(Math.round(n));
  if (kind === 'rate') return n.toFixed(0);
  if (n >= 1000) return n.toFixed(0);
  if (n >= 100) return n.toFixed(1);
  return n.toFixed(2);
}

/** One table cell from a server's repetitions: "median (min–max)", or the values for text. */
function cell(row, results) {
  const ok = results.filter((r) => r.result !== undefined).map((r) => r.result);
  const failed = results.length - ok.length;
  const suffix = failed > 0 ? ` [${failed} failed]` : '';
  if (ok.length === 0) return { text: results.length === 0 ? '-' : `failed${suffix}`, median: NaN };
  if (row.kind === 'text') {
    const values = [...new Set(ok.map(row.get))];
    return { text: values.join(', ') + suffix, median: NaN };
  }
  const values = ok.map(row.get).filter((v) => !Number.isNaN(v));
  if (values.length === 0) return { text: `-${suffix}`, median: NaN };
  const m = median(values);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const bounded = row.bound ? ok.filter(row.bound).length : 0;
  let text = fmtNum(m, row.kind);
  if (values.length > 1) text += ` (${fmtNum(lo, row.kind)}–${fmtNum(hi, row.kind)})`;
  if (bounded > 0) text = `≥${text} [bound hit ${bounded}/${ok.length}]`;
  return { text: text + suffix, median: m, bounded: bounded > 0 };
}

function ratio(row, a, b) {
  if (row.kind !== 'time' && row.kind !== 'rate') return '';
  const r = row.kind === 'time' ? b.median / a.median : a.median / b.median;
  if (!Number.isFinite(r)) return '-';
  const text = r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toFixed(2);
  return `${b.bounded ? '≥' : ''}${text}×`;
}

function buildTable(results, names) {
  const table = [];
  for (const name of names) {
    for (const row of ROWS[name]) {
      const a = cell(row, results[name].fcgipm);
      const b = cell(row, results[name].mod_fcgid);
      table.push({ scenario: row.label, fcgipm: a.text, mod_fcgid: b.text, ratio: ratio(row, a, b) });
    }
  }
  return table;
}

function formatTable(table) {
  const header = ['scenario', 'fcgipm', 'mod_fcgid', 'ratio'];
  const body = table.map((r) => [r.scenario, r.fcgipm, r.mod_fcgid, r.ratio]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/* ------------------------------------------------------------------- main */

async function main() {
  let opts;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(err.message ? `bench:pm: ${err.message}\n${USAGE}\n` : `${USAGE}\n`);
    return err.message ? 2 : 0;
  }
  const absent = missingPieces();
  if (absent.missing.length > 0) {
    process.stderr.write(`bench:pm: Apache with mod_fcgid is needed and missing: ${absent.missing.join(', ')}\n`);
    process.stderr.write(`bench:pm: install it (as root) with: ${absent.install}\n`);
    return 2;
  }
  const names = Object.keys(SCENARIOS).filter((n) => opts.only.includes(n));
  for (const fixture of new Set(names.map((n) => SCENARIOS[n].fixture))) {
    if (!fs.existsSync(fixturePath(fixture))) {
      process.stderr.write(`bench:pm: ${path.relative(ROOT, fixturePath(fixture))} not built: run npm run fixtures\n`);
      return 1;
    }
  }
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) {
    process.stderr.write('bench:pm: dist/ is not built: run npx tsc -p tsconfig.build.json\n');
    return 1;
  }

  const reps = (scenario) => opts.repeat ?? (opts.quick ? scenario.reps.quick : scenario.reps.full);
  // Every repetition of both servers at its bound, plus start and stop, with room to spare.
  const budget = names.reduce((sum, n) => sum + 2 * reps(SCENARIOS[n]) * (SCENARIOS[n].boundMs + START_STOP_MS), 0) + 60000;
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench:pm: watchdog: still running after ${Math.round(budget / 1000)} s; killing everything\n`);
    abort(1);
  }, budget);

  const facts = { ...machineFacts(), ...apacheFacts(), 'apache2 runs as': Object.values(runUser()).join(':') };
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'fcgipm-bench-pm-'));
  // The fcgid process manager runs as the Apache user and creates its sockets below here.
  fs.chmodSync(scratch, 0o711);
  scratchDir = scratch;
  const results = {};
  const commands = {};
  let failed = false;
  const started = Date.now();
  try {
    for (const name of names) {
      const scenario = SCENARIOS[name];
      results[name] = { fcgipm: [], mod_fcgid: [] };
      commands[name] = {};
      const n = reps(scenario);
      for (let rep = 0; rep < n; rep++) {
        const order = rep % 2 === 0 ? SERVERS : [...SERVERS].reverse();
        for (const serverName of order) {
          if (isAborting()) throw new Error('aborted');
          process.stderr.write(`bench:pm: ${name} ${rep + 1}/${n} ${serverName} ... `);
          const t = performance.now();
          const run = await runOnce(serverName, name, scenario, opts, scratch);
          process.stderr.write(`${run.error ? `FAILED: ${run.error}` : 'ok'} (${((performance.now() - t) / 1000).toFixed(1)} s)\n`);
          for (const note of run.notes) process.stderr.write(`bench:pm:   ${serverName}: ${note}\n`);
          if (run.error || run.notes.length > 0) failed = true;
          results[name][serverName].push({ result: run.result, error: run.error, notes: run.notes });
          commands[name][serverName] ??= { commandLine: run.commandLine, ...(run.config ? { config: run.config } : {}) };
        }
      }
    }
  } finally {
    clearTimeout(watchdog);
    removeScratch();
  }

  const table = buildTable(results, names);
  const out = [];
  out.push('');
  out.push(`bench:pm: node ${[path.relative(process.cwd(), __filename), ...process.argv.slice(2)].map(quote).join(' ')}`);
  out.push(...Object.entries(facts).map(([k, v]) => `${k}: ${v}`));
  out.push(`total run time: ${((Date.now() - started) / 1000).toFixed(0)} s`);
  out.push('');
  out.push('Commands (first repetition; every repetition starts a fresh server on a new port and temp dir):');
  for (const name of names) {
    out.push(`  ${name} fcgipm:    ${commands[name].fcgipm?.commandLine ?? '-'}`);
    const fcgid = SCENARIOS[name].fcgid.map(([k, v]) => `${k} ${v}`).join(', ');
    out.push(`  ${name} mod_fcgid: ${commands[name].mod_fcgid?.commandLine ?? '-'}  (${fcgid || 'Fcgid* defaults'}; /${SCENARIOS[name].fixture} → ${path.relative(ROOT, fixturePath(SCENARIOS[name].fixture))})`);
  }
  out.push('');
  out.push(
    `Each cell: median (min–max) of ${names.map((n) => `${n} ${reps(SCENARIOS[n])}`).join(', ')} repetition(s), each on a freshly started server.`,
  );
  out.push('ratio: mod_fcgid/fcgipm for times (above 1: fcgipm is faster), fcgipm/mod_fcgid for requests/s.');
  out.push('');
  out.push(formatTable(table));
  process.stdout.write(`${out.join('\n')}\n`);
  if (opts.json) {
    const options = { ...opts, repetitions: Object.fromEntries(names.map((n) => [n, reps(SCENARIOS[n])])) };
    fs.writeFileSync(opts.json, `${JSON.stringify({ options, facts, commands, results, table }, null, 2)}\n`);
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
  stopMeasurement();
  void stopAll().then(() => {
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
    process.stderr.write(`bench:pm: ${err instanceof Error ? err.message : String(err)}\n`);
    abort(1);
  },
);
