/**
 * The admin listener's bearer token: read from a file (not from argv, where `ps` shows it to
 * every local user) and compared; admin-server.ts asks for it on every endpoint but /healthz.
 * Whether a listener needs one at all is config/admin-exposure.ts.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import { AdminAccessError } from '../errors';

/** How the flag and the key are named in messages: the same words for `run` and `serve`. */
const TOKEN_OPTION = '--admin-token-file / listen.adminTokenFile';

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
