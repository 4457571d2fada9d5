#!/usr/bin/env node
'use strict';
/**
 * The access log's own cost per line on the event loop: format one entry and hand it to the
 * batching writer, for each format, as fast as the loop allows (yielding every 1000 lines so
 * the batch writes complete), into a temp file. Prints the median of 5 rounds of 300 000
 * lines, and checks that every line reached the file. Needs `npm run build`.
 *
 *   node bench/access-log.js
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const pino = require('pino');
const { AccessLog } = require('../dist/frontend/access-log.js');

const LINES = 300_000;
const ROUNDS = 5;

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fcgipm-bench-access-log-'));
  try {
    for (const format of ['combined', 'json']) {
      const file = path.join(dir, format);
      const log = new AccessLog({ destination: file, format, logger: pino({ level: 'silent' }) });
      const entry = {
        time: Date.now(), remote: '127.0.0.1', user: undefined, method: 'GET', uri: '/', protocol: 'HTTP/1.1',
        status: 200, bytes: 52, referer: undefined, userAgent: 'wrk', durationMs: 1.234, queueWaitMs: 0,
        pool: 'hello.fcgi', workerPid: 1234,
      };
      const perLine = [];
      for (let r = 0; r < ROUNDS; r += 1) {
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < LINES; i += 1) {
          log.write({ ...entry, time: Date.now(), durationMs: i / 1000 });
          if (i % 1000 === 999) await new Promise(setImmediate);
        }
        perLine.push(Number(process.hrtime.bigint() - t0) / LINES / 1000);
      }
      await log.close();
      perLine.sort((a, b) => a - b);
      const written = fs.readFileSync(file, 'utf8').split('\n').length - 1;
      console.log(`${format}: ${perLine[Math.floor(ROUNDS / 2)].toFixed(2)} µs per line (median of ${ROUNDS} x ${LINES}); ${written} of ${ROUNDS * LINES} lines in the file`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();
