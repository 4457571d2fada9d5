import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Logger } from '../../src/log';

export const FIXTURES = path.resolve(__dirname, '../../fixtures/fcgi-apps/build');

/** Path of a built C fixture; fails loudly when `npm run fixtures` has not run. */
export function fixture(name: string): string {
  const p = path.join(FIXTURES, `${name}.fcgi`);
  if (!fs.existsSync(p)) throw new Error(`fixture ${p} is missing: run npm run fixtures (needs libfcgi-dev)`);
  return p;
}

/**
 * A built C fixture copied where any user can run it: a worker run as nobody (or another
 * uid) must reach its program, and the checkout may sit below a directory others cannot
 * enter (a 0700 temp dir in CI). The copy is in a 0755 temp dir of its own.
 */
export function fixtureForAnyUser(name: string): string {
  const dir = tempDir('fcgipm-fixture-');
  fs.chmodSync(dir, 0o755);
  const copy = path.join(dir, `${name}.fcgi`);
  fs.copyFileSync(fixture(name), copy);
  fs.chmodSync(copy, 0o755);
  return copy;
}

/** Whether a process exists (signal 0). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function tempDir(prefix = 'fcgipm-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A pino logger whose parsed lines the test can read back. */
export interface MemoryLog {
  logger: Logger;
  lines: Array<Record<string, unknown>>;
  /** Resolves with the first line (already logged or still to come) that matches. */
  waitForLine: (match: (line: Record<string, unknown>) => boolean, timeoutMs?: number) => Promise<Record<string, unknown>>;
}

export function memoryLogger(level = 'debug'): MemoryLog {
  const lines: Array<Record<string, unknown>> = [];
  const events = new EventEmitter();
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) {
        if (!l) continue;
        const parsed = JSON.parse(l) as Record<string, unknown>;
        lines.push(parsed);
        events.emit('line', parsed);
      }
      cb();
    },
  });
  const waitForLine: MemoryLog['waitForLine'] = (match, timeoutMs = 5000) =>
    new Promise((resolve, reject) => {
      const found = lines.find(match);
      if (found) return resolve(found);
      const timer = setTimeout(() => {
        events.off('line', onLine);
        reject(new Error('expected log line did not appear'));
      }, timeoutMs);
      const onLine = (l: Record<string, unknown>): void => {
        if (!match(l)) return;
        clearTimeout(timer);
        events.off('line', onLine);
        resolve(l);
      };
      events.on('line', onLine);
    });
  return { logger: pino({ level }, stream), lines, waitForLine };
}
