/**
 * The parsed YAML document of one configuration file as the readers see it: every node with
 * its line and column, the problems found so far, and mappings checked against the keys
 * their section allows (schema.ts). Readers of values and sections (value-readers.ts,
 * sections.ts, sites.ts) record their problems here, so that all of them are reported at once.
 */
import path from 'node:path';
import { Document, isAlias, isMap, isScalar, isSeq, LineCounter, type Node as YamlNode, type Pair, type YAMLMap } from 'yaml';
import type { ConfigProblem } from '../errors';
import { unknownKeyMessage } from './key-suggestion';
import { keysOf, SCHEMA, type KeySpec, type Section } from './schema';
import { showValue, type UnitResult } from './units';

export type { YamlNode };

/** One key of a mapping as written, with the schema entry that allows it. */
export interface Entry {
  readonly spec: KeySpec;
  readonly keyNode: YamlNode | undefined;
  /** The value; a created node (no position) when it is the schema default. */
  readonly node: YamlNode;
  /** Dotted path for messages: "sites[0].wrappers[1].command". */
  readonly path: string;
}

export type Entries = ReadonlyMap<string, Entry>;

/** An item of a list with where it was written. */
export interface Item<T> {
  readonly value: T;
  readonly node: YamlNode;
  readonly path: string;
}

export class YamlSource {
  readonly problems: ConfigProblem[] = [];
  /** The configuration file's directory: relative paths in it are relative to it. */
  readonly dir: string;

  constructor(
    /** The file's text: some values are read as written (a umask's leading 0). */
    readonly text: string,
    readonly file: string,
    private readonly lines: LineCounter,
    private readonly doc: Document.Parsed,
  ) {
    this.dir = path.dirname(path.resolve(file));
  }

  // ---- positions and problems ------------------------------------------------------------

  where(node: YamlNode | null | undefined): { line: number; column: number } {
    const range = node?.range;
    if (!range) return { line: 0, column: 0 };
    const p = this.lines.linePos(range[0]);
    return { line: p.line, column: p.col };
  }

  problemAt(offset: number, key: string, message: string): void {
    const p = this.lines.linePos(offset);
    this.problems.push({ file: this.file, line: p.line, column: p.col, key, message });
  }

  problem(node: YamlNode | null | undefined, key: string, message: string): void {
    this.problems.push({ file: this.file, ...this.where(node), key, message });
  }

  /** "file:line", where a site or app was written: logs and the status page name it. */
  origin(node: YamlNode): string {
    return `${this.file}:${this.where(node).line}`;
  }

  describe(node: YamlNode | null): string {
    if (node === null) return 'nothing';
    if (isMap(node)) return 'a mapping';
    if (isSeq(node)) return 'a list';
    return isScalar(node) ? showValue(node.value) : 'something else';
  }

  // ---- tree access -----------------------------------------------------------------------

  /** Follows a YAML alias (*name) to the node it names. */
  deref(node: unknown): YamlNode | null {
    if (isAlias(node)) return node.resolve(this.doc) ?? null;
    return isMap(node) || isSeq(node) || isScalar(node) ? node : null;
  }

  isEmpty(node: YamlNode | null): boolean {
    return node === null || (isScalar(node) && node.value === null);
  }

  /**
   * A mapping's pairs, "<<: *anchor" merge keys expanded first so that the mapping's own
   * keys override them (YAML 1.1 merge keys, common for sharing settings between sites).
   */
  pairsOf(map: YAMLMap, depth = 0): Pair[] {
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
  readMap(node: YamlNode | null, keyPath: string, section: Section, what: string): Map<string, Entry> | undefined {
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
  entry(entries: Entries, section: Section, key: string, keyPath: string): Entry | undefined {
    const given = entries.get(key);
    if (given) return given;
    const spec = SCHEMA.find((s) => s.section === section && s.key === key);
    if (!spec) throw new Error(`schema has no ${section}.${key}`);
    if (spec.default === undefined) return undefined;
    return { spec, keyNode: undefined, node: this.doc.createNode(spec.default), path: keyPath === '' ? key : `${keyPath}.${key}` };
  }

  /** The entry or its default; for keys that always have a schema default. */
  need(entries: Entries, section: Section, key: string, keyPath: string): Entry {
    const e = this.entry(entries, section, key, keyPath);
    if (!e) throw new Error(`schema gives ${section}.${key} no default`);
    return e;
  }

  scalar(e: Entry, what: string): unknown {
    if (!isScalar(e.node)) {
      this.problem(e.node, e.path, `expected ${what}, got ${this.describe(e.node)}`);
      return undefined;
    }
    return e.node.value;
  }

  checked<T>(e: Entry, result: UnitResult<T>): T | undefined {
    if (result.ok) return result.value;
    this.problem(e.node, e.path, result.error);
    return undefined;
  }

  /** The items of a list; a single scalar counts as a list of one (hosts: example.com). */
  items(e: Entry, what: string): Array<{ node: YamlNode; path: string }> {
    if (isSeq(e.node)) {
      return e.node.items.map((item, i) => ({ node: this.deref(item) ?? e.node, path: `${e.path}[${i}]` }));
    }
    if (isScalar(e.node)) return [{ node: e.node, path: e.path }];
    this.problem(e.node, e.path, `expected ${what}, got ${this.describe(e.node)}`);
    return [];
  }

  /** A list of mappings, each read by `read`; the items it could read, with where they are. */
  list<T>(e: Entry, what: string, read: (node: YamlNode | null, p: string) => T | undefined): Array<Item<T>> {
    if (!isSeq(e.node)) {
      this.problem(e.node, e.path, `expected ${what} (each item starting with "- "), got ${this.describe(e.node)}`);
      return [];
    }
    const out: Array<Item<T>> = [];
    e.node.items.forEach((item, i) => {
      const node = this.deref(item);
      const p = `${e.path}[${i}]`;
      const value = read(node, p);
      if (value !== undefined && node) out.push({ value, node, path: p });
    });
    return out;
  }
}
