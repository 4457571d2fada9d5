import type { Socket } from 'node:net';
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
  /**
   * fd handoff (docs/handoff-protocol.md): the client's socket goes to the worker with SCM_RIGHTS, with the
   * bytes already read from it as STDIN; the worker answers the client itself. No response
   * comes back through the handler, only the end (or a failure before the socket left).
   */
  readonly handoff?: HandoffSource;
}

export interface HandoffSource {
  readonly client: Socket;
  /** Bytes already read from the client: the request head and whatever followed it. */
  readonly prefix: Buffer;
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
  /**
   * A piece of the app's output. Back-pressure is the return value, as undici's onData: false
   * means "no more for now" — the connection stops reading the app (its IO timeout off) until
   * the holder of the request calls resumeResponse(). true: keep it coming.
   */
  onStdout(chunk: Buffer): boolean;
  onStderr(chunk: Buffer): void;
  onEnd(end: EndRequest): void;
  onError(err: FcgipmError): void;
}
