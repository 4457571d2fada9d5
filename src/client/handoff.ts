import net from 'node:net';
import { HandoffError, InvalidArgumentError } from '../errors';
import type { Logger } from '../log';
import { decodeEndRequest } from '../protocol/bodies';
import { RecordType, Role } from '../protocol/constants';
import { encodeBeginRequest, encodeParams, encodeStream, encodeStreamEnd } from '../protocol/encoder';
import { RecordDecoder, type FcgiRecord } from '../protocol/record-decoder';
import { isNativeErrno, sendFd } from '../spawn/native';

/**
 * The manager's half of the fd handoff (docs/handoff-protocol.md): one FastCGI request on a fresh connection to the worker, the
 * client's socket riding on its first sendmsg as SCM_RIGHTS, then fcgipm steps out of the
 * data path and only waits for END_REQUEST, which says the worker is free again.
 */

/** One request per handoff connection, always id 1, as on every fcgipm connection. */
const REQUEST_ID = 1;

/** The variable that tells the worker the request carries a client socket. */
const HANDOFF_PARAM: readonly [string, string] = ['FCGIPM_HANDOFF', '1'];

/**
 * EAGAIN from the first sendmsg on a fresh connection means the kernel had no buffer memory
 * for it at that instant (the socket itself is empty); it is retried on the next turns of the
 * event loop this many times before the handoff fails.
 */
const SEND_EAGAIN_RETRIES = 5;

/** What END_REQUEST (spec §5.5) carried: the worker's status for the whole client connection. */
export interface EndRequestInfo {
  readonly appStatus: number;
  readonly protocolStatus: number;
}

/** A client connection now served by a worker. */
export interface HandoffSession {
  /**
   * Resolves when the worker sends END_REQUEST (it is done with the client connection).
   * Rejects with HandoffError when the worker closes the Unix connection without it, sends
   * malformed records, or abort() was called. Never an unhandled rejection: a caller that
   * does not look at it loses nothing.
   */
  readonly done: Promise<EndRequestInfo>;
  /**
   * Closes the Unix connection (busy timeout, shutdown). A worker following the protocol
   * then drops the client. Idempotent; `done` rejects unless it had already settled.
   */
  abort(): void;
}

export interface HandOffOptions {
  /**
   * The client connection. The caller has stopped consuming it: no 'data' or 'readable'
   * listeners (read() below would feed them), nothing queued for writing.
   */
  readonly client: net.Socket;
  /** Every byte already read from the client: the request head and whatever followed it. */
  readonly prefix: Buffer;
  readonly workerSocketPath: string;
  /** The CGI variables; FCGIPM_HANDOFF=1 is added (any value the caller set is replaced). */
  readonly params: ReadonlyArray<readonly [string, string]>;
  /** Longest wait for connect() to the worker before HandoffError. */
  readonly connectTimeoutMs: number;
  readonly logger: Logger;
}

/**
 * The libuv stream handle (TCPWrap or PipeWrap) behind a net.Socket. Node has no public API
 * for a socket's descriptor or for stopping libuv's reads; `_handle` is undocumented but
 * stable, and Node's own net.Socket#pause calls readStop() on it the same way. This is the
 * one place this file reaches into Node's internals. null once the socket is destroyed.
 */
interface StreamHandle {
  readonly fd: number;
  reading: boolean;
  readStart(): number;
  readStop(): number;
}

function streamHandle(socket: net.Socket): StreamHandle | undefined {
  const handle = (socket as unknown as { _handle?: StreamHandle | null })._handle;
  return handle !== null && handle !== undefined && typeof handle.fd === 'number' && handle.fd >= 0 ? handle : undefined;
}

/** Sockets whose libuv reading stopReading() stopped, to restart if they are handed back. */
const stoppedHere = new WeakSet<net.Socket>();

/**
 * Stops libuv reading the client: pause() alone only stops 'data' events, while libuv keeps
 * reading into the stream buffer up to the high-water mark — bytes that would then have to
 * be chased.
 */
function stopReading(socket: net.Socket): void {
  socket.pause();
  const handle = streamHandle(socket);
  if (handle === undefined || !handle.reading) return;
  handle.reading = false;
  handle.readStop();
  stoppedHere.add(socket);
}

/**
 * Undoes stopReading for a socket handed back to the caller. The stream may believe a read
 * is outstanding (it asked libuv for data before the stop), in which case resume() alone
 * would never ask again: the handle is restarted directly.
 */
function restartReading(socket: net.Socket): void {
  if (!stoppedHere.delete(socket)) return;
  const handle = streamHandle(socket);
  if (handle === undefined || handle.reading) return;
  handle.reading = true;
  handle.readStart();
}

/**
 * For a front end that read a request head and may wait (a pool's queue) before handOff():
 * call it right after the head. From then on the client's further bytes, and its FIN, stay
 * in the kernel for the worker; an EOF that libuv read into an empty, paused stream would
 * otherwise end the socket at once (Node then calls end(), allowHalfOpen being false).
 * handOff() does the same on entry, and restarts the reading when it fails. A caller that
 * gives up without handOff() answers and ends the socket; it need not read again.
 */
export function pauseForHandoff(client: net.Socket): void {
  stopReading(client);
}

/**
 * Bytes Node already took from the kernel but nobody consumed. They belong to the client's
 * stream, so they go to the worker after the prefix. In paused mode read() returns the whole
 * buffer at once.
 */
function drain(socket: net.Socket): Buffer[] {
  const out: Buffer[] = [];
  for (let chunk: unknown = socket.read(); Buffer.isBuffer(chunk); chunk = socket.read()) out.push(chunk);
  return out;
}

/** BEGIN_REQUEST, PARAMS, empty PARAMS, STDIN, empty STDIN: one Buffer for one sendmsg. */
function encodeHandoff(params: ReadonlyArray<readonly [string, string]>, stdin: Buffer): Buffer {
  const pairs = params.filter((p) => p[0] !== HANDOFF_PARAM[0]);
  pairs.push(HANDOFF_PARAM);
  return Buffer.concat([
    encodeBeginRequest(REQUEST_ID, Role.RESPONDER, false),
    encodeParams(REQUEST_ID, pairs),
    encodeStream(RecordType.STDIN, REQUEST_ID, stdin),
    encodeStreamEnd(RecordType.STDIN, REQUEST_ID),
  ]);
}

function errnoOf(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const { errno, code, message } = err as { errno?: unknown; code?: unknown; message?: unknown };
    if (typeof errno === 'string') return errno;
    if (typeof code === 'string') return code;
    if (typeof message === 'string') return message;
  }
  return String(err);
}

function validate(options: HandOffOptions): void {
  if (!(options.client instanceof net.Socket)) throw new InvalidArgumentError('handOff: client must be a net.Socket');
  // Decoded text cannot be turned back into the exact bytes the client sent.
  if (options.client.readableEncoding !== null) throw new InvalidArgumentError('handOff: client must not have an encoding set (setEncoding)');
  if (!Buffer.isBuffer(options.prefix)) throw new InvalidArgumentError('handOff: prefix must be a Buffer');
  if (typeof options.workerSocketPath !== 'string' || options.workerSocketPath === '') {
    throw new InvalidArgumentError('handOff: workerSocketPath must be a non-empty path');
  }
  const ms = options.connectTimeoutMs;
  if (!Number.isInteger(ms) || ms < 1) throw new InvalidArgumentError(`handOff: connectTimeoutMs must be a positive integer, got ${String(ms)}`);
}

/**
 * Passes the client connection to the worker listening at workerSocketPath. Resolves once
 * the descriptor is in the worker's socket buffer and fcgipm's own copy is closed: from then
 * on the client belongs to the worker, and `done` tells when the worker is free.
 *
 * Rejects with HandoffError when connect() or sendmsg fails. Nothing reached the worker then
 * and the client socket is left open and usable — paused, any bytes this call read from it
 * put back — so the caller can answer 502 itself. Throws InvalidArgumentError on bad options.
 */
export function handOff(options: HandOffOptions): Promise<HandoffSession> {
  validate(options);
  const { client, workerSocketPath: path, logger } = options;
  stopReading(client);
  // Nothing may send the client a FIN while the handoff runs: shutdown() acts on the
  // connection, which the worker is about to share. With allowHalfOpen false, an EOF that
  // drain() reaches would make the stream call end() on the next tick.
  const allowHalfOpen = client.allowHalfOpen;
  client.allowHalfOpen = true;

  return new Promise<HandoffSession>((resolve, reject) => {
    let settled = false;
    const worker = net.connect({ path });
    const timer = setTimeout(
      () => fail(new HandoffError(`connect to ${path} timed out after ${options.connectTimeoutMs} ms`)),
      options.connectTimeoutMs,
    );
    const onError = (err: Error): void => fail(new HandoffError(`handoff to ${path} failed: ${errnoOf(err)}`, { cause: err }));
    worker.once('error', onError);
    worker.once('connect', () => {
      clearTimeout(timer);
      attempt(0);
    });

    function fail(err: HandoffError): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      worker.off('error', onError);
      worker.destroy();
      // Back to how the caller left it, so it can still answer on it.
      client.allowHalfOpen = allowHalfOpen;
      restartReading(client);
      reject(err);
    }

    function attempt(retry: number): void {
      if (settled) return;
      // Synchronous from here to the sendmsg: libuv cannot read between drain and send.
      const extra = drain(client);
      const clientHandle = streamHandle(client);
      const workerHandle = streamHandle(worker);
      if (clientHandle === undefined) return fail(new HandoffError('the client connection closed before it could be handed off'));
      if (workerHandle === undefined) return fail(new HandoffError(`the connection to ${path} closed before the handoff`));
      const stdin = extra.length === 0 ? options.prefix : Buffer.concat([options.prefix, ...extra]);
      const payload = encodeHandoff(options.params, stdin);
      let sent: number;
      try {
        sent = sendFd(workerHandle.fd, clientHandle.fd, payload);
      } catch (err) {
        // Back into the stream, ahead of anything read later: the bytes stay the client's.
        if (extra.length > 0) client.unshift(Buffer.concat(extra));
        if (isNativeErrno(err, 'EAGAIN') && retry < SEND_EAGAIN_RETRIES) {
          // read() in drain() may have restarted libuv's reading.
          stopReading(client);
          setImmediate(() => attempt(retry + 1));
          return undefined;
        }
        return fail(new HandoffError(`sendmsg to ${path} failed: ${errnoOf(err)}`, { cause: err }));
      }
      // The descriptor is queued at the worker: the client is the worker's now.
      settled = true;
      stoppedHere.delete(client);
      worker.off('error', onError);
      const session = new Session(worker, path, logger);
      // A short count: the descriptor went with the first part; the rest is plain bytes,
      // written before anything else can be queued on this socket.
      if (sent < payload.length) worker.write(payload.subarray(sent));
      // Closes fcgipm's descriptor only; never end(), whose shutdown() would act on the
      // connection the worker now owns.
      client.destroy();
      logger.debug({ worker: path, stdinBytes: stdin.length, retries: retry }, 'client handed off');
      resolve(session);
      return undefined;
    }
  });
}

/** The Unix connection after the handoff: waits for END_REQUEST, logs STDERR, nothing else. */
class Session implements HandoffSession {
  readonly done: Promise<EndRequestInfo>;
  private readonly socket: net.Socket;
  private readonly path: string;
  private readonly log: Logger;
  private readonly decoder: RecordDecoder;
  private resolveDone!: (info: EndRequestInfo) => void;
  private rejectDone!: (err: HandoffError) => void;
  private settled = false;
  private lastError: Error | undefined;
  private warnedStdout = false;

  constructor(socket: net.Socket, path: string, log: Logger) {
    this.socket = socket;
    this.path = path;
    this.log = log;
    this.done = new Promise<EndRequestInfo>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => undefined);
    this.decoder = new RecordDecoder((record) => this.onRecord(record));
    socket.on('data', (chunk: Buffer) => {
      if (this.settled) return;
      const err = this.decoder.push(chunk);
      if (err) this.fail(new HandoffError(`worker at ${path} sent malformed records: ${err.message}`, { cause: err }));
    });
    socket.on('error', (err) => {
      this.lastError = err;
    });
    socket.on('close', () =>
      this.fail(new HandoffError(`worker at ${path} closed the handoff connection before END_REQUEST`, { cause: this.lastError })),
    );
  }

  abort(): void {
    this.fail(new HandoffError(`handoff to ${this.path} aborted`));
  }

  private onRecord(record: FcgiRecord): void {
    if (this.settled) return;
    switch (record.type) {
      case RecordType.END_REQUEST: {
        let end: { appStatus: number; protocolStatus: number };
        try {
          end = decodeEndRequest(record.content);
        } catch (err) {
          this.fail(new HandoffError(`worker at ${this.path} sent a malformed END_REQUEST`, { cause: err }));
          return;
        }
        this.settled = true;
        this.socket.destroy();
        this.resolveDone({ appStatus: end.appStatus, protocolStatus: end.protocolStatus });
        return;
      }
      case RecordType.STDERR:
        if (record.content.length > 0) this.log.warn({ worker: this.path, stderr: record.content.toString('utf8') }, 'handoff worker stderr');
        return;
      case RecordType.STDOUT:
        // The worker answers on the client socket; STDOUT here means it does not speak the
        // handoff protocol (a plain FastCGI app). Said once per session, then ignored.
        if (!this.warnedStdout && record.content.length > 0) {
          this.warnedStdout = true;
          this.log.warn({ worker: this.path }, 'handoff worker wrote FastCGI STDOUT; it is ignored');
        }
        return;
      default:
        return;
    }
  }

  private fail(err: HandoffError): void {
    if (this.settled) return;
    this.settled = true;
    this.socket.destroy();
    this.rejectDone(err);
  }
}
