/**
 * What import-apache builds before it writes YAML: a draft per site and per FcgidCmdOptions
 * command, each value with the directive it came from (for the comment beside it), and the
 * readers of a directive's arguments.
 */
import { SCHEMA } from '../schema';
import { parseDuration } from '../units';
import type { Role } from './directives';
import type { Directive, Placed, Warn } from './reader';

/** A value and the directive it came from, for the YAML comment. */
export interface Sourced<T> {
  readonly value: T;
  readonly from: string;
}

interface WrapperDraft {
  readonly suffix: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly virtual: boolean;
  readonly from: string;
  readonly at: string;
}

interface AuthDraft {
  readonly prefix: string;
  roles: Partial<Record<Role, Sourced<{ command: string; args: readonly string[] }>>>;
}

/** Pool settings as YAML keys (idleTimeout, maxProcesses…) with their source. */
export type PoolDraft = Map<string, Sourced<number>>;

export interface SiteDraft {
  readonly label: string;
  /** file:line of the <VirtualHost>, or of the first file for the main server. */
  readonly at: string;
  hosts: Array<Sourced<string>>;
  documentRoot: Sourced<string> | undefined;
  directoryIndex: Sourced<string[]> | undefined;
  handlers: Map<string, string>;
  wrappers: Map<string, WrapperDraft>;
  auth: Map<string, AuthDraft>;
  passHeaders: Map<string, string>;
  maxRequestBody: Sourced<number> | undefined;
  pool: PoolDraft;
  env: Map<string, Sourced<string>>;
  /** Directory blocks, applied once the site's DocumentRoot is known. */
  readonly deferred: Placed[];
}

/** FcgidCmdOptions for one command; `listed`: the options it gives (the rest take compiled defaults). */
export interface CommandDraft {
  pool: PoolDraft;
  env: Map<string, Sourced<string>>;
  from: string;
  listed: Set<string>;
}

export function newSite(label: string, at: string): SiteDraft {
  return {
    label,
    at,
    hosts: [],
    documentRoot: undefined,
    directoryIndex: undefined,
    handlers: new Map(),
    wrappers: new Map(),
    auth: new Map(),
    passHeaders: new Map(),
    maxRequestBody: undefined,
    pool: new Map(),
    env: new Map(),
    deferred: [],
  };
}

/** The directive as written and where, for the comment beside the value it set. */
export function sourceOf(d: Directive): string {
  const alias = d.written.toLowerCase() !== d.name.toLowerCase() ? ` (old name of ${d.name})` : '';
  const text = [d.written, ...d.args.map((a) => (/\s/.test(a) || a === '' ? JSON.stringify(a) : a))].join(' ');
  const short = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return `${short}${alias}, ${d.at}`;
}

/** mod_fcgid reads numbers with atol (garbage is 0); here garbage is reported and skipped. */
export function readNumber(warn: Warn, d: Directive, min: number): number | undefined {
  const text = d.args[0];
  if (d.args.length !== 1 || text === undefined || !/^-?\d+$/.test(text)) {
    warn(d.at, `${d.written}: expected one whole number, got "${d.args.join(' ')}"; skipped`);
    return undefined;
  }
  const n = Number(text);
  if (n < min) {
    warn(d.at, `${d.written} ${text}: below ${min}, which fcgipm does not accept; skipped`);
    return undefined;
  }
  return n;
}

/** Checks a per-class value the way the loader will (schema.ts), so the YAML always loads. */
export function checkPoolValue(warn: Warn, d: Directive, key: string, raw: number): number | undefined {
  const spec = SCHEMA.find((s) => s.section === 'pool' && s.key === key);
  if (spec?.type === 'duration') {
    const r = parseDuration(raw, { zeroOff: spec.zeroOff ?? false });
    if (!r.ok) {
      warn(d.at, `${d.written} ${raw}: ${r.error}; skipped (fcgipm's default applies)`);
      return undefined;
    }
  } else if (spec?.min !== undefined && raw < spec.min) {
    warn(d.at, `${d.written} ${raw}: fcgipm needs ${key} >= ${spec.min}; skipped (fcgipm's default applies)`);
    return undefined;
  }
  return raw;
}

/** Everything the YAML is written from. */
export interface ImportDraft {
  readonly top: Map<string, Sourced<string | number>>;
  readonly defaults: PoolDraft;
  readonly defaultEnv: Map<string, Sourced<string>>;
  readonly commands: Map<string, CommandDraft>;
  readonly sites: readonly SiteDraft[];
}
