import fs from 'node:fs';
import path from 'node:path';

/**
 * The script an interpreter pool runs behind a FastCGI front end. An interpreter (php-cgi, or
 * an app without a `script` of its own marked `interpreter`) runs whatever SCRIPT_FILENAME
 * names, and behind nginx or Apache the web server has already chosen it: fcgipm passes the
 * web server's SCRIPT_FILENAME on — never the interpreter's own binary — once it has checked
 * it the way php-fpm does (sapi/fpm/fpm/fpm_main.c init_request_info, fpm_php.c):
 *
 * - an absolute path without "." / ".." segments or NUL bytes (the web server normalised it);
 * - under an allowed root: the pool's `roots` if configured, else the DOCUMENT_ROOT or
 *   CONTEXT_DOCUMENT_ROOT (Apache's Alias target) the web server sent with the request;
 * - a regular file, or a regular file followed by path info ("/x.php/a/b", php-fpm's
 *   cgi.fix_pathinfo walk): else 404 "File not found.", as php-fpm answers;
 * - with an allowed extension when a list applies (php-fpm's security.limit_extensions,
 *   ".php .phar" by default for php-cgi): else 403 "Access denied.".
 *
 * The web server's SCRIPT_NAME and PATH_INFO stay as it sent them: php-cgi splits the path
 * with the same code as php-fpm, so its $_SERVER matches php-fpm's.
 */

export interface InterpreterPolicy {
  /** Directories scripts may be in; empty: the web server's DOCUMENT_ROOT / CONTEXT_DOCUMENT_ROOT. */
  readonly roots: readonly string[];
  /** Allowed extensions with their dot (".php"); empty: any. */
  readonly extensions: readonly string[];
}

/** php-fpm's default security.limit_extensions. */
export const PHP_EXTENSIONS: readonly string[] = ['.php', '.phar'];

export type InterpreterScript =
  /** script: the file itself; tail: what followed it in SCRIPT_FILENAME ('' or "/…"). */
  | { readonly ok: true; readonly scriptFilename: string; readonly script: string; readonly tail: string }
  | { readonly ok: false; readonly status: 400 | 403 | 404; readonly reason: string };

function refuse(status: 400 | 403 | 404, reason: string): InterpreterScript {
  return { ok: false, status, reason };
}

function under(file: string, root: string): boolean {
  const r = root.length > 1 && root.endsWith('/') ? root.slice(0, -1) : root;
  return r === '/' || file === r || file.startsWith(`${r}/`);
}

/** stat(2) of a byte-string path; undefined when nothing is there (ENOENT, ENOTDIR, EACCES…). */
function statOf(bytes: string): fs.Stats | undefined {
  try {
    // PARAMS are byte strings: the path's bytes exactly, whatever their encoding.
    return fs.statSync(Buffer.from(bytes, 'latin1'));
  } catch {
    return undefined;
  }
}

/** The longest leading part of `file` that is a regular file (php-fpm's fix_pathinfo walk), or undefined. */
function scriptPart(file: string, root: string): string | undefined {
  let candidate = file;
  for (;;) {
    const st = statOf(candidate);
    if (st?.isFile()) return candidate;
    // A directory, or something else that exists, ends the walk: only a file is a script.
    if (st !== undefined) return undefined;
    const slash = candidate.lastIndexOf('/');
    if (slash <= 0) return undefined;
    candidate = candidate.slice(0, slash);
    if (!under(candidate, root) || candidate.length <= root.length) return undefined;
  }
}

/**
 * Checks the web server's SCRIPT_FILENAME (a byte string, proxy prefix and query already
 * stripped) for an interpreter pool; extensions compare case-sensitively, as php-fpm's do. `params` are the request's PARAMS (DOCUMENT_ROOT, CONTEXT_DOCUMENT_ROOT).
 */
export function interpreterScript(filename: string | undefined, params: ReadonlyMap<string, string>, policy: InterpreterPolicy): InterpreterScript {
  if (filename === undefined || filename === '') return refuse(404, 'no SCRIPT_FILENAME: the web server must name the script an interpreter runs');
  if (filename.includes('\0')) return refuse(400, 'NUL in SCRIPT_FILENAME');
  if (!filename.startsWith('/')) return refuse(404, 'SCRIPT_FILENAME is not an absolute path');
  if (filename.split('/').some((s) => s === '.' || s === '..')) return refuse(400, 'dot segment in SCRIPT_FILENAME');
  const sent = [params.get('DOCUMENT_ROOT'), params.get('CONTEXT_DOCUMENT_ROOT')].filter((r): r is string => r !== undefined && r.startsWith('/'));
  const roots = policy.roots.length > 0 ? policy.roots : sent;
  const root = roots.find((r) => under(filename, path.posix.normalize(r)));
  if (root === undefined) {
    return refuse(403, roots.length === 0 ? 'no allowed root: the web server sent no DOCUMENT_ROOT; name the directories with --root DIR (roots: in the config)' : 'SCRIPT_FILENAME is outside the allowed roots');
  }
  const script = scriptPart(filename, path.posix.normalize(root));
  if (script === undefined) return refuse(404, 'File not found.');
  if (policy.extensions.length > 0 && !policy.extensions.includes(path.posix.extname(script))) {
    return refuse(403, 'Access denied.');
  }
  return { ok: true, scriptFilename: filename, script, tail: filename.slice(script.length) };
}

/**
 * Apache's mod_proxy_fcgi with ProxyPassMatch sends the path info inside SCRIPT_FILENAME
 * ("proxy:fcgi://host/root/x.php/a%20b") and no PATH_INFO; php-fpm splits it itself
 * ("apache_was_here" in fpm_main.c), php-cgi does not. The PARAMS that make php-cgi's
 * $_SERVER what php-fpm's is: the script as SCRIPT_FILENAME, the tail as PATH_INFO (as sent,
 * percent-encoded) and PATH_TRANSLATED (DOCUMENT_ROOT + tail), SCRIPT_NAME without the tail
 * (matched decoded or as sent, as php-fpm compares both) and the web server's SCRIPT_NAME as
 * ORIG_SCRIPT_NAME. Undefined when there is nothing to split.
 */
export function apacheProxySplit(
  checked: { readonly script: string; readonly tail: string },
  params: ReadonlyMap<string, string>,
): Array<[string, string]> | undefined {
  if (checked.tail === '' || (params.get('PATH_INFO') ?? '') !== '') return undefined;
  const scriptName = params.get('SCRIPT_NAME') ?? '';
  let decodedTail: string;
  try {
    decodedTail = Buffer.from(decodeURIComponent(Buffer.from(checked.tail, 'latin1').toString('utf8')), 'utf8').toString('latin1');
  } catch {
    decodedTail = checked.tail;
  }
  const cut = scriptName.endsWith(decodedTail) ? decodedTail.length : scriptName.endsWith(checked.tail) ? checked.tail.length : 0;
  const out: Array<[string, string]> = [
    ['SCRIPT_FILENAME', checked.script],
    ['PATH_INFO', checked.tail],
    ['PATH_TRANSLATED', (params.get('DOCUMENT_ROOT') ?? '') + checked.tail],
  ];
  if (cut > 0) out.push(['SCRIPT_NAME', scriptName.slice(0, scriptName.length - cut)], ['ORIG_SCRIPT_NAME', scriptName]);
  return out;
}
