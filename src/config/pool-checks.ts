import type { PoolSettings } from './types';

/** The pool settings keys whose values are checked against each other. */
export type CheckedKey = 'minProcesses' | 'maxProcesses' | 'minSpare' | 'maxSpare' | 'mode';

/**
 * Pool limits that contradict each other, each as one sentence. `name` renders a key the way
 * the user wrote it: the YAML key for `serve` and `check-config`, the flag for `run` (so
 * `run --min 10 --max 2` is told about --min and --max, not about minProcesses).
 *
 * One rule for both: what `check-config` refuses, `run` refuses, and the pool layer never
 * meets a contradiction at the first request.
 */
export function poolSettingProblems(s: PoolSettings, name: (key: CheckedKey) => string): string[] {
  const out: string[] = [];
  if (s.minProcesses !== undefined && s.maxProcesses !== undefined && s.minProcesses > s.maxProcesses) {
    out.push(`${name('minProcesses')} ${s.minProcesses} is above ${name('maxProcesses')} ${s.maxProcesses}`);
  }
  if (s.minSpare !== undefined && s.maxSpare !== undefined && s.minSpare > s.maxSpare) {
    out.push(`${name('minSpare')} ${s.minSpare} is above ${name('maxSpare')} ${s.maxSpare}`);
  }
  if (s.mode === 'dynamic') {
    if (s.minSpare === 0) out.push(`${name('mode')} dynamic needs ${name('minSpare')} >= 1`);
    if (s.maxSpare !== undefined && s.maxProcesses !== undefined && s.maxSpare > s.maxProcesses) {
      out.push(`${name('maxSpare')} ${s.maxSpare} is above ${name('maxProcesses')} ${s.maxProcesses}`);
    }
  }
  return out;
}
