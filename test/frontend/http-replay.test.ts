/**
 * The HTTP front end's part in replay, as a unit test: a real HttpFrontend listening on
 * loopback in this process, its pool on in-memory fake workers (test/pm/fake-workers.ts: no
 * processes). Every body is read before dispatch (a slow client holds no worker) and goes to
 * the pool as a buffer (a temp file past the memory limit), so a request the worker never took
 * is replayed whole on another, a body past KEEP_CONN_MAX_BODY too. test/e2e/http.test.ts has
 * the same with real apps.
 */
import { KEEP_CONN_MAX_BODY } from '../../src/client/connection';
import { HttpFrontend, wholeSiteResolver } from '../../src/frontend/http-server';
import { silentLogger } from '../../src/log';
import { Pool } from '../../src/pm/pool';
import { resolvePoolOptions } from '../../src/pm/pool-options';
import { httpRequest } from '../helpers/http-client';
import { FakeLauncher, fakeIpcDir } from '../pm/fake-workers';

const CGI_ANSWER = 'Content-Type: text/plain\r\n\r\nanswered';

let pool: Pool;
let launcher: FakeLauncher;
let front: HttpFrontend;
let url: string;

beforeEach(async () => {
  launcher = new FakeLauncher();
  launcher.autoAnswer = false;
  pool = new Pool(resolvePoolOptions({ command: '/fake/app', name: 'replay', maxProcesses: 4 }), {
    ipcDir: fakeIpcDir(),
    logger: silentLogger(),
    launcher,
  });
  pool.start();
  front = new HttpFrontend({
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger(),
    serverSoftware: 'fcgipm-test',
    resolve: wholeSiteResolver({ pool, target: { scriptName: '', scriptFilename: '/fake/app', documentRoot: '/fake' } }),
  });
  const address = await front.listen();
  url = `http://127.0.0.1:${address.port}/upload`;
});

afterEach(async () => {
  await front.close();
  await pool.destroy();
});

function bodyOf(request: { body: { kind: string; data?: Buffer } }): string {
  return request.body.kind === 'buffer' && request.body.data ? request.body.data.toString() : `<${request.body.kind}>`;
}

test('a small body is sent again, whole, when the first worker exits without taking the request', async () => {
  const response = httpRequest(url, { method: 'POST', body: 'name=value' });
  const first = await launcher.nthSent(1);
  expect(bodyOf(first.request)).toBe('name=value');
  first.process.exit(0);
  first.drop();
  const second = await launcher.nthSent(2);
  expect(second.process).not.toBe(first.process);
  expect(bodyOf(second.request)).toBe('name=value');
  second.answer(CGI_ANSWER);
  const res = await response;
  expect(res.status).toBe(200);
  expect(res.body.toString()).toBe('answered');
  expect(pool.snapshot()).toMatchObject({ replayed: 1, completed: 1 });
});

test('a body past KEEP_CONN_MAX_BODY is read first too: a request the worker never took is replayed whole', async () => {
  const big = Buffer.alloc(KEEP_CONN_MAX_BODY + 1, 0x61);
  const response = httpRequest(url, { method: 'POST', body: big });
  const first = await launcher.nthSent(1);
  expect(first.request.body.kind).toBe('buffer');
  first.process.exit(0);
  first.drop();
  const second = await launcher.nthSent(2);
  expect(bodyOf(second.request)).toBe(big.toString());
  second.answer(CGI_ANSWER);
  const res = await response;
  expect(res.status).toBe(200);
  expect(pool.snapshot()).toMatchObject({ replayed: 1, completed: 1 });
});
