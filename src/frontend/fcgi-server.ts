import fs from 'node:fs';
import net from 'node:net';
import { ClosedError, InvalidArgumentError } from '../errors';
import type { Logger } from '../log';
import { FcgiServerConnection, type FcgiHandler } from './fcgi-server-connection';
import { listenOnFd } from './listen-fd';

/**
 * Where the FastCGI listener binds: TCP host and port, or a Unix socket path (the shape of a
 * config's listen.fastcgi, which passes as it is; the front end imports no config).
 */
export type ListenTarget =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

export type { FcgiHandler, FcgiServerRequest, FcgiServerResponse } from './fcgi-server-connection';

export interface FcgiServerOptions {
  readonly listen: ListenTarget;
  readonly handler: FcgiHandler;
  readonly logger: Logger;
  /** Permissions of a Unix socket, like php-fpm's listen.mode (default 0o660). */
  readonly mode?: number;
  /** Most PARAMS bytes one request may send (default 1 MiB); more → 431 and the connection closed. */
  readonly maxParamsBytes?: number;
  /** FCGI_MAX_CONNS in the GET_VALUES answer (spec §4.1); left out when unset, as php-fpm does. */
  readonly maxConns?: number;
  /** FCGI_MAX_REQS in the GET_VALUES answer; left out when unset. */
  readonly maxReqs?: number;
  /** Owner and group given to a Unix socket after bind (php-fpm's listen.owner, listen.group). */
  readonly uid?: number;
  readonly gid?: number;
  /** Listen on this already listening descriptor (socket activation) instead of binding `listen`. */
  readonly fd?: number;
}

export const FCGI_SERVER_DEFAULTS = {
  mode: 0o660,
  maxParamsBytes: 1024 * 1024,
} as const;

/** How long the stale-socket probe waits for an answer before taking the socket as live. */
const PROBE_TIMEOUT_MS = 1_000;

function checkPositiveInteger(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${String(value)}`);
  }
}

function describe(target: ListenTarget): string {
  return target.kind === 'unix' ? `unix:${target.path}` : `${target.host}:${target.port}`;
}

/**
 * Resolves true when something accepts connections on the Unix socket at `path`. Only a
 * refused connection proves the socket stale (its server is gone); anything else — accepted,
 * EACCES, no answer in time — leaves it alone, as spawn-fcgi does ("socket is already in use").
 */
function socketIsLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createConnection({ path });
    const done = (live: boolean): void => {
      clearTimeout(timer);
      probe.destroy();
      resolve(live);
    };
    const timer = setTimeout(() => done(true), PROBE_TIMEOUT_MS);
    probe.once('connect', () => done(true));
    probe.once('error', (err: NodeJS.ErrnoException) => done(err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT'));
  });
}

/**
 * The FastCGI listening side (php-fpm's `listen`): nginx (`fastcgi_pass`, with or without
 * `fastcgi_keep_conn`), Apache mod_proxy_fcgi and libfcgi's cgi-fcgi connect here over TCP or
 * a Unix socket. Each connection is an FcgiServerConnection; what happens to a request is the
 * handler's business (routing and forwarding live elsewhere).
 *
 * Lifecycle: listen() → close() (graceful: stop accepting, let requests in progress finish,
 * close kept idle connections) or destroy() (drop everything). Both are idempotent.
 */
export class FcgiServer {
  private readonly o: FcgiServerOptions & { readonly mode: number; readonly maxParamsBytes: number };
  private readonly server: net.Server;
  private readonly connections = new Set<FcgiServerConnection>();
  private readonly log: Logger;
  private listening: Promise<ListenTarget> | undefined;
  private closing: Promise<void> | undefined;
  private bound: ListenTarget | undefined;
  /** The socket file we created, to remove exactly that file on close (not a successor's). */
  private socketFile: { readonly path: string; readonly dev: number; readonly ino: number } | undefined;
  private seq = 0;
  /** Set by shutdown() while it waits for the last connection to report its close. */
  private onEmpty: (() => void) | undefined;

  constructor(options: FcgiServerOptions) {
    const listen = options.listen;
    if (listen.kind === 'tcp') {
      if (!Number.isInteger(listen.port) || listen.port < 0 || listen.port > 65535) {
        throw new InvalidArgumentError(`listen port must be an integer in 0..65535, got ${String(listen.port)}`);
      }
    } else if (listen.path === '' || listen.path.includes('\0')) {
      throw new InvalidArgumentError(`listen path must be a non-empty path without NUL, got ${JSON.stringify(listen.path)}`);
    }
    const mode = options.mode ?? FCGI_SERVER_DEFAULTS.mode;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
      throw new InvalidArgumentError(`mode must be a permission number in 0..0o777, got ${String(mode)}`);
    }
    const maxParamsBytes = options.maxParamsBytes ?? FCGI_SERVER_DEFAULTS.maxParamsBytes;
    checkPositiveInteger('maxParamsBytes', maxParamsBytes);
    checkPositiveInteger('maxConns', options.maxConns);
    checkPositiveInteger('maxReqs', options.maxReqs);
    this.o = { ...options, mode, maxParamsBytes };
    this.log = options.logger.child({ frontend: 'fastcgi' });
    this.server = net.createServer((socket) => this.onConnection(socket));
  }

  /**
   * The bound address as "unix:/path" or "host:port" (the real port when 0 was asked for);
   * undefined until listen() has resolved.
   */
  get address(): string | undefined {
    return this.bound && describe(this.bound);
  }

  /** The bound address as a ListenTarget; undefined until listen() has resolved. */
  get target(): ListenTarget | undefined {
    return this.bound;
  }

  /** Open connections, kept idle ones included. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Binds and listens; resolves with the bound address. For a Unix socket: a non-socket file
   * at the path is refused (InvalidArgumentError, the file is left alone), a stale socket is
   * removed, a live one makes listen fail with EADDRINUSE; the new socket gets `mode`.
   * Idempotent; rejects with ClosedError after close().
   */
  listen(): Promise<ListenTarget> {
    if (this.closing) return Promise.reject(new ClosedError('the FastCGI server is closed'));
    this.listening ??= this.bind();
    return this.listening;
  }

  /**
   * Stops accepting at once (the Unix socket file is removed), lets the requests in progress
   * finish, closes kept idle connections and each busy one after its END_REQUEST. Resolves
   * when every connection is gone. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** Closes and drops every connection now; requests in progress are aborted. Idempotent. */
  destroy(): Promise<void> {
    const closed = this.close();
    for (const conn of this.connections) conn.destroy();
    return closed;
  }

  private async bind(): Promise<ListenTarget> {
    const target = this.o.listen;
    if (this.o.fd !== undefined) {
      // Socket activation: systemd bound it (SocketMode=, SocketUser=, SocketGroup= are its
      // business) and removes its file; nothing here touches either.
      const a = await listenOnFd(this.server, this.o.fd);
      this.bound = typeof a === 'string' ? { kind: 'unix', path: a } : { kind: 'tcp', host: a.address, port: a.port };
    } else {
      if (target.kind === 'unix') await this.prepareSocketPath(target.path);
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        this.server.once('error', onError);
        const onListening = (): void => {
          this.server.off('error', onError);
          resolve();
        };
        if (target.kind !== 'unix') {
          this.server.listen(target.port, target.host, onListening);
          return;
        }
        // The socket is created with no permissions at all (umask 0777 around the bind, which
        // libuv does synchronously in listen()), so no one but root can connect before the
        // chown and chmod below: php-fpm sets them before listen(), Node cannot split the two.
        const umask = process.umask(0o777);
        try {
          this.server.listen(target.path, onListening);
        } finally {
          process.umask(umask);
        }
      });
    }
    this.server.on('error', (err: NodeJS.ErrnoException) => {
      // Accept errors (EMFILE…) after listening: the server goes on, the operator should know.
      this.log.error({ err: err.code ?? err.message }, 'FastCGI listener error');
    });
    if (this.o.fd === undefined && target.kind === 'unix') {
      try {
        // php-fpm's listen.owner / listen.group, then listen.mode.
        if (this.o.uid !== undefined || this.o.gid !== undefined) fs.chownSync(target.path, this.o.uid ?? -1, this.o.gid ?? -1);
        fs.chmodSync(target.path, this.o.mode);
        const st = fs.statSync(target.path);
        this.socketFile = { path: target.path, dev: st.dev, ino: st.ino };
      } catch (err) {
        await new Promise<void>((resolve) => this.server.close(() => resolve()));
        throw err;
      }
      this.bound = { kind: 'unix', path: target.path };
    } else if (this.o.fd === undefined) {
      const a = this.server.address() as net.AddressInfo;
      this.bound = { kind: 'tcp', host: a.address, port: a.port };
    }
    const bound = this.bound ?? target;
    const own = this.o.fd === undefined && bound.kind === 'unix';
    this.log.info(
      { listen: describe(bound), fd: this.o.fd, mode: own ? this.o.mode.toString(8) : undefined, uid: own ? this.o.uid : undefined, gid: own ? this.o.gid : undefined },
      'FastCGI listener ready',
    );
    return bound;
  }

  private async prepareSocketPath(path: string): Promise<void> {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    if (!st.isSocket()) {
      throw new InvalidArgumentError(`listen path ${path} exists and is not a socket; refusing to remove it`);
    }
    // A live socket stays: listen() then fails with EADDRINUSE, which names the problem.
    if (await socketIsLive(path)) return;
    this.log.info({ path }, 'removing stale FastCGI socket');
    try {
      fs.unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  private async shutdown(): Promise<void> {
    if (this.listening) await this.listening.catch(() => undefined);
    if (this.server.listening) {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.removeSocketFile();
      const busy = [...this.connections].filter((c) => c.busy).length;
      this.log.info({ busy, idle: this.connections.size - busy }, 'FastCGI listener closing');
      for (const conn of this.connections) conn.closeWhenIdle();
      // net.Server's close callback runs once the last connection is gone; the sockets' own
      // 'close' handlers (which update this.connections) may still be queued behind it.
      await closed;
      if (this.connections.size > 0) await new Promise<void>((resolve) => (this.onEmpty = resolve));
    }
    this.removeSocketFile();
  }

  /** Removes the socket file if it is still the one we bound (libuv usually already did). */
  private removeSocketFile(): void {
    const file = this.socketFile;
    if (!file) return;
    this.socketFile = undefined;
    try {
      const st = fs.lstatSync(file.path);
      if (st.isSocket() && st.dev === file.dev && st.ino === file.ino) fs.unlinkSync(file.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log.warn({ path: file.path, err: (err as Error).message }, 'could not remove the FastCGI socket');
      }
    }
  }

  private onConnection(socket: net.Socket): void {
    if (this.closing && !this.server.listening) {
      socket.destroy();
      return;
    }
    const conn: FcgiServerConnection = new FcgiServerConnection(
      socket,
      {
        handler: this.o.handler,
        logger: this.log,
        maxParamsBytes: this.o.maxParamsBytes,
        maxConns: this.o.maxConns,
        maxReqs: this.o.maxReqs,
        nextId: () => (++this.seq).toString(36),
      },
      () => {
        this.connections.delete(conn);
        if (this.connections.size === 0) this.onEmpty?.();
      },
    );
    this.connections.add(conn);
    // Accepted during close() but before the listener stopped: serve nothing new on it.
    if (this.closing) conn.closeWhenIdle();
  }
}
