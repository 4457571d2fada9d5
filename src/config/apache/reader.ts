/**
 * Reading Apache configuration text as httpd does: logical lines (backslash continuations,
 * comments dropped), words (ap_getword_conf), and sections. Each directive is placed in the
 * main server or its <VirtualHost>, with the per-directory sections around it; what import-apache
 * does not translate is reported here, once per name.
 */
import { nearest } from '../edit-distance';
import { ALL_NAMES, CANONICAL, NOT_CARRIED } from './directives';

/** Records a warning about the line `at` ("file:line"). */
export type Warn = (at: string, message: string) => void;

export interface ApacheFile {
  readonly path: string;
  readonly text: string;
}

/** One directive as written: its canonical name (aliases resolved) and where it is. */
export interface Directive {
  readonly name: string;
  readonly written: string;
  readonly args: readonly string[];
  readonly at: string;
}

/** A per-directory container around a directive: <Directory>, <Location>, <Files>… */
export interface Container {
  /** Lower-case section name: "directory", "locationmatch", "files"… */
  readonly kind: string;
  readonly arg: string;
  readonly at: string;
}

export interface Placed {
  readonly d: Directive;
  readonly containers: readonly Container[];
}

export interface VirtualHost {
  readonly arg: string;
  readonly at: string;
  readonly items: Placed[];
}

/** Sections that only test conditions; their content is read as if they were not there. */
const CONDITIONAL = new Set(['ifmodule', 'ifdefine', 'ifversion', 'iffile', 'ifdirective', 'ifsection', 'if', 'elseif', 'else']);
const PER_DIR = new Set(['directory', 'directorymatch', 'location', 'locationmatch', 'files', 'filesmatch', 'proxy', 'proxymatch', 'limit', 'limitexcept']);

/**
 * Apache's ap_getword_conf: words split on blanks; a word may be quoted with " or ', and
 * inside quotes a backslash escapes the quote or another backslash.
 */
export function apacheWords(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line.charAt(i))) i += 1;
    if (i >= line.length) break;
    const c = line.charAt(i);
    let word = '';
    if (c === '"' || c === "'") {
      i += 1;
      while (i < line.length && line.charAt(i) !== c) {
        const next = line.charAt(i + 1);
        if (line.charAt(i) === '\\' && (next === c || next === '\\')) {
          word += next;
          i += 2;
        } else {
          word += line.charAt(i);
          i += 1;
        }
      }
      i += 1;
    } else {
      while (i < line.length && !/\s/.test(line.charAt(i))) {
        word += line.charAt(i);
        i += 1;
      }
    }
    words.push(word);
  }
  return words;
}

/** Lines with backslash continuations joined (Apache drops the backslash and the newline), comments and blanks dropped. */
function logicalLines(file: ApacheFile): Array<{ text: string; line: number }> {
  const raw = file.text.split(/\r?\n/);
  const out: Array<{ text: string; line: number }> = [];
  for (let i = 0; i < raw.length; i += 1) {
    const start = i;
    let text = raw[i] ?? '';
    while (text.endsWith('\\') && i + 1 < raw.length) {
      i += 1;
      text = text.slice(0, -1) + (raw[i] ?? '');
    }
    text = text.trim();
    if (text === '' || text.startsWith('#')) continue;
    out.push({ text, line: start + 1 });
  }
  return out;
}

/** The directives of the files read so far: the main server's, and each <VirtualHost>'s. */
export class ApacheReader {
  readonly server: Placed[] = [];
  readonly vhosts: VirtualHost[] = [];

  constructor(private readonly warn: Warn) {}

  read(file: ApacheFile): void {
    type Open = { kind: string; arg: string; at: string; vhost?: VirtualHost };
    const stack: Open[] = [];
    const unrelated = new Map<string, number[]>();
    for (const { text, line } of logicalLines(file)) {
      const at = `${file.path}:${line}`;
      const close = /^<\/\s*([^\s>]+)\s*>$/.exec(text);
      if (close) {
        const kind = (close[1] ?? '').toLowerCase();
        const top = stack[stack.length - 1];
        if (!top || top.kind !== kind) {
          this.warn(at, `</${close[1] ?? ''}> does not close an open section; ignored`);
          continue;
        }
        stack.pop();
        continue;
      }
      const open = /^<\s*([^\s>/]+)\s*(.*?)\s*>$/.exec(text);
      if (open) {
        const kind = (open[1] ?? '').toLowerCase();
        const arg = apacheWords(open[2] ?? '').join(' ');
        const entry: Open = { kind, arg, at };
        if (kind === 'virtualhost') {
          if (stack.some((s) => s.kind === 'virtualhost')) this.warn(at, '<VirtualHost> inside <VirtualHost>: Apache refuses this; read as a separate host');
          entry.vhost = { arg, at, items: [] };
          this.vhosts.push(entry.vhost);
        } else if (!CONDITIONAL.has(kind) && !PER_DIR.has(kind)) {
          this.warn(at, `<${open[1] ?? ''}> sections are not understood; directives inside are read as if it were not there`);
        }
        stack.push(entry);
        continue;
      }
      const words = apacheWords(text);
      const written = words[0] ?? '';
      const name = CANONICAL.get(written.toLowerCase()) ?? written;
      const d: Directive = { name, written, args: words.slice(1), at };
      if (!CANONICAL.has(written.toLowerCase())) {
        this.notCarried(written, at, unrelated);
        continue;
      }
      if (d.args.some((a) => a.includes('${'))) this.warn(at, `${written}: \${VARIABLE} is not expanded; the value is copied as written`);
      const vhost = [...stack].reverse().find((s) => s.vhost)?.vhost;
      const containers = stack.filter((s) => PER_DIR.has(s.kind)).map((s): Container => ({ kind: s.kind, arg: s.arg, at: s.at }));
      (vhost ? vhost.items : this.server).push({ d, containers });
    }
    for (const s of stack) this.warn(s.at, `<${s.kind}> is not closed by the end of ${file.path}`);
    for (const [name, lines] of unrelated) {
      const more = lines.length > 1 ? ` (also line${lines.length > 2 ? 's' : ''} ${lines.slice(1).join(', ')})` : '';
      this.warn(`${file.path}:${lines[0] ?? 0}`, `${name}${more}: not about FastCGI; not carried over`);
    }
  }

  /**
   * A directive import-apache does not translate. Nothing is dropped in silence: a misspelled
   * Fcgid directive (Apache itself refuses to start on it) gets a did-you-mean, one that
   * matters to a FastCGI app says what to do instead, and the rest are listed as not carried
   * over, once per name with every line (`unrelated`).
   */
  private notCarried(written: string, at: string, unrelated: Map<string, number[]>): void {
    const canonical = Object.keys(NOT_CARRIED).find((n) => n.toLowerCase() === written.toLowerCase());
    if (canonical !== undefined) {
      this.warn(at, `${written}: ${NOT_CARRIED[canonical] ?? ''}`);
      return;
    }
    const guess = nearest(written, ALL_NAMES);
    if (/^fcgi/i.test(written)) {
      this.warn(at, `${written} is not a mod_fcgid directive (Apache refuses to start on it${guess !== undefined ? `; did you mean ${guess}?` : ''}); skipped`);
      return;
    }
    if (guess !== undefined) {
      this.warn(at, `${written} is not a directive import-apache knows (did you mean ${guess}?); skipped`);
      return;
    }
    const line = Number(at.slice(at.lastIndexOf(':') + 1));
    const lines = unrelated.get(written) ?? [];
    lines.push(line);
    unrelated.set(written, lines);
  }
}
