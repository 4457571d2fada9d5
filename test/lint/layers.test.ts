/**
 * The layer rules in eslint.config.mjs (docs/architecture.md, "Layers"): an import that points
 * up or across the layers is reported by `npm run lint`, one within the table is not, and the
 * code under src/ keeps to it today.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';

const LINT_IMPORTS = path.join(__dirname, 'lint-imports.js');

interface Linted {
  file: string;
  messages: string[];
}

function lint(input: unknown): Promise<Linted[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [LINT_IMPORTS], { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`lint-imports.js failed: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout) as Linted[]);
    });
    child.stdin?.end(JSON.stringify(input));
  });
}

/** [file the import is written in, what it imports, the layer named in the report or undefined when allowed] */
const CASES: ReadonlyArray<readonly [string, string, string | undefined]> = [
  ['src/protocol/layer-probe.ts', '../pm/pool', 'src/protocol/'],
  ['src/protocol/layer-probe.ts', '../log', 'src/protocol/'],
  ['src/protocol/layer-probe.ts', '../errors', undefined],
  ['src/protocol/layer-probe.ts', './constants', undefined],
  ['src/client/layer-probe.ts', '../spawn/worker-process', 'src/client/'],
  ['src/client/layer-probe.ts', '../spawn/native', undefined],
  ['src/client/layer-probe.ts', '../protocol/encoder', undefined],
  ['src/spawn/layer-probe.ts', '../client/connection', 'src/spawn/'],
  ['src/spawn/layer-probe.ts', '../log', undefined],
  ['src/pm/layer-probe.ts', '../routing/router', 'src/pm/'],
  ['src/pm/layer-probe.ts', '../config/types', 'src/pm/'],
  ['src/pm/layer-probe.ts', '../spawn/ipc-dir', undefined],
  ['src/pm/layer-probe.ts', './policy/scaling', undefined],
  // The pure policy has a stricter row than the rest of pm/.
  ['src/pm/policy/layer-probe.ts', '../../spawn/ipc-dir', 'src/pm/policy/'],
  ['src/pm/policy/layer-probe.ts', '../../errors', undefined],
  ['src/pm/policy/layer-probe.ts', '../../defaults', undefined],
  ['src/config/layer-probe.ts', '../pm/pool', 'src/config/'],
  ['src/config/layer-probe.ts', '../log', 'src/config/'],
  ['src/config/layer-probe.ts', '../errors', undefined],
  ['src/config/apache/layer-probe.ts', '../../routing/router', 'src/config/'],
  ['src/config/apache/layer-probe.ts', '../units', undefined],
  ['src/frontend/layer-probe.ts', '../config/merge', 'src/frontend/'],
  ['src/frontend/layer-probe.ts', '../cli/serve-server', 'src/frontend/'],
  // The front ends take plain typed options: not even config's types.
  ['src/frontend/layer-probe.ts', '../config/types', 'src/frontend/'],
  ['src/frontend/layer-probe.ts', '../routing/router', 'src/frontend/'],
  ['src/frontend/layer-probe.ts', '../pm/pool', undefined],
  // Routing implements the front ends' resolver contract over the configuration.
  ['src/routing/layer-probe.ts', '../config/types', undefined],
  ['src/routing/layer-probe.ts', '../frontend/resolution', undefined],
  ['src/routing/layer-probe.ts', '../pm/pool-registry', undefined],
  ['src/routing/layer-probe.ts', '../cli/serve-server', 'src/routing/'],
  ['src/routing/layer-probe.ts', '../status/metrics', 'src/routing/'],
  ['src/status/layer-probe.ts', '../frontend/http-server', 'src/status/'],
  ['src/status/layer-probe.ts', '../frontend/listen-fd', undefined],
  ['src/systemd/layer-probe.ts', '../pm/manager', 'src/systemd/'],
  ['src/worker/layer-probe.ts', '../pm/pool', 'src/worker/'],
  ['src/worker/layer-probe.ts', '../client/request', undefined],
  ['src/cli/layer-probe.ts', '../routing/router', undefined],
];

describe('layer rules (eslint.config.mjs)', () => {
  it('reports an import across the layers, naming the layer, and lets the allowed ones through', async () => {
    const results = await lint(CASES.map(([file, from]) => ({ file, code: `import { probe } from '${from}';\nexport const used = probe;\n` })));
    const got = results.map((r, i) => [CASES[i]?.[0], CASES[i]?.[1], r.messages]);
    const want = CASES.map(([file, from, layer]) => [
      file,
      from,
      layer === undefined ? [] : [expect.stringMatching(new RegExp(`^no-restricted-imports: '${from.replace(/\./g, '\\.')}' import is restricted .*${layer.replace(/\//g, '\\/')} may import only .*"Layers"`))],
    ]);
    expect(got).toEqual(want);
  });

  it('counts type-only imports too', async () => {
    const [r] = await lint([{ file: 'src/protocol/layer-probe.ts', code: "import type { Pool } from '../pm/pool';\nexport type P = Pool;\n" }]);
    expect(r?.messages).toEqual([expect.stringMatching(/^no-restricted-imports: '\.\.\/pm\/pool' import is restricted/)]);
  });

  it('holds for every file under src/ today', async () => {
    const results = await lint({ lintSrc: true });
    expect(results.length).toBeGreaterThan(100);
    expect(results.filter((r) => r.messages.length > 0)).toEqual([]);
  });
});
