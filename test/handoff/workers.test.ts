/**
 * Both handoff workers — the C reference (fixtures/fcgi-apps/handoff.c) and the Node helper
 * (src/worker/handoff-worker.ts via fixtures/fcgi-apps/handoff-node.js) — driven through
 * handOff() by a small TCP front server, without the rest of fcgipm.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { HandoffError } from '../../src/errors';
import type { HandoffSession } from '../../src/client/handoff';
import { Front, expectedBytes, random, readResponses, spawnWorker, type SpawnedWorker, type WorkerKind } from './harness';

const MIB = 1024 * 1024;
const PATTERN = expectedBytes(MIB);

interface Spec {
  method: 'GET' | 'POST';
  path: string;
  body?: Buffer;
  /** The body the response must carry. */
  expect: Buffer;
}

/** 1 MiB every 100th request; otherwise edge sizes and random ones, half /bytes, half /echo. */
function mix(count: number, seed: number): Spec[] {
  const rng = random(seed);
  const edges = [0, 1, 250, 251, 252, 8191, 65535, 65536, 251 * 256, 251 * 256 + 1];
  const size = (): number => (rng() < 0.3 ? (edges[Math.floor(rng() * edges.length)] ?? 0) : Math.floor(rng() * 200_000));
  const specs: Spec[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 100 === 50) {
      specs.push({ method: 'GET', path: `/bytes?n=${MIB}`, expect: PATTERN });
    } else if (rng() < 0.5) {
      const n = size();
      specs.push({ method: 'GET', path: `/bytes?n=${n}`, expect: PATTERN.subarray(0, n) });
    } else {
      const body = randomBytes(size());
      specs.push({ method: 'POST', path: '/echo', body, expect: body });
    }
  }
  return specs;
}

function request(port: number, spec: Pick<Spec, 'method' | 'path' | 'body'>, agent: http.Agent | false): Promise<{ status: number; body: Buffer; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const headers = spec.body !== undefined ? { 'content-length': spec.body.length } : {};
    const req = http.request({ host: '127.0.0.1', port, method: spec.method, path: spec.path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(spec.body);
  });
}

/** Runs specs over `lanes` concurrent loops; returns how many failed their byte check. */
async function runAll(port: number, specs: Spec[], lanes: number, agent: http.Agent | false): Promise<string[]> {
  const mismatches: string[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < specs.length) {
      const i = next++;
      const spec = specs[i]!;
      const res = await request(port, spec, agent);
      if (res.status !== 200 || !res.body.equals(spec.expect)) {
        mismatches.push(`#${i} ${spec.method} ${spec.path}: status ${res.status}, ${res.body.length} bytes, expected ${spec.expect.length}`);
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return mismatches;
}

function connect(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  return once(socket, 'connect').then(() => socket);
}

function get(path: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: test\r\n${extra}\r\n`;
}

function post(path: string, body: Buffer, extra = ''): Buffer {
  return Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: test\r\nContent-Length: ${body.length}\r\n${extra}\r\n`), body]);
}

describe.each<[string, WorkerKind]>([
  ['C reference worker (handoff.c)', 'c'],
  ['Node helper (handoff-node.js)', 'node'],
])('%s', (_name, kind) => {
  let worker: SpawnedWorker;
  let front: Front;
  const opened: net.Socket[] = [];

  async function client(on: Front = front): Promise<net.Socket> {
    const socket = await connect(on.port);
    opened.push(socket);
    return socket;
  }

  beforeAll(async () => {
    worker = spawnWorker(kind);
    front = await Front.start({ workerSocketPath: worker.socketPath, logger: worker.log.logger });
  });

  afterEach(() => {
    for (const s of opened.splice(0)) s.destroy();
  });

  afterAll(async () => {
    await front.close();
    await worker.cleanup();
  });

  test('1,000 requests (/bytes up to 1 MiB, /echo bodies) come back byte for byte', async () => {
    const specs = mix(1000, kind === 'c' ? 1 : 2);
    const before = front.sessions.length;
    // The C worker serves one connection at a time: a connection per request (agent: false)
    // and the rest wait in its listen backlog. The Node helper serves kept-alive connections
    // concurrently.
    const agent = kind === 'c' ? false : new http.Agent({ keepAlive: true, maxSockets: 8 });
    const mismatches = await runAll(front.port, specs, kind === 'c' ? 4 : 8, agent);
    if (agent) agent.destroy();
    expect(mismatches).toEqual([]);
    expect(front.failures).toEqual([]);

    const sessions = front.sessions.slice(before);
    if (kind === 'c') expect(sessions).toHaveLength(1000);
    else expect(sessions.length).toBeLessThanOrEqual(8);
    const ends = await Promise.all(sessions.map((s) => s.done));
    expect(ends.every((e) => e.appStatus === 0 && e.protocolStatus === 0)).toBe(true);
  });

  test('a kept-alive client makes many requests on one handed-off connection', async () => {
    const before = front.sessions.length;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    let pid = '';
    for (let i = 1; i <= 60; i++) {
      if (i % 3 === 0) {
        const res = await request(front.port, { method: 'GET', path: '/pid' }, agent);
        const match = /^pid=(\d+) requests=(\d+)\n$/.exec(res.body.toString());
        expect(match).not.toBeNull();
        pid ||= match![1]!;
        expect(match![1]).toBe(pid);
        expect(Number(match![2])).toBe(i); // the worker's count on this one connection
      } else if (i % 3 === 1) {
        const res = await request(front.port, { method: 'GET', path: `/bytes?n=${i * 1000}` }, agent);
        expect(res.body.equals(PATTERN.subarray(0, i * 1000))).toBe(true);
      } else {
        const body = randomBytes(i * 777);
        const res = await request(front.port, { method: 'POST', path: '/echo', body }, agent);
        expect(res.body.equals(body)).toBe(true);
      }
    }
    expect(pid).toBe(String(worker.process.pid));
    expect(front.sessions.length - before).toBe(1);
    agent.destroy();
    await expect(front.sessions[before]!.done).resolves.toEqual({ appStatus: 0, protocolStatus: 0 });
  });

  test.each([
    ['the whole stream in STDIN', false],
    ['the bytes after the head drained from Node’s buffer', true],
  ])('10 pipelined requests in one write come back in order (%s)', async (_what, unshiftAfterHead) => {
    const on = unshiftAfterHead ? await Front.start({ workerSocketPath: worker.socketPath, logger: worker.log.logger, unshiftAfterHead }) : front;
    try {
      const small = Buffer.from('hello, pipelined world');
      const big = randomBytes(70_000);
      const requests = [
        get('/pid'),
        get('/bytes?n=0'),
        post('/echo', small),
        get('/bytes?n=100000'),
        get('/nope'),
        post('/echo', big),
        get('/pid'),
        'GET /pid HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
        get('/bytes?n=251'),
        get('/pid', 'Connection: close\r\n'),
      ];
      const socket = await client(on);
      const session = once(on, 'session') as Promise<[HandoffSession]>;
      const closed = once(socket, 'close');
      socket.write(Buffer.concat(requests.map((r) => (typeof r === 'string' ? Buffer.from(r) : r))));
      const responses = await readResponses(socket, 10);
      await closed; // Connection: close on the last one: the worker closes after it

      expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 404, 200, 200, 200, 200, 200]);
      const text = responses.map((r) => r.body.toString());
      const pid = worker.process.pid;
      expect(text[0]).toBe(`pid=${pid} requests=1\n`);
      expect(responses[1]!.body.length).toBe(0);
      expect(responses[2]!.body.equals(small)).toBe(true);
      expect(responses[3]!.body.equals(PATTERN.subarray(0, 100000))).toBe(true);
      expect(responses[5]!.body.equals(big)).toBe(true);
      expect(text[6]).toBe(`pid=${pid} requests=7\n`);
      expect(text[7]).toBe(`pid=${pid} requests=8\n`);
      expect(responses[7]!.headers.get('connection')?.toLowerCase()).toBe('keep-alive');
      expect(responses[8]!.body.equals(PATTERN.subarray(0, 251))).toBe(true);
      expect(text[9]).toBe(`pid=${pid} requests=10\n`);
      expect(responses[9]!.headers.get('connection')?.toLowerCase()).toBe('close');
      const [s] = await session;
      await expect(s.done).resolves.toEqual({ appStatus: 0, protocolStatus: 0 });
    } finally {
      if (on !== front) await on.close();
    }
  });

  test('END_REQUEST comes only after the client closes the connection', async () => {
    const socket = await client();
    const sessionEvent = once(front, 'session') as Promise<[HandoffSession]>;
    socket.write(get('/pid'));
    const [session] = await sessionEvent;
    let settled = false;
    void session.done.then(
      () => (settled = true),
      () => (settled = true),
    );
    const [response] = await readResponses(socket, 1);
    expect(response!.body.toString()).toBe(`pid=${worker.process.pid} requests=1\n`);
    // Answered, still connected: the worker holds the connection, so it is still busy.
    expect(settled).toBe(false);
    socket.end();
    await expect(session.done).resolves.toEqual({ appStatus: 0, protocolStatus: 0 });
    expect(settled).toBe(true);
  });

  test('abort() closes the Unix connection: done rejects and the worker drops the client', async () => {
    const socket = await client();
    const sessionEvent = once(front, 'session') as Promise<[HandoffSession]>;
    socket.write(get('/pid'));
    const [session] = await sessionEvent;
    await readResponses(socket, 1);
    const closed = once(socket, 'close');
    session.abort();
    await expect(session.done).rejects.toBeInstanceOf(HandoffError);
    await closed;
    // The worker is free again: the next client is served.
    const next = await request(front.port, { method: 'GET', path: '/pid' }, false);
    expect(next.body.toString()).toMatch(/^pid=\d+ requests=1\n$/);
  });

  test('SIGTERM: the kept-alive client is closed, END_REQUEST sent, exit code 0', async () => {
    const socket = await client();
    const sessionEvent = once(front, 'session') as Promise<[HandoffSession]>;
    socket.write(get('/pid'));
    const [session] = await sessionEvent;
    await readResponses(socket, 1);
    const closed = once(socket, 'close');
    worker.process.kill('SIGTERM');
    await closed;
    await expect(session.done).resolves.toEqual({ appStatus: 0, protocolStatus: 0 });
    const exit = await worker.process.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
  });
});
