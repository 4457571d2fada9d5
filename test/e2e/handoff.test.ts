/**
 * fd handoff through fcgipm itself (docs/handoff-protocol.md): an app marked
 * `handoff: true` gets each client connection with SCM_RIGHTS and answers it directly —
 * the reference C worker (fixtures/fcgi-apps/handoff.c) and a worker built on the package's
 * Node helper (fixtures/fcgi-apps/handoff-node.js). Bytes exact, keep-alive and pipelining,
 * busy accounting until END_REQUEST, and a site mixing handed-off and proxied apps.
 */
import http from 'node:http';
import net from 'node:net';
import { fixture } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';
import { closeAllConfigs, serveConfig, type ServedConfig } from '../helpers/serve-config';
import { expectedBytes, NODE_WORKER_SCRIPT, random, readResponses } from '../handoff/harness';

const WORKERS = [
  ['C worker', () => fixture('handoff'), 1],
  ['Node helper', () => NODE_WORKER_SCRIPT, 16],
] as const;

describe.each(WORKERS)('handoff through fcgipm: %s', (_name, command, slots) => {
  let s: ServedConfig;

  beforeAll(async () => {
    s = await serveConfig(
      (dir) => `
ipcDir: ${dir}/sock
listen: { http: 127.0.0.1:0 }
sites:
  - apps:
      - { prefix: /, command: ${command()}, handoff: true, maxProcesses: 8, slots: ${slots} }
      - { prefix: /proxied, command: ${fixture('hello')} }
`,
    );
  });
  afterAll(closeAllConfigs);

  test('1,000 requests, bytes exact: new connections and kept-alive ones, /bytes up to 1 MiB and /echo', async () => {
    const rnd = random(4);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    let failures = 0;
    try {
      for (let batch = 0; batch < 125; batch += 1) {
        await Promise.all(
          Array.from({ length: 8 }, async (_, k) => {
            const i = batch * 8 + k;
            const useAgent = i % 2 === 0 ? agent : false;
            if (i % 3 === 0) {
              const body = Buffer.alloc(Math.floor(rnd() * 200_000), i % 251);
              const r = await httpRequest(`${s.base}/echo`, { method: 'POST', body, agent: useAgent });
              if (r.status !== 200 || !r.body.equals(body)) failures += 1;
              return;
            }
            const n = i % 100 === 1 ? 1024 * 1024 : Math.floor(rnd() * 300_000);
            const r = await httpRequest(`${s.base}/bytes?n=${n}`, { agent: useAgent });
            if (r.status !== 200 || !r.body.equals(expectedBytes(n))) failures += 1;
          }),
        );
      }
    } finally {
      agent.destroy();
    }
    expect(failures).toBe(0);
  });

  test('a pipelined client: 10 requests in one write, 10 responses in order on the same connection', async () => {
    const socket = net.connect(Number(new URL(s.base).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const sizes = [0, 1, 7, 250, 251, 4096, 65_536, 100_000, 3, 1_000_000];
    socket.write(sizes.map((n) => `GET /bytes?n=${n} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
    const responses = await readResponses(socket, sizes.length);
    socket.destroy();
    expect(responses.map((r) => r.status)).toEqual(sizes.map(() => 200));
    responses.forEach((r, i) => expect(r.body.equals(expectedBytes(sizes[i] ?? 0))).toBe(true));
  });

  test('keep-alive: the worker owns the connection and counts its requests; busy until the client leaves', async () => {
    const socket = net.connect(Number(new URL(s.base).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const texts: string[] = [];
    for (let i = 0; i < 20; i += 1) {
      socket.write('GET /pid HTTP/1.1\r\nHost: x\r\n\r\n');
      const [r] = await readResponses(socket, 1);
      texts.push(r?.body.toString() ?? '');
    }
    expect(texts[19]).toMatch(/requests=20\b/);
    const pool = s.server.manager.snapshot().pools.find((p) => p.processes.some((pr) => pr.state === 'busy'));
    expect(pool).toBeDefined();
    const poolName = pool?.name;
    socket.end();
    // END_REQUEST arrives once the worker is done with the connection: the slot frees.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const p = s.server.manager.snapshot().pools.find((x) => x.name === poolName);
      if (p && p.processes.every((pr) => pr.state !== 'busy')) break;
      if (Date.now() > deadline) throw new Error('worker still busy 10 s after the client left');
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  test('a connection whose first request is for a proxied app is served by the HTTP front end', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const a = await httpRequest(`${s.base}/proxied/x`, { agent });
      expect(a.body.toString()).toMatch(/^Hello from fcgipm fixture/);
      const b = await httpRequest(`${s.base}/proxied/y`, { agent });
      expect(b.body.toString()).toMatch(/request=2\b/);
      // The same kept connection now asks for a handoff app: it cannot be handed off any
      // more (its bytes went through Node's parser), so the client is told to reconnect.
      const c = await httpRequest(`${s.base}/bytes?n=10`, { agent });
      expect(c.status).toBe(421);
    } finally {
      agent.destroy();
    }
    expect((await httpRequest(`${s.base}/bytes?n=10`)).body.equals(expectedBytes(10))).toBe(true);
  });
});

describe('handoff and authorizers', () => {
  afterAll(closeAllConfigs);

  test('a handoff app under an auth rule is refused, never served unguarded', async () => {
    const s = await serveConfig(
      (dir) => `
ipcDir: ${dir}/sock
listen: { http: 127.0.0.1:0 }
sites:
  - apps:
      - { prefix: /, command: ${fixture('handoff')}, handoff: true }
    auth:
      - { prefix: /private, authorizer: { command: ${fixture('auth')} } }
`,
    );
    const r = await httpRequest(`${s.base}/private/bytes?n=10`);
    expect(r.status).toBe(500);
    expect(r.body.toString()).toMatch(/authorizers cannot guard handed-off connections/);
    expect((await httpRequest(`${s.base}/bytes?n=10`)).body.equals(expectedBytes(10))).toBe(true);
  });
});

describe('handoff and the busy timeout', () => {
  afterAll(closeAllConfigs);

  test('a connection held past busyTimeout: the worker is killed, the client cut off, a new worker serves', async () => {
    const s = await serveConfig(
      (dir) => `
ipcDir: ${dir}/sock
listen: { http: 127.0.0.1:0 }
sites:
  - apps:
      - { prefix: /, command: ${fixture('handoff')}, handoff: true, busyTimeout: 1, maxProcesses: 2 }
`,
    );
    const socket = net.connect(Number(new URL(s.base).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /pid HTTP/1.1\r\nHost: x\r\n\r\n');
    const [first] = await readResponses(socket, 1);
    expect(first?.status).toBe(200);
    const pid = Number(/pid=(\d+)/.exec(first?.body.toString() ?? '')?.[1]);
    // Keep the connection open and idle: the C worker's own idle limit is 5 s, the busy
    // timeout 1 s. fcgipm kills the worker; its end of the client connection closes.
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    socket.resume();
    await closed;
    await s.waitForLine((l) => l.msg === 'request exceeded the busy timeout; killing the worker');
    const r = await httpRequest(`${s.base}/pid`);
    expect(r.status).toBe(200);
    expect(Number(/pid=(\d+)/.exec(r.body.toString())?.[1])).not.toBe(pid);
  });
});
