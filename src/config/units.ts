/**
 * Human units of the YAML file, turned into what Config holds: durations in milliseconds,
 * sizes in bytes, and a command line split into words. Pure: a value in, a result out; the
 * loader adds the file, line and key to an error message (src/config/load.ts).
 */

export type UnitResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

function ok<T>(value: T): UnitResult<T> {
  return { ok: true, value };
}

function fail<T>(error: string): UnitResult<T> {
  return { ok: false, error };
}

/** How a value the operator wrote is quoted back in a message: strings in quotes, the rest as is. */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a mapping' : typeof value;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?$/i;

export interface DurationOptions {
  /** 0 is accepted and means "off" (idleTimeout, lifetime); otherwise it must be above 0. */
  readonly zeroOff?: boolean;
}

/**
 * A duration: a number is seconds (as mod_fcgid and php-fpm write them), a string may carry
 * a unit: "500ms", "30s", "5m", "2h", or be a plain number of seconds ("30"). Result in whole
 * milliseconds.
 */
export function parseDuration(value: unknown, options: DurationOptions = {}): UnitResult<number> {
  const expected = `expected a duration such as 30 or "5m"${options.zeroOff ? ' (0 = off)' : ''}, got ${showValue(value)}`;
  let ms: number;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return fail(expected);
    ms = value * 1000;
  } else if (typeof value === 'string') {
    const m = DURATION.exec(value.trim());
    if (!m) return fail(expected);
    ms = Number(m[1]) * (DURATION_UNITS[(m[2] ?? 's').toLowerCase()] ?? 1000);
  } else {
    return fail(expected);
  }
  ms = Math.round(ms);
  if (ms === 0 && !options.zeroOff) return fail(`expected a duration above 0, got ${showValue(value)}`);
  if (ms > Number.MAX_SAFE_INTEGER) return fail(`duration ${showValue(value)} is too large`);
  return ok(ms);
}

/** Binary multiples: "K" is 1024 here, as in Apache's and PHP's size directives. */
const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};
const SIZE = /^(\d+(?:\.\d+)?|\.\d+)\s*(?:([kmgt])(?:i?b)?|(b))?$/i;

/**
 * A size: a number is bytes; a string may carry a unit, case-insensitive: "128K", "64KiB",
 * "64KB", "1M", "1G", "1T" (all powers of 1024). Result in whole bytes.
 */
export function parseSize(value: unknown): UnitResult<number> {
  const expected = `expected a size such as 1048576 or "128K", got ${showValue(value)}`;
  let bytes: number;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0 || !Number.isInteger(value)) return fail(expected);
    bytes = value;
  } else if (typeof value === 'string') {
    const m = SIZE.exec(value.trim());
    if (!m) return fail(expected);
    const unit = (m[2] ?? m[3] ?? '').toLowerCase();
    bytes = Math.floor(Number(m[1]) * (SIZE_UNITS[unit] ?? 1));
  } else {
    return fail(expected);
  }
  if (bytes > Number.MAX_SAFE_INTEGER) return fail(`size ${showValue(value)} is too large`);
  return ok(bytes);
}

/**
 * Splits a command line into words the way a shell would without expansions (and as
 * mod_fcgid's apr_tokenize_to_argv does): blanks separate words, single quotes keep
 * everything literally, double quotes keep blanks and take backslash escapes, a backslash
 * outside quotes escapes the next character.
 */
export function splitCommandLine(line: string): UnitResult<string[]> {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i += 1) {
    const c = line.charAt(i);
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && i + 1 < line.length) word += line.charAt(++i);
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line.charAt(++i);
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) return fail(`unterminated ${quote === '"' ? 'double' : 'single'} quote in ${showValue(line)}`);
  if (inWord) words.push(word);
  return ok(words);
}
