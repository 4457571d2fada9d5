#!/usr/bin/env node
'use strict';
// How long one spawn holds the event loop, against the manager's memory: libuv's fork()
// (child_process.spawn, fcgipm before it spawned with posix_spawn) beside fcgipm's
// WorkerProcess.spawn (posix_spawn, src/spawn/native/fcgipm_native.c). For each heap size,
// the process first allocates and touches that much (RSS grows with it), then spawns
// hello.fcgi SPAWNS times each way, timing the synchronous call (the time nothing else on
// the loop runs), and prints median and max in ms.
//
//   node bench/spawn-stall.js [--sizes 0,256,1024] [--spawns 20]
//
// Needs dist/ (npm run build), the addon (npm run install) and the fixtures (npm run fixtures).
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const { WorkerProcess } = require(path.join(root, 'dist/spawn/worker-process.js'));
const app = path.join(root, 'fixtures/fcgi-apps/build/hello.fcgi');

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const sizes = option('--sizes', '0,256,1024').split(',').map(Number);
const spawns = Number(option('--spawns', '20'));

const silent = { child: () => silent, debug() {}, info() {}, warn() {}, error() {}, trace() {}, fatal() {} };

function rssMiB() {
  return Math.round(process.memoryUsage().rss / 1048576);
}

function stats(ms) {
  const sorted = [...ms].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1] };
}

async function timeLibuv() {
  const ms = [];
  for (let i = 0; i < spawns; i++) {
    const t = process.hrtime.bigint();
    const child = spawn(app, [], { stdio: ['ignore', 'pipe', 'pipe'] });
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
  }
  return stats(ms);
}

async function timeWorkerProcess(dir) {
  const ms = [];
  for (let i = 0; i < spawns; i++) {
    const t = process.hrtime.bigint();
    const w = WorkerProcess.spawn({ command: app, socketPath: path.join(dir, `w${i}`), logger: silent });
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    w.kill('SIGKILL');
    await w.exited;
  }
  return stats(ms);
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fcgipm-spawn-stall-'));
  const ballast = [];
  const rows = [];
  try {
    for (const size of sizes) {
      while (ballast.length < size) ballast.push(Buffer.alloc(1048576, 1)); // touched: in RSS
      const rss = rssMiB();
      const libuv = await timeLibuv();
      const posix = await timeWorkerProcess(dir);
      rows.push([`${size} MiB`, `${rss} MiB`, `${libuv.median.toFixed(2)} (max ${libuv.max.toFixed(2)})`, `${posix.median.toFixed(2)} (max ${posix.max.toFixed(2)})`]);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`spawns of ${path.relative(root, app)}, ${spawns} each way; ms the event loop is held by one spawn, median (max)\n`);
  console.log('| ballast | RSS | child_process.spawn (fork) | WorkerProcess.spawn (posix_spawn) |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
