import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { InvalidArgumentError, SpawnError } from '../errors';
import type { Logger } from '../log';
import { HelperFailureWatch, execHelperArgs, helperFailure, refuseRoot, requireExecHelper, validateWorkerIdentity, type WorkerLimits } from './exec-helper';
import { watchChild, type ChildExit } from './child-reaper';
import { closeFd, listenUnix, spawnProcess } from './native';
import { captureOutput } from './output-lines';

/** PATH for workers when the manager has none (the usual Debian default without sbin). */
const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';
const DEFAULT_BACKLOG = 128;
/** The worker socket: only its owner (the worker's user) may connect. */
const SOCKET_MODE = 0o600;
/**
 * After the process exited, how long to wait for EOF on its stdout/stderr before giving up
 * on them: a grandchild (a daemonising app, php-cgi's own children) may hold the pipes
 * open, and 'exit' must not wait for it. Kept well under a second because the pool waits
 * on `exited` to decide whether a request may be replayed.
 */
const STDIO_DRAIN_MS = 500;

export interface WorkerSpawnOptions {
  /** Path to the executable, resolved to absolute; no PATH search (mod_fcgid uses APR_PROGRAM). */
  command: string;
  args?: readonly string[];
  /** From IpcDir.nextSocketPath(). */
  socketPath: string;
  /** Configured variables; the child's environment is exactly PATH (+ LD_LIBRARY_PATH) + these. */
  env?: Readonly<Record<string, string>>;
  /** Default: the executable's directory (mod_fcgid's rule). */
  cwd?: string;
  /** listen() backlog; default 128. */
  backlog?: number;
  /**
   * Keep the manager's copy of the listening fd open (exposed as `socketFd`, closed when this
   * worker exits) so that sibling processes can be spawned on the same socket later.
   */
  keepSocketFd?: boolean;
  /**
   * Spawn on this already listening fd (a sibling's `socketFd`) instead of creating a socket:
   * N processes behind one socket, as spawn-fcgi -F N. The fd is neither closed nor is the
   * socket file removed by this worker.
   */
  inheritSocketFd?: number;
  /** Already a child logger carrying { pool }; each worker adds { pid }. */
  logger: Logger;
  /**
   * Run the worker as this user / group (the manager must be root); the socket is chowned to
   * them. Set, they send the worker through the exec helper, which drops privileges after
   * applying the limits. 0 is refused unless `allowRoot`.
   */
  uid?: number;
  gid?: number;
  /** Supplementary groups (exec helper). Default with uid or gid as root: none at all. */
  groups?: readonly number[];
  /** Resource limits, soft and hard both set (exec helper). */
  limits?: WorkerLimits;
  /** Absolute nice value, -20 to 19 (exec helper); lower than the manager's needs root. */
  nice?: number;
  /** umask for the worker, 0 to 0o777 (exec helper). */
  umask?: number;
  /**
   * Allow uid 0, gid 0 or group 0 for workers (default false: SpawnError). Running as the
   * manager's own user — no uid at all — needs no permission.
   */
  allowRoot?: boolean;
  /**
   * Start the worker in a session of its own (setsid), default true. A Ctrl-C in the
   * manager's terminal then reaches the manager only, which drains the workers gracefully;
   * mod_fcgid's apps share httpd's process group and die with it at once.
   */
  newProcessGroup?: boolean;
}

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /**
   * The program could not be started: an exec failure (ENOENT, EACCES, ENOEXEC, a bad cwd;
   * code null), or the exec helper's failure (code 126 or 127, the message ends with the
   * helper's own line, e.g. "fcgipm-exec: setuid(65534): Operation not permitted").
   */
  error?: Error;
}

export interface WorkerProcessEvents {
  exit: [info: WorkerExit];
}

/**
 * The child's environment: PATH (the manager's, or DEFAULT_PATH), LD_LIBRARY_PATH when the
 * manager has one, then the configured variables, which override. Nothing else — no HOME,
 * USER or LANG — as mod_fcgid's default_proc_env.
 */
export function workerEnvironment(configured: Readonly<Record<string, string>> = {}, parent: NodeJS.ProcessEnv = process.env): Record<string, string> {
  // No prototype: a variable named __proto__ stays a variable.
  const env = Object.create(null) as Record<string, string>;
  env.PATH = parent.PATH !== undefined && parent.PATH !== '' ? parent.PATH : DEFAULT_PATH;
  if (parent.LD_LIBRARY_PATH !== undefined) env.LD_LIBRARY_PATH = parent.LD_LIBRARY_PATH;
  for (const [name, value] of Object.entries(configured)) env[name] = value;
  return env;
}

/** Duck-typed: Node's own errors are not `instanceof` a vm sandbox's Error (jest). */
function errorText(err: unknown): string {
  const message = typeof err === 'object' && err !== null ? (err as { message?: unknown }).message : undefined;
  return typeof message === 'string' ? message : String(err);
}

function validate(options: WorkerSpawnOptions): void {
  if (typeof options.command !== 'string' || options.command === '') throw new InvalidArgumentError('WorkerProcess: command must be a non-empty path');
  if (typeof options.socketPath !== 'string' || options.socketPath === '') throw new InvalidArgumentError('WorkerProcess: socketPath must be a non-empty path');
  if (options.args !== undefined && !options.args.every((a) => typeof a === 'string')) throw new InvalidArgumentError('WorkerProcess: args must be strings');
  const { backlog } = options;
  if (backlog !== undefined && (!Number.isInteger(backlog) || backlog < 1)) throw new InvalidArgumentError(`WorkerProcess: backlog must be a positive integer, got ${String(backlog)}`);
  validateWorkerIdentity(options);
  if (options.allowRoot !== undefined && typeof options.allowRoot !== 'boolean') throw new InvalidArgumentError('WorkerProcess: allowRoot must be a boolean');
}

/** Unlinks the worker's socket if it is still a socket there; a failure is logged, never thrown. */
function removeSocket(socketPath: string, logger: Logger): void {
  try {
    if (fs.lstatSync(socketPath, { throwIfNoEntry: false })?.isSocket()) fs.unlinkSync(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ socket: socketPath, err: errorText(err) }, 'cannot remove worker socket');
  }
}

/** The read end of a child's stdout or stderr pipe, as a stream (non-blocking from here on). */
function pipeReader(fd: number): Readable {
  return new net.Socket({ fd, readable: true, writable: false });
}

/** A started process (pid and pipes) or the reason it could not be started. */
interface SpawnedChild {
  readonly pid: number | undefined;
  readonly stdout: Readable | undefined;
  readonly stderr: Readable | undefined;
  readonly execError: unknown;
}

/**
 * One FastCGI application process with its listening socket on fd 0 (FCGI_LISTENSOCK_FILENO),
 * stdout and stderr captured line by line into the log. Emits 'exit' exactly once, after the
 * socket file was unlinked and the output flushed to the log.
 */
export class WorkerProcess extends EventEmitter<WorkerProcessEvents> {
  readonly socketPath: string;
  readonly pid: number | undefined;
  /** Date.now() at spawn. */
  readonly startedAt: number;
  readonly exited: Promise<WorkerExit>;

  private readonly stdout: Readable | undefined;
  private readonly stderr: Readable | undefined;
  private readonly command: string;
  private readonly log: Logger;
  /** Set when the child is the exec helper: recognises its failure line on stderr. */
  private readonly helperWatch: HelperFailureWatch | undefined;
  private readonly outputDone: Promise<void>;
  private resolveExited!: (exit: WorkerExit) => void;
  private info: WorkerExit | undefined;
  private gone = false;
  private settling = false;
  private killRequested = false;
  private readonly ownsSocket: boolean;
  /** The worker leads a process group (and session) of its own: signals go to the group. */
  private readonly ownGroup: boolean;
  private keptFd: number | undefined;

  /**
   * Synchronous. Creates the listening socket (mode 0600, close-on-exec, blocking), spawns
   * the child with stdio [socket, pipe, pipe] and closes the manager's copy of the socket at
   * once. With limits, nice, umask, groups, uid or gid the child is the exec helper, which
   * applies them and execs the command in place (same pid, same fd 0); without any, the
   * command is spawned directly. Throws SpawnError when root is refused, the helper is
   * missing, the socket cannot be created or spawn() throws; an exec failure (Node's or the
   * helper's) arrives later as 'exit' with `error` set.
   */
  static spawn(options: WorkerSpawnOptions): WorkerProcess {
    validate(options);
    refuseRoot(options);
    const command = path.resolve(options.command);
    const cwd = options.cwd !== undefined ? path.resolve(options.cwd) : path.dirname(command);
    const { socketPath, uid, gid } = options;
    const helperArgs = execHelperArgs(options);
    // Node's own uid/gid options are never used: the helper must apply the limits first,
    // as root, and drop privileges last.
    const file = helperArgs !== undefined ? requireExecHelper() : command;
    const argv = helperArgs !== undefined ? [...helperArgs, '--', command, command, ...(options.args ?? [])] : [...(options.args ?? [])];
    const startedAt = Date.now();

    const inherited = options.inheritSocketFd;
    let fd: number;
    try {
      fd = inherited ?? listenUnix(socketPath, options.backlog ?? DEFAULT_BACKLOG, SOCKET_MODE);
    } catch (err) {
      throw new SpawnError(`cannot create worker socket ${socketPath}: ${errorText(err)}`, err);
    }
    const keep = inherited === undefined && options.keepSocketFd === true;
    let started: { pid: number; stdout: number; stderr: number } | undefined;
    let execError: unknown;
    try {
      // The socket belongs to the worker's user, as mod_fcgid chowns it (fcgid_proc_unix.c).
      if (inherited === undefined && (uid !== undefined || gid !== undefined)) fs.chownSync(socketPath, uid ?? -1, gid ?? -1);
      // posix_spawn, not child_process.spawn: libuv's fork() stalls the event loop for a
      // time that grows with the manager's memory (docs/benchmarks.md). The raw fd becomes
      // the child's fd 0 (dup2 clears close-on-exec there); the helper leaves it as it is.
      started = spawnProcess({ file, argv: [file, ...argv], env: workerEnvironment(options.env), cwd, stdinFd: fd, newSession: options.newProcessGroup ?? true });
    } catch (err) {
      // An exec failure (ENOENT, EACCES, ENOEXEC, a missing cwd) arrives as 'exit' with
      // `error`, as Node reports it; anything else is thrown here.
      if ((err as { syscall?: unknown }).syscall !== 'posix_spawn') {
        if (inherited === undefined) {
          removeSocket(socketPath, options.logger);
          closeFd(fd);
        }
        throw new SpawnError(`cannot start ${command}: ${errorText(err)}`, err);
      }
      execError = err;
    }
    // The child holds its own copy now; ours must not outlive this call unless kept for
    // siblings (and an inherited one is its owner's to close).
    if (inherited === undefined && !keep) closeFd(fd);
    const socket = { owned: inherited === undefined, fd: keep ? fd : undefined };
    const child: SpawnedChild =
      started !== undefined
        ? { pid: started.pid, stdout: pipeReader(started.stdout), stderr: pipeReader(started.stderr), execError: undefined }
        : { pid: undefined, stdout: undefined, stderr: undefined, execError };
    return new WorkerProcess(child, command, socketPath, startedAt, options.logger, helperArgs !== undefined, socket, options.newProcessGroup ?? true);
  }

  /** The manager's copy of the listening fd while kept for siblings (`keepSocketFd`). */
  get socketFd(): number | undefined {
    return this.keptFd;
  }

  private constructor(
    child: SpawnedChild,
    command: string,
    socketPath: string,
    startedAt: number,
    logger: Logger,
    viaHelper: boolean,
    socket: { owned: boolean; fd: number | undefined },
    ownGroup: boolean,
  ) {
    super();
    this.ownsSocket = socket.owned;
    this.ownGroup = ownGroup;
    this.keptFd = socket.fd;
    this.stdout = child.stdout;
    this.stderr = child.stderr;
    this.command = command;
    this.socketPath = socketPath;
    this.startedAt = startedAt;
    this.pid = child.pid;
    this.log = child.pid !== undefined ? logger.child({ pid: child.pid }) : logger;
    this.exited = new Promise((resolve) => {
      this.resolveExited = resolve;
    });
    const { stdout, stderr } = child;
    this.outputDone = Promise.all([
      stdout ? captureOutput(stdout, { logger: this.log, stream: 'stdout' }) : undefined,
      stderr ? captureOutput(stderr, { logger: this.log, stream: 'stderr' }) : undefined,
    ]).then(() => undefined);
    this.helperWatch = viaHelper && stderr ? new HelperFailureWatch(stderr) : undefined;

    if (child.pid === undefined) {
      // The program never ran: reported as Node reports a failed spawn, after this returns.
      const error = new SpawnError(`cannot execute ${command}: ${errorText(child.execError)}`, child.execError);
      process.nextTick(() => {
        this.gone = true;
        this.settle({ code: null, signal: null, error });
      });
      return;
    }
    watchChild(child.pid, (exit: ChildExit) => {
      this.gone = true;
      this.settle(exit);
    });
  }

  /** Set once 'exit' has been emitted. */
  get exitInfo(): WorkerExit | undefined {
    return this.info;
  }

  /** The process was started and has not exited yet. */
  get alive(): boolean {
    return this.pid !== undefined && !this.gone;
  }

  /**
   * Signals the worker (default SIGTERM) and, when it leads its own process group, every
   * process it started that stayed in that group (php-cgi's children, a forked child still
   * holding the socket, a fork bomb); false if it is already gone.
   */
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (!this.alive) return false;
    this.killRequested = true;
    try {
      // Not reaped yet, so the pid is still ours (a zombie at worst), never a reused one, and
      // so is the group it leads.
      process.kill(this.ownGroup ? -this.pid! : this.pid!, signal);
      return true;
    } catch (err) {
      // EPERM: the process is still there.
      this.log.warn({ err: errorText(err) }, 'cannot signal worker process');
      return false;
    }
  }

  /**
   * Kills the worker at once (SIGKILL, no grace); its socket and descriptors are released when
   * the exit is seen, as for any exit. Idempotent. kill('SIGTERM') is the graceful way.
   */
  destroy(): void {
    this.kill('SIGKILL');
  }

  private settle(exit: WorkerExit): void {
    if (this.settling) return;
    this.settling = true;
    this.killLeftovers();
    const timer = setTimeout(() => {
      this.log.debug({ waitedMs: STDIO_DRAIN_MS }, 'worker output still open after exit; a process it started may hold it');
      this.stdout?.destroy();
      this.stderr?.destroy();
    }, STDIO_DRAIN_MS);
    void this.outputDone.then(() => {
      clearTimeout(timer);
      // Out of the promise chain: an 'exit' listener that throws is an uncaught exception,
      // as with any event, not an unhandled rejection.
      process.nextTick(() => this.finish(exit));
    });
  }

  /**
   * The worker is gone: processes left in its group go too, as systemd's KillMode=control-group
   * stops a service. A child that kept the listening socket on fd 0 would otherwise serve a
   * socket nobody routes to, and hold the worker's output pipes, for ever. A job meant to
   * outlive its worker must leave the group (setsid). Called right after the worker was
   * reaped: its pid cannot be reused as long as the group it names has members.
   */
  private killLeftovers(): void {
    if (!this.ownGroup || this.pid === undefined) return;
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      return; // ESRCH: nothing was left
    }
    // Expected after a kill fcgipm sent to the group (a child may still be exiting).
    if (this.killRequested) this.log.debug('killed what was left of the worker\'s process group');
    else this.log.warn('the worker left processes behind in its group; killed them');
  }

  private finish(exited: WorkerExit): void {
    // Decided here, after both pipes ended: 'exit' may come before the helper's line is read.
    const helperError = exited.error === undefined ? helperFailure(this.command, exited.code, this.helperWatch) : undefined;
    const exit = helperError !== undefined ? { ...exited, error: helperError } : exited;
    if (this.ownsSocket) removeSocket(this.socketPath, this.log);
    if (this.keptFd !== undefined) {
      closeFd(this.keptFd);
      this.keptFd = undefined;
    }
    this.info = exit;
    const fields = { code: exit.code, signal: exit.signal, runtimeMs: Date.now() - this.startedAt };
    if (exit.error) this.log.warn({ ...fields, err: exit.error.message }, 'worker process could not be started');
    // A kill the caller asked for is the caller's to report (the pool logs retirements).
    else if (this.killRequested) this.log.debug(fields, 'worker process exited');
    else if (exit.code === 0) this.log.info(fields, 'worker process exited');
    else this.log.warn(fields, 'worker process exited');
    this.resolveExited(exit);
    this.emit('exit', exit);
  }
}
