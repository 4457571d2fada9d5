#!/usr/bin/env node
'use strict';
/**
 * `npm run test:reliability`: runs jest's `reliability` project (test/reliability/) one file at
 * a time — its cases measure load, memory and timings, so they must not share the two cores —
 * then writes docs/reliability.md from the figures the cases recorded. The whole run is
 * bounded: past LIMIT_MS jest is stopped and the run fails. Exit status is jest's.
 *
 *   npm run test:reliability                    # the whole suite, then docs/reliability.md
 *   npm run test:reliability -- faults           # only files matching "faults"; the doc is not written
 *   node scripts/test-reliability.js --no-doc    # the whole suite, the doc left as it is (npm test)
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { renderReliabilityDoc } = require('./reliability-doc');

const ROOT = path.resolve(__dirname, '..');
const FIGURES = path.join(ROOT, '.reliability-figures.jsonl');
const RESULTS = path.join(ROOT, '.jest-reliability.json');
const DOC = path.join(ROOT, 'docs', 'reliability.md');
const LIMIT_MS = 10 * 60_000;

const argv = process.argv.slice(2);
const writeDoc = !argv.includes('--no-doc');
const filters = argv.filter((a) => a !== '--no-doc');
fs.rmSync(FIGURES, { force: true });
fs.rmSync(RESULTS, { force: true });

const started = Date.now();
const jest = spawn(
  process.execPath,
  [require.resolve('jest/bin/jest'), '--selectProjects', 'reliability', '--runInBand', '--json', `--outputFile=${RESULTS}`, ...filters],
  { cwd: ROOT, stdio: 'inherit', env: { ...process.env, FCGIPM_RELIABILITY_FIGURES: FIGURES }, detached: true },
);
const limit = setTimeout(() => {
  process.stderr.write(`test:reliability: past ${LIMIT_MS / 60_000} minutes; stopping jest\n`);
  try {
    process.kill(-jest.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}, LIMIT_MS);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    try {
      process.kill(-jest.pid, sig);
    } catch {
      /* already gone */
    }
  });
}

jest.on('exit', (code, signal) => {
  clearTimeout(limit);
  const seconds = Math.round((Date.now() - started) / 1000);
  let summary = '0 passed, 1 failed';
  if (fs.existsSync(RESULTS)) {
    const r = JSON.parse(fs.readFileSync(RESULTS, 'utf8'));
    summary = `${r.numPassedTests} passed, ${r.numFailedTests} failed`;
  }
  if (writeDoc && filters.length === 0 && fs.existsSync(FIGURES)) {
    const figures = fs
      .readFileSync(FIGURES, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    fs.writeFileSync(DOC, renderReliabilityDoc(figures, { seconds, summary }));
    process.stdout.write(`test:reliability: ${figures.length} figures written to docs/reliability.md\n`);
  }
  process.stdout.write(`test:reliability: ${summary} in ${seconds} s\n`);
  process.exitCode = code ?? (signal ? 1 : 0);
});
