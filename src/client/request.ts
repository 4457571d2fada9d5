import type { Readable } from 'node:stream';
import type { FcgipmError } from '../errors';

/**
 * Where a request's body comes from. `buffer` and `file` can be sent again (a replay on
 * another worker); `stream` is consumed once, so a request whose stream was read from is
 * never replayed.
 */
export type RequestBody =
  | { readonly kind: 'none' }
  | { readonly kind: 'buffer'; readonly data: Buffer }
  | { readonly kind: 'file'; readonly path: string; readonly length: number }
  | { readonly kind: 'stream'; readonly stream: Readable };

export interface FcgiRequest {
  /** CGI/1.1 meta-variables and anything else the app should see as PARAMS. */
  readonly params: ReadonlyArray<readonly [string, string]>;
  readonly body: RequestBody;
  /** FastCGI role (spec §6); RESPONDER when absent. */
  readonly role?: number;
}

export interface EndRequest {
  readonly appStatus: number;
  readonly protocolStatus: number;
}

/**
 * Receives one response. Exactly one of onEnd / onError is called, once; onStdout and
 * onStderr only before it. Callbacks never throw into the connection: a handler that fails
 * reports through its own channel.
 */
export interface ResponseHandler {
  onStdout(chunk: Buffer): void;
  onStderr(chunk: Buffer): void;
  onEnd(end: EndRequest): void;
  onError(err: FcgipmError): void;
}
