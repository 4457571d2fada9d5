import fs from 'node:fs';
import net from 'node:net';
import type { Readable } from 'node:stream';
import {
  ClientAbortedError,
  ConnectError,
  FcgipmError,
  IoTimeoutError,
  ProtocolError,
  WorkerClosedError,
} from '../errors';
import { decodeEndRequest } from '../protocol/bodies';
import { RecordType, Role } from '../protocol/constants';
import { encodeBeginRequest, encodeParams, encodeStream, encodeStreamEnd } from '../protocol/encoder';
import { encodeWholeRequest } from './request-bytes';
import { RecordDecoder, type FcgiRecord } from '../protocol/record-decoder';
import type { FcgiRequest, ResponseHandler } from './request';

/**
 * FCGI_KEEP_CONN is asked for only when the whole request goes out in one write, laid out for
 * libfcgi's reads (request-bytes.ts): libfcgi 2.4.2 stops reading STDIN at CONTENT_LENGTH and
 * drops its buffer at FCGX_Finish_r, so an empty STDIN record that arrives later is read by
 * the next FCGX_Accept_r on the kept connection, taken for a protocol error, and the next
 * request is dropped unanswered (fixtures/fcgi-apps/README.md). A streamed upload gets a fresh
 * connection, which removes that race. 64 KiB: the front ends read bodies up to this size
 * before dispatch (http-server.ts), and one such write is one or two socket buffers.
 */
export const KEEP_CONN_MAX_BODY = 64 * 1024;

/**
 * One request at a time per connection, always id 1: libfcgi answers a second BEGIN_REQUEST
 * with CANT_MPX_CONN, and no mainstream app multiplexes.
 */
const REQUEST_ID = 1;

export interface ConnectionOptions {
  /** Ask the app to keep the connection after END_REQUEST (FCGI_KEEP_CONN, spec §5.1). */
  readonly keepConn: boolean;
  /** Longest silence from the app while a request is active before IoTimeoutError (ms). */
  readonly ioTimeoutMs: number;
}

type State = 'idle' | 'active' | 'closed';

interface Active {
  readonly handler: ResponseHandler;
  readonly reused: boolean;
  /** The previous request on this connection carried a body. */
  readonly afterBody: boolean;
  keepConn: boolean;
  responseStarted: boolean;
  bodyDone: boolean;
  paused: boolean;
  body: Readable | undefined;
  detachBody: (() => void) | undefined;
}

/**
 * A FastCGI connection to one worker (undici's Client, for one Unix socket). It carries one
 * request at a time and is reused across requests while the app keeps it open.
 *
 * Lifecycle: connect() → request() … onEnd → request() … → close()/destroy(). After the app
 * closes it, or after any error, `reusable` is false and the owner connects anew.
 */
export class Connection {
  readonly path: string;
  private readonly socket: net.Socket;
  private readonly options: ConnectionOptions;
  private readonly decoder: RecordDecoder;
  private state: State = 'idle';
  private served = 0;
  private peerClosedIdle = false;
  /** The app's end closed with bytes of ours unread (ECONNRESET, EPIPE). */
  private peerLeftUnread = false;
  private lastHadBody = false;
  private active: Active | undefined;

  static connect(path: string, options: ConnectionOptions & { connectTimeoutMs: number }): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ConnectError(`connect to ${path} timed out after ${options.connectTimeoutMs} ms`, 'ETIMEDOUT'));
      }, options.connectTimeoutMs);
      const onError = (err: NodeJS.ErrnoException): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(new ConnectError(`connect to ${path} failed: ${err.code ?? err.message}`, err.code, err));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new Connection(socket, path, options));
      });
    });
  }

  private constructor(socket: net.Socket, path: string, options: ConnectionOptions) {
    this.socket = socket;
    this.path = path;
    this.options = options;
    // STDOUT pieces go to the client as they arrive, not reassembled into 64 KiB records first.
    this.decoder = new RecordDecoder((record) => this.onRecord(record), { streamFragments: true });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('timeout', () => this.onTimeout());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // 'close' follows every 'error'; the outcome is decided there. Linux resets a Unix
      // socket's peer when it is closed with data still unread in its receive queue, and a
      // write to a closed one fails with EPIPE: either way the app did not read all we sent.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') this.peerLeftUnread = true;
    });
    socket.on('end', () => this.onPeerClosed());
    socket.on('close', () => this.onPeerClosed());
  }

  /** True when a new request may be started on this connection. */
  get reusable(): boolean {
    return this.state === 'idle' && !this.socket.destroyed && !this.socket.readableEnded;
  }

  /** The app closed this connection while no request was on it (it ignores FCGI_KEEP_CONN). */
  get closedByPeer(): boolean {
    return this.peerClosedIdle;
  }

  /** Requests completed on this connection. */
  get requestsServed(): number {
    return this.served;
  }

  /**
   * Starts a request. The first write carries BEGIN_REQUEST, all PARAMS and, for a body held
   * in memory, all of STDIN: one large write instead of many small ones.
   */
  request(req: FcgiRequest, handler: ResponseHandler): void {
    if (!this.reusable) {
      throw new WorkerClosedError(`connection to ${this.path} is not idle`, {
        responseStarted: false,
        reusedConnection: this.served > 0,
      });
    }
    this.state = 'active';
    const body = req.body;
    const afterBody = this.lastHadBody;
    this.lastHadBody = body.kind !== 'none';
    const keepConn =
      this.options.keepConn && (body.kind === 'none' || (body.kind === 'buffer' && body.data.length <= KEEP_CONN_MAX_BODY));
    const active: Active = {
      handler,
      reused: this.served > 0,
      afterBody,
      keepConn,
      responseStarted: false,
      bodyDone: false,
      paused: false,
      body: undefined,
      detachBody: undefined,
    };
    this.active = active;
    this.socket.setTimeout(this.options.ioTimeoutMs);

    const role = req.role ?? Role.RESPONDER;
    const params = encodeParams(REQUEST_ID, req.params);
    if (body.kind === 'none' || body.kind === 'buffer') {
      const whole = encodeWholeRequest(REQUEST_ID, { role, keepConn, params, body: body.kind === 'buffer' ? body.data : undefined });
      active.keepConn = whole.keepConn;
      this.socket.write(whole.bytes);
      active.bodyDone = true;
      return;
    }
    this.socket.write(Buffer.concat([encodeBeginRequest(REQUEST_ID, role, keepConn), params]));
    this.pipeBody(active, body.kind === 'file' ? fs.createReadStream(body.path) : body.stream);
  }

  /** Stop reading the app's output (its handler said so); the IO timeout is off meanwhile. */
  private pauseResponse(): void {
    if (this.active && !this.active.paused) {
      this.active.paused = true;
      this.socket.setTimeout(0);
      this.socket.pause();
    }
  }

  /** The handler that returned false from onStdout can take output again. */
  resumeResponse(): void {
    if (this.active?.paused) {
      this.active.paused = false;
      this.socket.setTimeout(this.options.ioTimeoutMs);
      this.socket.resume();
    }
  }

  /**
   * Abandon the active request without calling its handler: libfcgi apps cannot act on
   * ABORT_REQUEST, so closing the connection is the abort.
   */
  abort(): void {
    const active = this.active;
    this.active = undefined;
    active?.detachBody?.();
    this.destroy();
  }

  /** Close an idle connection politely. Idempotent. */
  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.socket.end();
  }

  destroy(): void {
    this.state = 'closed';
    this.socket.destroy();
  }

  private pipeBody(active: Active, stream: Readable): void {
    active.body = stream;
    const onData = (chunk: Buffer): void => {
      if (!this.socket.write(encodeStream(RecordType.STDIN, REQUEST_ID, chunk))) stream.pause();
    };
    const onEnd = (): void => {
      detach();
      active.bodyDone = true;
      active.body = undefined;
      if (this.active === active) this.socket.write(encodeStreamEnd(RecordType.STDIN, REQUEST_ID));
    };
    const onFail = (): void => {
      detach();
      if (this.active === active) this.fail(new ClientAbortedError('request body stream ended before it was complete'));
    };
    const onClose = (): void => {
      if (!active.bodyDone) onFail();
    };
    const detach = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onFail);
      stream.off('close', onClose);
      active.detachBody = undefined;
    };
    active.detachBody = detach;
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onFail);
    stream.on('close', onClose);
    stream.resume();
  }

  private onDrain(): void {
    const body = this.active?.body;
    if (body && !this.active?.bodyDone) body.resume();
  }

  private onData(chunk: Buffer): void {
    const err = this.decoder.push(chunk);
    if (err) this.fail(err);
  }

  private onRecord(record: FcgiRecord): void {
    const active = this.active;
    // Management records (id 0) and records of inactive ids are ignored (spec §3.3).
    if (!active || record.requestId !== REQUEST_ID) return;
    switch (record.type) {
      case RecordType.STDOUT:
        if (record.content.length > 0) {
          active.responseStarted = true;
          if (!active.handler.onStdout(record.content)) this.pauseResponse();
        }
        return;
      case RecordType.STDERR:
        if (record.content.length > 0) {
          active.responseStarted = true;
          active.handler.onStderr(record.content);
        }
        return;
      case RecordType.END_REQUEST: {
        let end;
        try {
          end = decodeEndRequest(record.content);
        } catch (err) {
          this.fail(err instanceof ProtocolError ? err : new ProtocolError(String(err)));
          return;
        }
        this.active = undefined;
        this.served += 1;
        this.socket.setTimeout(0);
        if (active.paused) this.socket.resume();
        if (!active.bodyDone) {
          // The app answered before reading the whole body; the rest of STDIN would land in
          // the next request on this connection, so the connection is not reused.
          active.detachBody?.();
          this.destroy();
        } else if (!active.keepConn) {
          this.close();
        } else {
          this.state = 'idle';
        }
        active.handler.onEnd(end);
        return;
      }
      default:
        return;
    }
  }

  private onTimeout(): void {
    if (this.active) {
      this.fail(new IoTimeoutError(`no data from the app on ${this.path} for ${this.options.ioTimeoutMs} ms`));
    }
  }

  private onPeerClosed(): void {
    if (this.state === 'idle') this.peerClosedIdle = true;
    if (this.state !== 'closed') this.state = 'closed';
    const active = this.active;
    if (!active) return;
    const truncated = this.decoder.midRecord ? ' in the middle of a record' : '';
    this.fail(
      new WorkerClosedError(`the app closed the connection${truncated} before END_REQUEST`, {
        responseStarted: active.responseStarted,
        reusedConnection: active.reused,
        afterBody: active.afterBody,
        unread: this.peerLeftUnread,
      }),
    );
  }

  private fail(err: FcgipmError): void {
    const active = this.active;
    this.active = undefined;
    active?.detachBody?.();
    this.destroy();
    active?.handler.onError(err);
  }
}
