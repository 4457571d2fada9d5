import fs from 'node:fs';
import type { SymlinkPolicy } from '../config/types';
import { textToBytes } from '../frontend/byte-string';

/**
 * The filesystem half of document-root routing: which file a URL path names, where PATH_INFO
 * starts, and whether the file stays inside the document root. The policy (which suffix runs
 * how) is the router's, passed in as predicates.
 *
 * Paths are byte strings (latin1, one char per byte), the convention of cgi-env's decodePath
 * and of FastCGI params: "%C3%A9" is the two chars \xC3 \xA9, and the file looked up is the
 * one whose name has those two bytes. Node would encode a string path as UTF-8, so every
 * filesystem call here takes `Buffer.from(path, 'latin1')`.
 *
 * The calls are synchronous: a routing decision is a handful of lstat calls on hot dentries,
 * cheaper than the promise machinery around their async forms, and the router's API is sync.
 */

/** A byte-string path as the Buffer the fs calls take. */
function raw(path: string): Buffer {
  return Buffer.from(path, 'latin1');
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'EIO';
}

/** ENOENT and its relatives: the component is simply not there (404, or a virtual script). */
function isMissing(code: string): boolean {
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG';
}

/** What a URL path names under the root. */
export type DocLookup =
  | {
      readonly kind: 'script';
      /** URL path of the script ("/sub/x.php"): SCRIPT_NAME. */
      readonly urlPath: string;
      /** The rest of the URL path after the script: PATH_INFO. */
      readonly pathInfo: string;
      /** Root + urlPath, symlinks not resolved, as Apache's SCRIPT_FILENAME. */
      readonly filename: string;
      /** False for a script of a `virtual` wrapper that is not on disk. */
      readonly exists: boolean;
      /** The URL named a directory and this is its DirectoryIndex entry. */
      readonly viaIndex: boolean;
    }
  | { readonly kind: 'deny'; readonly status: 403 | 404; readonly reason: string };

export interface LookupPolicy {
  /** Whether a missing file with this name is served anyway (FcgidWrapper … virtual). */
  readonly isVirtual: (name: string) => boolean;
  /** DirectoryIndex names (byte strings), tried in order. */
  readonly indexNames: readonly string[];
  /** Whether an existing index file can be served at all (some wrapper or handler takes it). */
  readonly indexUsable: (name: string) => boolean;
  /** Which symlinks are followed (default owner-match). */
  readonly symlinks?: SymlinkPolicy;
  /** Whether a file with this name is run (a wrapper or handler takes it), not served as it is. */
  readonly runs?: (name: string) => boolean;
  /** More directories (byte strings) a script reached through a symlink may resolve into. */
  readonly scriptRoots?: readonly string[];
}

export const DENY_OUTSIDE_ROOT = 'symlink leads outside the document root';
export const SCRIPT_OUTSIDE = 'script resolves outside the document root and scriptRoots';

/** realpath(dir) as a prefix ('' for "/"), or undefined when it is not there. */
function realOrUndefined(dir: string): string | undefined {
  try {
    const real = fs.realpathSync.native(raw(dir), { encoding: 'buffer' }).toString('latin1');
    return real === '/' ? '' : real;
  } catch {
    return undefined;
  }
}

/** One document root. Cheap to construct; nothing is cached between lookups. */
export class DocumentRoot {
  /** The configured root as a byte string, trailing slashes removed ("/" stays "/"). */
  readonly path: string;
  /** `path` as a prefix to append "/name" to: '' for the filesystem root. */
  private readonly base: string;

  constructor(configured: string) {
    const bytes = textToBytes(configured).replace(/\/+$/, '');
    this.base = bytes;
    this.path = bytes === '' ? '/' : bytes;
  }

  /**
   * The byte-string segments of `absolute` below this root (its configured path or its
   * realpath — nginx may spell the root either way), or undefined when it is not below it.
   */
  below(absolute: string): string | undefined {
    for (const base of [this.base, this.realBase()]) {
      if (base === undefined) continue;
      if (absolute === base) return '';
      if (absolute.startsWith(`${base}/`)) return absolute.slice(base.length);
    }
    return undefined;
  }

  /**
   * Resolves URL path segments (decoded, no empty, "." or ".." segments) to a script and its
   * PATH_INFO, Apache's way (core.c / request.c directory walk): walk from the root, and the
   * first component that is a regular file is the script; everything after it is PATH_INFO.
   * A path that is all directories tries the DirectoryIndex names. Every symlink met on the way,
   * and the script itself, must resolve inside realpath(root) — the root's realpath is taken per
   * lookup, so a root that is itself a symlink swapped by a deploy is followed at once.
   */
  lookup(segments: readonly string[], trailingSlash: boolean, policy: LookupPolicy): DocLookup {
    const rootReal = this.realBase();
    if (rootReal === undefined) return { kind: 'deny', status: 404, reason: 'document root not found' };
    const under = (real: string, base: string): boolean => base === '' || real === base || real.startsWith(`${base}/`);
    const symlinks = policy.symlinks ?? 'owner-match';
    // The walk: which symlinks may be followed at all.
    const follow = (real: string, link: fs.Stats, target: fs.Stats): string | undefined => {
      if (symlinks === 'off') return 'symlinks are not followed here (followSymlinks: off)';
      if (symlinks === 'inside' && !under(real, rootReal)) return DENY_OUTSIDE_ROOT;
      if (symlinks === 'owner-match' && link.uid !== target.uid) return 'symlink and its target have different owners (followSymlinks: owner-match)';
      return undefined;
    };
    // A script reached through a symlink runs only inside the root or a scriptRoots directory.
    const scriptBases = [rootReal, ...(policy.scriptRoots ?? []).map(realOrUndefined).filter((b): b is string => b !== undefined)];
    const inside = (real: string): boolean => scriptBases.some((base) => under(real, base));
    const urlOf = (n: number): string => `/${segments.slice(0, n).join('/')}`;
    const restAfter = (n: number): string => {
      const rest = segments.slice(n).map((s) => `/${s}`).join('');
      return trailingSlash ? `${rest}/` : rest;
    };

    let dir = this.base;
    // No symlink below the root on the way: the script's realpath is realpath(root) + its URL
    // path, inside by construction, and the realpath(3) call (a readlink per component, from
    // "/") is saved. A symlink met on the way sends the script through the full check.
    let symlinked = false;
    for (let i = 0; i < segments.length; i++) {
      const p = `${dir}/${segments[i] ?? ''}`;
      const st = this.statFollowing(p, follow);
      if (st.kind === 'missing') {
        const virtual = this.virtualScript(segments, i, trailingSlash, policy);
        // A virtual script in a directory reached through a symlink runs only where a script may.
        if (virtual.kind === 'script' && symlinked) {
          const realDir = realOrUndefined(dir);
          if (realDir === undefined || !inside(realDir)) return { kind: 'deny', status: 403, reason: SCRIPT_OUTSIDE };
        }
        return virtual;
      }
      if (st.kind === 'deny') return st;
      symlinked ||= st.symlink;
      if (st.stats.isDirectory()) {
        dir = p;
        continue;
      }
      if (!st.stats.isFile()) return { kind: 'deny', status: 403, reason: 'not a regular file' };
      const runs = policy.runs?.(segments[i] ?? '') ?? true;
      return this.script(urlOf(i + 1), restAfter(i + 1), false, symlinked && runs ? inside : undefined);
    }

    // Every component is a directory: DirectoryIndex (mod_dir), the first usable name wins.
    const dirUrl = segments.length === 0 ? '' : urlOf(segments.length);
    for (const name of policy.indexNames) {
      const st = this.statFollowing(`${dir}/${name}`, follow);
      if (st.kind === 'deny') return st;
      if (st.kind === 'missing' || !st.stats.isFile() || !policy.indexUsable(name)) continue;
      const runs = policy.runs?.(name) ?? true;
      return this.script(`${dirUrl}/${name}`, '', true, (symlinked || st.symlink) && runs ? inside : undefined);
    }
    return { kind: 'deny', status: 403, reason: 'directory has no usable index' };
  }

  /** access(2) as fcgipm's own user: X_OK for a script that runs itself, R_OK for a wrapper's. */
  static accessible(filename: string, mode: number): boolean {
    try {
      fs.accessSync(raw(filename), mode);
      return true;
    } catch {
      return false;
    }
  }

  /** realpath(root) as a prefix ('' for "/"), or undefined when the root is gone. */
  private realBase(): string | undefined {
    try {
      const real = fs.realpathSync.native(raw(this.path), { encoding: 'buffer' }).toString('latin1');
      return real === '/' ? '' : real;
    } catch {
      return undefined;
    }
  }

  /**
   * lstat; a symlink is followed when `follow` has no objection to it (the policy). A dangling
   * symlink is missing, like a file that is not there.
   */
  private statFollowing(
    p: string,
    follow: (real: string, link: fs.Stats, target: fs.Stats) => string | undefined,
  ): { kind: 'found'; stats: fs.Stats; symlink: boolean } | { kind: 'missing' } | { kind: 'deny'; status: 403; reason: string } {
    try {
      const l = fs.lstatSync(raw(p), { throwIfNoEntry: false });
      if (l === undefined) return { kind: 'missing' };
      if (!l.isSymbolicLink()) return { kind: 'found', stats: l, symlink: false };
      const real = fs.realpathSync.native(raw(p), { encoding: 'buffer' }).toString('latin1');
      const target = fs.statSync(raw(p));
      const objection = follow(real, l, target);
      if (objection !== undefined) return { kind: 'deny', status: 403, reason: objection };
      return { kind: 'found', stats: target, symlink: true };
    } catch (err) {
      const code = errnoOf(err);
      if (isMissing(code)) return { kind: 'missing' };
      return { kind: 'deny', status: 403, reason: code === 'EACCES' ? 'permission denied' : `cannot look up the path (${code})` };
    }
  }

  /**
   * The final check on an existing script: its realpath lies inside the root. Without
   * `inside` the walk met no symlink below the root, and the script is inside as it stands.
   */
  private script(urlPath: string, pathInfo: string, viaIndex: boolean, inside: ((real: string) => boolean) | undefined): DocLookup {
    const filename = `${this.base}${urlPath}`;
    if (!inside) return { kind: 'script', urlPath, pathInfo, filename, exists: true, viaIndex };
    let real: string;
    try {
      real = fs.realpathSync.native(raw(filename), { encoding: 'buffer' }).toString('latin1');
    } catch (err) {
      const code = errnoOf(err);
      if (isMissing(code)) return { kind: 'deny', status: 404, reason: 'not found' };
      return { kind: 'deny', status: 403, reason: `cannot look up the path (${code})` };
    }
    if (!inside(real)) return { kind: 'deny', status: 403, reason: SCRIPT_OUTSIDE };
    return { kind: 'script', urlPath, pathInfo, filename, exists: true, viaIndex };
  }

  /**
   * Component `missing` is not on disk. A `virtual` wrapper still takes the request: the
   * longest prefix whose last segment it claims is the script ("/x.php/foo" → /x.php + /foo).
   * The directories above the missing component were already checked to be inside the root.
   */
  private virtualScript(segments: readonly string[], missing: number, trailingSlash: boolean, policy: LookupPolicy): DocLookup {
    for (let j = segments.length - 1; j >= missing; j--) {
      if (!policy.isVirtual(segments[j] ?? '')) continue;
      const urlPath = `/${segments.slice(0, j + 1).join('/')}`;
      let pathInfo = segments
        .slice(j + 1)
        .map((s) => `/${s}`)
        .join('');
      if (trailingSlash) pathInfo += '/';
      return { kind: 'script', urlPath, pathInfo, filename: `${this.base}${urlPath}`, exists: false, viaIndex: false };
    }
    return { kind: 'deny', status: 404, reason: 'not found' };
  }
}
