/**
 * The FastCGI server side (php-fpm's listening side): driven by the project's own client
 * (src/client/connection.ts) for ordinary traffic and by raw sockets writing encoder bytes for
 * the protocol edge cases. Every test has its own temp dir and servers, closed afterwards.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Connection } from '../../src/client/connection';
import type { EndRequest, FcgiRequest } from '../../src/client/request';
import { ClosedError, FcgipmError, InvalidArgumentError } from '../../src/errors';
import {
  FcgiServer,
  type FcgiHandler,
  type FcgiServerOptions,
  type FcgiServerRequest,
  type FcgiServerResponse,
} from '../../src/frontend/fcgi-server';
import { decodeEndRequest, decodeUnknownType } from '../../src/protocol/bodies';
import { FCGI_MAX_CONTENT_LENGTH, ProtocolStatus, RecordType, Role } from '../../src/protocol/constants';
import {
  encodeAbortRequest,
  encodeBeginRequest,
  encodeGetValues,
  encodeParams,
  encodeRecord,
  encodeStream,
  encodeStreamEnd,
} from '../../src/protocol/encoder';
import { decodePairs, encodePairs } from '../../src/protocol/name-value';
import { RecordDecoder } from '../../src/protocol/record-decoder';
import { memoryLogger, tempDir, type MemoryLog } from '../helpers/fixtures';

// ---- harness ------------------------------------------------------------------------------

const servers: FcgiServer[] = [];
const peers: RawPeer[] = [];
const connections: Connection[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const p of peers.splice(0)) p.socket.destroy();
  for (const c of connections.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => s.destroy()));
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function scratch(): string {
  const d = tempDir('fcgipm-fsrv-');
  dirs.push(d);
  return d;
}

interface Started {
  server: FcgiServer;
  log: MemoryLog;
  /** Unix socket path, or undefined for TCP. */
  sock: string | undefined;
  port: number;
}

async function start(
  handler: FcgiHandler,
  opts: Partial<Omit<FcgiServerOptions, 'handler' | 'logger'>> & { tcp?: boolean } = {},
): Promise<Started> {
  const log = memoryLogger('debug');
  const sock = opts.tcp ? undefined : path.join(scratch(), 'fcgi.sock');
  const server = new FcgiServer({
    listen: sock ? { kind: 'unix', path: sock } : { kind: 'tcp', host: '127.0.0.1', port: 0 },
    ...opts,
    handler,
    logger: log.logger,
  });
  servers.push(server);
  const bound = await server.listen();
  return { server, log, sock, port: bound.kind === 'tcp' ? bound.port : 0 };
}

interface Rec {
  type: number;
  requestId: number;
  content: Buffer;
}

/** A web server written by hand: sends encoder bytes, collects the records that come back. */
class RawPeer {
  readonly records: Rec[] = [];
  readonly closed: Promise<void>;
  private readonly listeners = new Set<() => void>();

  static connect(where: Started): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = where.sock ? net.createConnection({ path: where.sock }) : net.createConnection(where.port, '127.0.0.1');
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        const peer = new RawPeer(socket);
        peers.push(peer);
        resolve(peer);
      });
    });
  }

  private constructor(readonly socket: net.Socket) {
    const decoder = new RecordDecoder((r) => {
      this.records.push({ type: r.type, requestId: r.requestId, content: Buffer.from(r.content) });
      for (const l of [...this.listeners]) l();
    });
    socket.on('data', (chunk: Buffer) => {
      if (decoder.push(chunk)) socket.destroy();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  send(...bufs: Buffer[]): void {
    this.socket.write(Buffer.concat(bufs));
  }

  /** The first record (already received or still to come) that matches. */
  waitFor(match: (r: Rec) => boolean, timeoutMs = 5000): Promise<Rec> {
    const found = this.records.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error('expected record did not arrive'));
      }, timeoutMs);
      const check = (): void => {
        const r = this.records.find(match);
        if (!r) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(r);
      };
      this.listeners.add(check);
    });
  }

  async endRequest(requestId: number): Promise<{ appStatus: number; protocolStatus: number }> {
    const r = await this.waitFor((x) => x.type === RecordType.END_REQUEST && x.requestId === requestId);
    return decodeEndRequest(r.content);
  }

  stream(type: number, requestId: number): Buffer {
    return Buffer.concat(this.records.filter((r) => r.type === type && r.requestId === requestId).map((r) => r.content));
  }

  /** BEGIN_REQUEST + the whole PARAMS stream. */
  begin(requestId: number, params: Array<[string, string]>, keepConn = false, role: number = Role.RESPONDER): void {
    this.send(encodeBeginRequest(requestId, role, keepConn), encodeParams(requestId, params));
  }
}

interface ClientResult {
  stdout: Buffer;
  stderr: Buffer;
  end: EndRequest;
}

async function connect(sock: string, keepConn = false): Promise<Connection> {
  const c = await Connection.connect(sock, { keepConn, ioTimeoutMs: 10_000, connectTimeoutMs: 5_000 });
  connections.push(c);
  return c;
}

function request(conn: Connection, req: FcgiRequest): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    conn.request(req, {
      onStdout: (c) => out.push(Buffer.from(c)) > 0,
      onStderr: (c) => err.push(Buffer.from(c)),
      onEnd: (end) => resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err), end }),
      onError: (e: FcgipmError) => reject(e),
    });
  });
}

/** Resolves with the next request the server hands to the handler. */
function deferredHandler(): {
  handler: FcgiHandler;
  next: () => Promise<{ req: FcgiServerRequest; res: FcgiServerResponse }>;
} {
  const queue: Array<{ req: FcgiServerRequest; res: FcgiServerResponse }> = [];
  const waiting: Array<(v: { req: FcgiServerRequest; res: FcgiServerResponse }) => void> = [];
  return {
    handler: (req, res) => {
      const w = waiting.shift();
      if (w) w({ req, res });
      else queue.push({ req, res });
    },
    next: () => {
      const q = queue.shift();
      return q ? Promise.resolve(q) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

const hello: FcgiHandler = (req, res) => {
  req.stdin.resume();
  res.stdout(Buffer.from('Content-Type: text/plain\r\n\r\nhello\n'));
  res.end();
};

const md5 = (b: Buffer): string => crypto.createHash('md5').update(b).digest('hex');

// ---- tests --------------------------------------------------------------------------------

describe('FcgiServer: requests', () => {
  test('params arrive in order, byte-exact, including a value over 64 KiB split across records', async () => {
    const seen: FcgiServerRequest[] = [];
    const { sock } = await start((req, res) => {
      seen.push(req);
      hello(req, res);
    });
    const params: Array<[string, string]> = [
      ['REQUEST_METHOD', 'GET'],
      ['BIG', 'x'.repeat(100_000) + 'END'],
      ['BYTES', '\xff\xfe/caf\xc3\xa9'],
      ['DUP', '1'],
      ['EMPTY', ''],
      ['DUP', '2'],
      ['N'.repeat(300), 'long name'],
    ];
    const conn = await connect(sock!);
    const r = await request(conn, { params, body: { kind: 'none' } });
    expect(r.stdout.toString()).toContain('hello');
    expect(r.end).toEqual({ appStatus: 0, protocolStatus: ProtocolStatus.REQUEST_COMPLETE });
    expect(seen).toHaveLength(1);
    const req = seen[0]!;
    expect(req.params).toEqual(params);
    expect(req.requestId).toBe(1);
    expect(req.role).toBe(Role.RESPONDER);
    expect(req.keepConn).toBe(false);
    expect(req.remote).toBe('unix');
    expect(req.id).toMatch(/^[0-9a-z]+$/);
  });

  test('a 5 MiB body streams in and is echoed back in chunks, bytes exact', async () => {
    const { sock } = await start((req, res) => {
      req.stdin.on('data', (c: Buffer) => {
        if (!res.stdout(c)) {
          req.stdin.pause();
          res.onDrain(() => req.stdin.resume());
        }
      });
      req.stdin.on('end', () => res.end());
    });
    const body = crypto.randomBytes(5 * 1024 * 1024);
    const chunks = function* (): Generator<Buffer> {
      for (let i = 0; i < body.length; i += 100_000) yield body.subarray(i, i + 100_000);
    };
    const conn = await connect(sock!);
    const r = await request(conn, {
      params: [['REQUEST_METHOD', 'POST'], ['CONTENT_LENGTH', String(body.length)]],
      body: { kind: 'stream', stream: Readable.from(chunks()) },
    });
    expect(r.stdout.length).toBe(body.length);
    expect(r.stdout.equals(body)).toBe(true);
    expect(r.end.appStatus).toBe(0);
  });

  test('the handler runs before STDIN ends and its output reaches the web server meanwhile', async () => {
    const d = deferredHandler();
    const started = await start(d.handler, { tcp: true });
    const peer = await RawPeer.connect(started);
    peer.begin(1, [['REQUEST_METHOD', 'POST']]);
    const { req, res } = await d.next();
    expect(req.remote).toMatch(/^127\.0\.0\.1:\d+$/);
    res.stdout(Buffer.from('Status: 200 OK\r\n\r\nfirst;'));
    await peer.waitFor((r) => r.type === RecordType.STDOUT);
    const got: Buffer[] = [];
    req.stdin.on('data', (c: Buffer) => got.push(c));
    req.stdin.on('end', () => {
      res.stdout(Buffer.concat(got));
      res.end(7);
    });
    peer.send(encodeStream(RecordType.STDIN, 1, Buffer.from('body-bytes')), encodeStreamEnd(RecordType.STDIN, 1));
    expect(await peer.endRequest(1)).toEqual({ appStatus: 7, protocolStatus: 0 });
    expect(peer.stream(RecordType.STDOUT, 1).toString()).toBe('Status: 200 OK\r\n\r\nfirst;body-bytes');
    // The empty STDOUT record precedes END_REQUEST; no STDERR was used, so none is closed.
    const types = peer.records.map((r) => [r.type, r.content.length]);
    expect(types.slice(-2)).toEqual([
      [RecordType.STDOUT, 0],
      [RecordType.END_REQUEST, 8],
    ]);
    expect(peer.records.some((r) => r.type === RecordType.STDERR)).toBe(false);
  });

  test('a 1 MiB stdout write becomes full 65535-byte records; stderr is closed when used', async () => {
    const big = crypto.randomBytes(1024 * 1024);
    const started = await start((req, res) => {
      req.stdin.resume();
      res.stderr(Buffer.from('warning: something\n'));
      res.stdout(big);
      res.end();
    });
    const peer = await RawPeer.connect(started);
    peer.begin(1, [['REQUEST_METHOD', 'GET']]);
    peer.send(encodeStreamEnd(RecordType.STDIN, 1));
    await peer.endRequest(1);
    const out = peer.records.filter((r) => r.type === RecordType.STDOUT && r.content.length > 0);
    expect(out).toHaveLength(Math.ceil(big.length / FCGI_MAX_CONTENT_LENGTH));
    expect(out.slice(0, -1).every((r) => r.content.length === FCGI_MAX_CONTENT_LENGTH)).toBe(true);
    expect(peer.stream(RecordType.STDOUT, 1).equals(big)).toBe(true);
    expect(peer.stream(RecordType.STDERR, 1).toString()).toBe('warning: something\n');
    const last = peer.records.slice(-3).map((r) => [r.type, r.content.length]);
    expect(last).toEqual([
      [RecordType.STDOUT, 0],
      [RecordType.STDERR, 0],
      [RecordType.END_REQUEST, 8],
    ]);
  });

  test('KEEP_CONN: 100 sequential requests on one connection', async () => {
    const { server, sock } = await start((req, res) => {
      req.stdin.resume();
      const n = req.params.find(([k]) => k === 'N')?.[1] ?? '?';
      res.stdout(Buffer.from(`Content-Type: text/plain\r\n\r\nn=${n}|keep=${String(req.keepConn)}`));
      res.end();
    });
    const conn = await connect(sock!, true);
    for (let i = 0; i < 100; i++) {
      const r = await request(conn, { params: [['N', String(i)]], body: { kind: 'none' } });
      expect(r.stdout.toString()).toBe(`Content-Type: text/plain\r\n\r\nn=${i}|keep=true`);
      expect(conn.reusable).toBe(true);
    }
    expect(conn.requestsServed).toBe(100);
    expect(server.connectionCount).toBe(1);
  });

  test('without KEEP_CONN the connection is closed after the response', async () => {
    const started = await start(hello);
    const peer = await RawPeer.connect(started);
    peer.begin(1, [['REQUEST_METHOD', 'GET']], false);
    peer.send(encodeStreamEnd(RecordType.STDIN, 1));
    await peer.closed;
    expect(await peer.endRequest(1)).toEqual({ appStatus: 0, protocolStatus: 0 });
    expect(peer.stream(RecordType.STDOUT, 1).toString()).toContain('hello');
  });

  test('an AUTHORIZER gets an ended stdin; an empty STDIN sent anyway is ignored', async () => {
    const roles: number[] = [];
    const started = await start((req, res) => {
      roles.push(req.role);
      req.stdin.on('end', () => {
        res.stdout(Buffer.from('Status: 200\r\nVariable-USER: bob\r\n\r\n'));
        res.end();
      });
      req.stdin.resume();
    });
    const peer = await RawPeer.connect(started);
    peer.begin(1, [['REMOTE_USER', 'bob']], true, Role.AUTHORIZER);
    peer.send(encodeStreamEnd(RecordType.STDIN, 1));
    await peer.endRequest(1);
    peer.records.length = 0;
    peer.begin(1, [['REQUEST_METHOD', 'GET']], true, Role.RESPONDER);
    peer.send(encodeStreamEnd(RecordType.STDIN, 1));
    expect(await peer.endRequest(1)).toEqual({ appStatus: 0, protocolStatus: 0 });
    expect(roles).toEqual([Role.AUTHORIZER, Role.RESPONDER]);
  });

  test('back-pressure: a handler that does not read stdin stops the socket being read', async () => {
    const d = deferredHandler();
    const started = await start(d.handler);
    const peer = await RawPeer.connect(started);
    const body = crypto.randomBytes(8 * 1024 * 1024);
    peer.begin(1, [['REQUEST_METHOD', 'POST']], false);
    peer.send(encodeStream(RecordType.STDIN, 1, body), encodeStreamEnd(RecordType.STDIN, 1));
    const { req, res } = await d.next();
    // Nothing is waited for here but time: there is no event for "nothing more was read".
    await new Promise((r) => setTimeout(r, 300));
    expect(req.stdin.readableLength).toBeLessThanOrEqual(512 * 1024);
    expect(peer.socket.writableLength).toBeGreaterThan(1024 * 1024);
    const got: Buffer[] = [];
    req.stdin.on('data', (c: Buffer) => got.push(c));
    req.stdin.on('end', () => {
      res.stdout(Buffer.from(md5(Buffer.concat(got))));
      res.end();
    });
    await peer.endRequest(1);
    expect(peer.stream(RecordType.STDOUT, 1).toString()).toBe(md5(body));
  });
});

describe('FcgiServer: management and rejections', () => {
  test('GET_VALUES is answered with MAX_CONNS, MAX_REQS and MPXS_CONNS=0; unknown names left out', async () => {
    const started = await start(hello, { maxConns: 10, maxReqs: 5, tcp: true });
    const peer = await RawPeer.connect(started);
    peer.send(encodeGetValues(['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS', 'FCGI_SOMETHING_ELSE']));
    const r = await peer.waitFor((x) => x.type === RecordType.GET_VALUES_RESULT);
    expect(r.requestId).toBe(0);
    expect(new Map(decodePairs(r.content))).toEqual(
      new Map([
        ['FCGI_MAX_CONNS', '10'],
        ['FCGI_MAX_REQS', '5'],
        ['FCGI_MPXS_CONNS', '0'],
      ]),
    );
    // The connection still serves a request afterwards.
    peer.begin(1, [['REQUEST_METHOD', 'GET']]);
    peer.send(encodeStreamEnd(RecordType.STDIN, 1));
    expect((await peer.endRequest(1)).protocolStatus).toBe(0);
  });

  test('without maxConns/maxReqs only FCGI_MPXS_CONNS is answered (php-fpm leaves them out too)', async () => {
    const started = await start(hello);
    const peer = await RawPeer.connect(started);
    peer.send(encodeGetValues(['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS']));
    const r = await peer.waitFor((x) => x.type === RecordType.GET_VALUES_RESULT);
    expect(decodePairs(r.content)).toEqual([['FCGI_MPXS_CONNS', '0']]);
  });

  test('an unknown management record type is answered with UNKNOWN_TYPE', async () => {
    const started = await start(hello);
    const peer = await RawPeer.connect(started);
    peer.send(encodeRecord(42, 0, Buffer.from('whatever')));
    const r = await peer.waitFor((x) => x.type === RecordType.UNKNOWN_TYPE);
    expect(r.requestId).toBe(0);
    expect(decodeUnknownType(r.content)).toEqual({ type: 42 });
  });

  test('a second BEGIN_REQUEST while one is active gets CANT_MPX_CONN; the first completes', async () => {
    const calls: number[] = [];
    const started = await start((req, res) => {
      calls.push(req.requestId);
      const got: Buffer[] = [];
      req.stdin.on('data', (c: Buffer) => got.push(c));
      req.stdin.on('end', () => {
        res.stdout(Buffer.concat([Buffer.from('\r\n'), ...got]));
        res.end();
      });
    });
    const peer = await RawPeer.connect(started);
    peer.begin(1, [['REQUEST_METHOD', 'POST']], true);
    peer.begin(2, [['REQUEST_METHOD', 'GET']], true);
    expect(await peer.endRequest(2)).toEqual({ appStatus: 0, protocolStatus: ProtocolStatus.CANT_MPX_CONN });
    // Records of the rejected id are ignored (spec §3.3: inactive request id).
    peer.send(encodeStream(RecordType.STDIN, 2, Buffer.from('not mine')), encodeStreamEnd(RecordType.STDIN, 2));
    peer.send(encodeStream(RecordType.STDIN, 1, Buffer.from('mine')), encodeStreamEnd(RecordType.STDIN, 1));
    expect(await peer.endRequest(1)).toEqual({ appStatus: 0, protocolStatus: 0 });
    expect(peer.stream(RecordType.STDOUT, 1).toString()).toBe('\r\nmine');
    expect(peer.records.some((r) => r.requestId === 2 && r.type === RecordType.STDOUT)).toBe(false);
    expect(calls).toEqual([1]);
  });

  test('an unknown role is answered UNKNOWN_ROLE and the handler is not called', async () => {
    const handler = jest.fn(hello);
    const started = await start(handler);
    const peer = await RawPeer.connect(started);
    peer.begin(1, [['REQUEST_METHOD', 'GET']], false, 9);
    expect(await peer.endRequest(1)).toEqual({ appStatus: 0, protocolStatus: ProtocolStatus.UNKNOWN_ROLE });
    await peer.closed;
    expect(handler).not.toHaveBeenCalled();
  });

  test('PARAMS over maxParamsBytes: 431, END_REQUEST, connection closed, logged', async () => {
    const handler = jest.fn(hello);
    const started = await start(handler, { maxParamsBytes: 1024, tcp: true });
    const peer = await RawPeer.connect(started);
    peer.begin(1, [['HTTP_COOKIE', 'c'.repeat(4000)]], true);
    expect(await peer.endRequest(1)).toEqual({ appStatus: 1, protocolStatus: 0 });
    expect(peer.stream(RecordType.STDOUT, 1).toString()).toMatch(/^Status: 431 /);
    await peer.closed;
    expect(handler).not.toHaveBeenCalled();
    const line = await started.log.waitForLine((l) => String(l.msg).startsWith('PARAMS over the limit'));
    expect(line.limit).toBe(1024);
    expect(line.remote).toMatch(/^127\.0\.0\.1:\d+$/);
  });
});

describe('FcgiServer: aborts and bad input', () => {
  test('ABORT_REQUEST fires the signal, fails stdin, and the response is ended', async () => {
    const d = deferredHandler();
    const started = await start(d.handler);
    const peer = await RawPeer.connect(started);
    peer.begin(1, [['REQUEST_METHOD', 'POST']], true);
    peer.send(encodeStream(RecordType.STDIN, 1, Buffer.from('partial')));
    const { req, res } = await d.next();
    const stdinError = new Promise<unknown>((resolve) => req.stdin.on('error', resolve));
    const aborted = new Promise<unknown>((resolve) => req.signal.addEventListener('abort', () => resolve(req.signal.reason)));
    req.stdin.resume();
    peer.send(encodeAbortRequest(1));
    expect(await aborted).toMatchObject({ code: 'FCGIPM_ERR_CLIENT_ABORTED' });
    expect(await stdinError).toMatchObject({ code: 'FCGIPM_ERR_CLIENT_ABORTED' });
    expect(await peer.endRequest(1)).toEqual({ appStatus: 0, protocolStatus: 0 });
    expect(res.ended).toBe(true);
    // KEEP_CONN was set: the connection serves the next request.
    peer.begin(1, [['REQUEST_METHOD', 'GET']], true);
    peer.send(encodeStreamEnd(RecordType.STDIN, 1));
    const next = await d.next();
    next.res.end(5);
    await peer.waitFor((r) => r.type === RecordType.END_REQUEST && decodeEndRequest(r.content).appStatus === 5);
  });

  test('an abort listener may write a last answer before the server ends the response', async () => {
    const started = await start((req, res) => {
      req.signal.addEventListener('abort', () => {
        res.stdout(Buffer.from('Status: 499\r\n\r\n'));
        res.end(3);
      });
    });
    const peer = await RawPeer.connect(started);
    peer.begin(1, [['REQUEST_METHOD', 'GET']]);
    peer.send(encodeAbortRequest(1));
    expect(await peer.endRequest(1)).toEqual({ appStatus: 3, protocolStatus: 0 });
    expect(peer.stream(RecordType.STDOUT, 1).toString()).toBe('Status: 499\r\n\r\n');
    expect(peer.records.filter((r) => r.type === RecordType.END_REQUEST)).toHaveLength(1);
  });

  test('the web server closing the connection mid-request fires the signal', async () => {
    const d = deferredHandler();
    const started = await start(d.handler, { tcp: true });
    const peer = await RawPeer.connect(started);
    peer.begin(1, [['REQUEST_METHOD', 'POST']], true);
    const { req, res } = await d.next();
    const aborted = new Promise<void>((resolve) => req.signal.addEventListener('abort', () => resolve()));
    peer.socket.destroy();
    await aborted;
    expect(res.ended).toBe(true);
    // Writes after the loss are no-ops and do not ask the caller to wait.
    expect(res.stdout(Buffer.from('late'))).toBe(true);
    res.end();
  });

  test('a malformed record closes that connection, logged with the remote; others are served', async () => {
    const started = await start(hello, { tcp: true });
    const bad = await RawPeer.connect(started);
    const good = await RawPeer.connect(started);
    const badPort = bad.socket.localPort;
    bad.send(Buffer.from([2, RecordType.BEGIN_REQUEST, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
    await bad.closed;
    const line = await started.log.waitForLine((l) => String(l.msg).startsWith('malformed FastCGI input'));
    expect(String(line.err)).toMatch(/version 2/);
    expect(line.code).toBe('FCGIPM_ERR_PROTOCOL');
    expect(line.remote).toBe(`127.0.0.1:${String(badPort)}`);
    expect(started.log.lines.filter((l) => String(l.msg).startsWith('malformed FastCGI input'))).toHaveLength(1);
    good.begin(1, [['REQUEST_METHOD', 'GET']]);
    good.send(encodeStreamEnd(RecordType.STDIN, 1));
    expect(await good.endRequest(1)).toEqual({ appStatus: 0, protocolStatus: 0 });
    // And a connection opened after the bad one, too.
    const later = await RawPeer.connect(started);
    later.begin(1, [['REQUEST_METHOD', 'GET']]);
    later.send(encodeStreamEnd(RecordType.STDIN, 1));
    expect((await later.endRequest(1)).protocolStatus).toBe(0);
  });

  test.each([
    ['a truncated name-value pair', (): Buffer => Buffer.concat([encodeRecord(RecordType.PARAMS, 1, Buffer.from([5, 10, 65])), encodeStreamEnd(RecordType.PARAMS, 1)])],
    ['STDIN before the end of PARAMS', (): Buffer => encodeStream(RecordType.STDIN, 1, Buffer.from('x'))],
    ['a STDOUT record from the web server', (): Buffer => encodeStream(RecordType.STDOUT, 1, Buffer.from('x'))],
    ['a BEGIN_REQUEST body of the wrong size', (): Buffer => encodeRecord(RecordType.BEGIN_REQUEST, 2, Buffer.alloc(4))],
  ])('%s closes the connection and aborts the request', async (_name, bytes) => {
    const handler = jest.fn(hello);
    const started = await start(handler);
    const peer = await RawPeer.connect(started);
    peer.send(encodeBeginRequest(1, Role.RESPONDER, true), bytes());
    await peer.closed;
    expect(handler).not.toHaveBeenCalled();
    await started.log.waitForLine((l) => String(l.msg).startsWith('malformed FastCGI input'));
  });

  test('a GET_VALUES record with a truncated pair closes the connection', async () => {
    const started = await start(hello);
    const peer = await RawPeer.connect(started);
    const pairs = encodePairs([['FCGI_MAX_CONNS', '']]);
    peer.send(encodeRecord(RecordType.GET_VALUES, 0, pairs.subarray(0, pairs.length - 3)));
    await peer.closed;
  });

  test('a handler that throws is logged and the request answered 500', async () => {
    const started = await start(() => {
      throw new Error('boom');
    });
    const peer = await RawPeer.connect(started);
    peer.begin(1, [['REQUEST_METHOD', 'GET']], true);
    peer.send(encodeStreamEnd(RecordType.STDIN, 1));
    expect(await peer.endRequest(1)).toEqual({ appStatus: 1, protocolStatus: 0 });
    expect(peer.stream(RecordType.STDOUT, 1).toString()).toMatch(
      /^Status: 500 Internal Server Error\r\nContent-Type: text\/plain\r\n.*\r\n\r\n/s,
    );
    const line = await started.log.waitForLine((l) => l.level === 50);
    expect(line.err).toBe('boom');
    // The kept connection is still usable (and the handler still throws).
    peer.records.length = 0;
    peer.begin(1, [['REQUEST_METHOD', 'GET']], true);
    peer.send(encodeStreamEnd(RecordType.STDIN, 1));
    expect(await peer.endRequest(1)).toEqual({ appStatus: 1, protocolStatus: 0 });
  });

  test('a throwing drain callback is caught like a throwing handler', async () => {
    const started = await start((req, res) => {
      req.stdin.resume();
      res.stdout(Buffer.from('Status: 200\r\n\r\n'));
      res.onDrain(() => {
        throw new Error('in drain');
      });
    });
    const peer = await RawPeer.connect(started);
    peer.begin(1, [['REQUEST_METHOD', 'GET']]);
    peer.send(encodeStreamEnd(RecordType.STDIN, 1));
    expect(await peer.endRequest(1)).toEqual({ appStatus: 1, protocolStatus: 0 });
    // Output had started, so no second status line is written.
    expect(peer.stream(RecordType.STDOUT, 1).toString()).toBe('Status: 200\r\n\r\n');
  });
});

describe('FcgiServer: listener lifecycle', () => {
  test('a Unix socket gets mode 0660 by default and is removed on close', async () => {
    const { server, sock } = await start(hello);
    const st = fs.statSync(sock!);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
    expect(server.address).toBe(`unix:${sock!}`);
    await server.close();
    expect(fs.existsSync(sock!)).toBe(false);
  });

  test('the mode option sets other permissions', async () => {
    const { sock } = await start(hello, { mode: 0o600 });
    expect(fs.statSync(sock!).mode & 0o777).toBe(0o600);
  });

  test('a non-socket file at the path is refused with a clear error and left alone', async () => {
    const sock = path.join(scratch(), 'fcgi.sock');
    fs.writeFileSync(sock, 'precious');
    const server = new FcgiServer({ listen: { kind: 'unix', path: sock }, handler: hello, logger: memoryLogger().logger });
    servers.push(server);
    const err = await server.listen().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toBe(`listen path ${sock} exists and is not a socket; refusing to remove it`);
    expect(fs.readFileSync(sock, 'utf8')).toBe('precious');
  });

  test('a stale socket left by a killed process is replaced', async () => {
    const sock = path.join(scratch(), 'fcgi.sock');
    const script = `require('net').createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, 'SIGKILL'))`;
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
      child.once('error', reject);
      child.once('exit', () => resolve());
    });
    expect(fs.statSync(sock).isSocket()).toBe(true);
    const log = memoryLogger();
    const server = new FcgiServer({ listen: { kind: 'unix', path: sock }, handler: hello, logger: log.logger });
    servers.push(server);
    await server.listen();
    await log.waitForLine((l) => l.msg === 'removing stale FastCGI socket');
    const conn = await connect(sock);
    const r = await request(conn, { params: [['REQUEST_METHOD', 'GET']], body: { kind: 'none' } });
    expect(r.stdout.toString()).toContain('hello');
  });

  test('a socket another server still accepts on is not removed: listen fails EADDRINUSE', async () => {
    const sock = path.join(scratch(), 'fcgi.sock');
    const other = net.createServer((s) => {
      s.on('error', () => undefined);
      s.end('other\n');
    });
    await new Promise<void>((resolve) => other.listen(sock, resolve));
    try {
      const server = new FcgiServer({ listen: { kind: 'unix', path: sock }, handler: hello, logger: memoryLogger().logger });
      servers.push(server);
      await expect(server.listen()).rejects.toMatchObject({ code: 'EADDRINUSE' });
      expect(fs.statSync(sock).isSocket()).toBe(true);
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });

  test('close() waits for a request in progress, closes idle kept connections at once', async () => {
    const d = deferredHandler();
    const started = await start(d.handler, { tcp: true });
    const { server, port } = started;
    // An idle kept connection: one request done, KEEP_CONN set.
    const idle = await RawPeer.connect(started);
    idle.begin(1, [['REQUEST_METHOD', 'GET']], true);
    idle.send(encodeStreamEnd(RecordType.STDIN, 1));
    (await d.next()).res.end();
    await idle.endRequest(1);
    // A busy one.
    const busy = await RawPeer.connect(started);
    busy.begin(1, [['REQUEST_METHOD', 'GET']], true);
    busy.send(encodeStreamEnd(RecordType.STDIN, 1));
    const inFlight = await d.next();

    let closed = false;
    const closing = server.close().then(() => {
      closed = true;
    });
    expect(server.close()).toBe(server.close());
    await idle.closed;
    await expect(
      new Promise((resolve, reject) => {
        const s = net.createConnection(port, '127.0.0.1', () => resolve(s));
        s.once('error', reject);
      }),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(closed).toBe(false);
    expect(inFlight.req.signal.aborted).toBe(false);

    inFlight.res.stdout(Buffer.from('Status: 200\r\n\r\nlate but whole'));
    inFlight.res.end();
    expect(await busy.endRequest(1)).toEqual({ appStatus: 0, protocolStatus: 0 });
    expect(busy.stream(RecordType.STDOUT, 1).toString()).toBe('Status: 200\r\n\r\nlate but whole');
    // KEEP_CONN was asked for, but the server is closing: the connection ends after the answer.
    await busy.closed;
    await closing;
    expect(server.connectionCount).toBe(0);
    await expect(server.listen()).rejects.toBeInstanceOf(ClosedError);
  });

  test('destroy() aborts requests in progress', async () => {
    const d = deferredHandler();
    const started = await start(d.handler);
    const peer = await RawPeer.connect(started);
    peer.begin(1, [['REQUEST_METHOD', 'GET']]);
    const { req } = await d.next();
    await started.server.destroy();
    expect(req.signal.aborted).toBe(true);
    await peer.closed;
    expect(fs.existsSync(started.sock!)).toBe(false);
  });

  test('listen() is idempotent and reports the bound TCP address', async () => {
    const { server, port } = await start(hello, { tcp: true });
    expect(port).toBeGreaterThan(0);
    expect(await server.listen()).toEqual({ kind: 'tcp', host: '127.0.0.1', port });
    expect(server.address).toBe(`127.0.0.1:${port}`);
  });

  test.each([
    [{ mode: 0o1000 }, /mode/],
    [{ maxParamsBytes: 0 }, /maxParamsBytes/],
    [{ maxConns: 1.5 }, /maxConns/],
    [{ maxReqs: -1 }, /maxReqs/],
    [{ listen: { kind: 'tcp', host: '127.0.0.1', port: 70000 } }, /port/],
    [{ listen: { kind: 'unix', path: '' } }, /path/],
  ] as Array<[Partial<FcgiServerOptions>, RegExp]>)('bad option %j throws InvalidArgumentError', (opts, re) => {
    const make = (): FcgiServer =>
      new FcgiServer({ listen: { kind: 'tcp', host: '127.0.0.1', port: 0 }, handler: hello, logger: memoryLogger().logger, ...opts });
    expect(make).toThrow(InvalidArgumentError);
    expect(make).toThrow(re);
  });
});
