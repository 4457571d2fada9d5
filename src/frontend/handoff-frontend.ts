import { STATUS_CODES } from 'node:http';
import net from 'node:net';
import { pauseForHandoff } from '../client/handoff';
import type { EndRequest, ResponseHandler } from '../client/request';
import type { FcgipmError } from '../errors';
import type { Logger } from '../log';
import { listenOnFd, listenReusePort, tcpAddress } from './listen-fd';
import { buildCgiParams, type CgiRequestView } from './cgi-env';
import type { HandoffDecision, RequestHead } from './resolution';

export type { RequestHead } from './resolution';

/**
 * The HTTP listener when some app takes handed-off connections (docs/handoff-protocol.md,
 * the mod_proxy_fdpass model): it reads each connection's first request head
 * itself, and either passes the socket — with the bytes read so far — to a worker of a
 * handoff app, or gives the connection, those bytes pushed back, to the ordinary HTTP front
 * end. The decision is per connection: a worker that got the socket serves every request on
 * it (keep-alive, pipelining) until it closes.
 *
 * Lifecycle: listen() → close() (stops accepting; handed-off connections are the workers').
 */


export interface HandoffFrontendOptions {
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  readonly serverSoftware: string;
  readonly decide: (head: RequestHead) => HandoffDecision;
  /** Receives the connections that are not handed off (HttpFrontend.acceptConnection). */
  readonly http: ((socket: net.Socket) => void) | undefined;
  /** Largest request head (request line and headers); more → 431. */
  readonly maxHeadBytes?: number;
  /** A client must send its whole head within this; else the connection is closed. */
  readonly headTimeoutMs?: number;
  /** Bind with SO_REUSEPORT (listen-fd.ts). */
  readonly reusePort?: boolean;
  /** Listen on this already listening descriptor (socket activation); host and port are ignored. */
  readonly fd?: number;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/** Parses a complete head (without the final CRLFCRLF); undefined when it is not HTTP/1.x. */
export function parseRequestHead(text: string): RequestHead | undefined {
  const lines = text.split('\r\n');
  const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/(1\.[01])$/.exec(lines[0] ?? '');
  if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined) return undefined;
  const rawHeaders: string[] = [];
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0 || /\s/.test(line.slice(0, colon))) return undefined;
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    rawHeaders.push(name, value);
    const lower = name.toLowerCase();
    headers[lower] = headers[lower] === undefined ? value : `${headers[lower]}, ${value}`;
  }
  return { method: m[1], url: m[2], httpVersion: m[3], rawHeaders, headers };
}

export class HandoffFrontend {
  private readonly o: Required<Omit<HandoffFrontendOptions, 'fd'>>;
  private readonly fd: number | undefined;
  private readonly server: net.Server;
  private seq = 0;
  private closing: Promise<void> | undefined;
  /** Connections accepted here and not closed yet (read, handed to the HTTP front end, or refused). */
  private readonly sockets = new Set<net.Socket>();

  constructor(options: HandoffFrontendOptions) {
    this.o = { maxHeadBytes: 64 * 1024, headTimeoutMs: 10_000, reusePort: false, ...options };
    this.fd = options.fd;
    this.server = net.createServer((socket) => this.onConnection(socket));
  }

  listen(): Promise<net.AddressInfo> {
    if (this.fd !== undefined) return listenOnFd(this.server, this.fd).then(tcpAddress);
    if (this.o.reusePort) return listenReusePort(this.server, this.o.host, this.o.port);
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as net.AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => this.server.close(() => resolve()));
    return this.closing;
  }

  /** Stops at once: no new connections, and every one still open here is destroyed. Idempotent. */
  destroy(): void {
    void this.close();
    for (const socket of this.sockets) socket.destroy();
  }

  private onConnection(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const chunks: Buffer[] = [];
    let bytes = 0;
    const timer = setTimeout(() => socket.destroy(), this.o.headTimeoutMs);
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      bytes += chunk.length;
      const all = chunks.length === 1 ? chunk : Buffer.concat(chunks);
      const end = all.indexOf(HEAD_END, Math.max(0, bytes - chunk.length - 3));
      if (end < 0) {
        if (bytes > this.o.maxHeadBytes) this.refuse(socket, 431, 'request head too large', timer, onData);
        return;
      }
      socket.off('data', onData);
      socket.pause();
      clearTimeout(timer);
      const head = parseRequestHead(all.toString('latin1', 0, end));
      if (!head) {
        this.refuse(socket, 400, 'malformed request head', timer, onData);
        return;
      }
      this.route(socket, head, all);
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  }

  private route(socket: net.Socket, head: RequestHead, prefix: Buffer): void {
    this.seq += 1;
    const id = `h${this.seq.toString(36)}`;
    const decision = this.o.decide(head);
    if (decision.kind === 'deny') {
      this.o.logger.info({ reqId: id, status: decision.status, url: head.url }, decision.reason);
      this.answer(socket, decision.status, decision.reason);
      return;
    }
    if (decision.kind === 'http') {
      if (!this.o.http) {
        this.answer(socket, 404, 'no application serves this path');
        return;
      }
      socket.unshift(prefix);
      this.o.http(socket);
      socket.resume();
      return;
    }
    const view: CgiRequestView = {
      headers: head.headers,
      rawHeaders: head.rawHeaders,
      httpVersion: head.httpVersion,
      socket,
    };
    const declared = head.headers['content-length'];
    const params = buildCgiParams({
      req: view,
      target: decision.target,
      url: head.url,
      method: head.method,
      contentLength: declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : undefined,
      serverSoftware: this.o.serverSoftware,
      scheme: 'http',
    });
    const log = this.o.logger;
    const handler: ResponseHandler = {
      onStdout: () => true,
      onStderr: () => undefined,
      onEnd: (_end: EndRequest) => {
        log.debug({ reqId: id }, 'handed-off connection done');
      },
      onError: (err: FcgipmError) => {
        log.warn({ reqId: id, code: err.code, status: err.httpStatus, err: err.message }, 'handoff failed');
        // Still ours only if the socket never left (a failure before the worker took it).
        if (!socket.destroyed) this.answer(socket, err.httpStatus, err.code, err.code);
      },
    };
    // The request may wait in the pool's queue: from now on the client's bytes (and its FIN)
    // stay in the kernel for the worker.
    pauseForHandoff(socket);
    decision.pool.dispatch({ params, body: { kind: 'none' }, handoff: { client: socket, prefix } }, handler, {
      method: head.method,
      uri: head.url,
      id,
    });
  }

  private refuse(socket: net.Socket, status: number, reason: string, timer: NodeJS.Timeout, onData: (c: Buffer) => void): void {
    clearTimeout(timer);
    socket.off('data', onData);
    this.o.logger.info({ status, remote: socket.remoteAddress }, reason);
    this.answer(socket, status, reason);
  }

  private answer(socket: net.Socket, status: number, reason: string, code?: string): void {
    const body = `${status} ${STATUS_CODES[status] ?? ''}: ${reason}\n`;
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        (code ? `X-Fcgipm-Error: ${code}\r\n` : '') +
        (status === 503 ? 'Retry-After: 5\r\n' : '') +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
}
