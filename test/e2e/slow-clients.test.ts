/**
 * Slow clients against the real CLI: a request head that never completes is answered 408 at
 * --client-header-timeout (to the second, not Node's 60-90 s); a body whose client pauses
 * longer than --client-body-timeout between two reads is answered 408 (a slow but steady one is
 * not), and no worker is taken while a body is on its way; a client still connected when the
 * drain time is over does not hold a stop.
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

/** Sends a head announcing `length` body bytes, then `bytes` of them one at a time every `everyMs`, then stops. */
function slowBody(
  address: string,
  length: number,
  bytes: number,
  everyMs: number,
  head = '',
): { lastByteAt: Promise<number>; closed: Promise<{ at: number; text: string }> } {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  let text = '';
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  let markLast: (at: number) => void = () => undefined;
  const lastByteAt = new Promise<number>((resolve) => (markLast = resolve));
  const socket = net.connect(port, host, () => {
    socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\n${head}\r\n`);
    timer = setInterval(() => {
      if (socket.destroyed) return;
      socket.write('x');
      sent += 1;
      if (sent === bytes) {
        clearInterval(timer);
        markLast(Date.now());
      }
    }, everyMs);
  });
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<{ at: number; text: string }>((resolve) =>
    socket.once('close', () => {
      clearInterval(timer);
      resolve({ at: Date.now(), text });
    }),
  );
  return { lastByteAt, closed };
}

async function poolStatus(admin: string): Promise<{ activeProcesses: number; accepted: number }> {
  const res = await fetch(`http://${admin}/status.json`);
  const doc = (await res.json()) as { pools: Array<{ activeProcesses: number; accepted: number }> };
  return doc.pools[0]!;
}

test('a body paused longer than --client-body-timeout between two reads is answered 408 and closed, to the second; no worker is taken meanwhile', async () => {
  const c = cli(['run', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--client-body-timeout', '2', '--', fixture('echo')]);
  const ready = await c.waitForLine((l) => l.msg === 'fcgipm ready');
  // Three bytes 1 s apart: 3 s in all, more than the timeout, but no pause reaches it.
  const client = slowBody(String(ready.http), 100, 3, 1000);
  const last = await client.lastByteAt;
  const during = await poolStatus(String(ready.admin));
  const { at, text } = await client.closed;
  expect(text).toMatch(/^HTTP\/1\.1 408 /);
  expect(text).toMatch(/connection: close/i);
  expect(at - last).toBeGreaterThanOrEqual(1900);
  expect(at - last).toBeLessThan(3500);
  // The body was never complete: the pool never saw the request.
  expect(during).toMatchObject({ activeProcesses: 0, accepted: 0 });
  expect((await poolStatus(String(ready.admin))).accepted).toBe(0);
});

test('a body sent slowly but without a pause as long as --client-body-timeout reaches the app whole', async () => {
  const c = cli(['run', '--http', '127.0.0.1:0', '--client-body-timeout', '1', '--', fixture('echo')]);
  const ready = await c.waitForLine((l) => l.msg === 'fcgipm ready');
  // 1.5 s in all, longer than the timeout, a byte every 300 ms.
  const client = slowBody(String(ready.http), 5, 5, 300, 'Connection: close\r\n');
  const { text } = await client.closed;
  expect(text).toMatch(/^HTTP\/1\.1 200 /);
  expect(text).toMatch(/x-body-bytes: 5/i);
  expect(text).toMatch(/\r\n\r\n(5\r\n)?xxxxx/);
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
