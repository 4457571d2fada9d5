'use strict';
/*
 * npm run bench:handoff — fcgipm's own CPU per request for 1 MiB responses, fd handoff beside
 * proxying, in one run on the same machine:
 *
 *   proxy:   fcgipm run --max N -- fixtures/fcgi-apps/build/big.fcgi     GET /?bytes=1048576
 *            (every byte crosses fcgipm: FCGI_STDOUT records in, HTTP out)
 *   handoff: fcgipm run --handoff --max N -- .../handoff.fcgi            GET /bytes?n=1048576
 *            (the client socket goes to the worker; fcgipm reads only the first head)
 *
 * Load: wrk (apt-get install wrk) with C connections for D seconds each, after a warm-up:
 * kept-alive connections (a handoff costs fcgipm once per connection), then a new connection
 * per request (`-H 'Connection: close'`: one handoff per request, the worst case for it). CPU is read from /proc/<pid>/stat (utime + stime) of the fcgipm process, and of
 * its workers (the processes holding a socket of its IPC dir on fd 0), before and after.
 *
 *   node bench/handoff.js [--duration SEC] [--connections C] [--max N]
 *
 * Both workers are C programs answering from a precomputed pattern, so the workers' columns
 * compare the two data paths too (the handoff worker writes to the TCP socket directly).
 */

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { HOST, ROOT, fixturePath, machineFacts, number, quote } = require('./lib/common');
const { freePort, socketHolders, startProcess, stopAll } = require('./lib/processes');
const { waitReady } = require('./lib/http');

const TICKS_PER_SECOND = 100; // USER_HZ on Linux
const SIZE = 1024 * 1024;

function parse(argv) {
  const o = { duration: 10, connections: 4, max: 4, warmup: 2 };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === '--duration') o.duration = number(k, v, 1, 600);
    else if (k === '--connections') o.connections = number(k, v, 1, 256);
    else if (k === '--max') o.max = number(k, v, 1, 64);
    else throw new Error(`unknown option ${k}`);
  }
  return o;
}

/** utime + stime of a process, in ms; 0 when it is gone. */
function cpuMs(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

function wrk(url, connections, seconds, close) {
  const extra = close ? ['-H', 'Connection: close'] : [];
  const out = execFileSync('wrk', ['-t', '1', '-c', String(connections), '-d', `${seconds}s`, '--latency', ...extra, url], {
    encoding: 'utf8',
  });
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const errors = /Socket errors:.*|Non-2xx or 3xx responses: \d+/.exec(out)?.[0];
  const p50 = /^\s+50%\s+(\S+)/m.exec(out)?.[1];
  const p99 = /^\s+99%\s+(\S+)/m.exec(out)?.[1];
  const transfer = /Transfer\/sec:\s+(\S+)/.exec(out)?.[1];
  return { requests, errors, p50, p99, transfer };
}

async function scenario(name, runArgs, urlPath, o, scratch, close) {
  const dir = fs.mkdtempSync(path.join(scratch, `${name}-`));
  const ipcDir = path.join(dir, 'ipc');
  const port = await freePort();
  const args = ['bin/fcgipm.js', 'run', ...(process.geteuid?.() === 0 ? ['--allow-root'] : []), '--http', `${HOST}:${port}`, '--ipc-dir', ipcDir, '--max', String(o.max), ...runArgs];
  const child = startProcess(process.execPath, args, { FCGIPM_LOG_LEVEL: 'warn' }, path.join(dir, 'fcgipm.log'), ipcDir);
  const url = `http://${HOST}:${port}${urlPath}`;
  try {
    await waitReady(url, child);
    wrk(url, o.connections, o.warmup, close);
    const workers = socketHolders(ipcDir);
    const before = { manager: cpuMs(child.pid), workers: workers.reduce((n, p) => n + cpuMs(p), 0) };
    const load = wrk(url, o.connections, o.duration, close);
    const after = { manager: cpuMs(child.pid), workers: workers.reduce((n, p) => n + cpuMs(p), 0) };
    return {
      name: `${name}, ${close ? 'a connection per request' : 'kept-alive connections'}`,
      commandLine: ['node', ...args].map(quote).join(' '),
      url,
      workers: workers.length,
      ...load,
      rps: load.requests / o.duration,
      managerUsPerRequest: ((after.manager - before.manager) * 1000) / load.requests,
      workersUsPerRequest: ((after.workers - before.workers) * 1000) / load.requests,
    };
  } finally {
    await child.stop();
  }
}

async function main() {
  const o = parse(process.argv.slice(2));
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (err) {
    // wrk --version exits 1 but prints; only a missing binary matters.
    if (err.code === 'ENOENT') throw new Error('wrk is not installed: apt-get install -y wrk');
  }
  for (const f of ['big', 'handoff']) {
    if (!fs.existsSync(fixturePath(f))) throw new Error(`${fixturePath(f)} missing: npm run fixtures`);
  }
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'fcgipm-bench-handoff-'));
  const results = [];
  for (const close of [false, true]) {
    results.push(await scenario('proxy', ['--', path.relative(ROOT, fixturePath('big'))], `/?bytes=${SIZE}`, o, scratch, close));
    results.push(await scenario('handoff', ['--handoff', '--', path.relative(ROOT, fixturePath('handoff'))], `/bytes?n=${SIZE}`, o, scratch, close));
  }
  fs.rmSync(scratch, { recursive: true, force: true });

  const facts = machineFacts();
  console.log(`# fcgipm CPU per 1 MiB response: handoff beside proxying`);
  console.log(`machine: ${Object.entries(facts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`load: wrk -t 1 -c ${o.connections} -d ${o.duration}s (kept-alive, then with -H 'Connection: close'), --max ${o.max}\n`);
  console.log('| path | requests/s | transfer/s | p50 | p99 | fcgipm CPU per request | workers CPU per request | errors |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(
      `| ${r.name} | ${r.rps.toFixed(0)} | ${r.transfer} | ${r.p50} | ${r.p99} | ${r.managerUsPerRequest.toFixed(1)} µs | ${r.workersUsPerRequest.toFixed(1)} µs | ${r.errors ?? 'none'} |`,
    );
  }
  console.log('');
  for (let i = 0; i + 1 < results.length; i += 2) {
    const [proxy, handoff] = [results[i], results[i + 1]];
    console.log(
      `${proxy.name.split(', ')[1]}: fcgipm CPU per request, proxy / handoff = ${(proxy.managerUsPerRequest / Math.max(handoff.managerUsPerRequest, 0.001)).toFixed(1)}x; requests/s handoff / proxy = ${(handoff.rps / proxy.rps).toFixed(2)}x`,
    );
  }
  for (const r of results.slice(0, 2)) console.log(`${r.name.split(',')[0]}: ${r.commandLine}`);
}

process.on('SIGINT', () => void stopAll().then(() => process.exit(130)));
main().catch(async (err) => {
  console.error(`bench/handoff.js: ${err.message}`);
  await stopAll();
  process.exit(1);
});
