/**
 * Readers of one value of the YAML, one per kind of key in schema.ts: a string, a path, a
 * program, a number, a flag, a word of a set, a duration, a size, a listen address, a umask,
 * arguments, environment variables, a list of strings. Each returns the value as Config holds
 * it, or records a problem on the source and returns undefined.
 */
import path from 'node:path';
import { isMap, isScalar, isSeq } from 'yaml';
import { commandProblem } from './command-check';
import { editDistance } from './edit-distance';
import { parseListen } from './listen';
import type { ListenTarget } from './types';
import { parseDuration, parseSize, showValue, splitCommandLine } from './units';
import type { Entry, Item, YamlSource } from './yaml-source';

export function readString(src: YamlSource, e: Entry): string | undefined {
  const v = src.scalar(e, 'a string');
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (v !== undefined) src.problem(e.node, e.path, `expected a string, got ${showValue(v)}`);
  return undefined;
}

export function readFilePath(src: YamlSource, e: Entry): string | undefined {
  const v = readString(src, e);
  if (v === undefined) return undefined;
  if (v === '') {
    src.problem(e.node, e.path, 'expected a path, got an empty string');
    return undefined;
  }
  return path.resolve(src.dir, v);
}

/** A program to run, resolved against the file's directory; it must exist and be executable now. */
export function readCommand(src: YamlSource, e: Entry): string | undefined {
  const v = readString(src, e);
  if (v === undefined) return undefined;
  if (v.trim() === '') {
    src.problem(e.node, e.path, 'expected the path of a program, got an empty string');
    return undefined;
  }
  const full = path.resolve(src.dir, v);
  const problem = commandProblem(v, full);
  if (problem !== undefined) src.problem(e.node, e.path, problem);
  return full;
}

export function readInteger(src: YamlSource, e: Entry): number | undefined {
  const v = src.scalar(e, 'a whole number');
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
  const { min, max } = e.spec;
  const range = min !== undefined && max !== undefined ? ` from ${min} to ${max}` : min !== undefined ? ` >= ${min}` : '';
  if (!Number.isSafeInteger(n) || (min !== undefined && n < min) || (max !== undefined && n > max)) {
    src.problem(e.node, e.path, `expected a whole number${range}, got ${showValue(v)}`);
    return undefined;
  }
  return n;
}

export function readBoolean(src: YamlSource, e: Entry): boolean | undefined {
  const v = src.scalar(e, 'true or false');
  if (typeof v === 'boolean') return v;
  // YAML 1.2 reads on/off/yes/no as strings; Apache users write them for flags.
  if (typeof v === 'string') {
    const w = v.trim().toLowerCase();
    if (w === 'true' || w === 'on' || w === 'yes') return true;
    if (w === 'false' || w === 'off' || w === 'no') return false;
  }
  if (v !== undefined) src.problem(e.node, e.path, `expected true or false, got ${showValue(v)}`);
  return undefined;
}

export function readEnum(src: YamlSource, e: Entry): string | undefined {
  const v = src.scalar(e, 'a word');
  if (v === undefined) return undefined;
  const values = e.spec.values ?? [];
  if (typeof v === 'string' && values.includes(v)) return v;
  const guess = typeof v === 'string' ? values.find((w) => editDistance(w, v.toLowerCase()) <= 2) : undefined;
  src.problem(e.node, e.path, `expected one of ${values.join(', ')}, got ${showValue(v)}${guess ? ` (did you mean ${guess}?)` : ''}`);
  return undefined;
}

export function readDuration(src: YamlSource, e: Entry): number | undefined {
  const v = src.scalar(e, 'a duration');
  return v === undefined ? undefined : src.checked(e, parseDuration(v, { zeroOff: e.spec.zeroOff ?? false }));
}

export function readSize(src: YamlSource, e: Entry): number | undefined {
  const v = src.scalar(e, 'a size');
  return v === undefined ? undefined : src.checked(e, parseSize(v));
}

/** A file path (relative to the config file), "-" for stdout, or "off" (false too): undefined. */
export function readAccessLog(src: YamlSource, e: Entry): string | undefined {
  const v = src.scalar(e, 'a file path, "-" or "off"');
  if (v === false || v === 'off') return undefined;
  if (v === '-') return '-';
  if (typeof v === 'string' && v.trim() !== '' && !v.includes('\0')) return path.resolve(src.dir, v);
  if (v !== undefined) src.problem(e.node, e.path, `expected a file path, "-" (stdout) or "off", got ${showValue(v)}`);
  return undefined;
}

export function readListen(src: YamlSource, e: Entry): ListenTarget | undefined {
  const v = src.scalar(e, 'HOST:PORT, unix:/path or "off"');
  return v === undefined ? undefined : src.checked(e, parseListen(v, src.dir));
}

/**
 * A umask is octal whatever the notation: "027", 027 and 27 all mean 0o027. YAML 1.2 reads
 * a plain 027 as decimal 27, so the digits are taken from the source text.
 */
export function readUmask(src: YamlSource, e: Entry): number | undefined {
  const what = e.spec.key === 'fastcgiMode' ? 'an octal file mode such as "0660"' : 'an octal umask such as "027"';
  const v = src.scalar(e, what);
  if (v === undefined) return undefined;
  const range = e.node.range;
  const source = typeof v === 'number' && range ? src.text.slice(range[0], range[1]).trim() : typeof v === 'string' ? v : showValue(v);
  const mask = /^0?o?[0-7]{1,4}$/i.test(source) ? parseInt(source.replace(/^0?o/i, ''), 8) : NaN;
  if (!(mask >= 0 && mask <= 0o777)) {
    src.problem(e.node, e.path, `expected ${what}, got ${typeof v === 'number' ? source : showValue(v)}`);
    return undefined;
  }
  return mask;
}

export function readSlots(src: YamlSource, e: Entry): number | 'auto' | undefined {
  const v = src.scalar(e, 'a number of slots or "auto"');
  if (v === 'auto') return 'auto';
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 1) return v;
  if (v !== undefined) src.problem(e.node, e.path, `expected a whole number >= 1 or "auto", got ${showValue(v)}`);
  return undefined;
}

export function readRlimit(src: YamlSource, e: Entry): number | 'unlimited' | undefined {
  const v = src.scalar(e, 'a number or "unlimited"');
  if (v === undefined) return undefined;
  if (v === 'unlimited' || v === 'infinity') return 'unlimited';
  const size = parseSize(v);
  if (size.ok) return size.value;
  src.problem(e.node, e.path, `expected a whole number >= 0 or "unlimited", got ${showValue(v)}`);
  return undefined;
}

/** A list of words, or one string split like a shell would ("-d display_errors=0 -c /etc/php.ini"). */
export function readArgs(src: YamlSource, e: Entry): string[] | undefined {
  if (isScalar(e.node) && typeof e.node.value === 'string') return src.checked(e, splitCommandLine(e.node.value));
  if (!isSeq(e.node)) {
    src.problem(e.node, e.path, `expected a list of arguments or one string, got ${src.describe(e.node)}`);
    return undefined;
  }
  const out: string[] = [];
  e.node.items.forEach((item, i) => {
    const node = src.deref(item);
    const v: unknown = node && isScalar(node) ? node.value : undefined;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out.push(String(v));
    else src.problem(node ?? e.node, `${e.path}[${i}]`, `expected an argument (a string), got ${src.describe(node)}`);
  });
  return out;
}

/** name → value; numbers and booleans become their text, a name without value "" (FcgidInitialEnv name). */
export function readEnv(src: YamlSource, e: Entry): Record<string, string> | undefined {
  if (src.isEmpty(e.node)) return {};
  if (!isMap(e.node)) {
    src.problem(e.node, e.path, `expected a mapping of NAME: value, got ${src.describe(e.node)}`);
    return undefined;
  }
  // Null prototype: a variable named __proto__ stays an ordinary entry.
  const out = Object.create(null) as Record<string, string>;
  for (const pair of src.pairsOf(e.node)) {
    const keyNode = src.deref(pair.key);
    const name: unknown = keyNode && isScalar(keyNode) ? keyNode.value : undefined;
    if (typeof name !== 'string' || name === '' || name.includes('=') || name.includes('\0')) {
      src.problem(keyNode ?? e.node, e.path, `expected an environment variable name, got ${src.describe(keyNode)}`);
      continue;
    }
    const valueNode = src.deref(pair.value);
    const v: unknown = valueNode && isScalar(valueNode) ? valueNode.value : valueNode === null ? null : undefined;
    if (v === null) out[name] = '';
    else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[name] = String(v);
    else src.problem(valueNode ?? e.node, `${e.path}.${name}`, `expected a value (a string), got ${src.describe(valueNode)}`);
  }
  return { ...out };
}

/** Non-empty strings, each passed through `check`; the ones that pass, with where they are. */
export function readStringList(src: YamlSource, e: Entry, what: string, check: (s: string) => string | undefined): Array<Item<string>> {
  const out: Array<Item<string>> = [];
  for (const item of src.items(e, what)) {
    const v: unknown = isScalar(item.node) ? item.node.value : undefined;
    if (typeof v !== 'string' || v === '') {
      src.problem(item.node, item.path, `expected ${what}, got ${src.describe(item.node)}`);
      continue;
    }
    const problem = check(v);
    if (problem !== undefined) src.problem(item.node, item.path, problem);
    else out.push({ value: v, node: item.node, path: item.path });
  }
  return out;
}
