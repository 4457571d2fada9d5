import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { NativeError } from '../errors';

/**
 * Typed wrappers around the fcgipm_native addon (src/spawn/native/fcgipm_native.c): the few
 * system calls Node cannot make — a listening Unix socket libuv never accepts on, and
 * SCM_RIGHTS descriptor passing. Every descriptor the addon creates is close-on-exec. Each
 * failing system call becomes a NativeError whose `errno` is the symbolic name.
 */

/** What one recvmsg delivered: the bytes (length 0 with fd -1 means EOF) and the fd, or -1. */
export interface ReceivedFd {
  readonly data: Buffer;
  readonly fd: number;
}

interface NativeBinding {
  listenUnix(path: string, backlog: number, mode: number): number;
  closeFd(fd: number): void;
  setCloexec(fd: number, on: boolean): void;
  sendFd(socketFd: number, fdToSend: number, data: Buffer): number;
  recvFd(socketFd: number, maxBytes: number): ReceivedFd;
  socketPair(): [number, number];
  markInheritedCloexec(minFd: number, keep: number[]): number[];
  spawnProcess(file: string, argv: string[], env: string[], cwd: string, stdinFd: number, newSession: boolean): SpawnedProcess;
  watchExit(pid: number, callback: (exit: RawExit) => void): void;
}

/** What spawnProcess started: the pid and the read ends of its stdout and stderr pipes. */
export interface SpawnedProcess {
  readonly pid: number;
  readonly stdout: number;
  readonly stderr: number;
}

/** A reaped process: its exit code, or the number of the signal that ended it. */
export interface RawExit {
  readonly code: number | null;
  readonly signal: number | null;
}

/** Two levels below the package root both as src/spawn (ts-jest) and as dist/spawn (tsc). */
export const NATIVE_ADDON_PATH = path.join(__dirname, '..', '..', 'build', 'Release', 'fcgipm_native.node');

const FUNCTIONS: readonly (keyof NativeBinding)[] = [
  'listenUnix',
  'closeFd',
  'setCloexec',
  'sendFd',
  'recvFd',
  'socketPair',
  'markInheritedCloexec',
  'spawnProcess',
  'watchExit',
];

let binding: NativeBinding | undefined;

/**
 * Loaded on first use, not at import: a missing build then fails the first spawn with a
 * NativeError that says how to build it, instead of every module that imports src/spawn.
 */
function load(): NativeBinding {
  if (binding) return binding;
  const mod: { exports: Record<string, unknown> } = { exports: {} };
  try {
    process.dlopen(mod, NATIVE_ADDON_PATH, osConstants.dlopen.RTLD_NOW);
  } catch (err) {
    const message = typeof err === 'object' && err !== null ? (err as { message?: unknown }).message : undefined;
    const reason = typeof message === 'string' ? message.split('\n')[0] : String(err);
    throw new NativeError(
      'dlopen',
      'ENOENT',
      `cannot load the native addon ${NATIVE_ADDON_PATH} (${reason}); build it with "npm run install" (node-gyp rebuild)`,
    );
  }
  for (const name of FUNCTIONS) {
    if (typeof mod.exports[name] !== 'function') {
      throw new NativeError('dlopen', 'EINVAL', `native addon ${NATIVE_ADDON_PATH} lacks ${name}(); rebuild it with "npm run install"`);
    }
  }
  binding = mod.exports as unknown as NativeBinding;
  return binding;
}

/**
 * The addon throws Errors carrying `code` (errno name) and `syscall`; anything else (a bad
 * argument type) is a bug and passes through. Duck-typed, not `instanceof Error`: the addon
 * creates its errors in the main context, which is another realm under a vm sandbox (jest).
 */
function call<T>(fn: (native: NativeBinding) => T): T {
  const native = load();
  try {
    return fn(native);
  } catch (err) {
    if (typeof err === 'object' && err !== null) {
      const { code, syscall, message } = err as { code?: unknown; syscall?: unknown; message?: unknown };
      if (typeof code === 'string' && typeof syscall === 'string') {
        throw new NativeError(syscall, code, typeof message === 'string' ? message : `${syscall}: ${code}`);
      }
    }
    throw err;
  }
}

/** True when err is a NativeError for this errno name (e.g. 'EAGAIN'). */
export function isNativeErrno(err: unknown, errno: string): err is NativeError {
  return err instanceof NativeError && err.errno === errno;
}

/**
 * socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC), unlink a stale *socket* at path (any other kind
 * of file is left alone: bind then fails with EADDRINUSE), bind, chmod(mode), listen. The fd
 * stays blocking: it is meant to become a libfcgi app's fd 0, which calls a blocking accept.
 * Paths of 108 bytes or more (sun_path) fail with ENAMETOOLONG.
 */
export function listenUnix(socketPath: string, backlog: number, mode: number): number {
  return call((n) => n.listenUnix(socketPath, backlog, mode));
}

export function closeFd(fd: number): void {
  call((n) => n.closeFd(fd));
}

export function setCloexec(fd: number, on: boolean): void {
  call((n) => n.setCloexec(fd, on));
}

/**
 * One sendmsg (MSG_NOSIGNAL|MSG_DONTWAIT) carrying `data` (at least one byte) and `fdToSend`
 * as SCM_RIGHTS. Returns the bytes sent; on a short count the descriptor went with the first
 * part and the caller writes the rest plainly. A full socket throws NativeError 'EAGAIN'.
 */
export function sendFd(socketFd: number, fdToSend: number, data: Buffer): number {
  return call((n) => n.sendFd(socketFd, fdToSend, data));
}

/**
 * One recvmsg (MSG_DONTWAIT|MSG_CMSG_CLOEXEC) of at most maxBytes. The received fd (-1 when
 * none) is close-on-exec and now owned by the caller; extra descriptors in the same message
 * are closed. Nothing to read throws NativeError 'EAGAIN'; EOF is data of length 0, fd -1.
 */
export function recvFd(socketFd: number, maxBytes: number): ReceivedFd {
  return call((n) => n.recvFd(socketFd, maxBytes));
}

/** A connected AF_UNIX stream pair, both ends close-on-exec and blocking. */
export function socketPair(): [number, number] {
  return call((n) => n.socketPair());
}

/** Sets FD_CLOEXEC on every open fd >= minFd not in keep (via /proc/self/fd); returns those changed. */
export function markInheritedCloexec(minFd: number, keep: readonly number[] = []): number[] {
  return call((n) => n.markInheritedCloexec(minFd, [...keep]));
}

/** What to start with spawnProcess. */
export interface SpawnProcessOptions {
  /** Absolute path of the program (no PATH search). */
  readonly file: string;
  /** argv, argv[0] included. */
  readonly argv: readonly string[];
  /** The whole environment. */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  /** Becomes the child's fd 0. */
  readonly stdinFd: number;
  /** setsid() in the child. */
  readonly newSession: boolean;
}

/**
 * posix_spawn(3) (vfork-style: the caller waits until the child exec'd, and nothing of this
 * process's memory is copied, so the cost does not grow with the manager's size) with fd 0 =
 * stdinFd, stdout and stderr on two new pipes, every signal at its default and none blocked,
 * and optionally a new session. Returns the pid and the pipes' read ends (close-on-exec,
 * blocking, owned by the caller). An exec failure or a missing cwd throws NativeError with
 * syscall 'posix_spawn' and the errno name ('ENOENT', 'EACCES', 'ENOEXEC'). The child must
 * be watched with watchExit().
 */
export function spawnProcess(options: SpawnProcessOptions): SpawnedProcess {
  const env = Object.entries(options.env).map(([name, value]) => `${name}=${value}`);
  return call((n) => n.spawnProcess(options.file, [...options.argv], env, options.cwd, options.stdinFd, options.newSession));
}

/**
 * Calls back once, on the event loop, when pid (a child of this process) has exited, and
 * reaps it: a pidfd polled on Node's own loop, then waitpid(pid). Node's own children are
 * never taken. While the child runs, the watch keeps the loop alive (as a ChildProcess does).
 * code and signal are both null when someone else reaped it first.
 */
export function watchExit(pid: number, callback: (exit: RawExit) => void): void {
  call((n) => n.watchExit(pid, callback));
}
