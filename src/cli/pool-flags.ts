/**
 * `fcgipm run`'s pool flags, made from the one table of pool settings (POOL_KEYS and
 * RLIMIT_KEYS in src/config/schema.ts): each entry's `flag`, its type and bounds are what the
 * flag accepts, and the value lands on the same PoolSettings field the YAML key fills. A
 * setting added to the table with a flag is a run flag, checked the same way, with no code
 * here.
 */
import { POOL_KEYS, RLIMIT_KEYS, type PoolKey } from '../config/schema';
import type { PoolSettings } from '../config/types';
import { InvalidArgumentError } from '../errors';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
export type PoolFlagSettings = Mutable<PoolSettings>;
type Field = keyof PoolSettings;
type RlimitKey = keyof NonNullable<PoolSettings['rlimits']>;

type Target = { readonly kind: 'pool'; readonly field: Field; readonly spec: PoolKey } | { readonly kind: 'rlimit'; readonly key: RlimitKey };

const FLAGS = new Map<string, Target>();
for (const [field, spec] of Object.entries(POOL_KEYS) as Array<[Field, PoolKey]>) {
  if (spec.flag !== undefined) FLAGS.set(spec.flag, { kind: 'pool', field, spec });
}
for (const spec of RLIMIT_KEYS) {
  if (spec.flag !== undefined) FLAGS.set(spec.flag, { kind: 'rlimit', key: spec.key as RlimitKey });
}

/** The pool flags that take no value (booleans: --allow-root). */
export const POOL_SWITCHES: ReadonlySet<string> = new Set(
  [...FLAGS].filter(([, t]) => t.kind === 'pool' && t.spec.type === 'boolean').map(([flag]) => flag),
);

/** Whether `name` is a pool flag. */
export function isPoolFlag(name: string): boolean {
  return FLAGS.has(name);
}

export function count(option: string, text: string | undefined, min: number): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < min) {
    throw new InvalidArgumentError(`${option}: expected a whole number >= ${min}, got "${text ?? ''}"`);
  }
  return Number(text);
}

export function seconds(option: string, text: string | undefined): number {
  const n = Number(text);
  if (text === undefined || text.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(`${option}: expected a number of seconds > 0, got "${text ?? ''}"`);
  }
  return Math.round(n * 1000);
}

/** Like seconds(), but 0 is allowed and means "off". */
function secondsOrZero(option: string, text: string | undefined): number {
  return text !== undefined && Number(text) === 0 && text.trim() !== '' ? 0 : seconds(option, text);
}

function rlimit(option: string, text: string): number | 'unlimited' {
  return text === 'unlimited' ? 'unlimited' : count(option, text, 0);
}

/** A flag's value as its table entry's type reads it (flag units: seconds, octal, words). */
function flagValue(flag: string, spec: PoolKey, text: string): PoolSettings[Field] {
  switch (spec.type) {
    case 'integer': {
      const min = spec.min ?? 0;
      if (spec.max === undefined) return count(flag, text, min);
      if (!/^-?\d+$/.test(text) || Number(text) < min || Number(text) > spec.max) {
        throw new InvalidArgumentError(`${flag}: expected a whole number from ${min} to ${spec.max}, got "${text}"`);
      }
      return Number(text);
    }
    case 'duration':
      return spec.zeroOff ? secondsOrZero(flag, text) : seconds(flag, text);
    case 'enum': {
      const values = spec.values ?? [];
      if (!values.includes(text)) {
        const list = values.length > 1 ? `${values.slice(0, -1).join(', ')} or ${values[values.length - 1] ?? ''}` : (values[0] ?? '');
        throw new InvalidArgumentError(`${flag}: expected ${list}, got "${text}"`);
      }
      return text;
    }
    case 'slots':
      return text === 'auto' ? 'auto' : count(flag, text, 1);
    case 'umask':
      if (!/^[0-7]{1,4}$/.test(text) || parseInt(text, 8) > 0o777) throw new InvalidArgumentError(`${flag}: expected an octal mask such as 027, got "${text}"`);
      return parseInt(text, 8);
    case 'string':
      return text;
    default:
      throw new InvalidArgumentError(`${flag}: a ${spec.type} setting has no flag form`);
  }
}

/**
 * Applies one pool flag to `settings`. `value()` reads the flag's value (inline or the next
 * argument); `inline` is what followed "=", for the switches that take none.
 */
export function applyPoolFlag(name: string, value: () => string, inline: string | undefined, settings: PoolFlagSettings): void {
  const target = FLAGS.get(name);
  if (target === undefined) throw new InvalidArgumentError(`${name} is not a pool flag`);
  if (target.kind === 'rlimit') {
    settings.rlimits = { ...settings.rlimits, [target.key]: rlimit(name, value()) };
    return;
  }
  const { field, spec } = target;
  if (spec.type === 'boolean') {
    if (inline !== undefined) throw new InvalidArgumentError(`${name} takes no value`);
    (settings as Record<Field, unknown>)[field] = true;
    return;
  }
  if (spec.type === 'env') {
    const v = value();
    const e = v.indexOf('=');
    if (e <= 0) throw new InvalidArgumentError(`${name}: expected NAME=VALUE, got "${v}"`);
    settings.env = { ...settings.env, [v.slice(0, e)]: v.slice(e + 1) };
    return;
  }
  (settings as Record<Field, unknown>)[field] = flagValue(name, spec, value());
}
