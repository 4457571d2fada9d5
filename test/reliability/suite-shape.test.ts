/**
 * The suite's own plumbing: a recorded figure reaches the file the runner renders.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { recordFigure } from './figures';

test('a recorded figure is one JSON line with its section, case and test file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'figures-'));
  const file = path.join(dir, 'f.jsonl');
  const before = process.env.FCGIPM_RELIABILITY_FIGURES;
  process.env.FCGIPM_RELIABILITY_FIGURES = file;
  try {
    recordFigure({ section: 'security', case: 'c', userSees: 'u', measured: 'm', peer: 'p' });
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    expect(lines).toEqual([{ section: 'security', case: 'c', userSees: 'u', measured: 'm', peer: 'p', test: 'suite-shape.test.ts' }]);
  } finally {
    if (before === undefined) delete process.env.FCGIPM_RELIABILITY_FIGURES;
    else process.env.FCGIPM_RELIABILITY_FIGURES = before;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
