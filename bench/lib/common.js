'use strict';
/* Constants and small helpers shared by the benchmark scripts. */

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
/** The only address any benchmark listens on or sends to. */
const HOST = '127.0.0.1';

class UsageError extends Error {}

function number(option, value, min, max) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${option}: expected an integer from ${min} to ${max}, got ${value}`);
  }
  return n;
}

function fixturePath(name) {
  return path.join(ROOT, 'fixtures', 'fcgi-apps', 'build', `${name}.fcgi`);
}

/** Shell quoting for command lines printed for a human to paste. */
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

/** q-quantile of an ascending array (nearest rank); NaN when empty. */
function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1))];
}

function fmtMs(ms) {
  return Number.isNaN(ms) ? '-' : ms.toFixed(2);
}

/** Output of a command, trimmed, or undefined when it cannot run (5 s bound). */
function commandOutput(file, args) {
  try {
    return execFileSync(file, args, { cwd: ROOT, timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return undefined;
  }
}

function machineFacts() {
  const cpus = os.cpus();
  // Not a git checkout (a tarball, the Docker image): the version still identifies it.
  const commit = commandOutput('git', ['rev-parse', '--short', 'HEAD']) ?? 'unknown';
  const dirty = commit !== 'unknown' && (commandOutput('git', ['status', '--porcelain', '--', 'src']) ?? '') !== '';
  return {
    nproc: os.availableParallelism(),
    cpu: cpus.length > 0 ? cpus[0].model.trim() : 'unknown',
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    autocannon: require('autocannon/package.json').version,
    fcgipm: `${require(path.join(ROOT, 'package.json')).version} (${commit}${dirty ? ', src/ modified' : ''})`,
  };
}

module.exports = { ROOT, HOST, UsageError, number, fixturePath, quote, tail, percentile, fmtMs, commandOutput, machineFacts };
