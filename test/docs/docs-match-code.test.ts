/**
 * The docs are true to the code: every flag a command's --help lists is in docs/config.md,
 * and every admin endpoint the README and docs/ name answers on a running fcgipm (no page a
 * reader is sent to answers 404).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, cleanupClis, cli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';

const ROOT = path.resolve(__dirname, '../..');
const COMMANDS = ['run', 'serve', 'status', 'check-config', 'import-apache'];

function helpOf(command: string): string {
  const r = spawnSync(process.execPath, [BIN, command, '--help'], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  return r.stdout;
}

/** The flags a usage text offers: words starting with "--" (and -X short forms beside them). */
function flagsIn(usage: string): string[] {
  return [...new Set([...usage.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]))].filter((f) => f !== '--help');
}

describe('docs/config.md names every flag of every command', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs/config.md'), 'utf8');
  test.each(COMMANDS)('fcgipm %s', (command) => {
    const flags = flagsIn(helpOf(command));
    const missing = flags.filter((f) => !new RegExp(`\`${f}\\b`).test(doc));
    expect(missing).toEqual([]);
  });
});

/** Admin endpoints the docs name: `/healthz`, `/status.json`, `/metrics`, `/status…`. */
function documentedEndpoints(): string[] {
  const files = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const found = new Set<string>();
  for (const f of files) {
    const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
    for (const m of text.matchAll(/`(\/(?:healthz|metrics|status)[\w./-]*)`/g)) found.add(m[1] ?? '');
  }
  return [...found].sort();
}

describe('every admin endpoint the docs name answers', () => {
  afterAll(cleanupClis);
  const endpoints = documentedEndpoints();

  test('the docs name the admin endpoints', () => {
    expect(endpoints).toEqual(expect.arrayContaining(['/healthz', '/status.json']));
  });

  test.each(endpoints)('%s', async (endpoint) => {
    const c = cli(['run', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--', fixture('hello')]);
    const line = await c.waitForLine((l) => l.msg === 'fcgipm ready');
    const res = await httpRequest(`http://${String(line.admin)}${endpoint}`);
    expect(res.status).toBe(200);
  });
});
