/**
 * Which listener each socket-activation descriptor stands for (sd_listen_fds_with_names), and
 * when the watchdog is ours: the rules, with the environment passed in.
 */
import { activatedSockets } from '../../src/systemd/listen-fds';
import { notifyAddress, watchdogUsec } from '../../src/systemd/notify';

const pid = 4242;

test('names map to listeners from fd 3; unknown names are reported, not used', () => {
  expect(activatedSockets({ pid, env: { LISTEN_PID: '4242', LISTEN_FDS: '3', LISTEN_FDNAMES: 'admin:http:metrics' } })).toEqual({
    fds: { admin: 3, http: 4 },
    unknown: [{ name: 'metrics', fd: 5 }],
  });
});

test('one descriptor named after its unit (or not named) is the HTTP listener', () => {
  expect(activatedSockets({ pid, env: { LISTEN_PID: '4242', LISTEN_FDS: '1', LISTEN_FDNAMES: 'fcgipm.socket' } }).fds).toEqual({ http: 3 });
  expect(activatedSockets({ pid, env: { LISTEN_PID: '4242', LISTEN_FDS: '1' } }).fds).toEqual({ http: 3 });
  expect(activatedSockets({ pid, env: { LISTEN_PID: '4242', LISTEN_FDS: '1', LISTEN_FDNAMES: 'fastcgi' } }).fds).toEqual({ fastcgi: 3 });
});

test('descriptors meant for another process (LISTEN_PID) or none at all give nothing', () => {
  expect(activatedSockets({ pid, env: { LISTEN_PID: '1', LISTEN_FDS: '1', LISTEN_FDNAMES: 'http' } })).toEqual({ fds: {}, unknown: [] });
  expect(activatedSockets({ pid, env: {} })).toEqual({ fds: {}, unknown: [] });
});

test('NOTIFY_SOCKET "@name" is the abstract namespace; WATCHDOG_PID must be ours', () => {
  expect(notifyAddress('@fcgipm/notify')).toBe('\0fcgipm/notify');
  expect(notifyAddress('/run/systemd/notify')).toBe('/run/systemd/notify');
  expect(watchdogUsec({ WATCHDOG_USEC: '30000000' }, pid)).toBe(30_000_000);
  expect(watchdogUsec({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '4242' }, pid)).toBe(30_000_000);
  expect(watchdogUsec({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '1' }, pid)).toBeUndefined();
  expect(watchdogUsec({ WATCHDOG_USEC: '0' }, pid)).toBeUndefined();
  expect(watchdogUsec({}, pid)).toBeUndefined();
});
