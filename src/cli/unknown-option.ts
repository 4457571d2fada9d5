import { nearest } from '../config/edit-distance';

/** The options a usage text offers: every word starting with "--". */
function optionsIn(usage: string): string[] {
  return [...new Set([...usage.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]))];
}

/**
 * "unknown option --max-request (did you mean --max-requests?)": the nearest option of the
 * command's usage text when the word is a near miss of one.
 */
export function unknownOption(name: string, usage: string): string {
  const guess = name.startsWith('--') ? nearest(name, optionsIn(usage)) : undefined;
  return `unknown option ${name}${guess !== undefined ? ` (did you mean ${guess}?)` : ''}`;
}
