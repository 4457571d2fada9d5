/**
 * The process manager against real processes: scaling, reaping, recycling, crash-loop
 * control, php-cgi, the global cap across classes, and workers as another user.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { silentLogger } from '../../src/log';
import { HttpFrontend } from '../../src/frontend/http-server';
import { Manager } from '../../src/pm/manager';
import { resolvePoolOptions } from '../../src/pm/pool-options';
import { IpcDir } from '../../src/spawn/ipc-dir';
import { fixture, tempDir } from '../helpers/fixtures';
import { httpRequest, type HttpResult } from '../helpers/http-client';
import { closeAll, serve, type Served } from '../helpers/serve';

const PHP_CGI = '/usr/bin/php-cgi';
const PHP_APP = path.resolve(__dirname, '../../fixtures/fcgi-apps/php/app.php');

afterEach(closeAll);

const pidOf = (r: HttpResult): string => /pid=(\d+)/.exec(r.body.toString())?.[1] ?? '?';

/** n clients, each sending requests back to back until `total` have been sent. */
async function load(url: string, clients: number, total: number, agent?: http.Agent): Promise<HttpResult[]> {
  const results: HttpResult[] = [];
  let sent = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (sent < total) {
        sent += 1;
        results.push(await httpRequest(url, agent ? { agent } : {}));
      }
    }),
  );
  return results;
}

function liveWorkers(s: Served): number {
  return s.server.pool.snapshot().totalProcesses;
}

/** Resolves when the pool has exactly n live workers (checked on each worker exit). */
function untilWorkers(s: Served, n: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (liveWorkers(s) !== n) return;
      s.server.pool.off('worker-exit', check);
      resolve();
    };
    s.server.pool.on('worker-exit', check);
    check();
  });
}

describe('scaling', () => {
  test('burst from cold: 64 concurrent clients with max 8 are all answered, the pool grows to 8, no 503', async () => {
    const s = await serve('slow', { maxProcesses: 8 });
    const results = await Promise.all(Array.from({ length: 64 }, () => httpRequest(`${s.base}/?sleep=100`)));
    expect(results.map((r) => r.status)).toEqual(Array(64).fill(200));
    expect(s.peakWorkers()).toBe(8);
    expect(s.server.pool.snapshot().responses503).toBe(0);
  });

  test('--min processes start at once; idle ones are reaped down to min and never below', async () => {
    const s = await serve('slow', { minProcesses: 2, maxProcesses: 6, idleTimeoutMs: 300 });
    await s.waitForIdle(2);
    expect(s.server.pool.snapshot().spawned).toBe(2);
    const results = await Promise.all(Array.from({ length: 6 }, () => httpRequest(`${s.base}/?sleep=300`)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(s.server.pool.snapshot().spawned).toBe(6);
    await untilWorkers(s, 2);
    // Two more ticks of the reaper: still the two kept ones.
    await new Promise((r) => setTimeout(r, 2_200));
    expect(liveWorkers(s)).toBe(2);
    expect(s.server.pool.snapshot().exited['idle-timeout']).toBe(4);
  });

  test('dynamic mode keeps spare idle workers: a busy one is replaced by a new spare', async () => {
    const s = await serve('slow', { mode: 'dynamic', minSpare: 2, maxSpare: 3, maxProcesses: 6 });
    await s.waitForIdle(2);
    const pending = httpRequest(`${s.base}/?sleep=2500`);
    // One spare is now busy; the next tick starts another so that two stay idle.
    await new Promise<void>((resolve) => s.server.pool.once('worker-ready', () => resolve()));
    await s.waitForIdle(2);
    expect(s.server.pool.snapshot().activeProcesses).toBe(1);
    expect((await pending).status).toBe(200);
  });

  test('static mode keeps max processes running', async () => {
    const s = await serve('hello', { mode: 'static', maxProcesses: 3 });
    await s.waitForIdle(3);
    expect(liveWorkers(s)).toBe(3);
  });
});

describe('recycling', () => {
  test('--max-requests 1: 25 sequential requests, each on a fresh worker, without back-off', async () => {
    const s = await serve('hello', { maxProcesses: 1, maxRequestsPerProcess: 1 });
    const pids: string[] = [];
    for (let i = 0; i < 25; i += 1) {
      const r = await httpRequest(`${s.base}/`);
      expect(r.status).toBe(200);
      pids.push(pidOf(r));
    }
    expect(new Set(pids).size).toBe(25);
    const snap = s.server.pool.snapshot();
    expect(snap.exited['max-requests']).toBeGreaterThanOrEqual(24);
    // Deliberate recycling never trips the crash guard (mod_fcgid: 51 s for these 25).
    expect(snap.maxWaitMs).toBeLessThan(1_000);
  });

  test('at its max, a pool recycling with --max-requests starts each replacement before the old worker leaves', async () => {
    const s = await serve('hello', { minProcesses: 2, maxProcesses: 2, maxRequestsPerProcess: 3 });
    await s.waitForIdle(2);
    const events: string[] = [];
    s.server.pool.on('worker-start', (pid) => events.push(`start ${String(pid)}`));
    s.server.pool.on('worker-exit', (pid, _exit, reason) => events.push(`exit ${String(pid)} ${String(reason)}`));
    const results = await load(`${s.base}/`, 2, 24);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    await s.waitForIdle(2);
    const exits = events.filter((e) => e.endsWith(' max-requests'));
    expect(exits.length).toBeGreaterThanOrEqual(6);
    // Before each recycled worker's exit, as many workers had been started as had left with it:
    // the pool never waited for an exit to bring itself back to 2.
    let started = 0;
    let left = 0;
    for (const e of events) {
      if (e.startsWith('start ')) started += 1;
      else {
        left += 1;
        expect(started).toBeGreaterThanOrEqual(left);
      }
    }
    // Once the last recycled one has left: back to the pool's 2, not more.
    await untilWorkers(s, 2);
    expect(liveWorkers(s)).toBe(2);
  });

  test('--lifetime retires a busy worker only after its request', async () => {
    const s = await serve('slow', { maxProcesses: 1, lifetimeMs: 200 });
    const first = await httpRequest(`${s.base}/?sleep=600`);
    expect(first.status).toBe(200);
    expect(first.body.toString()).toBe('slept 600\n');
    await untilWorkers(s, 0);
    expect(s.server.pool.snapshot().exited.lifetime).toBe(1);
    expect((await httpRequest(`${s.base}/?sleep=1`)).status).toBe(200);
  });

  test('an app that exits by itself after N requests (unknown to fcgipm) causes no error: requests are replayed', async () => {
    const s = await serve('hello', { maxProcesses: 2, env: { HELLO_EXIT_AFTER: '3' } });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const results = await load(`${s.base}/`, 4, 120, agent);
    agent.destroy();
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    expect(s.server.pool.snapshot().spawned).toBeGreaterThanOrEqual(40);
  });
});

describe('php-cgi', () => {
  test('php-cgi with PHP_FCGI_MAX_REQUESTS=5 under concurrent load: zero 5xx', async () => {
    const s = await serve(PHP_CGI, { maxProcesses: 4, env: { PHP_FCGI_MAX_REQUESTS: '5' } }, { script: PHP_APP });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const results = await load(`${s.base}/`, 8, 200, agent);
    agent.destroy();
    expect(results.filter((r) => r.status !== 200).map((r) => r.status)).toEqual([]);
    expect(results[0]!.body.toString()).toMatch(/^php pid=\d+ sapi=cgi-fcgi\nscript=.*app\.php\nmax_requests=5 children=0\n$/);
    // fcgipm retires each php-cgi after its 5th request, before php would leave on its own.
    expect(new Set(results.map(pidOf)).size).toBeGreaterThanOrEqual(40);
  });

  test('php-cgi is kept like php-fpm keeps its workers: one process serves past php-cgi\'s own 500-request default', async () => {
    const s = await serve(PHP_CGI, { maxProcesses: 1 }, { script: PHP_APP });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    const results = await load(`${s.base}/`, 2, 600, agent);
    agent.destroy();
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    expect(results[0]!.body.toString()).toContain('max_requests=0 children=0');
    expect(new Set(results.map(pidOf)).size).toBe(1);
    expect(s.server.pool.snapshot().spawned).toBe(1);
  });

  test('php-cgi gets PHP_FCGI_CHILDREN=0 and a PHP_FCGI_MAX_REQUESTS of at least the pool max-requests', async () => {
    const s = await serve(PHP_CGI, { maxProcesses: 1, maxRequestsPerProcess: 800 }, { script: PHP_APP });
    const r = await httpRequest(`${s.base}/`);
    expect(r.body.toString()).toContain('max_requests=800 children=0');
  });
});

describe('shared-socket pools', () => {
  test('one php-cgi with PHP_FCGI_CHILDREN=4 is one worker with 4 slots, read with FCGI_GET_VALUES', async () => {
    const s = await serve(PHP_CGI, { maxProcesses: 1, env: { PHP_FCGI_CHILDREN: '4' } }, { script: PHP_APP });
    const results = await Promise.all(Array.from({ length: 16 }, () => httpRequest(`${s.base}/?sleep=150`)));
    expect(results.map((r) => r.status)).toEqual(Array(16).fill(200));
    // Four php children answered, in parallel, behind the one socket the pool knows.
    expect(new Set(results.map(pidOf)).size).toBe(4);
    const snap = s.server.pool.snapshot();
    expect(snap.spawned).toBe(1);
    expect(snap.processes[0]!.slots).toBe(4);
    expect(s.lines.some((l) => l.msg === 'shared-socket worker' && l.source === 'FCGI_GET_VALUES' && l.slots === 4)).toBe(true);
  });
});

describe('N processes behind one socket', () => {
  test('--processes-per-socket 3: one worker socket, three processes, three requests at once; a dead one is replaced', async () => {
    const s = await serve('slow', { minProcesses: 1, maxProcesses: 1, processesPerSocket: 3 });
    await s.waitForIdle(1);
    const results = await Promise.all(Array.from({ length: 9 }, () => httpRequest(`${s.base}/?sleep=200&pid=1`)));
    expect(results.map((r) => r.status)).toEqual(Array(9).fill(200));
    expect(new Set(results.map(pidOf)).size).toBe(3);
    const worker = s.server.pool.snapshot().processes[0]!;
    expect(worker.slots).toBe(3);
    expect(worker.siblings).toHaveLength(2);
    expect(fs.readdirSync(s.ipcDir)).toHaveLength(1);

    // A sibling that dies after living a while is restarted on the same socket.
    await new Promise((r) => setTimeout(r, 1_100));
    const victim = worker.siblings[0]!;
    process.kill(victim, 'SIGKILL');
    for (let i = 0; i < 200; i += 1) {
      const now = s.server.pool.snapshot().processes[0]!;
      if (!now.siblings.includes(victim) && now.siblings.length === 2) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const after = s.server.pool.snapshot().processes[0]!;
    expect(after.siblings).not.toContain(victim);
    expect(after.siblings).toHaveLength(2);
    expect(after.slots).toBe(3);
    const again = await Promise.all(Array.from({ length: 3 }, () => httpRequest(`${s.base}/?sleep=100&pid=1`)));
    expect(again.map((r) => r.status)).toEqual([200, 200, 200]);
  });
});

describe('crash-loop control', () => {
  test('a binary that dies at start: bounded spawns, quick 503s, and recovery once it is fixed', async () => {
    const dir = tempDir();
    const app = path.join(dir, 'app.fcgi');
    fs.writeFileSync(app, '#!/bin/sh\nexit 3\n', { mode: 0o755 });
    const s = await serve(app, { maxProcesses: 4, queueTimeoutMs: 20_000 });
    const started = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < 10; i += 1) {
      const r = await httpRequest(`${s.base}/`);
      statuses.push(r.status);
      expect(r.headers['x-fcgipm-error']).toBe('FCGIPM_ERR_SPAWN');
    }
    expect(statuses).toEqual(Array(10).fill(503));
    // Answered quickly (well inside the 20-s queue deadline), without a respawn storm.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(s.server.pool.snapshot().spawned).toBeLessThanOrEqual(6);
    const episodes = s.lines.filter((l) => l.msg === 'workers keep failing at start-up; backing off and answering 503');
    expect(episodes).toHaveLength(1);

    // Deploy a working binary (a new file renamed into place), then the pool heals itself.
    fs.copyFileSync(fixture('hello'), `${app}.new`);
    fs.renameSync(`${app}.new`, app);
    let recovered: HttpResult | undefined;
    for (let i = 0; i < 100 && !recovered; i += 1) {
      const r = await httpRequest(`${s.base}/`);
      if (r.status === 200) recovered = r;
      else await new Promise((res) => setTimeout(res, 200));
    }
    expect(recovered?.body.toString()).toMatch(/^Hello from fcgipm fixture/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('global max across classes', () => {
  test('at the global max, an idle worker of another class is retired to make room', async () => {
    const dir = tempDir();
    const ipcDir = new IpcDir({ dir: path.join(dir, 'sock') });
    ipcDir.prepare();
    const manager = new Manager({ ipcDir, logger: silentLogger() }, { maxProcesses: 2 });
    const a = manager.addPool(resolvePoolOptions({ name: 'a', command: fixture('slow'), maxProcesses: 2, allowRoot: true }));
    const b = manager.addPool(resolvePoolOptions({ name: 'b', command: fixture('hello'), maxProcesses: 2, allowRoot: true }));
    const events: string[] = [];
    manager.on('worker-exit', (pool, _pid, _exit, reason) => events.push(`${pool} exit ${String(reason)}`));
    const front = new HttpFrontend({
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger(),
      serverSoftware: 'test',
      resolve: (_req, p) => ({
        pool: p.startsWith('/a') ? a : b,
        target: { scriptName: '', pathInfo: p, scriptFilename: '', documentRoot: '' },
      }),
    });
    const addr = await front.listen();
    manager.start();
    try {
      const base = `http://127.0.0.1:${addr.port}`;
      const warm = await Promise.all([httpRequest(`${base}/a?sleep=100`), httpRequest(`${base}/a?sleep=100`)]);
      expect(warm.map((r) => r.status)).toEqual([200, 200]);
      expect(a.snapshot().idleProcesses).toBe(2);
      const r = await httpRequest(`${base}/b`);
      expect(r.status).toBe(200);
      expect(r.body.toString()).toMatch(/^Hello from fcgipm fixture/);
      expect(a.snapshot().exited['global-max']).toBe(1);
      expect(a.snapshot().lastExit).toMatchObject({ reason: 'global-max', code: 0, requests: 1 });
      expect(events).toContain('a exit global-max');
      expect(manager.snapshot().totalProcesses).toBeLessThanOrEqual(2);
    } finally {
      await front.close();
      await manager.close(2_000);
      ipcDir.cleanup();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('identity', () => {
  const asRoot = process.getuid?.() === 0 ? test : test.skip;
  asRoot('workers run as another user, and root is refused unless allowed', async () => {
    // The binary must be reachable by nobody: the checkout may sit under a 0700 directory.
    const dir = tempDir();
    fs.chmodSync(dir, 0o755);
    const app = path.join(dir, 'hello.fcgi');
    fs.copyFileSync(fixture('hello'), app);
    fs.chmodSync(app, 0o755);
    const s = await serve(app, { uid: 65534, gid: 65534, limits: { nofile: 256, core: 0 } });
    const r = await httpRequest(`${s.base}/`);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toMatch(/uid=65534\n$/);
    const sock = fs.readdirSync(s.ipcDir)[0]!;
    expect(fs.statSync(path.join(s.ipcDir, sock)).uid).toBe(65534);

    // Refused when the pool is made, naming it and the two ways out (php-fpm refuses to start).
    await expect(serve(app, { uid: 0, gid: 0, allowRoot: false })).rejects.toThrow(
      /^pool hello\.fcgi: refusing to run workers as root \(uid 0\): set a user for them \(--user USER, or user: in the config\) or allow root \(--allow-root, or allowRoot: true\)$/,
    );
    await expect(serve(app, { allowRoot: false })).rejects.toThrow(/\(fcgipm runs as root and no user is set\)/);
    const allowed = await serve(app, { allowRoot: true });
    expect((await httpRequest(`${allowed.base}/`)).body.toString()).toMatch(/uid=0\n$/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
