/**
 * The YAML configuration file to a Config (types.ts). Every mistake is collected — YAML
 * syntax, unknown keys, bad values, missing or non-executable commands, duplicates — and
 * reported at once in one ConfigError, each problem with its file, line, column and dotted
 * key, so an operator fixes the whole file in one pass (`fcgipm check-config`). The allowed
 * keys, their types and their defaults come from schema.ts; the readers are in
 * top-section.ts, sites.ts, pool-section.ts and value-readers.ts.
 */
import fs from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError, type ConfigProblem } from '../errors';
import { readConfig } from './top-section';
import type { Config } from './types';
import { YamlSource } from './yaml-source';

export { suggestKey } from './key-suggestion';

/** Reads a configuration from YAML text; `file` names it in messages and anchors relative paths. */
export function parseConfig(text: string, file: string): Config {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const src = new YamlSource(text, file, lines, doc);
  for (const err of doc.errors) src.problemAt(err.pos[0], '', yamlMessage(text, err.code, err.message, err.pos));
  // After a syntax error the tree is a guess; its other complaints would only mislead.
  if (src.problems.length > 0) throw new ConfigError(src.problems);
  const config = readConfig(src, doc.contents);
  if (src.problems.length > 0) throw new ConfigError(sortProblems(src.problems));
  return config;
}

/** Reads and parses a configuration file. A file that cannot be read is one problem too. */
export function loadConfigFile(file: string): Config {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String(code ?? err);
    throw new ConfigError([{ file, line: 0, column: 0, key: '', message: `cannot read the configuration: ${why}` }]);
  }
  return parseConfig(text, file);
}

function sortProblems(problems: readonly ConfigProblem[]): ConfigProblem[] {
  // Stable sort: problems without a line (0) keep their place at the top.
  return [...problems].sort((a, b) => a.line - b.line || a.column - b.column);
}

function yamlMessage(text: string, code: string, message: string, pos: readonly [number, number]): string {
  if (code === 'DUPLICATE_KEY') {
    // The error's range covers the key's first character only; the key runs to its ":".
    const key = /^("[^"]*"|'[^']*'|[^:\n]*?)\s*:/.exec(text.slice(pos[0]))?.[1] ?? text.slice(pos[0], pos[1]);
    return `key ${key.startsWith('"') || key.startsWith("'") ? key : JSON.stringify(key)} is given twice in the same mapping`;
  }
  if (code === 'TAB_AS_INDENT') return 'YAML syntax: a tab is used for indentation; indent with spaces';
  return `YAML syntax: ${message}`;
}
