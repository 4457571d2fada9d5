/**
 * The handoff workers without the rest of fcgipm: a worker spawned on a listening socket at
 * fd 0 (WorkerProcess), and a small TCP front server that reads each client's request head
 * and calls handOff() — what the HTTP front end does for a pool in handoff mode.
 */
import { EventEmitter, once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { HandoffError } from '../../src/errors';
import { handOff, type HandoffSession } from '../../src/client/handoff';
import type { Logger } from '../../src/log';
import { WorkerProcess } from '../../src/spawn/worker-process';
import { fixture, memoryLogger, tempDir, type MemoryLog } from '../helpers/fixtures';

export const NODE_WORKER_SCRIPT = path.resolve(__dirname, '../../fixtures/fcgi-apps/handoff-node.js');
const NODE_HELPER_BUILD = path.resolve(__dirname, '../../dist/worker/handoff-worker.js');

export type WorkerKind = 'c' | 'node';

export interface SpawnedWorker {
  readonly process: WorkerProcess;
  readonly socketPath: string;
  readonly dir: string;
  readonly log: MemoryLog;
  /** SIGKILL if still alive, then the temp dir goes. */
  cleanup(): Promise<void>;
}

/** The C fixture (build/handoff.fcgi) or handoff-node.js on the built helper, on fd 0. */
export function spawnWorker(kind: WorkerKind): SpawnedWorker {
  const dir = tempDir('fcgipm-handoff-');
  const socketPath = path.join(dir, 'worker.sock');
  const log = memoryLogger();
  let command: string;
  let args: string[] = [];
  if (kind === 'c') {
    command = fixture('handoff');
  } else {
    if (!fs.existsSync(NODE_HELPER_BUILD)) throw new Error(`${NODE_HELPER_BUILD} is missing: run npm run build`);
    command = process.execPath;
    args = [NODE_WORKER_SCRIPT];
  }
  const worker = WorkerProcess.spawn({ command, args, socketPath, logger: log.logger });
  return {
    process: worker,
    socketPath,
    dir,
    log,
    cleanup: async () => {
      worker.kill('SIGKILL');
      await worker.exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const HEAD_END = Buffer.from('\r\n\r\n');

export interface FrontOptions {
  workerSocketPath: string;
  logger: Logger;
  /**
   * Pass only the head as prefix and unshift the bytes read after it back into the socket,
   * so handOff must drain them from Node's buffer.
   */
  unshiftAfterHead?: boolean;
}

export interface FrontEvents {
  session: [session: HandoffSession];
  failure: [err: HandoffError];
  settled: [session: HandoffSession];
}

/** A TCP server that hands every client connection to the worker after reading its head. */
export class Front extends EventEmitter<FrontEvents> {
  readonly sessions: HandoffSession[] = [];
  readonly failures: HandoffError[] = [];
  /** Sessions whose `done` settled, resolved or not. */
  settled = 0;
  private readonly server: net.Server;
  private readonly options: FrontOptions;
  private readonly clients = new Set<net.Socket>();

  private constructor(options: FrontOptions) {
    super();
    this.options = options;
    this.server = net.createServer((client) => this.onClient(client));
  }

  static async start(options: FrontOptions): Promise<Front> {
    const front = new Front(options);
    front.server.listen(0, '127.0.0.1');
    await once(front.server, 'listening');
    return front;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Resolves once n sessions have settled. */
  async waitSettled(n: number): Promise<void> {
    while (this.settled < n) await once(this, 'settled');
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onClient(client: net.Socket): void {
    this.clients.add(client);
    client.once('close', () => this.clients.delete(client));
    client.on('error', () => undefined);
    const chunks: Buffer[] = [];
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      const all = Buffer.concat(chunks);
      const end = all.indexOf(HEAD_END);
      if (end < 0) return;
      client.off('data', onData);
      client.pause();
      let prefix = all;
      if (this.options.unshiftAfterHead && end + 4 < all.length) {
        prefix = all.subarray(0, end + 4);
        client.unshift(all.subarray(end + 4));
      }
      this.dispatch(client, prefix);
    };
    client.on('data', onData);
  }

  private dispatch(client: net.Socket, prefix: Buffer): void {
    const [method = '', uri = '', protocol = ''] = prefix.toString('latin1', 0, prefix.indexOf('\r\n')).split(' ');
    const params: Array<[string, string]> = [
      ['GATEWAY_INTERFACE', 'CGI/1.1'],
      ['REQUEST_METHOD', method],
      ['REQUEST_URI', uri],
      ['SERVER_PROTOCOL', protocol],
      ['REMOTE_ADDR', client.remoteAddress ?? ''],
      ['REMOTE_PORT', String(client.remotePort ?? '')],
      ['SERVER_PORT', String(this.port)],
    ];
    handOff({ client, prefix, workerSocketPath: this.options.workerSocketPath, params, connectTimeoutMs: 5000, logger: this.options.logger }).then(
      (session) => {
        this.sessions.push(session);
        const settle = (): void => {
          this.settled += 1;
          this.emit('settled', session);
        };
        session.done.then(settle, settle);
        this.emit('session', session);
      },
      (err: unknown) => {
        if (!(err instanceof HandoffError)) throw err;
        this.failures.push(err);
        this.emit('failure', err);
        // The client socket is still ours: answer it, as the front end answers 502.
        client.end(`HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\nX-Error: ${err.code}\r\n\r\n`);
      },
    );
  }
}

/** Byte i of /bytes?n=N. */
export function expectedBytes(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + 7) % 251;
  return out;
}

export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/**
 * Parses consecutive HTTP/1.1 responses with Content-Length bodies (all these workers send)
 * from one byte stream; returns those complete and the offset after the last.
 */
export function parseResponses(data: Buffer): { responses: RawResponse[]; used: number } {
  const responses: RawResponse[] = [];
  let pos = 0;
  for (;;) {
    const end = data.indexOf(HEAD_END, pos);
    if (end < 0) break;
    const lines = data.toString('latin1', pos, end).split('\r\n');
    const status = Number((lines[0] ?? '').split(' ')[1]);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const length = Number(headers.get('content-length') ?? NaN);
    if (!Number.isInteger(length)) throw new Error(`response without Content-Length: ${lines.join(' | ')}`);
    if (data.length < end + 4 + length) break;
    responses.push({ status, headers, body: data.subarray(end + 4, end + 4 + length) });
    pos = end + 4 + length;
  }
  return { responses, used: pos };
}

/** Reads from socket until n responses are complete (or the socket ends: then fewer). */
export function readResponses(socket: net.Socket, n: number): Promise<RawResponse[]> {
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0);
    const finish = (responses: RawResponse[]): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', reject);
      resolve(responses);
    };
    const onData = (chunk: Buffer): void => {
      data = Buffer.concat([data, chunk]);
      const { responses } = parseResponses(data);
      if (responses.length >= n) finish(responses);
    };
    const onEnd = (): void => finish(parseResponses(data).responses);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', reject);
  });
}

/** A deterministic generator (mulberry32) so a failing mix can be replayed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
