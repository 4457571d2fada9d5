/**
 * The worker connection (src/client/connection.ts) against a FastCGI peer written by hand in
 * this process (undici's habit: a socket server writing bytes, no app process): keeping the
 * connection across requests, and the facts a close carries that the pool's replay policy
 * reads (reusedConnection, responseStarted, closedByPeer), and the IO timeout.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '../../src/client/connection';
import type { EndRequest, FcgiRequest, ResponseHandler } from '../../src/client/request';
import { FcgipmError, IoTimeoutError, WorkerClosedError } from '../../src/errors';
import { RecordType } from '../../src/protocol/constants';
import { encodeEndRequest, encodeStream } from '../../src/protocol/encoder';
import { RecordDecoder } from '../../src/protocol/record-decoder';
import { tempDir } from '../helpers/fixtures';

/** What the peer does once a request's STDIN has ended: the n-th request it saw, 1-based. */
type Behaviour = (socket: net.Socket, requestId: number, n: number) => void;

const answer: Behaviour = (socket, id) => {
  socket.write(Buffer.concat([encodeStream(RecordType.STDOUT, id, Buffer.from('Status: 200\r\n\r\nhi')), encodeStream(RecordType.STDOUT, id, Buffer.alloc(0)), encodeEndRequest(id, 0, 0)]));
};

let dir: string;
let server: net.Server;
let sock: string;
let connections = 0;
const open: Connection[] = [];

async function peer(behaviour: Behaviour): Promise<void> {
  let n = 0;
  server = net.createServer((socket) => {
    connections += 1;
    const decoder = new RecordDecoder((record) => {
      if (record.type === RecordType.STDIN && record.content.length === 0) behaviour(socket, record.requestId, ++n);
    });
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(sock, resolve));
}

beforeEach(() => {
  dir = tempDir('fcgipm-conn-');
  sock = path.join(dir, 'peer.sock');
  connections = 0;
});

afterEach(async () => {
  for (const c of open.splice(0)) c.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  fs.rmSync(dir, { recursive: true, force: true });
});

const REQUEST: FcgiRequest = { params: [['REQUEST_METHOD', 'GET']], body: { kind: 'none' } };

function run(conn: Connection): Promise<{ stdout: string; end?: EndRequest; error?: FcgipmError }> {
  return new Promise((resolve) => {
    let stdout = '';
    const h: ResponseHandler = {
      onStdout: (c) => {
        stdout += c.toString();
        return true;
      },
      onStderr: () => undefined,
      onEnd: (end) => resolve({ stdout, end }),
      onError: (error) => resolve({ stdout, error }),
    };
    conn.request(REQUEST, h);
  });
}

async function connect(ioTimeoutMs = 10_000): Promise<Connection> {
  const c = await Connection.connect(sock, { keepConn: true, ioTimeoutMs, connectTimeoutMs: 5_000 });
  open.push(c);
  return c;
}

test('with FCGI_KEEP_CONN two requests go over one connection', async () => {
  await peer(answer);
  const conn = await connect();
  expect(await run(conn)).toMatchObject({ stdout: 'Status: 200\r\n\r\nhi', end: { appStatus: 0, protocolStatus: 0 } });
  expect(conn.reusable).toBe(true);
  expect(await run(conn)).toMatchObject({ end: { appStatus: 0 } });
  expect(conn.requestsServed).toBe(2);
  expect(connections).toBe(1);
});

test('a kept connection closed before a byte of the next answer: WorkerClosedError, reused, not started', async () => {
  await peer((socket, id, n) => (n === 1 ? answer(socket, id, n) : socket.destroy()));
  const conn = await connect();
  await run(conn);
  const { error } = await run(conn);
  expect(error).toBeInstanceOf(WorkerClosedError);
  expect(error).toMatchObject({ code: 'FCGIPM_ERR_WORKER_CLOSED', reusedConnection: true, responseStarted: false });
  expect(conn.reusable).toBe(false);
  // Closed with a request on it: that is not the idle close of an app ignoring FCGI_KEEP_CONN.
  expect(conn.closedByPeer).toBe(false);
});

test('an app that closes after each answer (ignoring FCGI_KEEP_CONN) leaves a connection closed by its peer', async () => {
  await peer((socket, id, n) => {
    answer(socket, id, n);
    socket.end();
  });
  const conn = await connect();
  expect(await run(conn)).toMatchObject({ end: { appStatus: 0 } });
  await new Promise<void>((resolve) => {
    const poll = (): void => (conn.closedByPeer ? resolve() : void setImmediate(poll));
    poll();
  });
  expect(conn.reusable).toBe(false);
});

test('a close in the middle of an answer says the response started (never replayed)', async () => {
  await peer((socket, id) => {
    socket.write(encodeStream(RecordType.STDOUT, id, Buffer.from('Status: 200\r\n\r\npart')));
    setImmediate(() => socket.destroy());
  });
  const conn = await connect();
  const { error } = await run(conn);
  expect(error).toMatchObject({ code: 'FCGIPM_ERR_WORKER_CLOSED', reusedConnection: false, responseStarted: true });
});

test('a peer that stays silent past ioTimeoutMs gives IoTimeoutError (504)', async () => {
  await peer(() => undefined);
  const conn = await connect(200);
  const { error } = await run(conn);
  expect(error).toBeInstanceOf(IoTimeoutError);
  expect(error?.httpStatus).toBe(504);
  expect(conn.reusable).toBe(false);
});

test('back-pressure is onStdout returning false: nothing more arrives until resumeResponse(), then the rest in order', async () => {
  // The peer answers in three writes, a tick apart, each a whole STDOUT record.
  await peer((socket, id) => {
    const parts = ['Status: 200\r\n\r\none', 'two', 'three'];
    const next = (): void => {
      const part = parts.shift();
      if (part === undefined) {
        socket.write(Buffer.concat([encodeStream(RecordType.STDOUT, id, Buffer.alloc(0)), encodeEndRequest(id, 0, 0)]));
        return;
      }
      socket.write(encodeStream(RecordType.STDOUT, id, Buffer.from(part)));
      setTimeout(next, 20);
    };
    next();
  });
  const conn = await connect();
  const seen: string[] = [];
  let ended = false;
  conn.request(REQUEST, {
    // "Slow client": take the first piece, then ask for no more.
    onStdout: (c) => {
      seen.push(c.toString());
      return seen.length > 1;
    },
    onStderr: () => undefined,
    onEnd: () => (ended = true),
    onError: () => (ended = true),
  });
  await new Promise<void>((resolve) => {
    const poll = (): void => (seen.length > 0 ? resolve() : void setImmediate(poll));
    poll();
  });
  // The peer wrote everything long ago; none of it reached the handler while paused.
  await new Promise((r) => setTimeout(r, 200));
  expect(seen).toEqual(['Status: 200\r\n\r\none']);
  expect(ended).toBe(false);
  conn.resumeResponse();
  await new Promise<void>((resolve) => {
    const poll = (): void => (ended ? resolve() : void setTimeout(poll, 5));
    poll();
  });
  expect(seen.join('')).toBe('Status: 200\r\n\r\nonetwothree');
});
