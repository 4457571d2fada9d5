/**
 * Unit tests of the pool's lifecycle on a fake clock (test/helpers/fake-clock.ts) and
 * in-memory fake workers (test/pm/fake-workers.ts: no processes, no sockets): idle timeout,
 * lifetime, busy timeout, queue timeout, kill grace, replay, destroy — each in
 * milliseconds of test time, without sleeping. The same behaviours with real processes are in
 * test/e2e/pm.test.ts.
 */
import type { EndRequest, FcgiRequest, ResponseHandler } from '../../src/client/request';
import type { FcgipmError } from '../../src/errors';
import { Pool } from '../../src/pm/pool';
import { resolvePoolOptions, type PoolOptionsInput } from '../../src/pm/pool-options';
import { FakeClock } from '../helpers/fake-clock';
import { silentLogger, type Logger } from '../../src/log';
import { memoryLogger } from '../helpers/fixtures';
import { FakeLauncher, fakeIpcDir } from './fake-workers';

const REQUEST: FcgiRequest = { params: [['REQUEST_METHOD', 'GET']], body: { kind: 'none' } };

interface Outcome {
  body: string;
  end: EndRequest | undefined;
  error: FcgipmError | undefined;
}

function handler(): { h: ResponseHandler; out: Outcome } {
  const out: Outcome = { body: '', end: undefined, error: undefined };
  const h: ResponseHandler = {
    onStdout: (c) => {
      out.body += c.toString();
      return true;
    },
    onStderr: () => undefined,
    onEnd: (e) => (out.end = e),
    onError: (e) => (out.error = e),
  };
  return { h, out };
}

/** The i-th element, which the test expects to exist. */
function nth<T>(list: readonly T[], i: number): T {
  const x = list[i];
  if (x === undefined) throw new Error(`expected an element at ${i}, have ${list.length}`);
  return x;
}

const pools: Array<{ pool: Pool; clock: FakeClock }> = [];

afterEach(async () => {
  for (const { pool, clock } of pools.splice(0)) {
    const done = pool.destroy();
    // Past any kill grace, so that a worker ignoring SIGTERM is gone too.
    await clock.advance(60_000);
    await done;
  }
});

function makePool(input: Omit<PoolOptionsInput, 'command'>, logger: Logger = silentLogger()): { pool: Pool; clock: FakeClock; launcher: FakeLauncher } {
  const clock = new FakeClock();
  const launcher = new FakeLauncher();
  const options = resolvePoolOptions({ command: '/fake/app', name: 'unit', maxProcesses: 4, ...input });
  const pool = new Pool(options, { ipcDir: fakeIpcDir(), logger, clock, launcher });
  pools.push({ pool, clock });
  return { pool, clock, launcher };
}

function send(pool: Pool): Outcome {
  const { h, out } = handler();
  pool.dispatch(REQUEST, h, { method: 'GET', uri: '/' });
  return out;
}

describe('Pool on a fake clock', () => {
  test('a request waits for a spawned worker and is answered', async () => {
    const { pool, clock, launcher } = makePool({});
    pool.start();
    const out = send(pool);
    await clock.advance(0);
    expect(launcher.processes).toHaveLength(1);
    expect(out.body).toBe('ok');
    expect(out.end).toEqual({ appStatus: 0, protocolStatus: 0 });
    expect(pool.snapshot()).toMatchObject({ accepted: 1, completed: 1, idleProcesses: 1, totalProcesses: 1 });
  });

  test('idle timeout: an idle worker is retired once idleTimeoutMs passed, not before', async () => {
    const { pool, clock, launcher } = makePool({ mode: 'ondemand', idleTimeoutMs: 10_000 });
    pool.start();
    send(pool);
    await clock.advance(0);
    const worker = nth(launcher.processes, 0);
    await clock.advance(9_000);
    expect(worker.signals).toEqual([]);
    await clock.advance(2_000);
    expect(worker.signals).toEqual(['SIGTERM']);
    expect(worker.alive).toBe(false);
    expect(pool.snapshot()).toMatchObject({ totalProcesses: 0, exited: { 'idle-timeout': 1 } });
  });

  test('lifetime: at the max, the replacement starts before the retired worker has exited', async () => {
    const { pool, clock, launcher } = makePool({ mode: 'static', maxProcesses: 1, lifetimeMs: 30_000, killGraceMs: 5_000 });
    pool.start();
    await clock.advance(0);
    const first = nth(launcher.processes, 0);
    first.ignoresTerm = true;
    await clock.advance(30_000);
    expect(first.signals).toEqual(['SIGTERM']);
    // The old one is still alive in its grace, and a new one already serves.
    expect(launcher.live()).toHaveLength(2);
    const out = send(pool);
    await clock.advance(0);
    expect(out.end).toBeDefined();
    expect(nth(launcher.sent, 0).process).not.toBe(first);
    await clock.advance(5_000);
    expect(first.signals).toEqual(['SIGTERM', 'SIGKILL']);
    expect(launcher.live()).toHaveLength(1);
    expect(pool.snapshot()).toMatchObject({ totalProcesses: 1, exited: { lifetime: 1 } });
  });

  test('busy timeout: the request gets FCGIPM_ERR_BUSY_TIMEOUT and its worker is killed', async () => {
    const { pool, clock, launcher } = makePool({ busyTimeoutMs: 5_000 });
    launcher.autoAnswer = false;
    pool.start();
    const out = send(pool);
    await clock.advance(4_999);
    expect(launcher.sent).toHaveLength(1);
    expect(out.error).toBeUndefined();
    await clock.advance(1);
    expect(out.error?.code).toBe('FCGIPM_ERR_BUSY_TIMEOUT');
    expect(out.error?.httpStatus).toBe(504);
    expect(nth(launcher.sent, 0).connection.aborted).toBe(true);
    expect(nth(launcher.processes, 0).signals).toEqual(['SIGTERM']);
    expect(pool.snapshot()).toMatchObject({ responses504: 1, exited: { 'busy-timeout': 1 } });
  });

  test('queue timeout: a request no worker takes in queueTimeoutMs gets 503, the running one goes on', async () => {
    const { pool, clock, launcher } = makePool({ maxProcesses: 1, queueTimeoutMs: 2_000 });
    launcher.autoAnswer = false;
    pool.start();
    const first = send(pool);
    const second = send(pool);
    await clock.advance(1_999);
    expect(second.error).toBeUndefined();
    await clock.advance(1);
    expect(second.error?.code).toBe('FCGIPM_ERR_QUEUE_TIMEOUT');
    expect(second.error?.httpStatus).toBe(503);
    expect(first.error).toBeUndefined();
    nth(launcher.sent, 0).answer('first');
    expect(first.body).toBe('first');
    expect(pool.snapshot()).toMatchObject({ queued: 0, completed: 1, responses503: 1 });
  });

  test('kill grace: SIGKILL follows SIGTERM after exactly killGraceMs for a worker that ignores it', async () => {
    const { pool, clock, launcher } = makePool({ mode: 'static', maxProcesses: 1, killGraceMs: 3_000 });
    pool.start();
    await clock.advance(0);
    const worker = nth(launcher.processes, 0);
    worker.ignoresTerm = true;
    const closed = pool.close(0);
    await clock.advance(0);
    expect(worker.signals).toEqual(['SIGTERM']);
    await clock.advance(2_999);
    expect(worker.signals).toEqual(['SIGTERM']);
    await clock.advance(1);
    expect(worker.signals).toEqual(['SIGTERM', 'SIGKILL']);
    await closed;
    expect(worker.alive).toBe(false);
    expect(clock.pending).toBe(0);
  });

  test('replay: a worker that closes the connection unanswered and exits cleanly did not take the request', async () => {
    const { pool, clock, launcher } = makePool({});
    launcher.autoAnswer = false;
    pool.start();
    const out = send(pool);
    await clock.advance(0);
    const first = nth(launcher.sent, 0);
    first.process.exit(0);
    first.drop();
    await clock.advance(0);
    expect(launcher.sent).toHaveLength(2);
    expect(nth(launcher.sent, 1).process).not.toBe(first.process);
    nth(launcher.sent, 1).answer('again');
    expect(out).toMatchObject({ body: 'again', error: undefined });
    expect(pool.snapshot()).toMatchObject({ replayed: 1, completed: 1 });
  });

  test('no replay: a worker that stays alive after dropping a fresh connection gives a 502', async () => {
    const { pool, clock, launcher } = makePool({ killGraceMs: 1_000 });
    launcher.autoAnswer = false;
    pool.start();
    const out = send(pool);
    await clock.advance(0);
    nth(launcher.sent, 0).drop();
    // The pool waits a while for an exit that does not come.
    await clock.advance(500);
    expect(out.error?.code).toBe('FCGIPM_ERR_WORKER_CLOSED');
    expect(out.error?.httpStatus).toBe(502);
    expect(launcher.sent).toHaveLength(1);
  });

  // A kill storm found it: a worker SIGKILLed while idle closes its kept connection, and the
  // next request saw that close before the exit and took the app for one that ignores
  // FCGI_KEEP_CONN, so the pool opened a connection per request from then on.
  test('keep-alive: a kept connection closed by a worker killed while idle leaves FCGI_KEEP_CONN on', async () => {
    const log = memoryLogger();
    const { pool, clock, launcher } = makePool({}, log.logger);
    pool.start();
    send(pool);
    await clock.advance(0);
    const first = nth(launcher.sent, 0);
    // Killed while idle: its kept connection is closed, its exit not known yet.
    first.connection.reusable = false;
    first.connection.closedByPeer = true;
    const out = send(pool);
    await clock.advance(0);
    first.process.exit(null, 'SIGKILL');
    await clock.advance(1_000);
    expect(out).toMatchObject({ body: 'ok', error: undefined });
    expect(log.lines.filter((l) => String(l.msg).includes('FCGI_KEEP_CONN'))).toEqual([]);
  });

  test('keep-alive: a kept connection closed by a worker that lives on turns FCGI_KEEP_CONN off, once', async () => {
    const log = memoryLogger();
    const { pool, clock, launcher } = makePool({}, log.logger);
    pool.start();
    send(pool);
    await clock.advance(0);
    const first = nth(launcher.sent, 0);
    first.connection.reusable = false;
    first.connection.closedByPeer = true;
    const out = send(pool);
    await clock.advance(1_000);
    expect(out).toMatchObject({ body: 'ok', error: undefined });
    expect(first.process.alive).toBe(true);
    expect(log.lines.filter((l) => String(l.msg).includes('FCGI_KEEP_CONN'))).toHaveLength(1);
  });

  test('destroy() fails a running request with ClosedError at once and stops the workers', async () => {
    const { pool, clock, launcher } = makePool({});
    launcher.autoAnswer = false;
    pool.start();
    const out = send(pool);
    await clock.advance(0);
    const done = pool.destroy();
    expect(out.error?.code).toBe('FCGIPM_ERR_CLOSED');
    await clock.advance(0);
    await done;
    expect(launcher.live()).toHaveLength(0);
    await expect(pool.destroy()).resolves.toBeUndefined();
  });

  test('crash loop: three deaths at start answer 503 and back off; a trial spawn after 1 s recovers', async () => {
    const { pool, clock, launcher } = makePool({});
    launcher.crashAtStart = true;
    pool.start();
    const first = send(pool);
    await clock.advance(0);
    expect(launcher.processes).toHaveLength(3);
    expect(first.error?.code).toBe('FCGIPM_ERR_SPAWN');
    expect(first.error?.httpStatus).toBe(503);
    // Backing off: the next request is answered at once, nothing is started for it.
    const second = send(pool);
    await clock.advance(0);
    expect(second.error?.code).toBe('FCGIPM_ERR_SPAWN');
    expect(launcher.processes).toHaveLength(3);
    // The app is fixed; once the back-off has passed, one trial spawn serves.
    launcher.crashAtStart = false;
    await clock.advance(1_000);
    const third = send(pool);
    await clock.advance(0);
    expect(third).toMatchObject({ body: 'ok', error: undefined });
    expect(launcher.processes).toHaveLength(4);
    expect(pool.snapshot()).toMatchObject({ responses503: 2, exited: { crash: 3 } });
  });
});
