import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, IpcDirError } from '../../src/errors';
import { IpcDir, MAX_SOCKET_PATH_BYTES } from '../../src/spawn/ipc-dir';
import { closeFd, listenUnix } from '../../src/spawn/native';
import { makeTempDir, removeTempDir } from './helpers';

let dir: string;

beforeEach(() => {
  dir = makeTempDir();
});

afterEach(() => {
  removeTempDir(dir);
});

function ipcDirError(fn: () => unknown): IpcDirError {
  try {
    fn();
  } catch (err) {
    if (err instanceof IpcDirError) return err;
    throw err;
  }
  throw new Error('expected an IpcDirError');
}

/** A socket file at p, as a worker spawn leaves it (the fd itself is closed at once). */
function makeSocket(p: string): void {
  closeFd(listenUnix(p, 1, 0o600));
}

describe('prepare', () => {
  test('creates missing directories, the last one with mode 0700, and is idempotent', () => {
    const target = path.join(dir, 'run', 'fcgidsock');
    const ipc = new IpcDir({ dir: target });
    ipc.prepare();
    const stats = fs.statSync(target);
    expect(stats.isDirectory()).toBe(true);
    expect(stats.mode & 0o777).toBe(0o700);
    ipc.prepare();
    expect(fs.statSync(target).mode & 0o777).toBe(0o700);
  });

  test('a configured mode is applied exactly, whatever the umask', () => {
    const target = path.join(dir, 'shared');
    const old = process.umask(0o077);
    try {
      new IpcDir({ dir: target, mode: 0o711 }).prepare();
    } finally {
      process.umask(old);
    }
    expect(fs.statSync(target).mode & 0o777).toBe(0o711);
  });

  test('an existing directory is used as it is', () => {
    fs.chmodSync(dir, 0o755);
    new IpcDir({ dir }).prepare();
    expect(fs.statSync(dir).mode & 0o777).toBe(0o755);
  });

  test('a directory under a regular file fails with one line naming the dir, the cause and the fix', () => {
    const file = path.join(dir, 'file');
    fs.writeFileSync(file, '');
    const target = path.join(file, 'sock');
    const err = ipcDirError(() => new IpcDir({ dir: target }).prepare());
    expect(err.code).toBe('FCGIPM_ERR_IPC_DIR');
    expect(err.message).toBe(`cannot create IPC socket directory ${target}: ENOTDIR (not a directory); set --ipc-dir to a writable directory`);
    expect(err.message).not.toContain('\n');
  });

  test('a directory under /proc, where every mkdir answers ENOENT, fails at once instead of hanging', () => {
    // Node's own recursive mkdir retries this forever.
    const target = '/proc/fcgipm-test/sock';
    const err = ipcDirError(() => new IpcDir({ dir: target }).prepare());
    expect(err.message).toBe('cannot create IPC socket directory /proc/fcgipm-test/sock: ENOENT (no such file or directory); set --ipc-dir to a writable directory');
  });

  test('a path that is a regular file is not a directory', () => {
    const file = path.join(dir, 'file');
    fs.writeFileSync(file, '');
    const err = ipcDirError(() => new IpcDir({ dir: file }).prepare());
    expect(err.message).toBe(`IPC socket directory ${file} exists but is not a directory; set --ipc-dir to a writable directory`);
  });

  test('a directory too long for socket paths is refused at prepare', () => {
    const long = path.join(dir, 'd'.repeat(100));
    const err = ipcDirError(() => new IpcDir({ dir: long, managerPid: 4242 }).prepare());
    expect(err.message).toContain(`${MAX_SOCKET_PATH_BYTES}-byte limit`);
    expect(err.message).toContain(long);
  });

  test('bad options throw InvalidArgumentError naming the option', () => {
    expect(() => new IpcDir({ dir: '' })).toThrow(InvalidArgumentError);
    expect(() => new IpcDir({ dir, managerPid: 0 })).toThrow(/managerPid/);
    expect(() => new IpcDir({ dir, mode: 0o10000 })).toThrow(/mode/);
  });
});

describe('restore', () => {
  test('a directory removed at run time is made again with its mode; one that is there is left alone', () => {
    const target = path.join(dir, 'run', 'fcgidsock');
    const ipc = new IpcDir({ dir: target, mode: 0o711 });
    ipc.prepare();
    expect(ipc.restore()).toBe(false);
    fs.rmSync(path.join(dir, 'run'), { recursive: true });
    expect(ipc.restore()).toBe(true);
    expect(fs.statSync(target).mode & 0o777).toBe(0o711);
    expect(ipc.restore()).toBe(false);
  });

  test('one that cannot be made again is an IpcDirError naming it and the cause', () => {
    // Under /proc every mkdir fails (ENOENT), for root too.
    const target = '/proc/fcgipm-no-such-dir/sock';
    const err = ipcDirError(() => new IpcDir({ dir: target }).restore());
    expect(err.message).toContain(`cannot create IPC socket directory ${target}`);
    expect(err.message).toContain('ENOENT');
  });
});

describe('nextSocketPath', () => {
  test('hands out <dir>/<manager pid>.<n> from 0', () => {
    const ipc = new IpcDir({ dir });
    expect(ipc.dir).toBe(dir);
    expect([ipc.nextSocketPath(), ipc.nextSocketPath(), ipc.nextSocketPath()]).toEqual([
      path.join(dir, `${process.pid}.0`),
      path.join(dir, `${process.pid}.1`),
      path.join(dir, `${process.pid}.2`),
    ]);
    expect(new IpcDir({ dir: path.join(dir, 'x'), managerPid: 15364 }).nextSocketPath()).toBe(path.join(dir, 'x', '15364.0'));
  });

  test('a relative dir is resolved', () => {
    const ipc = new IpcDir({ dir: path.relative(process.cwd(), dir) });
    expect(ipc.dir).toBe(dir);
  });

  test('two instances for one directory never hand out the same path', () => {
    const a = new IpcDir({ dir });
    const b = new IpcDir({ dir });
    const paths = [a.nextSocketPath(), b.nextSocketPath(), a.nextSocketPath(), b.nextSocketPath()];
    expect(new Set(paths).size).toBe(4);
  });

  test('a path over the sun_path limit is an IpcDirError', () => {
    // 107 - "/1.0".length leaves 103 bytes of directory: .0 fits, .10 does not.
    const exact = '/' + 'e'.repeat(MAX_SOCKET_PATH_BYTES - '/1.0'.length - 1);
    const ipc = new IpcDir({ dir: exact, managerPid: 1 });
    for (let i = 0; i < 10; i++) expect(Buffer.byteLength(ipc.nextSocketPath())).toBeLessThanOrEqual(MAX_SOCKET_PATH_BYTES);
    expect(() => ipc.nextSocketPath()).toThrow(IpcDirError);
  });
});

describe('cleanup and removeStale', () => {
  test('cleanup unlinks the sockets it handed out that still exist, nothing else; idempotent', () => {
    const ipc = new IpcDir({ dir });
    const a = ipc.nextSocketPath();
    const b = ipc.nextSocketPath();
    const c = ipc.nextSocketPath();
    makeSocket(a);
    fs.writeFileSync(b, 'not a socket');
    // c was never created.
    const foreign = path.join(dir, 'other.sock');
    makeSocket(foreign);

    expect(ipc.cleanup()).toEqual([a]);
    expect(fs.existsSync(a)).toBe(false);
    expect(fs.existsSync(b)).toBe(true);
    expect(fs.existsSync(c)).toBe(false);
    expect(fs.existsSync(foreign)).toBe(true);
    expect(ipc.cleanup()).toEqual([]);
  });

  test('forgetting removed paths keeps a long-lived manager bounded, and cleanup still finds live ones', () => {
    const ipc = new IpcDir({ dir });
    const live = ipc.nextSocketPath();
    makeSocket(live);
    for (let i = 0; i < 3000; i++) ipc.nextSocketPath(); // never created: spawn failed or the worker exited
    expect(ipc.cleanup()).toEqual([live]);
  });

  test('removeStale unlinks sockets of managers that are gone, keeps live ones and other files', () => {
    const ipc = new IpcDir({ dir });
    const mine = ipc.nextSocketPath();
    makeSocket(mine);
    // A pid above the kernel's pid_max never names a running process.
    const dead = path.join(dir, '99999999.3');
    makeSocket(dead);
    const liveOther = path.join(dir, `${process.ppid}.0`);
    makeSocket(liveOther);
    const notSocket = path.join(dir, '99999999.4');
    fs.writeFileSync(notSocket, '');
    const otherName = path.join(dir, 'app.sock');
    makeSocket(otherName);

    expect(ipc.removeStale()).toEqual([dead]);
    for (const kept of [mine, liveOther, notSocket, otherName]) expect(fs.existsSync(kept)).toBe(true);
    ipc.cleanup();
  });
});
