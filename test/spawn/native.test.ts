import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { NativeError } from '../../src/errors';
import { NATIVE_ADDON_PATH, closeFd, isNativeErrno, listenUnix, markInheritedCloexec, recvFd, sendFd, setCloexec, socketPair, spawnProcess, watchExit, type RawExit } from '../../src/spawn/native';
import { O_NONBLOCK, fdFlags, isCloexec, makeTempDir, readProbeReport, removeTempDir, requireProbe } from './helpers';

let dir: string;
const openFds: number[] = [];

/** Registers fds the test opened so afterEach closes whatever is still open. */
function track(...fds: number[]): void {
  openFds.push(...fds);
}

function closeTracked(fd: number): void {
  const i = openFds.indexOf(fd);
  if (i >= 0) openFds.splice(i, 1);
  closeFd(fd);
}

function nativeError(fn: () => unknown): NativeError {
  try {
    fn();
  } catch (err) {
    if (err instanceof NativeError) return err;
    throw err;
  }
  throw new Error('expected a NativeError');
}

beforeEach(() => {
  dir = makeTempDir();
});

afterEach(() => {
  for (const fd of openFds.splice(0)) {
    try {
      closeFd(fd);
    } catch {
      // already closed by the test
    }
  }
  removeTempDir(dir);
});

describe('listenUnix', () => {
  test('creates a close-on-exec, blocking, listening socket with the given mode', async () => {
    const socketPath = path.join(dir, 'a.sock');
    const fd = listenUnix(socketPath, 16, 0o600);
    track(fd);

    const stats = fs.lstatSync(socketPath);
    expect(stats.isSocket()).toBe(true);
    expect(stats.mode & 0o7777).toBe(0o600);
    expect(isCloexec(fd)).toBe(true);
    expect(fdFlags(fd) & O_NONBLOCK).toBe(0);

    // Nobody accepts, yet connect completes: the kernel queues it in the backlog.
    const client = net.connect(socketPath);
    await once(client, 'connect');
    client.destroy();
  });

  test("as a child's fd 0 it is what libfcgi calls a listening socket, and it leaks into no other child", async () => {
    const probe = requireProbe();
    const socketPath = path.join(dir, 'b.sock');
    const fd = listenUnix(socketPath, 16, 0o600);
    // A second socket open in the parent while the child is spawned: close-on-exec keeps it out.
    const other = listenUnix(path.join(dir, 'other.sock'), 16, 0o600);
    track(fd, other);
    const otherTarget = fs.readlinkSync(`/proc/self/fd/${other}`);

    const report = path.join(dir, 'report');
    const child = spawn(probe, [], { stdio: [fd, 'ignore', 'ignore'], env: { PROBE_REPORT: report, PROBE_EXIT: '0' } });
    closeTracked(fd);
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);

    const r = readProbeReport(report);
    expect(r.peername).toBe('ENOTCONN');
    expect(r.acceptconn).toBe('1');
    expect(r.nonblock).toBe('0');
    expect(r.sockname).toBe(socketPath);
    expect([...r.fdTargets.values()]).not.toContain(otherTarget);
  });

  test('a path that does not fit sun_path is ENAMETOOLONG', () => {
    const long = path.join(dir, 'x'.repeat(120));
    const err = nativeError(() => listenUnix(long, 16, 0o600));
    expect(err.code).toBe('FCGIPM_ERR_NATIVE');
    expect(err.errno).toBe('ENAMETOOLONG');
    expect(err.syscall).toBe('bind');
    expect(err.message).toContain('ENAMETOOLONG');
    expect(fs.existsSync(long)).toBe(false);
  });

  test('a path holding another kind of file is EADDRINUSE and the file is left alone', () => {
    const file = path.join(dir, 'regular');
    fs.writeFileSync(file, 'keep me');
    const err = nativeError(() => listenUnix(file, 16, 0o600));
    expect(err.errno).toBe('EADDRINUSE');
    expect(err.syscall).toBe('bind');
    expect(err.message).toContain(file);
    expect(fs.readFileSync(file, 'utf8')).toBe('keep me');
  });

  test('a stale socket at the path is replaced', async () => {
    const socketPath = path.join(dir, 'stale.sock');
    const first = listenUnix(socketPath, 16, 0o600);
    closeFd(first);
    const second = listenUnix(socketPath, 16, 0o600);
    track(second);
    const client = net.connect(socketPath);
    await once(client, 'connect');
    client.destroy();
  });

  test('a missing directory is ENOENT', () => {
    const err = nativeError(() => listenUnix(path.join(dir, 'missing', 's'), 16, 0o600));
    expect(err.errno).toBe('ENOENT');
    expect(isNativeErrno(err, 'ENOENT')).toBe(true);
  });
});

describe('sendFd / recvFd', () => {
  test("pass a pipe's write end; bytes written through the received fd arrive", () => {
    const [a, b] = socketPair();
    track(a, b);
    expect(isCloexec(a) && isCloexec(b)).toBe(true);

    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const readEnd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const writeEnd = fs.openSync(fifo, fs.constants.O_WRONLY);
    try {
      expect(sendFd(a, writeEnd, Buffer.from('hello'))).toBe(5);
      fs.closeSync(writeEnd);

      const got = recvFd(b, 64);
      expect(got.data.toString()).toBe('hello');
      expect(got.fd).toBeGreaterThan(2);
      track(got.fd);
      expect(isCloexec(got.fd)).toBe(true);
      expect(fs.readlinkSync(`/proc/self/fd/${got.fd}`)).toBe(fs.realpathSync(fifo));

      fs.writeSync(got.fd, 'through the passed fd');
      const buf = Buffer.alloc(64);
      const n = fs.readSync(readEnd, buf, 0, buf.length, null);
      expect(buf.subarray(0, n).toString()).toBe('through the passed fd');
    } finally {
      fs.closeSync(readEnd);
    }
  });

  test("pass a TCP client socket taken from a net.Socket's handle", async () => {
    const [a, b] = socketPair();
    track(a, b);
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const client = net.connect(port, '127.0.0.1');
    await once(client, 'connect');
    const [serverSide] = await accepted;
    try {
      const clientFd = (client as unknown as { _handle: { fd: number } })._handle.fd;
      expect(clientFd).toBeGreaterThan(2);
      expect(sendFd(a, clientFd, Buffer.from([0]))).toBe(1);

      const got = recvFd(b, 16);
      track(got.fd);
      expect(got.data).toEqual(Buffer.from([0]));
      expect(fs.readlinkSync(`/proc/self/fd/${got.fd}`)).toMatch(/^socket:/);

      const data = once(serverSide, 'data') as Promise<[Buffer]>;
      fs.writeSync(got.fd, 'ping via passed fd');
      const [chunk] = await data;
      expect(chunk.toString()).toBe('ping via passed fd');
    } finally {
      client.destroy();
      serverSide.destroy();
      server.close();
    }
  });

  test('data without a descriptor gives fd -1; nothing to read is EAGAIN; a closed peer is EOF', () => {
    const [a, b] = socketPair();
    track(a, b);
    expect(isNativeErrno(nativeError(() => recvFd(b, 16)), 'EAGAIN')).toBe(true);

    fs.writeSync(a, 'plain');
    const plain = recvFd(b, 16);
    expect(plain.data.toString()).toBe('plain');
    expect(plain.fd).toBe(-1);

    closeTracked(a);
    const eof = recvFd(b, 16);
    expect(eof.data.length).toBe(0);
    expect(eof.fd).toBe(-1);
  });

  test('recvFd returns at most maxBytes; the rest stays queued', () => {
    const [a, b] = socketPair();
    track(a, b);
    expect(sendFd(a, a, Buffer.from('abcdef'))).toBe(6);
    const first = recvFd(b, 2);
    track(first.fd);
    expect(first.data.toString()).toBe('ab');
    expect(first.fd).toBeGreaterThan(2);
    const rest = recvFd(b, 16);
    expect(rest.data.toString()).toBe('cdef');
    expect(rest.fd).toBe(-1);
  });

  test('sendFd needs at least one byte, and a peer that is gone is EPIPE (no SIGPIPE)', () => {
    const [a, b] = socketPair();
    track(a, b);
    expect(nativeError(() => sendFd(a, b, Buffer.alloc(0))).errno).toBe('EINVAL');
    closeTracked(b);
    const err = nativeError(() => sendFd(a, a, Buffer.from('x')));
    expect(err.errno).toBe('EPIPE');
    expect(err.syscall).toBe('sendmsg');
  });

  test('sendFd on a full socket is EAGAIN instead of blocking', () => {
    const [a, b] = socketPair();
    track(a, b);
    const block = Buffer.alloc(65536, 1);
    let err: NativeError | undefined;
    for (let i = 0; i < 10_000 && err === undefined; i++) {
      try {
        sendFd(a, a, block);
      } catch (e) {
        err = e as NativeError;
      }
    }
    expect(err).toBeInstanceOf(NativeError);
    expect(err?.errno).toBe('EAGAIN');
  });
});

describe('setCloexec / markInheritedCloexec / closeFd', () => {
  test('marks exactly the descriptors not already close-on-exec and not kept', () => {
    const [a, b] = socketPair();
    track(a, b);
    setCloexec(a, false);
    setCloexec(b, false);
    expect(isCloexec(a) || isCloexec(b)).toBe(false);

    const min = Math.min(a, b);
    const kept = Math.max(a, b);
    const changed = markInheritedCloexec(min, [kept]);
    expect(changed).toContain(min);
    expect(changed).not.toContain(kept);
    expect(isCloexec(min)).toBe(true);
    expect(isCloexec(kept)).toBe(false);

    // Nothing left to change among ours.
    expect(markInheritedCloexec(min, [kept])).not.toContain(min);
    setCloexec(kept, true);
  });

  test('closeFd of a closed descriptor is EBADF', () => {
    const [a, b] = socketPair();
    track(b);
    closeFd(a);
    const err = nativeError(() => closeFd(a));
    expect(err.errno).toBe('EBADF');
    expect(err.syscall).toBe('close');
  });
});

describe('spawnProcess / watchExit', () => {
  /** Everything the fd reads until EOF, as text. */
  async function readAll(fd: number): Promise<string> {
    const stream = new net.Socket({ fd, readable: true, writable: false });
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    await once(stream, 'close');
    return Buffer.concat(chunks).toString('utf8');
  }

  function exitOf(pid: number): Promise<RawExit> {
    return new Promise((resolve) => watchExit(pid, resolve));
  }

  test('fd 0 is the given fd, stdout and stderr are pipes, cwd, argv and env are exactly those given', async () => {
    const [mine, theirs] = socketPair();
    track(mine, theirs);
    const script = 'pwd; echo "$0|$1|$FOO|$PATH"; readlink /proc/self/fd/0; echo oops >&2; exit 3';
    const child = spawnProcess({ file: '/bin/sh', argv: ['/bin/sh', '-c', script, 'name', 'arg'], env: { FOO: 'bar baz', PATH: '/usr/bin:/bin' }, cwd: dir, stdinFd: theirs, newSession: true });
    const [out, err, exit] = await Promise.all([readAll(child.stdout), readAll(child.stderr), exitOf(child.pid)]);
    const [cwd, line, stdin] = out.trim().split('\n');
    expect(cwd).toBe(fs.realpathSync(dir));
    expect(line).toBe('name|arg|bar baz|/usr/bin:/bin');
    expect(stdin).toBe(fs.readlinkSync(`/proc/self/fd/${theirs}`));
    expect(err).toBe('oops\n');
    expect(exit).toEqual({ code: 3, signal: null });
  });

  test('the child has every signal at its default and none blocked, although Node ignores SIGPIPE', async () => {
    const sigIgn = /^SigIgn:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]!;
    expect(BigInt(`0x${sigIgn}`) & (1n << 12n)).not.toBe(0n); // SIGPIPE (13) is ignored here
    const child = spawnProcess({ file: '/bin/grep', argv: ['/bin/grep', '-E', '^Sig(Ign|Blk)', '/proc/self/status'], env: {}, cwd: '/', stdinFd: 0, newSession: false });
    const [out, exit] = await Promise.all([readAll(child.stdout), exitOf(child.pid), readAll(child.stderr)]);
    expect(exit).toEqual({ code: 0, signal: null });
    const [blocked, ignored] = out.trim().split('\n').map((line) => BigInt(`0x${line.split('\t')[1]!}`));
    expect(blocked).toBe(0n);
    // glibc's posix_spawn leaves its two internal signals (32 and 33, below SIGRTMIN) ignored
    // across exec; every glibc program installs its own handlers for them when it needs them.
    const glibcInternal = (1n << 31n) | (1n << 32n);
    expect(ignored! & ~glibcInternal).toBe(0n);
  });

  test('a new session when asked: the child leads its own session and process group', async () => {
    const child = spawnProcess({ file: '/bin/sleep', argv: ['/bin/sleep', '5'], env: {}, cwd: '/', stdinFd: 0, newSession: true });
    const exited = exitOf(child.pid);
    const fields = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // state ppid pgrp session
    expect(Number(fields[2])).toBe(child.pid);
    expect(Number(fields[3])).toBe(child.pid);
    process.kill(child.pid, 'SIGKILL');
    expect(await exited).toEqual({ code: null, signal: 9 });
    closeFd(child.stdout);
    closeFd(child.stderr);
  });

  test('a missing program, one without execute permission and a missing cwd throw, naming posix_spawn', () => {
    const noexec = path.join(dir, 'noexec');
    fs.writeFileSync(noexec, '#!/bin/sh\n', { mode: 0o644 });
    const cases: [string, string, string][] = [
      [path.join(dir, 'nope'), '/', 'ENOENT'],
      [noexec, '/', 'EACCES'],
      ['/bin/true', path.join(dir, 'no-dir'), 'ENOENT'],
    ];
    for (const [file, cwd, errno] of cases) {
      const err = nativeError(() => spawnProcess({ file, argv: [file], env: {}, cwd, stdinFd: 0, newSession: false }));
      expect(err.syscall).toBe('posix_spawn');
      expect(err.errno).toBe(errno);
      expect(err.message).toContain(file);
    }
    // Nothing was left behind: no pipe of a failed spawn stays open.
    const before = fs.readdirSync('/proc/self/fd').length;
    for (let i = 0; i < 20; i++) nativeError(() => spawnProcess({ file: cases[0]![0], argv: ['x'], env: {}, cwd: '/', stdinFd: 0, newSession: false }));
    expect(fs.readdirSync('/proc/self/fd').length).toBe(before);
  });

  test('a watched child keeps a plain Node process alive until its exit has been reported', () => {
    const script = [
      'const m = { exports: {} };',
      `process.dlopen(m, ${JSON.stringify(NATIVE_ADDON_PATH)});`,
      "const c = m.exports.spawnProcess('/bin/sh', ['/bin/sh', '-c', 'sleep 0.2; exit 4'], [], '/', 0, false);",
      'm.exports.watchExit(c.pid, (e) => console.log(JSON.stringify(e)));',
    ].join('\n');
    expect(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 })).toBe('{"code":4,"signal":null}\n');
  });

  test("watchExit never takes Node's own children", async () => {
    const theirs = spawn('/bin/sh', ['-c', 'exit 7']);
    const mineChild = spawnProcess({ file: '/bin/sh', argv: ['/bin/sh', '-c', 'exit 5'], env: {}, cwd: '/', stdinFd: 0, newSession: false });
    const [nodeExit, exit] = await Promise.all([once(theirs, 'exit'), exitOf(mineChild.pid)]);
    expect(nodeExit).toEqual([7, null]);
    expect(exit).toEqual({ code: 5, signal: null });
    closeFd(mineChild.stdout);
    closeFd(mineChild.stderr);
  });
});
