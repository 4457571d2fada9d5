/**
 * handOff() on its own: what goes on the wire, what a failure leaves behind, and what the
 * session reports when the worker misbehaves. The happy paths against real workers are in
 * workers.test.ts.
 */
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { HandoffError, InvalidArgumentError, NativeError } from '../../src/errors';
import { handOff, pauseForHandoff, type HandOffOptions } from '../../src/client/handoff';
import { decodeBeginRequest } from '../../src/protocol/bodies';
import { RecordType } from '../../src/protocol/constants';
import { encodeEndRequest } from '../../src/protocol/encoder';
import { decodePairs } from '../../src/protocol/name-value';
import { RecordDecoder, type FcgiRecord } from '../../src/protocol/record-decoder';
import * as native from '../../src/spawn/native';
import { memoryLogger, tempDir } from '../helpers/fixtures';
import { Front, readResponses, spawnWorker, type SpawnedWorker } from './harness';

const HEAD = 'POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\n';
const { logger } = memoryLogger('silent');

let dir: string;
const cleanups: Array<() => void | Promise<void>> = [];

beforeEach(() => {
  dir = tempDir('fcgipm-handoff-sender-');
});

afterEach(async () => {
  jest.restoreAllMocks();
  for (const c of cleanups.splice(0).reverse()) await c();
  fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * A TCP connection whose server side has read the request head: `server` is paused with the
 * bytes after the head unshifted back into Node's buffer (handOff must drain them).
 */
async function connectionAfterHead(afterHead: string): Promise<{ client: net.Socket; server: net.Socket; head: Buffer }> {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  const [server] = await accepted;
  cleanups.push(() => {
    client.destroy();
    server.destroy();
    listener.close();
  });
  client.write(HEAD + afterHead);
  const expected = Buffer.byteLength(HEAD) + Buffer.byteLength(afterHead);
  const chunks: Buffer[] = [];
  let got = 0;
  while (got < expected) {
    const [chunk] = (await once(server, 'data')) as [Buffer];
    chunks.push(chunk);
    got += chunk.length;
  }
  server.pause();
  const all = Buffer.concat(chunks);
  const headLength = Buffer.byteLength(HEAD);
  if (all.length > headLength) server.unshift(all.subarray(headLength));
  return { client, server, head: all.subarray(0, headLength) };
}

function options(client: net.Socket, prefix: Buffer, workerSocketPath: string, more: Partial<HandOffOptions> = {}): HandOffOptions {
  return { client, prefix, workerSocketPath, params: [['REQUEST_METHOD', 'POST']], connectTimeoutMs: 2000, logger, ...more };
}

function failure(syscall: string, errno: string): NativeError {
  return new NativeError(syscall, errno, `${syscall}: ${errno}`);
}

/** What a client sees after the front end answers 502 on the connection handOff gave back. */
async function answer502(server: net.Socket, client: net.Socket): Promise<string> {
  const received = readResponses(client, 1);
  server.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\nConnection: close\r\n\r\n502');
  const [response] = await received;
  return `${response!.status} ${response!.body.toString()}`;
}

/**
 * A fake worker that reads the handoff with a plain libuv read (so the passed descriptor is
 * discarded by the kernel) and decodes the records; then `then` decides what it answers.
 */
async function fakeWorker(then: (conn: net.Socket, records: FcgiRecord[]) => void): Promise<{ socketPath: string; records: Promise<FcgiRecord[]> }> {
  const socketPath = path.join(dir, 'fake.sock');
  let deliver!: (records: FcgiRecord[]) => void;
  const records = new Promise<FcgiRecord[]>((resolve) => (deliver = resolve));
  const server = net.createServer((conn) => {
    const got: FcgiRecord[] = [];
    const decoder = new RecordDecoder((r) => {
      got.push({ ...r, content: Buffer.from(r.content) });
      if (r.type === RecordType.STDIN && r.content.length === 0) {
        deliver(got);
        then(conn, got);
      }
    });
    conn.on('data', (chunk: Buffer) => decoder.push(chunk));
    conn.on('error', () => undefined);
  });
  server.listen(socketPath);
  await once(server, 'listening');
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { socketPath, records };
}

describe('when the handoff fails, the client socket is left usable', () => {
  test('no worker socket at that path: HandoffError, and the front end can still answer 502', async () => {
    const front = await Front.start({ workerSocketPath: path.join(dir, 'nobody.sock'), logger });
    cleanups.push(() => front.close());
    const client = net.connect(front.port, '127.0.0.1');
    cleanups.push(() => void client.destroy());
    await once(client, 'connect');
    const responses = readResponses(client, 1);
    client.write('GET /pid HTTP/1.1\r\nHost: test\r\n\r\n');
    const [response] = await responses;
    expect(response!.status).toBe(502);
    expect(response!.headers.get('x-error')).toBe('FCGIPM_ERR_HANDOFF');
    expect(front.failures).toHaveLength(1);
    expect(front.failures[0]!.message).toMatch(/ENOENT/);
  });

  test('a socket file nobody listens on (ECONNREFUSED): the unread bytes stay readable', async () => {
    const stale = path.join(dir, 'stale.sock');
    native.closeFd(native.listenUnix(stale, 1, 0o600)); // the file stays, the listener is gone
    const { client, server, head } = await connectionAfterHead('hello world');
    pauseForHandoff(server); // as a front end that queued the request would
    const err = await handOff(options(server, head, stale)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HandoffError);
    expect((err as HandoffError).code).toBe('FCGIPM_ERR_HANDOFF');
    expect((err as HandoffError).message).toMatch(/ECONNREFUSED/);
    expect(server.destroyed).toBe(false);
    expect(String(server.read())).toBe('hello world');
    // Reading works again: libuv's reading was restarted.
    const more = once(server, 'data') as Promise<[Buffer]>;
    server.resume();
    client.write('more bytes');
    expect(String((await more)[0])).toBe('more bytes');
    expect(await answer502(server, client)).toBe('502 502');
  });

  test('sendmsg fails after the buffered bytes were drained: they are put back', async () => {
    const { socketPath } = await fakeWorker(() => undefined);
    const { client, server, head } = await connectionAfterHead('hello world');
    const send = jest.spyOn(native, 'sendFd').mockImplementation(() => {
      throw failure('sendmsg', 'EPIPE');
    });
    await expect(handOff(options(server, head, socketPath))).rejects.toThrow(/sendmsg .* failed: EPIPE/);
    expect(send).toHaveBeenCalledTimes(1);
    // The payload included the drained bytes: STDIN carried head + body.
    expect(send.mock.calls[0]![2].includes(Buffer.from(HEAD + 'hello world'))).toBe(true);
    expect(String(server.read())).toBe('hello world');
    expect(await answer502(server, client)).toBe('502 502');
  });

  test('EAGAIN on every try: HandoffError after a bounded number of retries', async () => {
    const { socketPath } = await fakeWorker(() => undefined);
    const { client, server, head } = await connectionAfterHead('hello world');
    const send = jest.spyOn(native, 'sendFd').mockImplementation(() => {
      throw failure('sendmsg', 'EAGAIN');
    });
    await expect(handOff(options(server, head, socketPath))).rejects.toThrow(/EAGAIN/);
    expect(send).toHaveBeenCalledTimes(6);
    expect(String(server.read())).toBe('hello world');
    expect(await answer502(server, client)).toBe('502 502');
  });

  test('bad options throw InvalidArgumentError naming the option', () => {
    const socket = new net.Socket();
    expect(() => handOff(options(socket, Buffer.alloc(0), ''))).toThrow(InvalidArgumentError);
    expect(() => handOff(options(socket, Buffer.alloc(0), '/x', { connectTimeoutMs: 0 }))).toThrow(/connectTimeoutMs/);
  });
});

describe('with a real worker', () => {
  let worker: SpawnedWorker;

  beforeAll(() => {
    worker = spawnWorker('c');
  });

  afterAll(async () => {
    await worker.cleanup();
  });

  test('EAGAIN on the first sendmsg is retried on the next turns of the event loop', async () => {
    const { client, server, head } = await connectionAfterHead('hello world');
    const real = native.sendFd;
    let eagain = 2;
    const send = jest.spyOn(native, 'sendFd').mockImplementation((socketFd, fd, data) => {
      if (eagain-- > 0) throw failure('sendmsg', 'EAGAIN');
      return real(socketFd, fd, data);
    });
    const response = readResponses(client, 1);
    const session = await handOff(options(server, head, worker.socketPath));
    expect(send).toHaveBeenCalledTimes(3);
    expect(server.destroyed).toBe(true); // fcgipm's copy is closed...
    const [r] = await response; // ...and the worker answers on the same connection
    expect(r!.body.toString()).toBe('hello world');
    client.end();
    await expect(session.done).resolves.toEqual({ appStatus: 0, protocolStatus: 0 });
  });

  test('a client that half-closes after its request still gets the answer, across an EAGAIN retry', async () => {
    const listener = net.createServer();
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
    const client = net.connect({ port: (listener.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
    const [server] = await accepted;
    cleanups.push(() => {
      client.destroy();
      listener.close();
    });
    const request = 'GET /pid HTTP/1.0\r\n\r\n';
    // The request, then the client's FIN right behind it.
    const head = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      server.on('data', function onData(chunk: Buffer) {
        chunks.push(chunk);
        if (Buffer.concat(chunks).length < request.length) return;
        server.off('data', onData);
        pauseForHandoff(server);
        resolve(Buffer.concat(chunks));
      });
      client.end(request);
    });
    // One EAGAIN: the handoff waits a turn of the event loop before the retry.
    const real = native.sendFd;
    let eagain = 1;
    jest.spyOn(native, 'sendFd').mockImplementation((socketFd, fd, data) => {
      if (eagain-- > 0) throw failure('sendmsg', 'EAGAIN');
      return real(socketFd, fd, data);
    });
    const response = readResponses(client, 1);
    const session = await handOff(options(server, head, worker.socketPath));
    const [r] = await response;
    expect(r!.body.toString()).toBe(`pid=${worker.process.pid} requests=1\n`);
    await expect(session.done).resolves.toEqual({ appStatus: 0, protocolStatus: 0 });
  });

  test('a 1 MiB prefix (a short sendmsg: the rest goes by plain write)', async () => {
    const body = Buffer.alloc(1024 * 1024, 'x');
    const listener = net.createServer();
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
    const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
    const [server] = await accepted;
    cleanups.push(() => {
      client.destroy();
      listener.close();
    });
    server.pause();
    const prefix = Buffer.concat([Buffer.from(`POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`), body]);
    const send = jest.spyOn(native, 'sendFd');
    const response = readResponses(client, 1);
    const session = await handOff(options(server, prefix, worker.socketPath));
    expect(send.mock.results[0]!.value).toBeLessThan(prefix.length);
    const [r] = await response;
    expect(r!.body.equals(body)).toBe(true);
    await expect(session.done).resolves.toEqual({ appStatus: 0, protocolStatus: 0 });
  });
});

describe('the records and the session', () => {
  test('BEGIN_REQUEST, PARAMS with FCGIPM_HANDOFF=1, empty PARAMS, STDIN = the client bytes, empty STDIN', async () => {
    const { socketPath, records } = await fakeWorker((conn) => conn.end(encodeEndRequest(1, 7, 0)));
    const { server, head } = await connectionAfterHead('hello world');
    const params: Array<[string, string]> = [
      ['REQUEST_METHOD', 'POST'],
      ['FCGIPM_HANDOFF', 'caller value is replaced'],
      ['LONG', 'v'.repeat(300)],
    ];
    const session = await handOff(options(server, head, socketPath, { params }));
    const got = await records;
    expect(got.map((r) => [r.type, r.requestId, r.content.length === 0])).toEqual([
      [RecordType.BEGIN_REQUEST, 1, false],
      [RecordType.PARAMS, 1, false],
      [RecordType.PARAMS, 1, true],
      [RecordType.STDIN, 1, false],
      [RecordType.STDIN, 1, true],
    ]);
    expect(decodeBeginRequest(got[0]!.content)).toEqual({ role: 1, flags: 0, keepConn: false });
    expect(decodePairs(got[1]!.content)).toEqual([
      ['REQUEST_METHOD', 'POST'],
      ['LONG', 'v'.repeat(300)],
      ['FCGIPM_HANDOFF', '1'],
    ]);
    expect(got[3]!.content.toString()).toBe(HEAD + 'hello world');
    await expect(session.done).resolves.toEqual({ appStatus: 7, protocolStatus: 0 });
  });

  test('the worker closes without END_REQUEST: done rejects with HandoffError', async () => {
    const { socketPath } = await fakeWorker((conn) => conn.destroy());
    const { client, server, head } = await connectionAfterHead('');
    const closed = once(client, 'close');
    const session = await handOff(options(server, head, socketPath));
    await expect(session.done).rejects.toThrow(/closed the handoff connection before END_REQUEST/);
    // The descriptor died with the fake worker's read: the client sees its connection end.
    await closed;
  });

  test('the worker sends garbage: done rejects with HandoffError', async () => {
    const { socketPath } = await fakeWorker((conn) => conn.write(Buffer.from('HTTP/1.1 200 OK\r\n\r\n')));
    const { server, head } = await connectionAfterHead('');
    const session = await handOff(options(server, head, socketPath));
    const err = await session.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HandoffError);
    expect((err as Error).message).toMatch(/malformed/);
  });
});
