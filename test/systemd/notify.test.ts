/**
 * sd_notify through the real CLI: a datagram socket stands in for systemd's NOTIFY_SOCKET
 * and receives READY=1 once fcgipm serves, RELOADING=1 then READY=1 around a reload,
 * STOPPING=1 at the stop, and WATCHDOG=1 at half of WATCHDOG_USEC.
 */
import path from 'node:path';
import { DgramSocket } from 'node-unix-socket';
import { cleanupClis, cli, dir, ready } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';

afterEach(cleanupClis);

/** A NOTIFY_SOCKET: the messages it received, and a wait for one that matches. */
function notifySocket(address: string) {
  const socket = new DgramSocket();
  socket.bind(address);
  const messages: string[] = [];
  const waiters: Array<() => void> = [];
  socket.on('data', (buf: Buffer) => {
    messages.push(buf.toString());
    for (const w of waiters.splice(0)) w();
  });
  return {
    messages,
    close: () => socket.close(),
    async waitFor(match: (m: string) => boolean, from = 0): Promise<number> {
      for (;;) {
        const i = messages.findIndex((m, j) => j >= from && match(m));
        if (i >= 0) return i;
        await new Promise<void>((r) => waiters.push(r));
      }
    },
  };
}

test('READY=1 with MAINPID and STATUS once serving; RELOADING=1 then READY=1 on SIGHUP; STOPPING=1 on SIGTERM', async () => {
  const d = dir();
  const notify = notifySocket(path.join(d, 'notify.sock'));
  try {
    const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(d, 'sock'), '--min', '1', '--', fixture('hello')], 0, {
      env: { NOTIFY_SOCKET: path.join(d, 'notify.sock') },
    });
    const base = await ready(c);
    const first = await notify.waitFor((m) => m.startsWith('READY=1'));
    expect(notify.messages[first]).toBe(`READY=1\nMAINPID=${String(c.child.pid)}\nSTATUS=serving http ${base.replace('http://', '')}, fastcgi off, admin off`);
    c.child.kill('SIGHUP');
    const reloading = await notify.waitFor((m) => m.startsWith('RELOADING=1'));
    expect(notify.messages[reloading]).toMatch(/^RELOADING=1\nMONOTONIC_USEC=\d+\nSTATUS=reloading$/);
    await notify.waitFor((m) => m.startsWith('READY=1'), reloading + 1);
    c.child.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
    await notify.waitFor((m) => m.startsWith('STOPPING=1'));
    expect(notify.messages.filter((m) => !m.startsWith('WATCHDOG')).map((m) => m.split('\n')[0])).toEqual(['READY=1', 'RELOADING=1', 'READY=1', 'STOPPING=1']);
  } finally {
    notify.close();
  }
});

test('an abstract NOTIFY_SOCKET ("@name") works; WATCHDOG=1 comes at half of WATCHDOG_USEC', async () => {
  const name = `fcgipm-test-${process.pid}-${Date.now()}`;
  const notify = notifySocket(`\0${name}`);
  try {
    const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(dir(), 'sock'), '--', fixture('hello')], 0, {
      env: { NOTIFY_SOCKET: `@${name}`, WATCHDOG_USEC: '400000' },
    });
    await ready(c);
    await notify.waitFor((m) => m.startsWith('READY=1'));
    const started = Date.now();
    // The first ping at READY, then every 200 ms: four more within about 800 ms.
    let at = 0;
    for (let i = 0; i < 5; i += 1) at = (await notify.waitFor((m) => m === 'WATCHDOG=1', at)) + 1;
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(700);
    expect(elapsed).toBeLessThan(3_000);
    c.child.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
  } finally {
    notify.close();
  }
});

test('WATCHDOG_PID naming another process: no watchdog pings, READY=1 still sent', async () => {
  const d = dir();
  const notify = notifySocket(path.join(d, 'notify.sock'));
  try {
    const c = cli(['run', '--http', '127.0.0.1:0', '--ipc-dir', path.join(d, 'sock'), '--', fixture('hello')], 0, {
      env: { NOTIFY_SOCKET: path.join(d, 'notify.sock'), WATCHDOG_USEC: '100000', WATCHDOG_PID: '1' },
    });
    await ready(c);
    await notify.waitFor((m) => m.startsWith('READY=1'));
    await new Promise((r) => setTimeout(r, 300));
    expect(notify.messages.filter((m) => m === 'WATCHDOG=1')).toEqual([]);
  } finally {
    notify.close();
  }
});
