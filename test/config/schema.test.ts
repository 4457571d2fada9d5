import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { POOL_DEFAULTS } from '../../src/pm/pool-options';
import { SCALING_DEFAULTS } from '../../src/pm/policy/options';
import { DEFAULT_MAX_REQUEST_BODY_BYTES, SCHEMA, schemaPath, type KeySpec } from '../../src/config/schema';
import { parseDuration } from '../../src/config/units';

const ROOT = path.resolve(__dirname, '../..');
const DOC = path.join(ROOT, 'docs/config.md');

function poolKey(key: string): KeySpec {
  const spec = SCHEMA.find((s) => s.section === 'pool' && s.key === key);
  if (!spec) throw new Error(`no pool key ${key}`);
  return spec;
}

describe('the schema', () => {
  test('paths are unique and every key has a doc line and both equivalents', () => {
    const paths = SCHEMA.map(schemaPath);
    expect(new Set(paths).size).toBe(paths.length);
    for (const spec of SCHEMA) {
      expect(spec.doc).not.toBe('');
      expect(spec.modFcgid).not.toBe('');
      expect(spec.phpFpm).not.toBe('');
    }
  });

  test('the pool defaults it documents are those of the process manager', () => {
    const seconds = (key: string): number => {
      const r = parseDuration(Number(poolKey(key).defaultText), { zeroOff: true });
      if (!r.ok) throw new Error(r.error);
      return r.value;
    };
    expect(poolKey('mode').defaultText).toBe(SCALING_DEFAULTS.mode);
    expect(Number(poolKey('minProcesses').defaultText)).toBe(SCALING_DEFAULTS.minProcesses);
    expect(Number(poolKey('minSpare').defaultText)).toBe(SCALING_DEFAULTS.minSpare);
    expect(Number(poolKey('maxSpare').defaultText)).toBe(SCALING_DEFAULTS.maxSpare);
    expect(seconds('idleTimeout')).toBe(SCALING_DEFAULTS.idleTimeoutMs);
    expect(seconds('lifetime')).toBe(SCALING_DEFAULTS.lifetimeMs);
    expect(Number(poolKey('maxRequests').defaultText)).toBe(SCALING_DEFAULTS.maxRequestsPerProcess);
    expect(seconds('busyTimeout')).toBe(POOL_DEFAULTS.busyTimeoutMs);
    expect(seconds('ioTimeout')).toBe(POOL_DEFAULTS.ioTimeoutMs);
    expect(seconds('startupTimeout')).toBe(POOL_DEFAULTS.startupTimeoutMs);
    expect(seconds('queueTimeout')).toBe(POOL_DEFAULTS.queueTimeoutMs);
    expect(Number(poolKey('maxQueue').defaultText)).toBe(POOL_DEFAULTS.maxQueue);
    expect(DEFAULT_MAX_REQUEST_BODY_BYTES).toBe(1073741824);
  });
});

describe('docs/config.md', () => {
  const doc = fs.readFileSync(DOC, 'utf8');

  test.each(SCHEMA.map((spec) => [schemaPath(spec)]))('documents %s', (keyPath) => {
    expect(doc).toContain(`| \`${keyPath}\` |`);
  });

  test('its key tables are what scripts/config-doc.js prints from the built schema', () => {
    const compiled = path.join(ROOT, 'dist/config/schema.js');
    if (!fs.existsSync(compiled)) throw new Error(`${compiled} is missing: run npm run build`);
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/config-doc.js')], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(doc).toContain(r.stdout);
  });
});
