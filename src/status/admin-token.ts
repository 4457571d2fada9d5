/**
 * Who may read the admin listener: its address must be loopback, or every endpoint but
 * /healthz asks for a bearer token read from a file (not from argv, where `ps` shows it to
 * every local user). Pure checks and the file read; admin-server.ts applies them per request.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { AdminAccessError } from '../errors';

/** How the flag and the key are named in messages: the same words for `run` and `serve`. */
const TOKEN_OPTION = '--admin-token-file / listen.adminTokenFile';
const ADDRESS_OPTION = '--admin / listen.admin';

/** 127.0.0.0/8, ::1, an IPv4-mapped loopback, or "localhost": reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice('::ffff:'.length) : h;
  return net.isIPv4(v4) && v4.startsWith('127.');
}

/**
 * An admin listener off loopback with no token is refused: /status.json shows every request's
 * URI and /metrics the load, to whoever reaches the port. The message gives both ways out.
 */
export function checkAdminExposure(host: string, port: number, hasToken: boolean): void {
  if (hasToken || isLoopbackHost(host)) return;
  throw new AdminAccessError(
    `admin listener ${host.includes(':') ? `[${host}]` : host}:${port} (${ADDRESS_OPTION}) is not on loopback and has no token: ` +
      `bind it to 127.0.0.1 or [::1], or give a token file (${TOKEN_OPTION}) so that every endpoint but /healthz asks for it`,
  );
}

/**
 * The token in `file`: its content without the trailing newline an editor adds. Refused, as
 * ssh refuses a private key, when others can read it: a file fcgipm's own user owns must be
 * 0600 or 0400; a file another user owns (root, a Kubernetes Secret mounted with fsGroup) may
 * be readable by its group, which its owner chose, but never by everyone.
 */
export function readAdminToken(file: string, uid: number = process.getuid?.() ?? -1): Buffer {
  let st: fs.Stats;
  let text: Buffer;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      st = fs.fstatSync(fd);
      text = fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new AdminAccessError(`admin token file ${file} (${TOKEN_OPTION}): cannot read it (${code})`);
  }
  const mode = st.mode & 0o777;
  const tooOpen = (mode & 0o007) !== 0 || (st.uid === uid && (mode & 0o070) !== 0);
  if (tooOpen) {
    throw new AdminAccessError(
      `admin token file ${file} (${TOKEN_OPTION}): permissions 0${mode.toString(8)} are too open, others can read the token; chmod 600 ${file}`,
    );
  }
  if (!st.isFile()) throw new AdminAccessError(`admin token file ${file} (${TOKEN_OPTION}): not a regular file`);
  const token = Buffer.from(text.toString('utf8').replace(/\r?\n$/, ''), 'utf8');
  if (token.length === 0) throw new AdminAccessError(`admin token file ${file} (${TOKEN_OPTION}): it is empty; write a secret in it (openssl rand -hex 32)`);
  if (/[\s]/.test(token.toString('utf8'))) throw new AdminAccessError(`admin token file ${file} (${TOKEN_OPTION}): the token holds white space or more than one line; write one word`);
  return token;
}

/**
 * Whether an Authorization header carries the token: "Bearer TOKEN". Both sides are hashed
 * first so that the comparison takes the same time whatever the length or the first wrong byte.
 */
export function bearerMatches(header: string | undefined, token: Buffer): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(header ?? '');
  const given = Buffer.from(m?.[1] ?? '', 'utf8');
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b) && m !== null;
}
