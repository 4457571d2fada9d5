/**
 * The layer table of docs/architecture.md holds: imports point down. A request goes front end
 * → site resolver (routing/) → pool registry (pm/) → pool, and the front ends and the pool
 * layer know no configuration.
 */
import fs from 'node:fs';
import path from 'node:path';

const SRC = path.resolve(__dirname, '../../src');

/** The src/ folders a layer's files import from (relative imports only). */
function importedFolders(layer: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.ts')) {
        for (const m of fs.readFileSync(file, 'utf8').matchAll(/^(?:import|export)\b[^;]*?from '(\.[^']+)'/gms)) {
          const target = path.relative(SRC, path.resolve(path.dirname(file), m[1] ?? ''));
          const folder = target.includes(path.sep) ? target.split(path.sep)[0] ?? '' : target;
          out.set(folder, [...(out.get(folder) ?? []), path.relative(SRC, file)]);
        }
      }
    }
  };
  walk(path.join(SRC, layer));
  return out;
}

const FORBIDDEN: Record<string, string[]> = {
  protocol: ['client', 'spawn', 'pm', 'frontend', 'routing', 'config', 'status', 'cli'],
  pm: ['frontend', 'routing', 'config', 'status', 'cli'],
  frontend: ['routing', 'config', 'status', 'cli'],
  routing: ['status', 'cli'],
  config: ['pm', 'frontend', 'routing', 'status', 'cli'],
};

describe('imports point down the layers', () => {
  test.each(Object.keys(FORBIDDEN))('src/%s', (layer) => {
    const used = importedFolders(layer);
    const wrong = (FORBIDDEN[layer] ?? []).filter((f) => used.has(f)).map((f) => `${f} ← ${(used.get(f) ?? []).join(', ')}`);
    expect(wrong).toEqual([]);
  });

  test('the scan sees imports (routing uses pm and config)', () => {
    const used = importedFolders('routing');
    expect(used.has('pm')).toBe(true);
    expect(used.has('config')).toBe(true);
  });
});
