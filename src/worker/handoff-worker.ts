import http from 'node:http';
import net from 'node:net';
import pino from 'pino';
import { InvalidArgumentError } from '../errors';
import type { Logger } from '../log';
import { decodeBeginRequest } from '../protocol/bodies';
import { ProtocolStatus, RecordType, Role } from '../protocol/constants';
import { encodeEndRequest } from '../protocol/encoder';
import { ParamsCollector } from '../protocol/params-collector';
import { RecordDecoder, type FcgiRecord } from '../protocol/record-decoder';
import { closeFd, isNativeErrno, recvFd } from '../spawn/native';

/**
 * The worker's half of the fd handoff (docs/handoff-protocol.md) for Node apps: fcgipm
 * passes each HTTP client connection over the listening socket on fd 0, and this helper
 * turns it into an ordinary 'connection' of an http.Server, so the app is a plain
 * `(req, res)` handler that owns its connections (keep-alive, pipelining) while fcgipm only
 * counts it busy until the connection is over.
 *
 *     const { serveHandoff } = require('fcgipm/dist/worker/handoff-worker');
 *     serveHandoff((req, res) => res.end('hello\n'));
 */

export interface HandoffWorkerOptions {
  /** The inherited listening Unix socket; fcgipm passes it as fd 0 (FCGI_LISTENSOCK_FILENO). */
  readonly fd?: number;
  /** Default: pino on stderr, which fcgipm captures into its own log. */
  readonly logger?: Logger;
}

export interface HandoffWorker {
  /**
   * The http.Server the handler is attached to. It never listens itself; set its
   * keepAliveTimeout (default 5 s) and friends here. Every second a kept-alive client sits
   * idle, fcgipm counts this worker busy.
   */
  readonly server: http.Server;
  /** Resolves once the inherited socket is being listened on; rejects if it cannot be. */
  readonly listening: Promise<void>;
  /**
   * Graceful: stops accepting, lets each client finish the request it is on (then closes
   * it), and resolves when every END_REQUEST has been written. Idempotent.
   */
  close(): Promise<void>;
  /** Drops every client at once; END_REQUEST still goes out for each. Idempotent. */
  destroy(): void;
}

/** The first message: the records of a typical request in one recvmsg. */
const RECV_BYTES = 256 * 1024;
/** More STDIN than this is not the bytes of a request head: a confused peer. */
const MAX_PREFIX_BYTES = 16 * 1024 * 1024;
const MAX_PARAMS_BYTES = 1024 * 1024;
/**
 * fcgipm writes its request right after connect(), so the first recvmsg usually finds it.
 * When not: retried on setImmediate a few times, then on timers from 1 ms doubling to 10 ms,
 * and the connection is dropped after 2 s — as libfcgi drops a connection that stays silent
 * for 2 s. Polling, because the connection must not be read by libuv before the message
 * carrying the descriptor (a plain read discards SCM_RIGHTS) and Node offers no readiness
 * callback without a read.
 */
const RECV_IMMEDIATE_RETRIES = 3;
const RECV_MAX_DELAY_MS = 10;
const RECV_LIMIT_MS = 2000;

/**
 * The OS descriptor behind a net.Socket. Node exposes it only as the undocumented
 * `_handle.fd` of its libuv wrap; this is the one place this file reaches into it.
 */
function socketFd(socket: net.Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

function defaultLogger(): Logger {
  return pino({ name: 'fcgipm-handoff', level: process.env.FCGIPM_LOG_LEVEL ?? 'info' }, pino.destination({ dest: 2, sync: true }));
}

function errorText(err: unknown): string {
  const message = typeof err === 'object' && err !== null ? (err as { message?: unknown }).message : undefined;
  return typeof message === 'string' ? message : String(err);
}

/** One accepted Unix connection: the handoff request, then the client it brought. */
class Incoming {
  private readonly conn: net.Socket;
  private readonly owner: Worker;
  private readonly log: Logger;
  private readonly decoder: RecordDecoder;
  private readonly params = new ParamsCollector({ maxBytes: MAX_PARAMS_BYTES });
  private readonly startedAt = Date.now();
  private requestId: number | undefined;
  private handoffFlag = false;
  private paramsDone = false;
  private prefix: Buffer[] = [];
  private prefixBytes = 0;
  private clientFd = -1;
  private stdinDone = false;
  private retries = 0;
  private delay = 1;
  private immediate: NodeJS.Immediate | undefined;
  private timeout: NodeJS.Timeout | undefined;
  /** The client as a net.Socket, once the handoff is complete. */
  client: net.Socket | undefined;
  /** END_REQUEST written (or the connection gone): this handoff is over. */
  finished = false;

  constructor(conn: net.Socket, owner: Worker, log: Logger) {
    this.conn = conn;
    this.owner = owner;
    this.log = log;
    this.decoder = new RecordDecoder((record) => this.onRecord(record));
    conn.on('error', (err) => this.log.debug({ err: err.message }, 'handoff connection error'));
    conn.on('close', () => this.onConnClose());
    this.receive();
  }

  /** recvmsg until the descriptor has arrived; then libuv may read the rest normally. */
  private receive(): void {
    this.immediate = undefined;
    this.timeout = undefined;
    if (this.finished) return;
    const fd = socketFd(this.conn);
    if (fd === undefined) return this.fail('handoff connection closed before the request');
    let got;
    try {
      got = recvFd(fd, RECV_BYTES);
    } catch (err) {
      if (isNativeErrno(err, 'EAGAIN')) return this.retry();
      return this.fail(`recvmsg failed: ${errorText(err)}`);
    }
    if (got.fd >= 0) this.clientFd = got.fd;
    if (got.data.length === 0) return this.fail('fcgipm closed the handoff connection before sending the request');
    // The descriptor rides on the first byte fcgipm sends (it passes it on its first sendmsg).
    if (this.clientFd < 0) return this.fail('the first handoff message carried no descriptor');
    this.onData(got.data);
    if (this.finished) return;
    this.conn.on('data', (chunk: Buffer) => this.onData(chunk));
    this.conn.resume();
  }

  private retry(): void {
    const elapsed = Date.now() - this.startedAt;
    if (elapsed >= RECV_LIMIT_MS) return this.fail(`no handoff request within ${RECV_LIMIT_MS} ms`);
    if (this.retries < RECV_IMMEDIATE_RETRIES) {
      this.retries += 1;
      this.immediate = setImmediate(() => this.receive());
      return;
    }
    this.timeout = setTimeout(() => this.receive(), this.delay);
    this.delay = Math.min(this.delay * 2, RECV_MAX_DELAY_MS);
  }

  private onData(chunk: Buffer): void {
    if (this.stdinDone || this.finished) return; // nothing follows the empty STDIN; ignored
    let err: Error | undefined;
    try {
      err = this.decoder.push(chunk);
    } catch (thrown) {
      // decodeBeginRequest refuses a BEGIN_REQUEST body that is not 8 bytes.
      err = thrown instanceof Error ? thrown : new Error(String(thrown));
    }
    if (err) this.fail(err.message);
  }

  private onRecord(record: FcgiRecord): void {
    if (this.stdinDone || this.finished) return;
    switch (record.type) {
      case RecordType.BEGIN_REQUEST: {
        const begin = decodeBeginRequest(record.content);
        if (begin.role !== Role.RESPONDER) return this.fail(`BEGIN_REQUEST role ${begin.role}, expected RESPONDER`);
        this.requestId = record.requestId;
        return;
      }
      case RecordType.PARAMS: {
        if (this.requestId === undefined) return this.fail('PARAMS before BEGIN_REQUEST');
        const pairs = this.params.push(record.content);
        if (pairs instanceof Error) return this.fail(pairs.message);
        if (pairs !== undefined) {
          this.paramsDone = true;
          this.handoffFlag = pairs.some(([name, value]) => name === 'FCGIPM_HANDOFF' && value === '1');
        }
        return;
      }
      case RecordType.STDIN:
        if (!this.paramsDone) return this.fail('STDIN before the end of PARAMS');
        if (record.content.length === 0) return this.startClient();
        this.prefixBytes += record.content.length;
        if (this.prefixBytes > MAX_PREFIX_BYTES) return this.fail(`STDIN over ${MAX_PREFIX_BYTES} bytes`);
        // A view into a chunk that is not reused: kept as it is.
        this.prefix.push(record.content);
        return;
      default:
        return; // management records and the like: not part of a handoff, ignored
    }
  }

  /** The empty STDIN: the client's first bytes are all here; the client becomes a connection. */
  private startClient(): void {
    this.stdinDone = true;
    if (!this.handoffFlag) return this.fail('PARAMS lack FCGIPM_HANDOFF=1: not a handoff request');
    const fd = this.clientFd;
    this.clientFd = -1;
    let client: net.Socket;
    try {
      client = new net.Socket({ fd, readable: true, writable: true });
    } catch (err) {
      closeFd(fd);
      this.log.warn({ err: errorText(err) }, 'handed-off descriptor is not a usable socket');
      return this.endRequest(1);
    }
    this.client = client;
    const prefix = this.prefix.length === 1 ? (this.prefix[0] as Buffer) : Buffer.concat(this.prefix, this.prefixBytes);
    this.prefix = [];
    // Back at the head of the stream, before any byte libuv reads: the http parser sees the
    // client's byte stream whole. (The socket starts reading at construction, but libuv
    // delivers nothing before this tick ends, and the buffered prefix flows on the next tick.)
    if (prefix.length > 0) client.unshift(prefix);
    client.once('close', () => this.endRequest(0));
    this.owner.adopt(this, client);
  }

  /**
   * fcgipm closed the Unix connection. Before the client arrived that ends the handoff;
   * afterwards it is fcgipm aborting (busy timeout, shutdown): the client is dropped.
   */
  private onConnClose(): void {
    if (this.finished) return;
    if (this.client !== undefined) {
      this.log.info('fcgipm closed the handoff connection; dropping the client');
      this.client.destroy();
      return;
    }
    this.fail('handoff connection closed before the request was complete');
  }

  /** END_REQUEST (appStatus), then end the Unix connection: fcgipm counts this worker free. */
  private endRequest(appStatus: number): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.conn.destroyed) {
      this.conn.end(encodeEndRequest(this.requestId ?? 1, appStatus, ProtocolStatus.REQUEST_COMPLETE));
    }
    this.owner.release(this);
  }

  /** A handoff that went wrong before the client was served: logged, nothing answered. */
  private fail(reason: string): void {
    if (this.finished) return;
    this.finished = true;
    this.stop();
    if (this.clientFd >= 0) {
      closeFd(this.clientFd);
      this.clientFd = -1;
    }
    this.log.warn({ err: reason }, 'handoff failed');
    this.conn.destroy();
    this.owner.release(this);
  }

  private stop(): void {
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    if (this.timeout !== undefined) clearTimeout(this.timeout);
    this.immediate = undefined;
    this.timeout = undefined;
  }

  /** destroy(): the client goes (END_REQUEST follows on its 'close'), or the handoff is dropped. */
  destroy(): void {
    if (this.client !== undefined) this.client.destroy();
    else this.fail('worker destroyed');
  }
}

interface ClientState {
  readonly incoming: Incoming;
  /** Requests received whose response has not finished. */
  inFlight: number;
}

class Worker implements HandoffWorker {
  readonly server: http.Server;
  readonly listening: Promise<void>;
  private readonly listener: net.Server;
  private readonly log: Logger;
  private readonly incoming = new Set<Incoming>();
  private readonly clients = new Map<net.Socket, ClientState>();
  private closing = false;
  private closed: Promise<void> | undefined;
  private resolveIdle: (() => void) | undefined;

  constructor(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void, options: HandoffWorkerOptions) {
    const fd = options.fd ?? 0;
    if (!Number.isInteger(fd) || fd < 0) throw new InvalidArgumentError(`serveHandoff: fd must be a non-negative integer, got ${String(fd)}`);
    this.log = options.logger ?? defaultLogger();
    this.server = http.createServer(handler);
    this.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res));
    // pauseOnConnect: libuv never reads an accepted connection, whose first message carries
    // the client's descriptor as SCM_RIGHTS; a plain read() would close that descriptor.
    this.listener = net.createServer({ pauseOnConnect: true }, (conn) => this.onConnection(conn));
    this.listening = new Promise<void>((resolve, reject) => {
      this.listener.once('listening', () => resolve());
      this.listener.once('error', reject);
    });
    this.listening.then(
      () => this.log.debug({ fd }, 'listening for handoffs'),
      (err: unknown) => this.log.error({ fd, err: errorText(err) }, 'cannot listen on the inherited socket'),
    );
    this.listener.listen({ fd });
  }

  private onConnection(conn: net.Socket): void {
    if (this.closing) {
      conn.destroy();
      return;
    }
    this.incoming.add(new Incoming(conn, this, this.log));
  }

  /** Called by Incoming once the client socket exists: it becomes the http server's. */
  adopt(incoming: Incoming, client: net.Socket): void {
    this.clients.set(client, { incoming, inFlight: 0 });
    client.once('close', () => this.clients.delete(client));
    this.server.emit('connection', client);
  }

  /** Called by Incoming once END_REQUEST is written or the handoff failed. */
  release(incoming: Incoming): void {
    this.incoming.delete(incoming);
    if (this.incoming.size === 0 && this.resolveIdle) this.resolveIdle();
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const state = this.clients.get(req.socket);
    if (state === undefined) return;
    state.inFlight += 1;
    if (this.closing) res.shouldKeepAlive = false;
    res.once('close', () => {
      state.inFlight -= 1;
      if (this.closing && state.inFlight === 0) req.socket.destroySoon();
    });
  }

  close(): Promise<void> {
    if (this.closed) return this.closed;
    this.closing = true;
    // Not waiting for close()'s callback: net.Server calls it only once every accepted Unix
    // connection has ended, and those end after their clients.
    if (this.listener.listening) this.listener.close();
    // Clients between requests go now; busy ones after their response (onRequest).
    for (const [client, state] of this.clients) if (state.inFlight === 0) client.destroySoon();
    this.closed = new Promise<void>((resolve) => {
      if (this.incoming.size === 0) resolve();
      else this.resolveIdle = resolve;
    });
    return this.closed;
  }

  destroy(): void {
    this.closing = true;
    if (this.listener.listening) this.listener.close();
    for (const incoming of [...this.incoming]) incoming.destroy();
  }
}

/**
 * Serves HTTP on client connections handed off by fcgipm through the listening socket at
 * options.fd (default 0). Each connection is an http.Server 'connection'; the handler sees
 * ordinary requests. When a client connection closes, END_REQUEST tells fcgipm this worker
 * is free again. Connections are served concurrently.
 */
export function serveHandoff(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  options: HandoffWorkerOptions = {},
): HandoffWorker {
  return new Worker(handler, options);
}
