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
 * run. Only 127.0.0.1 is ever targeted. The process handling lives in bench/lib/, shared with
 * bench/pm.js (process-manager scenarios beside Apache mod_fcgid).
 */

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ROOT, UsageError, number, fixturePath, quote, tail, fmtMs, machineFacts } = require('./lib/common');
const { KILL_WAIT, STOP_GRACE, isAborting, stopAll } = require('./lib/processes');
const { READY_TIMEOUT, measure, stopMeasurement, waitReady } = require('./lib/http');
const { startFcgipm } = require('./lib/fcgipm');

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

const USAGE = `usage: node bench/run.js [options]
  --duration SEC      seconds per scenario (default ${DEFAULTS.duration}; env BENCH_DURATION)
  --warmup SEC        warm-up seconds before the scenarios (default ${DEFAULTS.warmup}; env BENCH_WARMUP)
  --max N             --max passed to fcgipm (default ${DEFAULTS.max}; env BENCH_MAX)
  --fixture NAME      fixtures/fcgi-apps/build/NAME.fcgi (default ${DEFAULTS.fixture}; env BENCH_FIXTURE)
  --path PATH         request path and query, e.g. /?bytes=65536 (default /; env BENCH_PATH)
  --connections LIST  comma-separated connection counts (default ${DEFAULTS.connections.join(',')}; env BENCH_CONNECTIONS)
  --cli FILE          the fcgipm CLI script, relative to the project root (default ${DEFAULTS.cli}; env BENCH_CLI)
  --json FILE         also write the results as JSON (env BENCH_JSON)`;

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

/* ---------------------------------------------------------------- targets */

/** fcgipm's own CLI, started the way a user starts it (README.md). */
const fcgipmTarget = {
  name: 'fcgipm',

  describe(opts) {
    return `fcgipm run --max ${opts.max}`;
  },

  async start(opts, scratch) {
    const started = await startFcgipm({ fixture: opts.fixture, cli: opts.cli, max: opts.max }, scratch);
    const { child, logFile } = started;
    const url = `${started.base}${opts.path}`;
    try {
      await waitReady(url, child);
    } catch (err) {
      await child.stop();
      err.message += `\n--- last lines of ${logFile} ---\n${tail(logFile, 40)}`;
      throw err;
    }
    return { url, commandLine: started.commandLine, logFile, stop: () => child.stop() };
  },
};

/** Every target by name. */
const TARGETS = new Map([[fcgipmTarget.name, fcgipmTarget]]);

/** The targets one run measures, in the order of the table (opts.targets, by name). */
function selectTargets(opts) {
  return opts.targets.map((name) => TARGETS.get(name));
}

/* ----------------------------------------------------------------- output */

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
          if (isAborting()) throw new Error('aborted');
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
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    abort(1);
  },
);
