/**
 * What the reliability suite measured, one figure per case, for docs/reliability.md.
 *
 * A test records a figure once it has measured it (before its assertions, so that a failing
 * case still shows what was seen). Figures are appended as JSON lines to the file named by
 * FCGIPM_RELIABILITY_FIGURES, which scripts/test-reliability.js sets, empties before the run
 * and renders into docs/reliability.md after it; a test file run alone with `npx jest` writes
 * to .reliability-figures.jsonl at the repository root (ignored by git).
 */
import fs from 'node:fs';
import path from 'node:path';

export type Section = 'faults' | 'clients' | 'apps' | 'fuzzing' | 'security';

export interface Figure {
  section: Section;
  /** Short name of the case, e.g. "kill -9 storm, 60 s, 32 clients". */
  case: string;
  /** What a user sees, in the user's words: "no 503; a request running on a killed worker gets 502". */
  userSees: string;
  /** What this run measured, with numbers: "0 × 503, 31 × 502 for 600 kills, 611,204 requests". */
  measured: string;
  /** The peer's figure for the same case, measured in the same run where it runs here, or what the peer does by design (say which). */
  peer: string;
}

const DEFAULT_FILE = path.resolve(__dirname, '..', '..', '.reliability-figures.jsonl');

export function recordFigure(figure: Figure): void {
  const file = process.env.FCGIPM_RELIABILITY_FIGURES ?? DEFAULT_FILE;
  fs.appendFileSync(file, `${JSON.stringify({ ...figure, test: path.basename(expect.getState().testPath ?? '') })}\n`);
}

/** 1234567 → "1,234,567": figures read by people. */
export function n(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** Bytes → "12.3 MiB". */
export function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
