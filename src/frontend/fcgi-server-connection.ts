import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { ClientAbortedError, FcgipmError, LimitError, ProtocolError } from '../errors';
import type { Logger } from '../log';
import { decodeBeginRequest } from '../protocol/bodies';
import { ManagementVariable, ProtocolStatus, RecordType, Role } from '../protocol/constants';
import { encodeEndRequest, encodeGetValuesResult, encodeStream, encodeStreamEnd, encodeUnknownType } from '../protocol/encoder';
import { decodePairs } from '../protocol/name-value';
import { ParamsCollector } from '../protocol/params-collector';
import { RecordDecoder, type FcgiRecord } from '../protocol/record-decoder';
import type { FcgiServerConnectionOptions, FcgiServerRequest } from './fcgi-server-api';
import { INTERNAL_ERROR, messageOf, PARAMS_TOO_LARGE, remoteOf, Response, type Exchange, type ExchangeWriter } from './fcgi-exchange';

export type { FcgiHandler, FcgiServerConnectionOptions, FcgiServerRequest, FcgiServerResponse } from './fcgi-server-api';

/**
 * After the response to a request without FCGI_KEEP_CONN, or on a graceful close, our side is
 * ended (FIN) but the socket is still read — and discarded — until the web server closes its
 * side: closing with unread bytes in the kernel buffer would send an RST, and an RST can make
 * the peer drop the response it has not read yet (the lingering close of nginx and httpd).
 * This bounds how long a peer that never closes holds the socket.
 */
const LINGER_MS = 5_000;

/** One STDIN record's worth; fewer pause/resume round trips than Node's 16 KiB default. */
const STDIN_HIGH_WATER_MARK = 64 * 1024;

const KNOWN_ROLES: ReadonlySet<number> = new Set([Role.RESPONDER, Role.AUTHORIZER, Role.FILTER]);

/**
 * One connection accepted from a web server: php-fpm's listening side, without multiplexing.
 * It reads records, answers management records itself (spec §4), runs one request at a time
 * through the handler, and owns the connection's lifetime: closed after END_REQUEST unless the
 * web server set FCGI_KEEP_CONN (spec §5.1), kept for its next request otherwise.
 *
 * Peer input never throws: malformed records are logged with the remote address and the
 * connection is destroyed (the record boundaries are lost, nothing after them can be trusted).
 */
export class FcgiServerConnection implements ExchangeWriter {
  readonly remote: string;
  private readonly socket: Socket;
  private readonly o: FcgiServerConnectionOptions;
  private log: Logger | undefined;
  private readonly decoder: RecordDecoder;
  private readonly values: ReadonlyMap<string, string>;
  private readonly onClosed: () => void;
  private ex: Exchange | undefined;
  /** open: records are processed; closing: our side ended, input discarded; closed: gone. */
  private state: 'open' | 'closing' | 'closed' = 'open';
  private closeWhenIdleFlag = false;
  private corked = false;
  private lingerTimer: NodeJS.Timeout | undefined;
  private served = 0;

  constructor(socket: Socket, options: FcgiServerConnectionOptions, onClosed: () => void) {
    this.socket = socket;
    this.o = options;
    this.remote = remoteOf(socket);
    this.onClosed = onClosed;
    const values = new Map<string, string>();
    if (options.maxConns !== undefined) values.set(ManagementVariable.MAX_CONNS, String(options.maxConns));
    if (options.maxReqs !== undefined) values.set(ManagementVariable.MAX_REQS, String(options.maxReqs));
    values.set(ManagementVariable.MPXS_CONNS, '0');
    this.values = values;
    this.decoder = new RecordDecoder((record) => this.onRecord(record));
    // Each response is written in as few writes as we can make it, so Nagle only adds delay
    // (libfcgi sets TCP_NODELAY on accepted connections too). A no-op on Unix sockets.
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onSocketDrain());
    socket.on('end', () => this.lost('the web server closed the connection'));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // 'close' follows; a reset from a web server that gave up is routine.
      this.logger.debug({ err: err.code ?? err.message }, 'connection error');
    });
    socket.on('close', () => this.onClose());
  }

  /** Log lines carry the web server's address; the child logger is made on the first line only. */
  private get logger(): Logger {
    this.log ??= this.o.logger.child({ remote: this.remote });
    return this.log;
  }

  /** A request is in progress on this connection. */
  get busy(): boolean {
    return this.ex !== undefined;
  }

  /** Requests answered on this connection. */
  get requestsServed(): number {
    return this.served;
  }

  /** Graceful close: now if no request is in progress, else right after its END_REQUEST. */
  closeWhenIdle(): void {
    this.closeWhenIdleFlag = true;
    if (!this.ex) this.endSocket();
  }

  /** Drops the connection at once; a request in progress is aborted. Idempotent. */
  destroy(): void {
    this.lost('the server was destroyed');
    this.state = 'closed';
    this.socket.destroy();
  }

  // ---- input -------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    // Input after our side ended is read only to be discarded (see LINGER_MS).
    if (this.state !== 'open') return;
    // Everything written while this chunk's records are handled (answers to management
    // records, a handler that answers synchronously) leaves in one writev.
    this.cork();
    let err: ProtocolError | undefined;
    try {
      err = this.decoder.push(chunk);
    } catch (e) {
      // Only a bug of ours lands here: onRecord catches the handler's exceptions.
      this.logger.error({ err: messageOf(e) }, 'internal error while reading records');
      this.destroy();
      return;
    }
    if (err) this.malformed(err);
  }

  private onRecord(record: FcgiRecord): void {
    if (this.state !== 'open') return;
    // §3.3: request id 0 is for management records.
    if (record.requestId === 0) {
      this.onManagement(record);
      return;
    }
    if (record.type === RecordType.BEGIN_REQUEST) {
      this.onBegin(record);
      return;
    }
    const ex = this.ex;
    // §3.3: records for an inactive request id are ignored — the rest of the STDIN of a request
    // that was already answered, or the PARAMS of one we rejected.
    if (!ex || ex.requestId !== record.requestId) return;
    switch (record.type) {
      case RecordType.PARAMS:
        this.onParams(ex, record.content);
        return;
      case RecordType.STDIN:
        this.onStdin(ex, record.content);
        return;
      case RecordType.DATA:
        // The Filter role's file data (§6.4) has no place in the handler API; the stream is
        // consumed and dropped so the request can still complete.
        return;
      case RecordType.ABORT_REQUEST:
        this.onAbortRequest(ex);
        return;
      default:
        this.malformed(new ProtocolError(`record type ${record.type} is not one a web server sends (spec §3.3, §8)`));
    }
  }

  /** §4: management records are answered by the library, never by the application. */
  private onManagement(record: FcgiRecord): void {
    if (record.type !== RecordType.GET_VALUES) {
      // §4.2: any other management type, including ones from future versions.
      this.send(encodeUnknownType(record.type));
      return;
    }
    let asked: Array<[string, string]>;
    try {
      asked = decodePairs(record.content);
    } catch (err) {
      this.malformed(err instanceof ProtocolError ? err : new ProtocolError(messageOf(err)));
      return;
    }
    // §4.1: values for the names we know, unknown names left out, each name once.
    const answer = new Map<string, string>();
    for (const [name] of asked) {
      const value = this.values.get(name);
      if (value !== undefined) answer.set(name, value);
    }
    this.send(encodeGetValuesResult([...answer]));
  }

  private onBegin(record: FcgiRecord): void {
    let begin: { role: number; keepConn: boolean };
    try {
      begin = decodeBeginRequest(record.content);
    } catch (err) {
      this.malformed(err instanceof ProtocolError ? err : new ProtocolError(messageOf(err)));
      return;
    }
    const requestId = record.requestId;
    const active = this.ex;
    if (active) {
      if (active.requestId === requestId) {
        this.malformed(new ProtocolError(`BEGIN_REQUEST for request ${requestId}, which is already active (spec §3.3)`));
        return;
      }
      // §5.5, and what libfcgi does: one request per connection; reject the other, keep ours.
      this.logger.debug({ reqId: active.id, requestId }, 'second request on a connection; answered CANT_MPX_CONN');
      this.send(encodeEndRequest(requestId, 0, ProtocolStatus.CANT_MPX_CONN));
      return;
    }
    if (!KNOWN_ROLES.has(begin.role)) {
      this.logger.warn({ role: begin.role, requestId }, 'unknown FastCGI role; answered UNKNOWN_ROLE');
      this.send(encodeEndRequest(requestId, 0, ProtocolStatus.UNKNOWN_ROLE));
      if (!begin.keepConn || this.closeWhenIdleFlag) this.endSocket();
      return;
    }
    const id = this.o.nextId();
    const stdin: Readable = new Readable({
      highWaterMark: STDIN_HIGH_WATER_MARK,
      read: () => this.resumeForStdin(stdin),
    });
    // A consumer that does not listen for 'error' must not crash the process when the web
    // server goes away mid-body; one that does still gets the error.
    stdin.on('error', () => undefined);
    const ex: Exchange = {
      id,
      requestId,
      role: begin.role,
      keepConn: begin.keepConn,
      abort: new AbortController(),
      stdin,
      response: new Response(this, () => ex),
      collector: new ParamsCollector({ maxBytes: this.o.maxParamsBytes }),
      stdinEnded: false,
      socketPaused: false,
      ended: false,
      stdoutSent: false,
      stderrSent: false,
      drainCallbacks: [],
    };
    this.ex = ex;
  }

  /** The consumer wants more body: resume the socket if stdin's back-pressure paused it. */
  private resumeForStdin(stdin: Readable): void {
    const ex = this.ex;
    if (ex && ex.stdin === stdin && ex.socketPaused) {
      ex.socketPaused = false;
      this.socket.resume();
    }
  }

  private onParams(ex: Exchange, content: Buffer): void {
    const collector = ex.collector;
    if (!collector) {
      this.malformed(new ProtocolError('PARAMS record after the empty record that ended the stream (spec §3.3)'));
      return;
    }
    const result = collector.push(content);
    if (result === undefined) return;
    if (result instanceof LimitError) {
      this.paramsTooLarge(ex, result);
      return;
    }
    if (result instanceof ProtocolError) {
      this.malformed(result);
      return;
    }
    ex.collector = undefined;
    this.startHandler(ex, result);
  }

  private startHandler(ex: Exchange, params: Array<[string, string]>): void {
    if (ex.role === Role.AUTHORIZER) {
      // §6.3: an Authorizer gets no body. Whatever STDIN the web server still sends (an empty
      // record, from some) is dropped in onStdin.
      ex.stdinEnded = true;
      ex.stdin.push(null);
    }
    const req: FcgiServerRequest = Object.freeze({
      id: ex.id,
      requestId: ex.requestId,
      role: ex.role,
      keepConn: ex.keepConn,
      params,
      stdin: ex.stdin,
      remote: this.remote,
      signal: ex.abort.signal,
    });
    try {
      this.o.handler(req, ex.response);
    } catch (err) {
      this.handlerFailed(ex, err);
    }
  }

  private onStdin(ex: Exchange, content: Buffer): void {
    if (ex.collector) {
      // libfcgi treats this as a protocol error too: the app reads PARAMS to the end first.
      this.malformed(new ProtocolError('STDIN record before the end of the PARAMS stream (spec §6.2)'));
      return;
    }
    if (ex.stdinEnded) {
      if (ex.role === Role.AUTHORIZER) return;
      this.malformed(new ProtocolError('STDIN record after the empty record that ended the stream (spec §3.3)'));
      return;
    }
    if (content.length === 0) {
      ex.stdinEnded = true;
      if (!ex.stdin.destroyed) ex.stdin.push(null);
      return;
    }
    // A consumer that destroyed the stream wants no more of it; pausing for it would stall.
    if (ex.stdin.destroyed) return;
    if (!ex.stdin.push(content) && !ex.socketPaused) {
      ex.socketPaused = true;
      this.socket.pause();
    }
  }

  /**
   * §5.4: the web server gives up on the request. The handler hears it through the signal and
   * may still write; then the response is ended (END_REQUEST, REQUEST_COMPLETE) if it is not.
   */
  private onAbortRequest(ex: Exchange): void {
    this.logger.debug({ reqId: ex.id }, 'ABORT_REQUEST');
    const err = new ClientAbortedError('the web server sent ABORT_REQUEST');
    this.failStdin(ex, err);
    ex.abort.abort(err);
    if (!ex.ended) this.endResponse(ex, 0, ProtocolStatus.REQUEST_COMPLETE);
  }

  // ---- output ------------------------------------------------------------------------------

  /** STDOUT or STDERR content for the exchange; the return value is socket back-pressure. */
  writeStream(ex: Exchange, type: number, chunk: Buffer): boolean {
    // Nobody will drain a finished request; let the caller run to its end instead of waiting.
    if (ex.ended) return true;
    // An empty record would end the stream (§3.3); only end() may do that.
    if (chunk.length === 0) return !this.socket.writableNeedDrain;
    if (type === RecordType.STDOUT) ex.stdoutSent = true;
    else ex.stderrSent = true;
    // One Buffer per call: a 1 MiB chunk is one 16-record write, not 32 small ones.
    return this.send(encodeStream(type, ex.requestId, chunk));
  }

  endResponse(ex: Exchange, appStatus: number, protocolStatus: number): void {
    if (ex.ended) return;
    // Encoded first: a bad status is the caller's bug and throws before anything changes.
    const endRecord = encodeEndRequest(ex.requestId, appStatus, protocolStatus);
    ex.ended = true;
    // §3.3: every stream a role uses ends with an empty record; STDERR only if it was used.
    const parts = [encodeStreamEnd(RecordType.STDOUT, ex.requestId)];
    if (ex.stderrSent) parts.push(encodeStreamEnd(RecordType.STDERR, ex.requestId));
    parts.push(endRecord);
    this.send(Buffer.concat(parts));
    this.finish(ex);
  }

  onDrain(ex: Exchange, cb: () => void): void {
    if (ex.ended) return;
    if (!this.socket.writableNeedDrain) {
      process.nextTick(() => this.runDrainCallback(ex, cb));
      return;
    }
    ex.drainCallbacks.push(cb);
  }

  private onSocketDrain(): void {
    const ex = this.ex;
    if (!ex || ex.drainCallbacks.length === 0) return;
    const callbacks = ex.drainCallbacks;
    ex.drainCallbacks = [];
    for (const cb of callbacks) this.runDrainCallback(ex, cb);
  }

  private runDrainCallback(ex: Exchange, cb: () => void): void {
    if (ex.ended) return;
    try {
      cb();
    } catch (err) {
      this.handlerFailed(ex, err);
    }
  }

  private send(buf: Buffer): boolean {
    if (this.state === 'closed' || !this.socket.writable) return true;
    this.cork();
    return this.socket.write(buf);
  }

  /** Batches every write of this tick into one writev. */
  private cork(): void {
    if (this.corked || !this.socket.writable) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(() => {
      this.corked = false;
      this.socket.uncork();
    });
  }

  // ---- request and connection ends ---------------------------------------------------------

  /** The request is over (END_REQUEST written): its id is inactive from here on (§3.3). */
  private finish(ex: Exchange): void {
    if (this.ex === ex) this.ex = undefined;
    this.served += 1;
    ex.drainCallbacks = [];
    // The rest of its STDIN, if any, will be ignored: no consumer gets more of it.
    if (!ex.stdinEnded && !ex.stdin.destroyed) ex.stdin.destroy();
    if (ex.socketPaused) {
      ex.socketPaused = false;
      this.socket.resume();
    }
    // §5.1: without FCGI_KEEP_CONN the application closes the connection after END_REQUEST.
    if (!ex.keepConn || this.closeWhenIdleFlag) this.endSocket();
  }

  private failStdin(ex: Exchange, err: FcgipmError): void {
    if (!ex.stdinEnded && !ex.stdin.destroyed) ex.stdin.destroy(err);
  }

  /** The connection is going away under a request: no response can reach the web server. */
  private lost(reason: string, cause?: FcgipmError): void {
    const ex = this.ex;
    if (!ex) return;
    const err = cause ?? new ClientAbortedError(reason);
    this.ex = undefined;
    ex.ended = true;
    ex.drainCallbacks = [];
    this.logger.info({ reqId: ex.id, reason }, 'request aborted');
    this.failStdin(ex, err);
    ex.abort.abort(err);
  }

  private handlerFailed(ex: Exchange, err: unknown): void {
    this.logger.error({ reqId: ex.id, err: messageOf(err), stack: err instanceof Error ? err.stack : undefined }, 'handler threw; request answered 500');
    if (ex.ended) return;
    if (!ex.stdoutSent) this.writeStream(ex, RecordType.STDOUT, INTERNAL_ERROR);
    this.endResponse(ex, 1, ProtocolStatus.REQUEST_COMPLETE);
  }

  private paramsTooLarge(ex: Exchange, err: LimitError): void {
    this.logger.warn({ reqId: ex.id, limit: err.limit, received: ex.collector?.receivedBytes }, 'PARAMS over the limit; request answered 431 and connection closed');
    // The rest of the PARAMS stream is still on its way; closing is simpler than skipping it.
    this.closeWhenIdleFlag = true;
    this.writeStream(ex, RecordType.STDOUT, PARAMS_TOO_LARGE);
    this.endResponse(ex, 1, ProtocolStatus.REQUEST_COMPLETE);
  }

  private malformed(err: ProtocolError): void {
    if (this.state === 'closed') return;
    // One line per connection, with the stable code to match on (the message says which rule).
    this.logger.warn({ code: err.code, err: err.message, reqId: this.ex?.id }, 'malformed FastCGI input; connection closed');
    this.lost('malformed FastCGI input', err);
    this.state = 'closed';
    this.socket.destroy();
  }

  /** Ends our side, keeps discarding input until the peer closes (see LINGER_MS). */
  private endSocket(): void {
    if (this.state !== 'open') return;
    this.state = 'closing';
    this.socket.resume();
    this.socket.end();
    this.lingerTimer = setTimeout(() => this.socket.destroy(), LINGER_MS);
    this.lingerTimer.unref();
  }

  private onClose(): void {
    this.lost('the connection closed');
    this.state = 'closed';
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.onClosed();
  }
}
