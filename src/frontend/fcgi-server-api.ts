import type { Readable } from 'node:stream';
import type { Logger } from '../log';

/*
 * The FastCGI front end's contract with its handler: one request from the web server and the
 * answer to it (src/frontend/fcgi-server-connection.ts serves them).
 */

/** One request from the web server, as the handler sees it. */
export interface FcgiServerRequest {
  /** Short id for log lines. */
  readonly id: string;
  /** The FastCGI request id the web server chose (nginx, httpd and cgi-fcgi all use 1). */
  readonly requestId: number;
  /** Role.RESPONDER, Role.AUTHORIZER or Role.FILTER (spec §6). */
  readonly role: number;
  /** FCGI_KEEP_CONN: the connection stays open for the next request (spec §5.1). */
  readonly keepConn: boolean;
  /** PARAMS as byte strings (latin1), in arrival order, duplicates kept. */
  readonly params: ReadonlyArray<readonly [string, string]>;
  /**
   * The request body. Ends at the empty STDIN record; when the consumer stops reading, the
   * connection stops reading the socket. For AUTHORIZER it ends at once (spec §6.3: no STDIN).
   * Destroyed with ClientAbortedError when the request is aborted before the body is complete,
   * and destroyed without an error when the response ends first (the rest is discarded).
   */
  readonly stdin: Readable;
  /** "unix", or "ip:port" of the web server. */
  readonly remote: string;
  /** Aborted on ABORT_REQUEST or when the connection is lost before the response ends. */
  readonly signal: AbortSignal;
}

/** The answer to one request. Every method is a no-op once `ended` is true. */
export interface FcgiServerResponse {
  /** Writes STDOUT records (split at 65535 bytes). false = wait for onDrain before writing more. */
  stdout(chunk: Buffer): boolean;
  /** Writes STDERR records; the web server logs them (nginx: "FastCGI sent in stderr"). */
  stderr(chunk: Buffer): void;
  /** Ends STDOUT (and STDERR if any was sent), then END_REQUEST (spec §5.5). Idempotent. */
  end(appStatus?: number, protocolStatus?: number): void;
  /** Calls cb once, when the connection can take more output (at once if it can now). */
  onDrain(cb: () => void): void;
  readonly ended: boolean;
}

/** Must not throw; if it does, the request is answered with a CGI 500 and the error logged. */
export type FcgiHandler = (req: FcgiServerRequest, res: FcgiServerResponse) => void;

export interface FcgiServerConnectionOptions {
  readonly handler: FcgiHandler;
  readonly logger: Logger;
  /** Most PARAMS bytes one request may send. */
  readonly maxParamsBytes: number;
  /** GET_VALUES answers (spec §4.1); an undefined value is left out of the answer. */
  readonly maxConns: number | undefined;
  readonly maxReqs: number | undefined;
  /** A fresh short id for each request's log lines. */
  readonly nextId: () => string;
}
