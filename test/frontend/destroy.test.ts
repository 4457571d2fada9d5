/**
 * destroy() on the HTTP front end: the abrupt stop beside the graceful close() — no new
 * connection, and a request in flight has its connection reset instead of being waited for.
 */
import net from 'node:net';
import { httpRequest } from '../helpers/http-client';
import { closeAll, serve } from '../helpers/serve';

afterEach(closeAll);

test('HttpFrontend.destroy(): the client of a request in flight is reset at once; the port refuses new connections', async () => {
  const s = await serve('slow');
  const port = Number(new URL(s.base).port);
  const inFlight = httpRequest(`${s.base}/?sleep=5000`).then(
    () => 'answered',
    (err: NodeJS.ErrnoException) => err.code ?? err.message,
  );
  await s.waitForLine((l) => l.msg === 'worker started');
  // Let the request reach the worker before the stop.
  await new Promise((r) => setTimeout(r, 200));
  const started = Date.now();
  s.server.http!.destroy();
  expect(await inFlight).toMatch(/ECONNRESET|socket hang up/);
  expect(Date.now() - started).toBeLessThan(2000);
  const refused = await new Promise<string>((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve('connected');
    });
    c.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
  expect(refused).toBe('ECONNREFUSED');
  s.server.http!.destroy();
});
