/**
 * Slow clients against the real CLI: a request head that never completes is answered 408 at
 * --client-header-timeout (to the second, not Node's 60-90 s), and a client still connected
 * when the drain time is over does not hold a stop.
 */
import net from 'node:net';
import { cleanupClis, cli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';

afterEach(cleanupClis);

/** Opens a connection and sends the start of a request head, never its end. */
function slowHead(address: string): { socket: net.Socket; closed: Promise<{ afterMs: number; text: string }> } {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  const started = Date.now();
  const socket = net.connect(port, host, () => socket.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: '));
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<{ afterMs: number; text: string }>((resolve) => socket.once('close', () => resolve({ afterMs: Date.now() - started, text })));
  return { socket, closed };
}

test('a head not complete within --client-header-timeout is answered 408 and closed, to the second', async () => {
  const c = cli(['run', '--http', '127.0.0.1:0', '--client-header-timeout', '2', '--', fixture('hello')]);
  const ready = await c.waitForLine((l) => l.msg === 'fcgipm ready');
  const { closed } = slowHead(String(ready.http));
  const { afterMs, text } = await closed;
  expect(text).toMatch(/^HTTP\/1\.1 408 /);
  expect(afterMs).toBeGreaterThanOrEqual(1900);
  expect(afterMs).toBeLessThan(4000);
});

test('a client still sending its head when the drain time is over does not hold the stop', async () => {
  const c = cli(['run', '--http', '127.0.0.1:0', '--drain-timeout', '1', '--', fixture('hello')]);
  const ready = await c.waitForLine((l) => l.msg === 'fcgipm ready');
  const { closed } = slowHead(String(ready.http));
  await new Promise((r) => setTimeout(r, 200));
  const stopAt = Date.now();
  c.child.kill('SIGTERM');
  const exit = await c.exited;
  expect(exit.code).toBe(0);
  // The drain time (1 s), not the 60-s head timeout.
  expect(Date.now() - stopAt).toBeLessThan(4000);
  await closed;
});
