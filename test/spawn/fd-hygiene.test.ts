import { markInheritedDescriptorsCloexec, systemdListenFds } from '../../src/spawn/fd-hygiene';
import { closeFd, setCloexec, socketPair } from '../../src/spawn/native';
import { isCloexec } from './helpers';

describe('systemdListenFds', () => {
  test('fds 3.. when LISTEN_PID is this process', () => {
    expect(systemdListenFds({ env: { LISTEN_FDS: '2', LISTEN_PID: '1234' }, pid: 1234 })).toEqual([3, 4]);
  });

  test('none when LISTEN_PID names another process or LISTEN_FDS is missing or bad', () => {
    expect(systemdListenFds({ env: { LISTEN_FDS: '2', LISTEN_PID: '99' }, pid: 1234 })).toEqual([]);
    expect(systemdListenFds({ env: { LISTEN_PID: '1234' }, pid: 1234 })).toEqual([]);
    expect(systemdListenFds({ env: { LISTEN_FDS: 'x', LISTEN_PID: '1234' }, pid: 1234 })).toEqual([]);
    expect(systemdListenFds({ env: { LISTEN_FDS: '-1', LISTEN_PID: '1234' }, pid: 1234 })).toEqual([]);
  });
});

describe('markInheritedDescriptorsCloexec', () => {
  let fds: number[] = [];

  afterEach(() => {
    for (const fd of fds) closeFd(fd);
    fds = [];
  });

  test('marks inherited descriptors close-on-exec and keeps systemd LISTEN_FDS open across exec', () => {
    fds = socketPair();
    const [low, high] = [Math.min(...fds), Math.max(...fds)];
    setCloexec(low, false);
    setCloexec(high, false);

    // LISTEN_FDS covering 3..low: `low` plays a systemd socket, `high` an inherited leak.
    const env = { LISTEN_FDS: String(low - 2), LISTEN_PID: String(process.pid) };
    const changed = markInheritedDescriptorsCloexec({ env });
    expect(changed).toContain(high);
    expect(changed).not.toContain(low);
    expect(isCloexec(high)).toBe(true);
    expect(isCloexec(low)).toBe(false);

    // Not our LISTEN_PID: nothing is kept.
    expect(markInheritedDescriptorsCloexec({ env, pid: process.pid + 1 })).toContain(low);
    expect(isCloexec(low)).toBe(true);
  });

  test('a second call changes nothing of ours', () => {
    fds = socketPair();
    for (const fd of fds) setCloexec(fd, false);
    markInheritedDescriptorsCloexec({ env: {} });
    const again = markInheritedDescriptorsCloexec({ env: {} });
    for (const fd of fds) expect(again).not.toContain(fd);
  });
});
