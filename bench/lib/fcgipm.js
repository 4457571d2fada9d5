'use strict';
/* fcgipm started the way a user starts it (DESIGN.md, "CLI contract"): `fcgipm run`. */

const fs = require('node:fs');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { HOST, ROOT, fixturePath, quote } = require('./common');
const { freePort, startProcess } = require('./processes');

const DEFAULT_CLI = 'bin/fcgipm.js';

/**
 * Starts `node <cli> run --http 127.0.0.1:<free port> --ipc-dir <scratch>/ipc [--max N]
 * [--max-requests N] -- fixtures/fcgi-apps/build/<fixture>.fcgi` and returns at once (no
 * readiness wait): { child, port, base (http://host:port), ipcDir, logFile, commandLine,
 * startedAt (performance.now() just before the spawn) }.
 *
 * options: fixture, cli (default bin/fcgipm.js, relative to the project root), max,
 * maxRequests, logLevel (default FCGIPM_LOG_LEVEL or warn: per-request logging would
 * measure the logger).
 */
async function startFcgipm(options, scratch) {
  const cli = path.resolve(ROOT, options.cli ?? DEFAULT_CLI);
  if (!fs.existsSync(cli)) throw new Error(`fcgipm CLI not found at ${cli}: run npm run build (or pass --cli)`);
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is not built: run npx tsc -p tsconfig.build.json (npm run build)');
  }
  const port = await freePort();
  const ipcDir = path.join(scratch, 'ipc');
  fs.mkdirSync(ipcDir, { mode: 0o700 });
  const args = [cli.startsWith(ROOT + path.sep) ? path.relative(ROOT, cli) : cli, 'run', '--http', `${HOST}:${port}`, '--ipc-dir', ipcDir];
  if (options.max !== undefined) args.push('--max', String(options.max));
  if (options.maxRequests !== undefined) args.push('--max-requests', String(options.maxRequests));
  args.push('--', path.relative(ROOT, fixturePath(options.fixture)));
  const logLevel = options.logLevel ?? (process.env.FCGIPM_LOG_LEVEL || 'warn');
  const logFile = path.join(scratch, 'fcgipm.log');
  const startedAt = performance.now();
  const child = startProcess(process.execPath, args, { FCGIPM_LOG_LEVEL: logLevel }, logFile, ipcDir);
  const commandLine = `cd ${quote(ROOT)} && FCGIPM_LOG_LEVEL=${logLevel} ${['node', ...args].map(quote).join(' ')}`;
  return { child, port, base: `http://${HOST}:${port}`, ipcDir, logFile, commandLine, startedAt };
}

module.exports = { DEFAULT_CLI, startFcgipm };
