import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { ProtocolStatus, RecordType } from '../protocol/constants';
import type { ParamsCollector } from '../protocol/params-collector';
import type { FcgiServerResponse } from './fcgi-server-api';

/*
 * One request on a FastCGI front-end connection: its state, the handler's view of it
 * (Response), and the canned answers the connection gives on its own.
 */

/** What a Response asks of the connection that carries its exchange. */
export interface ExchangeWriter {
  writeStream(ex: Exchange, type: number, chunk: Buffer): boolean;
  endResponse(ex: Exchange, appStatus: number, protocolStatus: number): void;
  onDrain(ex: Exchange, cb: () => void): void;
}

const INTERNAL_ERROR_BODY = '500 Internal Server Error\n';
export const INTERNAL_ERROR = Buffer.from(
  'Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\n' +
    `Content-Length: ${INTERNAL_ERROR_BODY.length}\r\n\r\n${INTERNAL_ERROR_BODY}`,
  'latin1',
);

const PARAMS_TOO_LARGE_BODY = '431 Request Header Fields Too Large\n';
export const PARAMS_TOO_LARGE = Buffer.from(
  'Status: 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\n' +
    `Content-Length: ${PARAMS_TOO_LARGE_BODY.length}\r\n\r\n${PARAMS_TOO_LARGE_BODY}`,
  'latin1',
);

/** The state of the one request a connection carries at a time. */
export interface Exchange {
  readonly id: string;
  readonly requestId: number;
  readonly role: number;
  readonly keepConn: boolean;
  readonly abort: AbortController;
  readonly stdin: Readable;
  readonly response: Response;
  /** Set until the empty PARAMS record arrives. */
  collector: ParamsCollector | undefined;
  stdinEnded: boolean;
  /** The socket is paused because stdin's buffer is full. */
  socketPaused: boolean;
  ended: boolean;
  stdoutSent: boolean;
  stderrSent: boolean;
  drainCallbacks: Array<() => void>;
}

export function remoteOf(socket: Socket): string {
  const address = socket.remoteAddress;
  if (address === undefined) return 'unix';
  return socket.remoteFamily === 'IPv6' ? `[${address}]:${socket.remotePort ?? 0}` : `${address}:${socket.remotePort ?? 0}`;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The handler's view of an exchange; the connection does the work. */
export class Response implements FcgiServerResponse {
  private readonly conn: ExchangeWriter;
  private readonly ex: () => Exchange;

  constructor(conn: ExchangeWriter, ex: () => Exchange) {
    this.conn = conn;
    this.ex = ex;
  }

  get ended(): boolean {
    return this.ex().ended;
  }

  stdout(chunk: Buffer): boolean {
    return this.conn.writeStream(this.ex(), RecordType.STDOUT, chunk);
  }

  stderr(chunk: Buffer): void {
    this.conn.writeStream(this.ex(), RecordType.STDERR, chunk);
  }

  end(appStatus = 0, protocolStatus: number = ProtocolStatus.REQUEST_COMPLETE): void {
    this.conn.endResponse(this.ex(), appStatus, protocolStatus);
  }

  onDrain(cb: () => void): void {
    this.conn.onDrain(this.ex(), cb);
  }
}
