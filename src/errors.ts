/**
 * Every error fcgipm raises, in one place (the undici habit: branch on `code`, never on the
 * message). Each code maps to exactly one HTTP status, which the front ends answer with.
 * This module imports nothing, so every layer — src/protocol/ included — may use it.
 */

export type ErrorCode =
  | 'FCGIPM_ERR_PROTOCOL'
  | 'FCGIPM_ERR_LIMIT'
  | 'FCGIPM_ERR_BAD_CGI_HEADER'
  | 'FCGIPM_ERR_WORKER_CLOSED'
  | 'FCGIPM_ERR_CONNECT'
  | 'FCGIPM_ERR_SPAWN'
  | 'FCGIPM_ERR_STARTUP_TIMEOUT'
  | 'FCGIPM_ERR_QUEUE_FULL'
  | 'FCGIPM_ERR_QUEUE_TIMEOUT'
  | 'FCGIPM_ERR_IO_TIMEOUT'
  | 'FCGIPM_ERR_BUSY_TIMEOUT'
  | 'FCGIPM_ERR_BODY_TOO_LARGE'
  | 'FCGIPM_ERR_SPOOL'
  | 'FCGIPM_ERR_CLIENT_ABORTED'
  | 'FCGIPM_ERR_CLIENT_TIMEOUT'
  | 'FCGIPM_ERR_CLOSED'
  | 'FCGIPM_ERR_IPC_DIR'
  | 'FCGIPM_ERR_NATIVE'
  | 'FCGIPM_ERR_INVALID_ARG'
  | 'FCGIPM_ERR_CONFIG'
  | 'FCGIPM_ERR_HANDOFF'
  | 'FCGIPM_ERR_LISTEN'
  | 'FCGIPM_ERR_ADMIN_ACCESS';

/** The HTTP status a front end answers with when a request fails with this code. */
const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  FCGIPM_ERR_PROTOCOL: 502,
  FCGIPM_ERR_LIMIT: 502,
  FCGIPM_ERR_BAD_CGI_HEADER: 502,
  FCGIPM_ERR_WORKER_CLOSED: 502,
  FCGIPM_ERR_CONNECT: 502,
  FCGIPM_ERR_SPAWN: 503,
  FCGIPM_ERR_STARTUP_TIMEOUT: 503,
  FCGIPM_ERR_QUEUE_FULL: 503,
  FCGIPM_ERR_QUEUE_TIMEOUT: 503,
  FCGIPM_ERR_IO_TIMEOUT: 504,
  FCGIPM_ERR_BUSY_TIMEOUT: 504,
  FCGIPM_ERR_BODY_TOO_LARGE: 413,
  // nginx answers 500 when it cannot write client_body_temp_path (a full disk): the fault is
  // the server's, not the request's, so neither 413 nor 507 (a WebDAV status).
  FCGIPM_ERR_SPOOL: 500,
  // The client is gone; nobody reads the status. 499 is nginx's "client closed request".
  FCGIPM_ERR_CLIENT_ABORTED: 499,
  FCGIPM_ERR_CLIENT_TIMEOUT: 408,
  FCGIPM_ERR_CLOSED: 503,
  FCGIPM_ERR_IPC_DIR: 500,
  FCGIPM_ERR_NATIVE: 500,
  FCGIPM_ERR_INVALID_ARG: 500,
  FCGIPM_ERR_CONFIG: 500,
  // The worker could not take the client socket (connect or sendmsg failed): nothing was sent.
  FCGIPM_ERR_HANDOFF: 502,
  // Start-up only: no request is ever answered with it.
  FCGIPM_ERR_LISTEN: 500,
  // Start-up only, like LISTEN: the admin listener would be open to anyone who can reach it.
  FCGIPM_ERR_ADMIN_ACCESS: 500,
};

export class FcgipmError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.httpStatus = HTTP_STATUS[code];
    this.name = new.target.name;
  }
}

/** Malformed FastCGI bytes from a peer (bad version, truncated pair, record out of place). */
export class ProtocolError extends FcgipmError {
  constructor(message: string) {
    super('FCGIPM_ERR_PROTOCOL', message);
  }
}

/** A peer exceeded a configured size limit (PARAMS bytes, CGI header block bytes). */
export class LimitError extends FcgipmError {
  readonly limit: number;
  constructor(message: string, limit: number) {
    super('FCGIPM_ERR_LIMIT', message);
    this.limit = limit;
  }
}

/** The app's CGI header block is unusable (RFC 3875 §6: line without ':', bad Status, none). */
export class BadCgiHeaderError extends FcgipmError {
  constructor(message: string) {
    super('FCGIPM_ERR_BAD_CGI_HEADER', message);
  }
}

/**
 * The worker closed the connection (or died) before END_REQUEST. The pool decides from these
 * facts whether the request may be replayed on another worker (docs/architecture.md, "The
 * manager dispatches"): only when the app answered nothing on a connection it had already served,
 * the body can be sent again, and the worker exited cleanly — php-cgi's
 * PHP_FCGI_MAX_REQUESTS race. A request the app may have acted on is never replayed.
 */
export class WorkerClosedError extends FcgipmError {
  /** Some STDOUT or STDERR byte of this request arrived. */
  readonly responseStarted: boolean;
  /** The connection had carried an earlier request (a kept FCGI_KEEP_CONN connection). */
  readonly reusedConnection: boolean;
  /** The request before this one on the connection carried a body (see Connection.request). */
  readonly afterBody: boolean;
  /**
   * The app's end of the connection went away with bytes of ours it had not read (ECONNRESET
   * or EPIPE on the Unix socket): it never read all of this request.
   */
  readonly unread: boolean;
  constructor(message: string, facts: { responseStarted: boolean; reusedConnection: boolean; afterBody?: boolean; unread?: boolean }) {
    super('FCGIPM_ERR_WORKER_CLOSED', message);
    this.responseStarted = facts.responseStarted;
    this.reusedConnection = facts.reusedConnection;
    this.afterBody = facts.afterBody ?? false;
    this.unread = facts.unread ?? false;
  }
}

/** connect() to a worker socket failed; nothing was sent, so the request may be replayed. */
export class ConnectError extends FcgipmError {
  readonly syscallCode: string | undefined;
  constructor(message: string, syscallCode?: string, cause?: unknown) {
    super('FCGIPM_ERR_CONNECT', message, { cause });
    this.syscallCode = syscallCode;
  }
}

/** The worker could not be started (exec failure, socket creation failure). */
export class SpawnError extends FcgipmError {
  constructor(message: string, cause?: unknown) {
    super('FCGIPM_ERR_SPAWN', message, { cause });
  }
}

/** A worker did not start accepting connections within the start-up timeout. */
export class StartupTimeoutError extends FcgipmError {
  constructor(message: string) {
    super('FCGIPM_ERR_STARTUP_TIMEOUT', message);
  }
}

export class QueueFullError extends FcgipmError {
  constructor(message: string) {
    super('FCGIPM_ERR_QUEUE_FULL', message);
  }
}

export class QueueTimeoutError extends FcgipmError {
  constructor(message: string) {
    super('FCGIPM_ERR_QUEUE_TIMEOUT', message);
  }
}

/** No byte from the app within the IO timeout (mod_fcgid's FcgidIOTimeout, but a 504). */
export class IoTimeoutError extends FcgipmError {
  constructor(message: string) {
    super('FCGIPM_ERR_IO_TIMEOUT', message);
  }
}

/** The request ran longer than the busy timeout; the worker was killed. */
export class BusyTimeoutError extends FcgipmError {
  constructor(message: string) {
    super('FCGIPM_ERR_BUSY_TIMEOUT', message);
  }
}

export class BodyTooLargeError extends FcgipmError {
  constructor(message: string) {
    super('FCGIPM_ERR_BODY_TOO_LARGE', message);
  }
}

/** A request body could not be written to its temp file (a full disk: ENOSPC). The message names the file and the errno. */
export class SpoolError extends FcgipmError {
  constructor(message: string, cause?: unknown) {
    super('FCGIPM_ERR_SPOOL', message, { cause });
  }
}

export class ClientAbortedError extends FcgipmError {
  constructor(message: string) {
    super('FCGIPM_ERR_CLIENT_ABORTED', message);
  }
}

/** The client paused longer than the body timeout while sending a request body (nginx answers 408 too). */
export class ClientTimeoutError extends FcgipmError {
  constructor(message: string) {
    super('FCGIPM_ERR_CLIENT_TIMEOUT', message);
  }
}

/** The pool or manager is closing and takes no new requests. */
export class ClosedError extends FcgipmError {
  constructor(message: string) {
    super('FCGIPM_ERR_CLOSED', message);
  }
}

/** The IPC socket directory cannot be created or used. The message is one line for operators. */
export class IpcDirError extends FcgipmError {
  constructor(message: string, cause?: unknown) {
    super('FCGIPM_ERR_IPC_DIR', message, { cause });
  }
}

/** A system call in the native addon failed; `errno` is the symbolic name (EADDRINUSE, …). */
export class NativeError extends FcgipmError {
  readonly errno: string;
  readonly syscall: string;
  constructor(syscall: string, errno: string, message: string) {
    super('FCGIPM_ERR_NATIVE', message);
    this.syscall = syscall;
    this.errno = errno;
  }
}

/** A bad option passed to a constructor; the message names the option. */
export class InvalidArgumentError extends FcgipmError {
  constructor(message: string) {
    super('FCGIPM_ERR_INVALID_ARG', message);
  }
}

/** One mistake in a configuration file, located as editors and compilers print it. */
export interface ConfigProblem {
  readonly file: string;
  /** 1-based; 0 when the problem has no single place (a missing required key). */
  readonly line: number;
  readonly column: number;
  /** Dotted key path, e.g. "sites[0].wrappers[1].command". */
  readonly key: string;
  readonly message: string;
}

/** "file:line:column: key: message", the form `fcgipm check-config` prints. */
export function formatConfigProblem(p: ConfigProblem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}:${p.column}` : p.file;
  return p.key ? `${where}: ${p.key}: ${p.message}` : `${where}: ${p.message}`;
}

/** A configuration that cannot be used; `problems` lists every mistake found, not just the first. */
export class ConfigError extends FcgipmError {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super('FCGIPM_ERR_CONFIG', problems.map(formatConfigProblem).join('\n') || 'invalid configuration');
    this.problems = problems;
  }
}

/** The client socket could not be passed to a handoff worker; nothing reached the worker. */
export class HandoffError extends FcgipmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FCGIPM_ERR_HANDOFF', message, options);
  }
}

/**
 * A listener could not bind (EADDRINUSE, EACCES…). The message names the listener by its key,
 * its address, the reason in words and how to change it; `cause` is the system error.
 */
export class ListenError extends FcgipmError {
  /** "http", "fastcgi" or "admin". */
  readonly listener: string;
  /** The system error code (EADDRINUSE…), when there was one. */
  readonly errno: string | undefined;
  constructor(message: string, listener: string, errno: string | undefined, options?: { cause?: unknown }) {
    super('FCGIPM_ERR_LISTEN', message, options);
    this.listener = listener;
    this.errno = errno;
  }
}

/**
 * The admin listener would not be protected: an address off loopback without a token file,
 * or a token file others can read. The message names the flag and key and the ways out.
 */
export class AdminAccessError extends FcgipmError {
  constructor(message: string) {
    super('FCGIPM_ERR_ADMIN_ACCESS', message);
  }
}
