/**
 * `fcgipm import-apache`: Apache configuration text (mod_fcgid's Fcgid* directives, with the
 * handler, document-root and host directives around them) to the equivalent fcgipm YAML.
 * Directive names, aliases, scopes and defaults follow mod_fcgid 2.3.9. What has no
 * equivalent, or means something else here, becomes a warning naming file:line and why. The
 * YAML goes through parseConfig unchanged (tests check). The steps are in apache/: reader.ts
 * (lines, words, sections), directives.ts (the tables), interpreter.ts and site-directives.ts
 * (drafts of the YAML's sections), yaml-writer.ts.
 */
import { interpret } from './apache/interpreter';
import { ApacheReader, type ApacheFile } from './apache/reader';
import { writeYaml } from './apache/yaml-writer';

export { apacheWords, type ApacheFile } from './apache/reader';

export interface ImportResult {
  readonly yaml: string;
  readonly warnings: string[];
}

/** Apache configuration files to fcgipm YAML, with warnings for what does not carry over. */
export function importApache(files: ReadonlyArray<ApacheFile>): ImportResult {
  const found: string[] = [];
  const warn = (at: string, message: string): void => {
    found.push(`${at}: ${message}`);
  };
  const reader = new ApacheReader(warn);
  for (const file of files) reader.read(file);
  const paths = files.map((f) => f.path);
  const yaml = writeYaml(paths, interpret(warn, reader, paths));
  // In the order of the files and lines they name, however late they were noticed.
  const order = (w: string): [number, number] => {
    const file = files.findIndex((f) => w.startsWith(`${f.path}:`));
    const line = file >= 0 ? Number(/^(\d+)/.exec(w.slice((files[file]?.path.length ?? 0) + 1))?.[1] ?? 0) : 0;
    return [file, line];
  };
  const warnings = found
    .map((w, i) => ({ w, i, key: order(w) }))
    .sort((a, b) => a.key[0] - b.key[0] || a.key[1] - b.key[1] || a.i - b.i)
    .map((x) => x.w);
  return { yaml, warnings };
}
