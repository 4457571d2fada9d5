import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, IpcDirError } from '../errors';

/**
 * sun_path is 108 bytes including its NUL, so a socket path may have 107 bytes
 * (mod_fcgid 2.3.9 does the same; the native listenUnix rejects anything longer with ENAMETOOLONG).
 */
export const MAX_SOCKET_PATH_BYTES = 107;

export interface IpcDirOptions {
  dir: string;
  /** The `<pid>` of `<pid>.<n>`; default process.pid. */
  managerPid?: number;
  /**
   * Mode of a directory prepare() creates; default 0o700, also when workers run as other
   * users. 0o711 would let workers traverse to their socket (the first design asked for it);
   * checked, they never need to. A worker gets its socket already bound and listening as
   * fd 0 and only accept()s on that descriptor, which looks up no path (libfcgi's
   * OS_IsFcgi and accept on fd 0; in handoff mode client sockets arrive over a connection
   * accepted there). The only process that opens the path is the manager, connecting to
   * the worker, and workers run as other users only under a root manager (only root may
   * setuid), which passes any directory mode. test/spawn/exec-helper.test.ts serves a
   * request from a worker running as nobody behind a root-owned 0700 directory. 0o711 is
   * for something else running as the worker's user that connects by path (a cgi-fcgi
   * health check, an app reopening its own socket); the socket itself stays 0600 and owned
   * by the worker's user either way.
   */
  mode?: number;
}

const WRITABLE_HINT = 'set --ipc-dir to a writable directory';

/**
 * mkdir -p, one component at a time; true when it created `dir` itself (false when a racer
 * did). Not fs.mkdirSync's `recursive`: under a directory that answers ENOENT to every mkdir,
 * such as /proc, Node's recursive mkdir retries forever and fcgipm would hang at start-up
 * without a word.
 */
function makeDirs(dir: string, mode: number): boolean {
  const parent = path.dirname(dir);
  if (parent !== dir && !fs.existsSync(parent)) makeDirs(parent, mode);
  try {
    fs.mkdirSync(dir, { mode });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/**
 * The next `<n>` per directory and manager pid, shared by every IpcDir of this process: two
 * pools given separate IpcDir objects for the same directory must still never hand out the
 * same path (listenUnix unlinks a socket left at a path, so a duplicate would steal a live
 * worker's socket).
 */
const nextNumber = new Map<string, number>();

/** Handed-out paths are remembered until their file is gone; pruned when the set doubles. */
const PRUNE_MIN = 1024;

/**
 * "EACCES (permission denied)" from a Node system error, for one-line operator messages.
 * Duck-typed: under a vm sandbox (jest) Node's errors are not `instanceof` the local Error.
 */
function describe(err: unknown): string {
  const { code, message } = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : String(err);
  if (typeof code !== 'string') return text.split('\n')[0] ?? '';
  // Node formats system errors as "EACCES: permission denied, mkdir '/run/x'".
  const prefix = `${code}: `;
  const reason = text.startsWith(prefix) ? (text.slice(prefix.length).split(',')[0] ?? '') : '';
  return reason ? `${code} (${reason})` : code;
}

function isSocketAt(p: string): boolean {
  try {
    return fs.lstatSync(p, { throwIfNoEntry: false })?.isSocket() ?? false;
  } catch {
    return false;
  }
}

/** false only when nothing is at p; an error other than ENOENT counts as "there". */
function pathExists(p: string): boolean {
  try {
    return fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return true;
  }
}

/** true when a process with this pid exists (EPERM: it exists but belongs to someone else). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The directory holding the workers' listening sockets, named `<dir>/<manager pid>.<n>` as
 * mod_fcgid names them (FcgidIPCDir). Hands out paths, and removes the sockets at shutdown —
 * mod_fcgid skips that on restart and stale sockets accumulate.
 */
export class IpcDir {
  readonly dir: string;
  readonly managerPid: number;
  readonly mode: number;
  private readonly handedOut = new Set<string>();
  private pruneAt = PRUNE_MIN;

  constructor(options: IpcDirOptions) {
    if (typeof options.dir !== 'string' || options.dir === '') throw new InvalidArgumentError('IpcDir: dir must be a non-empty path');
    const pid = options.managerPid ?? process.pid;
    if (!Number.isSafeInteger(pid) || pid <= 0) throw new InvalidArgumentError(`IpcDir: managerPid must be a positive integer, got ${String(pid)}`);
    const mode = options.mode ?? 0o700;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new InvalidArgumentError(`IpcDir: mode must be a file mode (0 to 0o7777), got ${String(mode)}`);
    this.dir = path.resolve(options.dir);
    this.managerPid = pid;
    this.mode = mode;
  }

  /**
   * mkdir -p when missing (the new directory gets exactly `mode`, whatever the umask), then
   * verify it is a directory this process can write and search, and that socket paths in it
   * fit sun_path. Throws IpcDirError with one line naming the directory and the cause.
   */
  prepare(): void {
    let stats: fs.Stats | undefined;
    try {
      stats = fs.statSync(this.dir, { throwIfNoEntry: false });
    } catch (err) {
      // ENOTDIR: a parent is a regular file; mkdir below reports that as "cannot create".
      if ((err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw new IpcDirError(`cannot use IPC socket directory ${this.dir}: ${describe(err)}; ${WRITABLE_HINT}`, err);
    }
    if (stats === undefined) {
      try {
        if (makeDirs(this.dir, this.mode)) fs.chmodSync(this.dir, this.mode);
      } catch (err) {
        throw new IpcDirError(`cannot create IPC socket directory ${this.dir}: ${describe(err)}; ${WRITABLE_HINT}`, err);
      }
    } else if (!stats.isDirectory()) {
      throw new IpcDirError(`IPC socket directory ${this.dir} exists but is not a directory; ${WRITABLE_HINT}`);
    }
    try {
      fs.accessSync(this.dir, fs.constants.W_OK | fs.constants.X_OK);
    } catch (err) {
      throw new IpcDirError(`IPC socket directory ${this.dir} is not writable and searchable: ${describe(err)}; ${WRITABLE_HINT}`, err);
    }
    const first = this.pathFor(0);
    if (Buffer.byteLength(first) > MAX_SOCKET_PATH_BYTES) throw this.tooLong(first);
  }

  /**
   * At run time, before a spawn: makes the directory again (with `mode`) when it is gone —
   * removed by an admin's rm -rf, or by systemd-tmpfiles cleaning /run. Returns true when it
   * made it. Throws IpcDirError naming the directory when it cannot (no space, no inodes,
   * no permission), so the spawn fails with that reason.
   */
  restore(): boolean {
    if (pathExists(this.dir)) return false;
    this.prepare();
    return true;
  }

  /** `<dir>/<managerPid>.<n>`, n counting from 0 (mod_fcgid naming). */
  nextSocketPath(): string {
    const key = `${this.dir}\0${this.managerPid}`;
    const n = nextNumber.get(key) ?? 0;
    const socketPath = this.pathFor(n);
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) throw this.tooLong(socketPath);
    nextNumber.set(key, n + 1);
    if (this.handedOut.size >= this.pruneAt) this.prune();
    this.handedOut.add(socketPath);
    return socketPath;
  }

  /**
   * Unlinks every socket this instance handed out that still exists (shutdown). Only sockets
   * are removed; a failure to unlink is skipped (the next start unlinks a stale socket before
   * binding). Idempotent. Returns the paths removed.
   */
  cleanup(): string[] {
    const removed: string[] = [];
    for (const socketPath of this.handedOut) {
      if (isSocketAt(socketPath)) {
        try {
          fs.unlinkSync(socketPath);
          removed.push(socketPath);
        } catch {
          // Gone already, or not ours to remove: nothing more to do at shutdown.
        }
      }
    }
    this.handedOut.clear();
    this.pruneAt = PRUNE_MIN;
    return removed;
  }

  /**
   * Sockets named `<pid>.<n>` left by managers that are no longer running (mod_fcgid leaves
   * them behind on every restart). Sockets of a live process and of this manager are not
   * listed.
   */
  staleSockets(): string[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (err) {
      throw new IpcDirError(`cannot list IPC socket directory ${this.dir}: ${describe(err)}; ${WRITABLE_HINT}`, err);
    }
    const stale: string[] = [];
    const alive = new Map<number, boolean>();
    for (const name of names) {
      const match = /^(\d+)\.\d+$/.exec(name);
      if (!match) continue;
      const pid = Number(match[1]);
      if (pid === this.managerPid) continue;
      let exists = alive.get(pid);
      if (exists === undefined) {
        exists = processExists(pid);
        alive.set(pid, exists);
      }
      const socketPath = path.join(this.dir, name);
      if (!exists && isSocketAt(socketPath)) stale.push(socketPath);
    }
    return stale;
  }

  /** Unlinks the staleSockets(). Returns the paths removed. */
  removeStale(): string[] {
    const removed: string[] = [];
    for (const socketPath of this.staleSockets()) {
      try {
        fs.unlinkSync(socketPath);
        removed.push(socketPath);
      } catch {
        // Removed by someone else meanwhile, or not ours: leave it.
      }
    }
    return removed;
  }

  private pathFor(n: number): string {
    return path.join(this.dir, `${this.managerPid}.${n}`);
  }

  private tooLong(socketPath: string): IpcDirError {
    return new IpcDirError(
      `IPC socket directory ${this.dir} is too long: ${socketPath} exceeds the ${MAX_SOCKET_PATH_BYTES}-byte limit of a Unix socket address; set --ipc-dir to a shorter directory`,
    );
  }

  /** Forgets handed-out paths whose file is gone, so a long-lived manager's set stays small. */
  private prune(): void {
    for (const socketPath of this.handedOut) {
      if (!pathExists(socketPath)) this.handedOut.delete(socketPath);
    }
    this.pruneAt = Math.max(PRUNE_MIN, this.handedOut.size * 2);
  }
}
