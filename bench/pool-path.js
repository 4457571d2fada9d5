'use strict';
/*
 * The pool's own request path, in process: a real Pool from a compiled tree, its worker
 * processes and FastCGI connections replaced by in-memory fakes, 32 requests in flight, each
 * answered on a microtask. What it measures is what the pool adds per request (dispatch, the
 * idle stack, the attempt, the busy timer, the release), without HTTP, sockets or apps, which
 * make the wrk figures of bench/ab.sh noisy on a loaded machine.
 *
 *   node bench/pool-path.js DIST [REQUESTS]      e.g. node bench/pool-path.js dist 300000
 *
 * The fakes go in by replacing WorkerProcess.spawn and Connection.connect on the modules of
 * DIST, so the same script runs against builds from before the pool took a launcher (A/B
 * of two trees: run them in turn, several times).
 */
const path = require('node:path');
const { EventEmitter } = require('node:events');

const dist = path.resolve(process.argv[2] ?? 'dist');
const total = Number(process.argv[3] ?? 300_000);
const INFLIGHT = 32;

const { WorkerProcess } = require(path.join(dist, 'spawn/worker-process.js'));
const { Connection } = require(path.join(dist, 'client/connection.js'));

let pid = 1_000;
class FakeProcess extends EventEmitter {
  constructor(options) {
    super();
    this.socketPath = options.socketPath;
    this.pid = ++pid;
    this.startedAt = Date.now();
    this.exited = new Promise(() => undefined);
    this.socketFd = undefined;
    this.exitInfo = undefined;
    this.alive = true;
  }
  kill() {
    return true;
  }
}

const END = { appStatus: 0, protocolStatus: 0 };
const OUT = Buffer.from('Status: 200\r\n\r\nhello');
class FakeConnection {
  constructor() {
    this.reusable = true;
    this.closedByPeer = false;
  }
  request(_req, handler) {
    this.reusable = false;
    queueMicrotask(() => {
      handler.onStdout(OUT);
      this.reusable = true;
      handler.onEnd(END);
    });
  }
  pauseResponse() {}
  resumeResponse() {}
  abort() {}
  close() {}
  destroy() {}
}

WorkerProcess.spawn = (options) => new FakeProcess(options);
Connection.connect = () => Promise.resolve(new FakeConnection());

const { Pool } = require(path.join(dist, 'pm/pool.js'));
const { resolvePoolOptions } = require(path.join(dist, 'pm/pool-options.js'));
const { silentLogger } = require(path.join(dist, 'log.js'));

let sockets = 0;
const options = resolvePoolOptions({ command: '/bin/true', name: 'bench', mode: 'static', minProcesses: 4, maxProcesses: 4, readiness: 'spawn', allowRoot: true });
const pool = new Pool(options, { ipcDir: { nextSocketPath: () => `/nonexistent/${++sockets}` }, logger: silentLogger() });
pool.start();

const REQUEST = { params: [['REQUEST_METHOD', 'GET']], body: { kind: 'none' } };
const INFO = { method: 'GET', uri: '/' };

// The workers are "ready" on the next turn of the loop (readiness: spawn).
setTimeout(() => {
  let sent = 0;
  let done = 0;
  const t0 = process.hrtime.bigint();
  const handler = {
    onStdout() {},
    onStderr() {},
    onEnd() {
      done += 1;
      next();
    },
    onError(err) {
      throw err;
    },
  };
  function next() {
    if (sent < total) {
      sent += 1;
      pool.dispatch(REQUEST, handler, INFO);
    } else if (done === total) {
      const ns = Number(process.hrtime.bigint() - t0) / total;
      process.stdout.write(`${path.basename(dist)}: ${ns.toFixed(0)} ns per request (${total} requests, ${INFLIGHT} in flight)\n`);
      process.exit(0);
    }
  }
  for (let i = 0; i < INFLIGHT; i += 1) next();
}, 100);
