/**
 * The YAML configuration file to a Config (types.ts). Every mistake is collected — YAML
 * syntax, unknown keys, bad values, missing or non-executable commands, duplicates — and
 * reported at once in one ConfigError, each problem with its file, line, column and dotted
 * key, so an operator fixes the whole file in one pass (`fcgipm check-config`). The allowed
 * keys, their types and their defaults come from schema.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Document, isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode, type Pair, type YAMLMap } from 'yaml';
import { ConfigError, type ConfigProblem } from '../errors';
import { mergePoolSettings } from './merge';
import { poolSettingProblems } from './pool-checks';
import { editDistance } from './edit-distance';
import { keysOf, SCHEMA, type KeySpec, type Section } from './schema';
import { parseListen } from './listen';
import type { AppRoute, AuthApp, AuthRule, Config, ListenTarget, PoolSettings, SiteConfig, SymlinkPolicy, Wrapper } from './types';
import { parseDuration, parseSize, showValue, splitCommandLine, type UnitResult } from './units';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** One key of a mapping as written, with the schema entry that allows it. */
interface Entry {
  readonly spec: KeySpec;
  readonly keyNode: YamlNode | undefined;
  /** The value; a created node (no position) when it is the schema default. */
  readonly node: YamlNode;
  /** Dotted path for messages: "sites[0].wrappers[1].command". */
  readonly path: string;
}

type Entries = ReadonlyMap<string, Entry>;

/** A process class found while reading, checked once every layer is known. */
interface ClassRef {
  readonly node: YamlNode;
  readonly path: string;
  readonly site: number;
  readonly command: string | undefined;
  readonly own: PoolSettings;
}

interface Seen {
  readonly path: string;
  readonly line: number;
}

const SECTION_NAMES: Readonly<Record<Section, string>> = {
  top: 'at the top level',
  listen: 'under listen',
  site: 'in a site',
  wrapper: 'in a wrapper',
  app: 'in an app',
  auth: 'in an auth rule',
  authApp: 'in an authenticator, authorizer or access checker',
  pool: 'in pool settings',
  rlimits: 'under rlimits',
};

/** Longest Unix socket path: sun_path is 108 bytes with the terminating NUL. */

/** RFC 9110 token: what a header name may be made of. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Reads a configuration from YAML text; `file` names it in messages and anchors relative paths. */
export function parseConfig(text: string, file: string): Config {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const loader = new Loader(text, file, lines, doc);
  for (const err of doc.errors) loader.problemAt(err.pos[0], '', yamlMessage(text, err.code, err.message, err.pos));
  // After a syntax error the tree is a guess; its other complaints would only mislead.
  if (loader.problems.length > 0) throw new ConfigError(loader.problems);
  const config = loader.config(doc.contents);
  if (loader.problems.length > 0) throw new ConfigError(sortProblems(loader.problems));
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

const squash = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');

/**
 * The key an operator probably meant: the same word in another spelling (max_processes,
 * MaxProcesses), the mod_fcgid directive or php-fpm setting it replaces (FcgidIdleTimeout,
 * pm.max_children), or a near miss by edit distance (maxProcess).
 */
export function suggestKey(word: string, candidates: readonly KeySpec[]): string | undefined {
  const w = squash(word);
  if (w === '') return undefined;
  const exact = candidates.find((c) => squash(c.key) === w);
  if (exact) return exact.key;
  for (const c of candidates) {
    for (const name of `${c.modFcgid},${c.phpFpm}`.split(/[,/]/)) {
      const n = squash(name.replace(/\(.*\)|….*$|".*"/g, '').trim());
      if (n !== '' && (n === w || n === `fcgid${w}` || `fcgid${n}` === w)) return c.key;
    }
  }
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, squash(c.key));
    if (d < bestDistance) {
      bestDistance = d;
      best = c.key;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(w.length / 3)) ? best : undefined;
}

function unknownKeyMessage(key: string, section: Section, allowed: readonly KeySpec[]): string {
  const guess = suggestKey(key, allowed);
  if (guess !== undefined) return `unknown key ${JSON.stringify(key)} (did you mean ${guess}?)`;
  const elsewhere = SCHEMA.find((s) => s.key === key);
  if (elsewhere) return `key ${JSON.stringify(key)} is not allowed ${SECTION_NAMES[section]} (it goes ${SECTION_NAMES[elsewhere.section]})`;
  return `unknown key ${JSON.stringify(key)}`;
}

/** Canonical host: lower case, no trailing dot (the router compares them so). */
function hostProblem(host: string): string | undefined {
  if (host === '*') return undefined;
  if (host === '' || /[\s/]/.test(host)) return `expected a host name such as example.com or "*.example.org", got ${showValue(host)}`;
  if (/^\[[0-9a-f:.]+\]$/i.test(host)) return undefined;
  if (host.includes(':')) return `give the host name without a port, got ${showValue(host)} (fcgipm matches the Host header without its port)`;
  if (host.indexOf('*') > 0 || (host.startsWith('*') && !host.startsWith('*.')) || host.slice(1).includes('*')) {
    return `a wildcard is "*" or "*.domain" only, got ${showValue(host)}`;
  }
  return undefined;
}

class Loader {
  readonly problems: ConfigProblem[] = [];
  private readonly dir: string;
  private readonly classes: ClassRef[] = [];

  constructor(
    private readonly text: string,
    private readonly file: string,
    private readonly lines: LineCounter,
    private readonly doc: Document.Parsed,
  ) {
    this.dir = path.dirname(path.resolve(file));
  }

  // ---- positions and problems ------------------------------------------------------------

  private where(node: YamlNode | null | undefined): { line: number; column: number } {
    const range = node?.range;
    if (!range) return { line: 0, column: 0 };
    const p = this.lines.linePos(range[0]);
    return { line: p.line, column: p.col };
  }

  problemAt(offset: number, key: string, message: string): void {
    const p = this.lines.linePos(offset);
    this.problems.push({ file: this.file, line: p.line, column: p.col, key, message });
  }

  private problem(node: YamlNode | null | undefined, key: string, message: string): void {
    this.problems.push({ file: this.file, ...this.where(node), key, message });
  }

  private origin(node: YamlNode): string {
    return `${this.file}:${this.where(node).line}`;
  }

  private describe(node: YamlNode | null): string {
    if (node === null) return 'nothing';
    if (isMap(node)) return 'a mapping';
    if (isSeq(node)) return 'a list';
    return isScalar(node) ? showValue(node.value) : 'something else';
  }

  // ---- tree access -----------------------------------------------------------------------

  /** Follows a YAML alias (*name) to the node it names. */
  private deref(node: unknown): YamlNode | null {
    if (isAlias(node)) return node.resolve(this.doc) ?? null;
    return isMap(node) || isSeq(node) || isScalar(node) ? node : null;
  }

  private isEmpty(node: YamlNode | null): boolean {
    return node === null || (isScalar(node) && node.value === null);
  }

  /**
   * A mapping's pairs, "<<: *anchor" merge keys expanded first so that the mapping's own
   * keys override them (YAML 1.1 merge keys, common for sharing settings between sites).
   */
  private pairsOf(map: YAMLMap, depth = 0): Pair[] {
    const merged: Pair[] = [];
    const own: Pair[] = [];
    for (const pair of map.items) {
      if (isScalar(pair.key) && pair.key.value === '<<' && depth < 10) {
        const value = this.deref(pair.value);
        const sources = isSeq(value) ? value.items.map((i) => this.deref(i)) : [value];
        for (const source of sources) {
          if (isMap(source)) merged.push(...this.pairsOf(source, depth + 1));
          else this.problem(source ?? pair.key, '<<', 'a merge key (<<) takes an anchored mapping (*name) or a list of them');
        }
      } else {
        own.push(pair);
      }
    }
    return [...merged, ...own];
  }

  /** A mapping checked against the keys its section allows. Undefined when it is not a mapping. */
  private readMap(node: YamlNode | null, keyPath: string, section: Section, what: string): Map<string, Entry> | undefined {
    if (!this.isEmpty(node) && !isMap(node)) {
      this.problem(node, keyPath, `expected ${what} (a mapping of keys), got ${this.describe(node)}`);
      return undefined;
    }
    const allowed = keysOf(section);
    const out = new Map<string, Entry>();
    const valueless = new Map<string, YamlNode>();
    for (const pair of isMap(node) ? this.pairsOf(node) : []) {
      const keyNode = this.deref(pair.key);
      const key: unknown = keyNode && isScalar(keyNode) ? keyNode.value : undefined;
      if (!keyNode || typeof key !== 'string') {
        this.problem(keyNode ?? node, keyPath, `expected a key name, got ${this.describe(keyNode)}`);
        continue;
      }
      // "x-…" keys at the top are the operator's own, e.g. to hold YAML anchors (docker-compose's habit).
      if (section === 'top' && key.startsWith('x-')) continue;
      const p = keyPath === '' ? key : `${keyPath}.${key}`;
      const spec = allowed.find((s) => s.key === key);
      if (!spec) {
        this.problem(keyNode, p, unknownKeyMessage(key, section, allowed));
        continue;
      }
      const value = this.deref(pair.value);
      // "key:" with nothing after it leaves the key unset, as if it were not written.
      if (this.isEmpty(value) && spec.type !== 'env') {
        out.delete(key);
        valueless.set(key, keyNode);
        continue;
      }
      out.set(key, { spec, keyNode, node: value ?? this.doc.createNode(null), path: p });
    }
    for (const spec of allowed) {
      if (!spec.required || out.has(spec.key)) continue;
      const p = keyPath === '' ? spec.key : `${keyPath}.${spec.key}`;
      const empty = valueless.get(spec.key);
      if (empty) this.problem(empty, p, `${spec.key} has no value`);
      else this.problem(node, p, `missing required key ${JSON.stringify(spec.key)}`);
    }
    return out;
  }

  /** The entry for a key, or one holding the schema default; undefined when neither. */
  private entry(entries: Entries, section: Section, key: string, keyPath: string): Entry | undefined {
    const given = entries.get(key);
    if (given) return given;
    const spec = SCHEMA.find((s) => s.section === section && s.key === key);
    if (!spec) throw new Error(`schema has no ${section}.${key}`);
    if (spec.default === undefined) return undefined;
    return { spec, keyNode: undefined, node: this.doc.createNode(spec.default), path: keyPath === '' ? key : `${keyPath}.${key}` };
  }

  private scalar(e: Entry, what: string): unknown {
    if (!isScalar(e.node)) {
      this.problem(e.node, e.path, `expected ${what}, got ${this.describe(e.node)}`);
      return undefined;
    }
    return e.node.value;
  }

  private checked<T>(e: Entry, result: UnitResult<T>): T | undefined {
    if (result.ok) return result.value;
    this.problem(e.node, e.path, result.error);
    return undefined;
  }

  /** The items of a list; a single scalar counts as a list of one (hosts: example.com). */
  private items(e: Entry, what: string): Array<{ node: YamlNode; path: string }> {
    if (isSeq(e.node)) {
      return e.node.items.map((item, i) => ({ node: this.deref(item) ?? e.node, path: `${e.path}[${i}]` }));
    }
    if (isScalar(e.node)) return [{ node: e.node, path: e.path }];
    this.problem(e.node, e.path, `expected ${what}, got ${this.describe(e.node)}`);
    return [];
  }

  // ---- scalar types ----------------------------------------------------------------------

  private string(e: Entry): string | undefined {
    const v = this.scalar(e, 'a string');
    if (typeof v === 'string') return v;
    if (typeof v === 'number') return String(v);
    if (v !== undefined) this.problem(e.node, e.path, `expected a string, got ${showValue(v)}`);
    return undefined;
  }

  private filePath(e: Entry): string | undefined {
    const v = this.string(e);
    if (v === undefined) return undefined;
    if (v === '') {
      this.problem(e.node, e.path, 'expected a path, got an empty string');
      return undefined;
    }
    return path.resolve(this.dir, v);
  }

  /**
   * A program to run: it must exist and be executable now, so that a typo is found by
   * check-config rather than by the first request (mod_fcgid stats its wrappers at start too).
   */
  private command(e: Entry): string | undefined {
    const v = this.string(e);
    if (v === undefined) return undefined;
    if (v.trim() === '') {
      this.problem(e.node, e.path, 'expected the path of a program, got an empty string');
      return undefined;
    }
    const full = path.resolve(this.dir, v);
    const problem = commandProblem(v, full);
    if (problem !== undefined) this.problem(e.node, e.path, problem);
    return full;
  }

  private integer(e: Entry): number | undefined {
    const v = this.scalar(e, 'a whole number');
    if (v === undefined) return undefined;
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
    const { min, max } = e.spec;
    const range = min !== undefined && max !== undefined ? ` from ${min} to ${max}` : min !== undefined ? ` >= ${min}` : '';
    if (!Number.isSafeInteger(n) || (min !== undefined && n < min) || (max !== undefined && n > max)) {
      this.problem(e.node, e.path, `expected a whole number${range}, got ${showValue(v)}`);
      return undefined;
    }
    return n;
  }

  private boolean(e: Entry): boolean | undefined {
    const v = this.scalar(e, 'true or false');
    if (typeof v === 'boolean') return v;
    // YAML 1.2 reads on/off/yes/no as strings; Apache users write them for flags.
    if (typeof v === 'string') {
      const w = v.trim().toLowerCase();
      if (w === 'true' || w === 'on' || w === 'yes') return true;
      if (w === 'false' || w === 'off' || w === 'no') return false;
    }
    if (v !== undefined) this.problem(e.node, e.path, `expected true or false, got ${showValue(v)}`);
    return undefined;
  }

  private enumValue(e: Entry): string | undefined {
    const v = this.scalar(e, 'a word');
    if (v === undefined) return undefined;
    const values = e.spec.values ?? [];
    if (typeof v === 'string' && values.includes(v)) return v;
    const guess = typeof v === 'string' ? values.find((w) => editDistance(w, v.toLowerCase()) <= 2) : undefined;
    this.problem(e.node, e.path, `expected one of ${values.join(', ')}, got ${showValue(v)}${guess ? ` (did you mean ${guess}?)` : ''}`);
    return undefined;
  }

  private duration(e: Entry): number | undefined {
    const v = this.scalar(e, 'a duration');
    return v === undefined ? undefined : this.checked(e, parseDuration(v, { zeroOff: e.spec.zeroOff ?? false }));
  }

  private size(e: Entry): number | undefined {
    const v = this.scalar(e, 'a size');
    return v === undefined ? undefined : this.checked(e, parseSize(v));
  }

  /** A file path (relative to the config file), "-" for stdout, or "off" (false too): undefined. */
  private accessLog(e: Entry): string | undefined {
    const v = this.scalar(e, 'a file path, "-" or "off"');
    if (v === false || v === 'off') return undefined;
    if (v === '-') return '-';
    if (typeof v === 'string' && v.trim() !== '' && !v.includes('\0')) return path.resolve(this.dir, v);
    if (v !== undefined) this.problem(e.node, e.path, `expected a file path, "-" (stdout) or "off", got ${showValue(v)}`);
    return undefined;
  }

  private listen(e: Entry): ListenTarget | undefined {
    const v = this.scalar(e, 'HOST:PORT, unix:/path or "off"');
    return v === undefined ? undefined : this.checked(e, parseListen(v, this.dir));
  }

  /**
   * A umask is octal whatever the notation: "027", 027 and 27 all mean 0o027. YAML 1.2 reads
   * a plain 027 as decimal 27, so the digits are taken from the source text.
   */
  private umask(e: Entry): number | undefined {
    const what = e.spec.key === 'fastcgiMode' ? 'an octal file mode such as "0660"' : 'an octal umask such as "027"';
    const v = this.scalar(e, what);
    if (v === undefined) return undefined;
    const range = e.node.range;
    const source = typeof v === 'number' && range ? this.text.slice(range[0], range[1]).trim() : typeof v === 'string' ? v : showValue(v);
    const mask = /^0?o?[0-7]{1,4}$/i.test(source) ? parseInt(source.replace(/^0?o/i, ''), 8) : NaN;
    if (!(mask >= 0 && mask <= 0o777)) {
      this.problem(e.node, e.path, `expected ${what}, got ${typeof v === 'number' ? source : showValue(v)}`);
      return undefined;
    }
    return mask;
  }

  private slots(e: Entry): number | 'auto' | undefined {
    const v = this.scalar(e, 'a number of slots or "auto"');
    if (v === 'auto') return 'auto';
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 1) return v;
    if (v !== undefined) this.problem(e.node, e.path, `expected a whole number >= 1 or "auto", got ${showValue(v)}`);
    return undefined;
  }

  private rlimit(e: Entry): number | 'unlimited' | undefined {
    const v = this.scalar(e, 'a number or "unlimited"');
    if (v === undefined) return undefined;
    if (v === 'unlimited' || v === 'infinity') return 'unlimited';
    const size = parseSize(v);
    if (size.ok) return size.value;
    this.problem(e.node, e.path, `expected a whole number >= 0 or "unlimited", got ${showValue(v)}`);
    return undefined;
  }

  /** A list of words, or one string split like a shell would ("-d display_errors=0 -c /etc/php.ini"). */
  private args(e: Entry): string[] | undefined {
    if (isScalar(e.node) && typeof e.node.value === 'string') return this.checked(e, splitCommandLine(e.node.value));
    if (!isSeq(e.node)) {
      this.problem(e.node, e.path, `expected a list of arguments or one string, got ${this.describe(e.node)}`);
      return undefined;
    }
    const out: string[] = [];
    e.node.items.forEach((item, i) => {
      const node = this.deref(item);
      const v: unknown = node && isScalar(node) ? node.value : undefined;
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out.push(String(v));
      else this.problem(node ?? e.node, `${e.path}[${i}]`, `expected an argument (a string), got ${this.describe(node)}`);
    });
    return out;
  }

  /** name → value; numbers and booleans become their text, a name without value "" (FcgidInitialEnv name). */
  private env(e: Entry): Record<string, string> | undefined {
    if (this.isEmpty(e.node)) return {};
    if (!isMap(e.node)) {
      this.problem(e.node, e.path, `expected a mapping of NAME: value, got ${this.describe(e.node)}`);
      return undefined;
    }
    // Null prototype: a variable named __proto__ stays an ordinary entry.
    const out = Object.create(null) as Record<string, string>;
    for (const pair of this.pairsOf(e.node)) {
      const keyNode = this.deref(pair.key);
      const name: unknown = keyNode && isScalar(keyNode) ? keyNode.value : undefined;
      if (typeof name !== 'string' || name === '' || name.includes('=') || name.includes('\0')) {
        this.problem(keyNode ?? e.node, e.path, `expected an environment variable name, got ${this.describe(keyNode)}`);
        continue;
      }
      const valueNode = this.deref(pair.value);
      const v: unknown = valueNode && isScalar(valueNode) ? valueNode.value : valueNode === null ? null : undefined;
      if (v === null) out[name] = '';
      else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[name] = String(v);
      else this.problem(valueNode ?? e.node, `${e.path}.${name}`, `expected a value (a string), got ${this.describe(valueNode)}`);
    }
    return { ...out };
  }

  private stringList(e: Entry, what: string, check: (s: string) => string | undefined): Array<{ value: string; node: YamlNode; path: string }> {
    const out: Array<{ value: string; node: YamlNode; path: string }> = [];
    for (const item of this.items(e, what)) {
      const v: unknown = isScalar(item.node) ? item.node.value : undefined;
      if (typeof v !== 'string' || v === '') {
        this.problem(item.node, item.path, `expected ${what}, got ${this.describe(item.node)}`);
        continue;
      }
      const problem = check(v);
      if (problem !== undefined) this.problem(item.node, item.path, problem);
      else out.push({ value: v, node: item.node, path: item.path });
    }
    return out;
  }

  // ---- sections --------------------------------------------------------------------------

  config(root: unknown): Config {
    const rootNode = this.deref(root);
    const top = this.readMap(rootNode, '', 'top', 'the configuration') ?? new Map<string, Entry>();

    const ipcDir = this.filePath(this.need(top, 'top', 'ipcDir', ''));
    const maxProcesses = this.integer(this.need(top, 'top', 'maxProcesses', ''));
    const drainTimeoutMs = this.duration(this.need(top, 'top', 'drainTimeout', ''));
    const logLevel = this.enumValue(this.need(top, 'top', 'logLevel', ''));
    const logFileEntry = this.entry(top, 'top', 'logFile', '');
    const logFile = logFileEntry && this.filePath(logFileEntry);
    const pidFileEntry = this.entry(top, 'top', 'pidFile', '');
    const pidFile = pidFileEntry && this.filePath(pidFileEntry);
    const accessLog = this.accessLog(this.need(top, 'top', 'accessLog', ''));
    const accessLogFormat = this.enumValue(this.need(top, 'top', 'accessLogFormat', '')) as Config['accessLogFormat'];

    const listenEntry = top.get('listen');
    const listenMap = (listenEntry ? this.readMap(listenEntry.node, 'listen', 'listen', 'the listen addresses') : undefined) ?? new Map<string, Entry>();
    const listen = {
      http: this.listen(this.need(listenMap, 'listen', 'http', 'listen')),
      fastcgi: this.listen(this.need(listenMap, 'listen', 'fastcgi', 'listen')),
      admin: this.listen(this.need(listenMap, 'listen', 'admin', 'listen')),
      reusePort: this.boolean(this.need(listenMap, 'listen', 'reusePort', 'listen')) ?? false,
      fastcgiMode: this.umask(this.need(listenMap, 'listen', 'fastcgiMode', 'listen')) ?? 0o660,
      ...this.socketOwner(listenMap),
    };
    // What serve cannot listen on is refused here, so that check-config refuses it too.
    if (listen.http?.kind === 'unix') this.problem(listenMap.get('http')?.node, 'listen.http', 'the HTTP listener takes HOST:PORT, not a Unix socket (a Unix socket is for listen.fastcgi)');
    if (listen.admin?.kind === 'unix') this.problem(listenMap.get('admin')?.node, 'listen.admin', 'the status listener takes HOST:PORT, not a Unix socket');

    const defaultsEntry = top.get('defaults');
    const defaults = defaultsEntry ? this.poolBlock(defaultsEntry.node, 'defaults') : {};
    const commandsEntry = top.get('commands');
    const commands = commandsEntry ? this.commands(commandsEntry) : {};
    const sitesEntry = top.get('sites');
    const sites = sitesEntry ? this.sites(sitesEntry) : [];

    const config: Config = {
      source: this.file,
      ipcDir: ipcDir ?? '',
      maxProcesses: maxProcesses ?? 0,
      listen,
      defaults,
      commands,
      sites,
      drainTimeoutMs: drainTimeoutMs ?? 0,
      logLevel: logLevel ?? '',
      ...(logFile !== undefined ? { logFile } : {}),
      ...(pidFile !== undefined ? { pidFile } : {}),
      accessLog,
      accessLogFormat: accessLogFormat ?? 'combined',
    };
    this.checkClasses(config);
    return config;
  }

  /** listen.fastcgiOwner and listen.fastcgiGroup, when written; names are resolved at start. */
  private socketOwner(listenMap: Entries): { fastcgiOwner?: string; fastcgiGroup?: string } {
    const owner = this.entry(listenMap, 'listen', 'fastcgiOwner', 'listen');
    const group = this.entry(listenMap, 'listen', 'fastcgiGroup', 'listen');
    const fastcgiOwner = owner && this.string(owner);
    const fastcgiGroup = group && this.string(group);
    return { ...(fastcgiOwner ? { fastcgiOwner } : {}), ...(fastcgiGroup ? { fastcgiGroup } : {}) };
  }

  /** The entry or its default; for keys that always have a schema default. */
  private need(entries: Entries, section: Section, key: string, keyPath: string): Entry {
    const e = this.entry(entries, section, key, keyPath);
    if (!e) throw new Error(`schema gives ${section}.${key} no default`);
    return e;
  }

  /** A mapping of pool settings only (defaults, commands entries). */
  private poolBlock(node: YamlNode, keyPath: string): PoolSettings {
    const entries = this.readMap(node, keyPath, 'pool', 'process settings');
    return entries ? this.pool(entries) : {};
  }

  /** The pool settings among a mapping's entries (site, wrapper, app, auth app, defaults). */
  private pool(entries: Entries): PoolSettings {
    const out: Record<string, unknown> = {};
    let envFrom: Entry | undefined;
    for (const e of entries.values()) {
      const isEnv = e.spec.type === 'env';
      if (e.spec.section !== 'pool' && !isEnv) continue;
      const field = e.spec.field ?? e.spec.key;
      if (isEnv) {
        if (envFrom) {
          this.problem(e.keyNode ?? e.node, e.path, `env and initialEnv are the same setting (FcgidInitialEnv); give one of them (the other is at line ${this.where(envFrom.keyNode).line})`);
          continue;
        }
        envFrom = e;
      }
      const value = this.poolValue(e);
      if (value !== undefined) out[field] = value;
    }
    // Each field was converted by the type its schema entry names, which matches PoolSettings
    // (test/config/load.test.ts checks every key of the full example).
    return out;
  }

  private poolValue(e: Entry): unknown {
    switch (e.spec.type) {
      case 'enum':
        return this.enumValue(e);
      case 'integer':
        return this.integer(e);
      case 'duration':
        return this.duration(e);
      case 'string':
        return this.string(e);
      case 'boolean':
        return this.boolean(e);
      case 'umask':
        return this.umask(e);
      case 'slots':
        return this.slots(e);
      case 'env':
        return this.env(e);
      case 'rlimits': {
        const entries = this.readMap(e.node, e.path, 'rlimits', 'resource limits');
        if (!entries) return undefined;
        const limits: Record<string, number | 'unlimited'> = {};
        for (const r of entries.values()) {
          const v = this.rlimit(r);
          if (v !== undefined) limits[r.spec.key] = v;
        }
        return limits;
      }
      default:
        throw new Error(`no reader for pool key type ${e.spec.type}`);
    }
  }

  /** FcgidCmdOptions: exact command path → settings. Paths are resolved so lookups by command match. */
  private commands(e: Entry): Record<string, PoolSettings> {
    const out: Record<string, PoolSettings> = {};
    if (!isMap(e.node)) {
      this.problem(e.node, 'commands', `expected a mapping of command path → settings, got ${this.describe(e.node)}`);
      return out;
    }
    const seen = new Map<string, Seen>();
    for (const pair of this.pairsOf(e.node)) {
      const keyNode = this.deref(pair.key);
      const key: unknown = keyNode && isScalar(keyNode) ? keyNode.value : undefined;
      if (typeof key !== 'string' || key.trim() === '') {
        this.problem(keyNode ?? e.node, 'commands', `expected a command path as the key, got ${this.describe(keyNode)}`);
        continue;
      }
      const p = `commands[${JSON.stringify(key)}]`;
      const full = path.resolve(this.dir, key);
      const problem = commandProblem(key, full);
      if (problem !== undefined) this.problem(keyNode, p, problem);
      const before = seen.get(full);
      const line = this.where(keyNode).line;
      if (before) this.problem(keyNode, p, `command ${full} is also configured at ${before.path} (line ${before.line}); give it once`);
      else seen.set(full, { path: p, line });
      const value = this.deref(pair.value);
      out[full] = value === null ? {} : this.poolBlock(value, p);
    }
    return out;
  }

  private sites(e: Entry): SiteConfig[] {
    if (!isSeq(e.node)) {
      this.problem(e.node, 'sites', `expected a list of sites (each starting with "- "), got ${this.describe(e.node)}`);
      return [];
    }
    if (e.node.items.length === 0) this.problem(e.node, 'sites', 'no sites: fcgipm would answer every request with 404; give at least one');
    const out: SiteConfig[] = [];
    const hosts = new Map<string, Seen>();
    e.node.items.forEach((item, i) => {
      const site = this.site(this.deref(item), `sites[${i}]`, i, hosts);
      if (site) out.push(site);
    });
    return out;
  }

  private site(node: YamlNode | null, p: string, index: number, allHosts: Map<string, Seen>): SiteConfig | undefined {
    const e = this.readMap(node, p, 'site', 'a site');
    if (!e || !node) return undefined;
    const hostsEntry = this.need(e, 'site', 'hosts', p);
    const hosts: string[] = [];
    for (const h of this.stringList(hostsEntry, 'a host name', (s) => hostProblem(s.toLowerCase().replace(/\.$/, '')))) {
      const host = h.value.toLowerCase().replace(/\.$/, '');
      const at = hostsEntry.keyNode ? h.node : node;
      const line = this.where(at).line;
      const before = allHosts.get(host);
      if (before) {
        const other = `${before.path} (line ${before.line})`;
        const message =
          host === '*'
            ? `this site answers every host ("*"${hostsEntry.keyNode ? '' : ', the default when hosts is not given'}), and so does ${other}; only one site may`
            : `host ${JSON.stringify(host)} is also served by ${other}; a host belongs to one site`;
        this.problem(at, hostsEntry.keyNode ? h.path : hostsEntry.path, message);
      } else {
        allHosts.set(host, { path: p, line });
      }
      if (!hosts.includes(host)) hosts.push(host);
    }

    const documentRoot = e.has('documentRoot') ? this.filePath(this.need(e, 'site', 'documentRoot', p)) : undefined;
    const directoryIndex = this.stringList(this.need(e, 'site', 'directoryIndex', p), 'a file name', (s) =>
      s.includes('/') ? `expected a file name such as index.php (no "/"), got ${showValue(s)}` : undefined,
    ).map((x) => x.value);
    const handlers = this.stringList(this.need(e, 'site', 'handlers', p), 'a suffix such as .fcgi', (s) => suffixProblem(s, true)).map((x) => x.value);
    const passHeaders = this.stringList(this.need(e, 'site', 'passHeaders', p), 'a header name', (s) =>
      HEADER_NAME.test(s) ? undefined : `expected a header name such as Authorization, got ${showValue(s)}`,
    ).map((x) => x.value);
    const maxRequestBodyBytes = this.size(this.need(e, 'site', 'maxRequestBody', p));
    const serveStatic = this.boolean(this.need(e, 'site', 'static', p)) ?? true;
    const followSymlinks = (this.enumValue(this.need(e, 'site', 'followSymlinks', p)) ?? 'owner-match') as SymlinkPolicy;
    const scriptRoots = this.stringList(this.need(e, 'site', 'scriptRoots', p), 'a directory', (s) => (s === '' ? 'expected a directory, got an empty string' : undefined)).map((x) =>
      path.resolve(this.dir, x.value),
    );
    const pool = this.pool(e);

    const wrappers = this.list(this.need(e, 'site', 'wrappers', p), 'a list of wrappers', (n, wp) => this.wrapper(n, wp, index));
    const apps = this.list(this.need(e, 'site', 'apps', p), 'a list of apps', (n, ap) => this.app(n, ap, index));
    const auth = this.list(this.need(e, 'site', 'auth', p), 'a list of auth rules', (n, ap) => this.authRule(n, ap, index));
    this.duplicates(wrappers, 'wrapper suffix', (w) => JSON.stringify(w.value.suffix), 'mod_fcgid lets the last FcgidWrapper win; keep one');
    this.duplicates(apps, 'app prefix', (a) => JSON.stringify(a.value.prefix), 'keep one');
    this.duplicates(auth, 'auth prefix', (a) => JSON.stringify(a.value.prefix), 'put the roles in one rule');
    if (handlers.length > 0 || documentRoot !== undefined) {
      this.classes.push({ node, path: p, site: index, command: undefined, own: {} });
    }

    return {
      hosts,
      documentRoot,
      handlers: [...new Set(handlers)],
      wrappers: wrappers.map((w) => w.value),
      directoryIndex,
      static: serveStatic,
      followSymlinks,
      scriptRoots,
      apps: apps.map((a) => a.value),
      auth: auth.map((a) => a.value),
      passHeaders,
      maxRequestBodyBytes: maxRequestBodyBytes ?? 0,
      pool,
      origin: this.origin(node),
    };
  }

  private list<T>(e: Entry, what: string, read: (node: YamlNode | null, p: string) => T | undefined): Array<{ value: T; node: YamlNode; path: string }> {
    if (!isSeq(e.node)) {
      this.problem(e.node, e.path, `expected ${what} (each item starting with "- "), got ${this.describe(e.node)}`);
      return [];
    }
    const out: Array<{ value: T; node: YamlNode; path: string }> = [];
    e.node.items.forEach((item, i) => {
      const node = this.deref(item);
      const p = `${e.path}[${i}]`;
      const value = read(node, p);
      if (value !== undefined && node) out.push({ value, node, path: p });
    });
    return out;
  }

  /** Reports the second and later items with the same key, naming both lines. */
  private duplicates<T>(items: ReadonlyArray<{ value: T; node: YamlNode; path: string }>, what: string, keyOf: (item: { value: T }) => string, advice: string): void {
    const seen = new Map<string, { node: YamlNode; path: string }>();
    for (const item of items) {
      const k = keyOf(item);
      const before = seen.get(k);
      if (!before) {
        seen.set(k, item);
        continue;
      }
      this.problem(
        item.node,
        item.path,
        `duplicate ${what} ${k}: ${before.path} (line ${this.where(before.node).line}) and ${item.path} (line ${this.where(item.node).line}); ${advice}`,
      );
    }
  }

  private wrapper(node: YamlNode | null, p: string, site: number): Wrapper | undefined {
    const e = this.readMap(node, p, 'wrapper', 'a wrapper');
    if (!e || !node) return undefined;
    const suffixEntry = this.need(e, 'wrapper', 'suffix', p);
    let suffix = this.string(suffixEntry);
    const bad = suffix === undefined || suffix === '' ? undefined : suffixProblem(suffix, false);
    if (bad !== undefined) {
      this.problem(suffixEntry.node, suffixEntry.path, bad);
      suffix = undefined;
    }
    const commandEntry = e.get('command');
    const command = commandEntry ? this.command(commandEntry) : undefined;
    const args = this.args(this.need(e, 'wrapper', 'args', p));
    const virtual = this.boolean(this.need(e, 'wrapper', 'virtual', p));
    const pool = this.pool(e);
    this.classes.push({ node, path: p, site, command, own: pool });
    if (suffix === undefined || command === undefined || args === undefined || virtual === undefined) return undefined;
    return { ...pool, suffix, command, args, virtual, origin: this.origin(node) };
  }

  private prefix(e: Entry | undefined): string | undefined {
    if (!e) return undefined;
    const v = this.string(e);
    if (v === undefined) return undefined;
    if (!v.startsWith('/') || /[?#\s]/.test(v) || v.split('/').some((s) => s === '.' || s === '..')) {
      this.problem(e.node, e.path, `expected a URL path starting with "/" such as /app, got ${showValue(v)}`);
      return undefined;
    }
    // "/app/" and "/app" are the same prefix: it is matched on whole segments.
    return v.length > 1 ? v.replace(/\/+$/, '') || '/' : v;
  }

  private app(node: YamlNode | null, p: string, site: number): AppRoute | undefined {
    const e = this.readMap(node, p, 'app', 'an app');
    if (!e || !node) return undefined;
    const prefix = this.prefix(e.get('prefix'));
    const commandEntry = e.get('command');
    const command = commandEntry ? this.command(commandEntry) : undefined;
    const args = this.args(this.need(e, 'app', 'args', p));
    const scriptEntry = e.get('script');
    const script = scriptEntry ? this.filePath(scriptEntry) : undefined;
    const handoff = this.boolean(this.need(e, 'app', 'handoff', p));
    const roots = this.stringList(this.need(e, 'app', 'roots', p), 'a directory', (s) => (s === '' ? 'expected a directory, got an empty string' : undefined)).map((x) =>
      path.resolve(this.dir, x.value),
    );
    const pool = this.pool(e);
    this.classes.push({ node, path: p, site, command, own: pool });
    if (prefix === undefined || command === undefined || args === undefined || handoff === undefined) return undefined;
    return { ...pool, prefix, command, args, ...(script !== undefined ? { script } : {}), ...(roots.length > 0 ? { roots } : {}), handoff, origin: this.origin(node) };
  }

  private authRule(node: YamlNode | null, p: string, site: number): AuthRule | undefined {
    const e = this.readMap(node, p, 'auth', 'an auth rule');
    if (!e || !node) return undefined;
    const prefix = this.prefix(e.get('prefix'));
    const rule: Mutable<AuthRule> = { prefix: prefix ?? '', origin: this.origin(node) };
    let complete = prefix !== undefined;
    for (const role of ['authenticator', 'authorizer', 'accessChecker'] as const) {
      const r = e.get(role);
      if (!r) continue;
      const authApp = this.authApp(r.node, r.path, site);
      if (authApp) rule[role] = authApp;
      else complete = false;
    }
    if (!e.has('authenticator') && !e.has('authorizer') && !e.has('accessChecker')) {
      this.problem(node, p, 'an auth rule needs an authenticator, an authorizer or an accessChecker');
      complete = false;
    }
    return complete ? rule : undefined;
  }

  private authApp(node: YamlNode, p: string, site: number): AuthApp | undefined {
    const e = this.readMap(node, p, 'authApp', 'an authorizer app');
    if (!e) return undefined;
    const commandEntry = e.get('command');
    const command = commandEntry ? this.command(commandEntry) : undefined;
    const args = this.args(this.need(e, 'authApp', 'args', p));
    const pool = this.pool(e);
    this.classes.push({ node, path: p, site, command, own: pool });
    if (command === undefined || args === undefined) return undefined;
    return { ...pool, command, args };
  }

  /**
   * Limits that contradict each other once the layers are merged (defaults < site <
   * commands < the class's own), as the pool layer would merge them: found here rather than
   * by the first request to that class.
   */
  private checkClasses(config: Config): void {
    for (const c of this.classes) {
      const site = config.sites[c.site];
      const fromCommand = c.command !== undefined && Object.hasOwn(config.commands, c.command) ? config.commands[c.command] : undefined;
      const s = mergePoolSettings(config.defaults, site?.pool, fromCommand, c.own);
      const say = (message: string): void => this.problem(c.node, c.path, `${message} (merged from defaults, the site${fromCommand ? ', commands' : ''} and this entry)`);
      for (const problem of poolSettingProblems(s, (key) => key)) say(problem);
    }
  }
}

/** ".fcgi" (from the last "." of a file name), or "*" for every file when `star`. */
function suffixProblem(s: string, star: boolean): string | undefined {
  if (star && s === '*') return undefined;
  if (/^\.[^./\s]+$/.test(s)) return undefined;
  const hint = /^[^./\s]+$/.test(s) ? ` (did you mean .${s}?)` : '';
  return star
    ? `expected a suffix starting with "." such as .fcgi, or "*" for every file, got ${showValue(s)}${hint}`
    : `a wrapper suffix starts with "." such as .php (or is "" for the default wrapper), got ${showValue(s)}${hint}`;
}

/** Why a program cannot be run, or undefined when it can. */
function commandProblem(written: string, full: string): string | undefined {
  const name = written === full ? full : `${written} (${full})`;
  let st: fs.Stats;
  try {
    st = fs.statSync(full);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      if (/\s/.test(written.trim())) return `command ${name}: no such file (put its arguments in args)`;
      if (!written.includes('/')) return `command ${name}: no such file (give the full path; commands are not looked up in PATH)`;
      return `command ${name}: no such file`;
    }
    if (code === 'EACCES') return `command ${name}: permission denied on a directory above it`;
    return `command ${name}: ${code ?? String(err)}`;
  }
  if (st.isDirectory()) return `command ${name} is a directory, not a program`;
  if (!st.isFile()) return `command ${name} is not a regular file`;
  try {
    fs.accessSync(full, fs.constants.X_OK);
  } catch {
    return `command ${name} is not executable (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}; chmod +x it)`;
  }
  return undefined;
}
