'use strict';
/* fcgipm started the way a user starts it (README.md): `fcgipm run` or `fcgipm serve`. */

const fs = require('node:fs');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { HOST, ROOT, fixturePath, quote } = require('./common');
const { freePort, startProcess } = require('./processes');

const DEFAULT_CLI = 'bin/fcgipm.js';

/**
 * fcgipm refuses to run workers as root (as php-fpm does) unless told: a benchmark run as root
 * (this machine's CI, a fresh VM) says so, like the peers it runs beside, which run as root too.
 */
const AS_ROOT = process.geteuid?.() === 0;
const ROOT_ARGS = AS_ROOT ? ['--allow-root'] : [];
/** The same for a generated config, under `defaults:` (two spaces of indent), or ''. */
const ROOT_CONFIG_LINE = AS_ROOT ? '  allowRoot: true' : '';

/**
 * Starts `node <cli> run --http 127.0.0.1:<free port> --ipc-dir <scratch>/ipc [--max N]
 * [--max-requests N] -- fixtures/fcgi-apps/build/<fixture>.fcgi` and returns at once (no
 * readiness wait): { child, port, base (http://host:port), ipcDir, logFile, commandLine,
 * startedAt (performance.now() just before the spawn) }.
 *
 * options: fixture, cli (default bin/fcgipm.js, relative to the project root), max,
 * maxRequests, logLevel (default FCGIPM_LOG_LEVEL or warn: per-request logging would
 * measure the logger). For bench/peers.js also:
 *   http       false: --http off (port is then undefined)
 *   fastcgi    the --fastcgi address (unix:/path)
 *   min        --min N
 *   args       more `run` options, before the "--"
 *   command    the app command line [file, ...args] instead of the fixture
 *   asInstalled  run the CLI script itself, so the node flags of its #! line apply, as they
 *              do for an installed `fcgipm` (default: `node <cli>`, no flags)
 */
async function startFcgipm(options, scratch) {
  const port = options.http === false ? undefined : await freePort();
  const ipcDir = path.join(scratch, 'ipc');
  fs.mkdirSync(ipcDir, { mode: 0o700 });
  const args = ['run', ...ROOT_ARGS, '--http', port === undefined ? 'off' : `${HOST}:${port}`, '--ipc-dir', ipcDir];
  if (options.fastcgi !== undefined) args.push('--fastcgi', options.fastcgi);
  if (options.min !== undefined) args.push('--min', String(options.min));
  if (options.max !== undefined) args.push('--max', String(options.max));
  if (options.maxRequests !== undefined) args.push('--max-requests', String(options.maxRequests));
  args.push(...(options.args ?? []));
  args.push('--', ...(options.command ?? [path.relative(ROOT, fixturePath(options.fixture))]));
  const started = launch(args, scratch, ipcDir, options);
  return { ...started, port, base: port === undefined ? undefined : `http://${HOST}:${port}`, ipcDir };
}

/**
 * Writes configText (YAML) to <scratch>/fcgipm.yaml and starts `fcgipm serve --config` on it;
 * returns at once: { child, logFile, commandLine, configFile, startedAt }. The config names its
 * own listeners and ipcDir (pass <scratch>/ipc as ipcDir so that stray workers are found at
 * stop). options: cli, logLevel, asInstalled, as for startFcgipm.
 */
function startFcgipmServe(configText, scratch, ipcDir, options = {}) {
  const configFile = path.join(scratch, 'fcgipm.yaml');
  fs.writeFileSync(configFile, configText);
  return { ...launch(['serve', '--config', configFile], scratch, ipcDir, options), configFile };
}

function launch(cliArgs, scratch, ipcDir, options) {
  const cli = path.resolve(ROOT, options.cli ?? DEFAULT_CLI);
  if (!fs.existsSync(cli)) throw new Error(`fcgipm CLI not found at ${cli}: run npm run build (or pass --cli)`);
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is not built: run npx tsc -p tsconfig.build.json (npm run build)');
  }
  const cliShown = cli.startsWith(ROOT + path.sep) ? path.relative(ROOT, cli) : cli;
  const logLevel = options.logLevel ?? (process.env.FCGIPM_LOG_LEVEL || 'warn');
  const logFile = path.join(scratch, 'fcgipm.log');
  const [file, args, shown] = options.asInstalled
    ? [cli, cliArgs, [cliShown, ...cliArgs]]
    : [process.execPath, [cliShown, ...cliArgs], ['node', cliShown, ...cliArgs]];
  const startedAt = performance.now();
  const child = startProcess(file, args, { FCGIPM_LOG_LEVEL: logLevel }, logFile, ipcDir);
  const commandLine = `cd ${quote(ROOT)} && FCGIPM_LOG_LEVEL=${logLevel} ${shown.map(quote).join(' ')}`;
  return { child, logFile, commandLine, startedAt };
}

module.exports = { DEFAULT_CLI, ROOT_ARGS, ROOT_CONFIG_LINE, startFcgipm, startFcgipmServe };
