import type { EndRequest, ResponseHandler } from '../client/request';
import { LimitError, type FcgipmError } from '../errors';
import type { DispatchHandle, Pool, RequestInfo } from '../pm/pool';
import { CgiHeaderParser, type CgiHead } from '../protocol/cgi-response';
import { Role } from '../protocol/constants';

/**
 * FastCGI AUTHORIZER role (spec §6.3) as mod_fcgid runs it for FcgidAuthenticator,
 * FcgidAuthorizer and FcgidAccessChecker (mod_fcgid 2.3.9):
 * - the app gets role AUTHORIZER and FCGI_APACHE_ROLE, the request's variables without
 *   CONTENT_LENGTH, PATH_INFO, PATH_TRANSLATED and SCRIPT_NAME, and no body;
 * - it passes when it answers 200 without a Location; its `Variable-NAME: value` headers
 *   then reach the responder as NAME=value;
 * - any other answer is the client's answer, exactly as the app sent it. mod_fcgid turns it
 *   into 401 and leaks the authorizer's headers into the final response; we do neither.
 */

export type AuthPhase = 'ACCESS_CHECKER' | 'AUTHENTICATOR' | 'AUTHORIZER';

/** Apache's order: access (host-based) checks, then who the user is, then what they may do. */
export const AUTH_PHASES: readonly AuthPhase[] = ['ACCESS_CHECKER', 'AUTHENTICATOR', 'AUTHORIZER'];

/** Variables an authorizer never sees (mod_fcgid removes them; spec §6.3: no body). */
const NOT_FOR_AUTHORIZERS = new Set(['CONTENT_LENGTH', 'PATH_INFO', 'PATH_TRANSLATED', 'SCRIPT_NAME']);

/** Largest answer (head and body) an authorizer may send; it is held in memory. */
const MAX_AUTH_RESPONSE_BYTES = 1024 * 1024;

export type AuthOutcome =
  | { readonly pass: true; readonly variables: ReadonlyArray<readonly [string, string]> }
  | { readonly pass: false; readonly head: CgiHead; readonly body: Buffer };

/** Basic credentials from an Authorization header (RFC 7617), or undefined. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  if (header === undefined) return undefined;
  const m = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(header);
  if (!m || m[1] === undefined) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('latin1');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The params an authorizer of this phase is sent, from the responder's params. */
export function authorizerParams(
  params: ReadonlyArray<readonly [string, string]>,
  phase: AuthPhase,
  credentials: { user: string; password: string } | undefined,
): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, value] of params) {
    if (NOT_FOR_AUTHORIZERS.has(name) || name === 'REMOTE_USER' || name === 'REMOTE_PASSWD') continue;
    out.push([name, value]);
  }
  out.push(['FCGI_APACHE_ROLE', phase]);
  if (credentials && phase !== 'ACCESS_CHECKER') {
    out.push(['REMOTE_USER', credentials.user]);
    if (phase === 'AUTHENTICATOR') out.push(['REMOTE_PASSWD', credentials.password]);
  }
  return out;
}

/** The `Variable-NAME` headers of a passing answer, as NAME=value (spec §6.3). */
export function variablesFrom(head: CgiHead): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, value] of head.headers) {
    if (name.length > 9 && name.slice(0, 9).toLowerCase() === 'variable-') out.push([name.slice(9), value]);
  }
  return out;
}

/** Whether an answer lets the request through: 200 (or no Status) and no Location. */
export function passes(head: CgiHead): boolean {
  return (head.status ?? 200) === 200 && head.location === undefined;
}

/** Collects one authorizer answer in memory. */
class AuthResponse implements ResponseHandler {
  private readonly parser = new CgiHeaderParser({ maxHeaderBytes: 64 * 1024 });
  private head: CgiHead | undefined;
  private readonly body: Buffer[] = [];
  private bytes = 0;
  handle: DispatchHandle | undefined;

  constructor(private readonly settle: (outcome: AuthOutcome | FcgipmError) => void) {}

  /** An authorizer's answer is small and read whole: its output never waits. */
  onStdout(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    if (this.bytes > MAX_AUTH_RESPONSE_BYTES) {
      this.handle?.abort();
      this.settle(new LimitError(`authorizer answer exceeds ${MAX_AUTH_RESPONSE_BYTES} bytes`, MAX_AUTH_RESPONSE_BYTES));
      return true;
    }
    if (this.head) {
      this.body.push(chunk);
      return true;
    }
    const r = this.parser.push(chunk);
    if ('error' in r) {
      this.handle?.abort();
      this.settle(r.error);
      return true;
    }
    if (r.done) {
      this.head = r.head;
      if (r.rest.length > 0) this.body.push(r.rest);
    }
    return true;
  }

  onStderr(): void {
    // Logged by the pool with the request id.
  }

  onEnd(_end: EndRequest): void {
    if (!this.head) {
      this.settle(this.parser.end());
      return;
    }
    const head = this.head;
    this.settle(passes(head) ? { pass: true, variables: variablesFrom(head) } : { pass: false, head, body: Buffer.concat(this.body) });
  }

  onError(err: FcgipmError): void {
    this.settle(err);
  }
}

/**
 * Runs one authorizer on its pool. Resolves with the outcome; a transport failure (queue full,
 * the app crashed) resolves with the error, which the caller answers with its status.
 */
export function runAuthorizer(
  pool: Pool,
  params: ReadonlyArray<readonly [string, string]>,
  info: RequestInfo,
): { readonly done: Promise<AuthOutcome | FcgipmError>; abort(): void } {
  let handle: DispatchHandle | undefined;
  let finished = false;
  const done = new Promise<AuthOutcome | FcgipmError>((resolve) => {
    const response = new AuthResponse((outcome) => {
      if (finished) return;
      finished = true;
      resolve(outcome);
    });
    handle = pool.dispatch({ params, body: { kind: 'none' }, role: Role.AUTHORIZER }, response, info);
    response.handle = handle;
  });
  return {
    done,
    abort: () => {
      if (!finished) handle?.abort();
    },
  };
}
