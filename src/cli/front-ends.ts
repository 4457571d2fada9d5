import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { InvalidArgumentError } from '../errors';
import type { Logger } from '../log';
import { SCALING_DEFAULTS } from '../pm/policy/options';
import type { RunArgs } from './run-args';

/**
 * Several front ends on one port (`fcgipm run --front-ends N`): one fcgipm is one Node thread,
 * and a front end on one core is what held fcgipm below nginx and lighttpd on a busy machine
 * (docs/benchmarks.md). The first fcgipm starts N - 1 more with the same command line; each
 * binds the HTTP port with SO_REUSEPORT, so the kernel spreads connections over them, and runs
 * its own pool with its share of --min and --max: the workers of one front end are its own,
 * its queue waits for them only. The first front end keeps the status listener and the FastCGI
 * socket. Signals to the first reach them all; one that dies is started again; when the first
 * goes away, the others stop.
 */

/** Set in the environment of the front ends the first one starts: "<index>/<count>". */
const ENV = 'FCGIPM_FRONT_END';
/** A front end that exits is started again after this, doubling up to RESTART_MAX_MS. */
const RESTART_MS = 1_000;
const RESTART_MAX_MS = 30_000;

export interface FrontEnd {
  /** 0 for the fcgipm the operator started. */
  readonly index: number;
  readonly count: number;
}

/** This process's place among the front ends. */
export function frontEndOf(args: RunArgs, env: NodeJS.ProcessEnv = process.env): FrontEnd {
  const m = /^(\d+)\/(\d+)$/.exec(env[ENV] ?? '');
  if (m) return { index: Number(m[1]), count: Number(m[2]) };
  return { index: 0, count: args.frontEnds };
}

/** Front end `index`'s share of `total`: an equal part, the remainder to the first ones. */
export function shareOf(total: number, index: number, count: number): number {
  return Math.floor(total / count) + (index < total % count ? 1 : 0);
}

/** The options one front end runs with. Throws InvalidArgumentError for a split that cannot work. */
export function frontEndArgs(args: RunArgs, fe: FrontEnd): RunArgs {
  if (fe.count === 1) return args;
  const http = args.http;
  if (!http) throw new InvalidArgumentError('--front-ends: there is no HTTP front end to spread (--http off)');
  if (http.port === 0) throw new InvalidArgumentError('--front-ends: give --http a fixed port; with port 0 each front end would get its own');
  const max = args.pool.maxProcesses ?? SCALING_DEFAULTS.maxProcesses;
  if (max < fe.count) {
    throw new InvalidArgumentError(`--front-ends ${fe.count}: --max ${max} leaves a front end without a process; give each at least one`);
  }
  return {
    ...args,
    reusePort: true,
    pool: {
      ...args.pool,
      maxProcesses: shareOf(max, fe.index, fe.count),
      ...(args.pool.minProcesses !== undefined ? { minProcesses: shareOf(args.pool.minProcesses, fe.index, fe.count) } : {}),
    },
    admin: fe.index === 0 ? args.admin : undefined,
    fastcgi: fe.index === 0 ? args.fastcgi : undefined,
    // The pid file names the fcgipm the operator started, the one signals go to.
    pidFile: fe.index === 0 ? args.pidFile : undefined,
  };
}

/**
 * The front ends the first fcgipm started (index 1 … count - 1), as child processes with an
 * IPC channel (a front end whose channel closes stops: the first one is gone).
 *
 * Lifecycle: start() → signal()… → stop().
 */
export class FrontEnds {
  private readonly children = new Map<number, ChildProcess>();
  private readonly restartDelay = new Map<number, number>();
  private stopping = false;

  constructor(
    private readonly runArgv: readonly string[],
    private readonly count: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    for (let i = 1; i < this.count; i += 1) this.spawn(i);
  }

  /** Passes a signal on (SIGHUP: every front end reloads). */
  signal(signal: NodeJS.Signals): void {
    for (const child of this.children.values()) child.kill(signal);
  }

  /** SIGTERM to every front end; resolves once all have exited (each drains first). Idempotent. */
  stop(): Promise<void> {
    this.stopping = true;
    const exits = [...this.children.values()].map(
      (child) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()))),
    );
    this.signal('SIGTERM');
    return Promise.all(exits).then(() => undefined);
  }

  private spawn(index: number): void {
    // The same compiled CLI as this process, with the same node flags (the bin's young
    // generation size among them).
    const child = spawn(process.execPath, [...nodeFlags(process.execArgv), path.join(__dirname, 'front-end-entry.js'), 'run', ...this.runArgv], {
      env: { ...childEnv(process.env), [ENV]: `${index}/${this.count}` },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.children.set(index, child);
    const started = Date.now();
    child.once('exit', (code, signal) => {
      this.children.delete(index);
      if (this.stopping) return;
      // One that ran a while starts again at once-ish; one that keeps failing backs off.
      const delay = Date.now() - started > RESTART_MAX_MS ? RESTART_MS : Math.min(RESTART_MAX_MS, (this.restartDelay.get(index) ?? RESTART_MS / 2) * 2);
      this.restartDelay.set(index, delay);
      this.log.error({ otherFrontEnd: index, pid: child.pid, code, signal, restartInMs: delay }, 'a front end exited; starting it again');
      setTimeout(() => {
        if (!this.stopping) this.spawn(index);
      }, delay).unref();
    });
    child.on('error', (err) => this.log.error({ otherFrontEnd: index, err: err.message }, 'cannot start a front end'));
  }
}

/**
 * The environment of a front end: systemd's variables are the first one's alone (it is the
 * main pid that notifies systemd and holds the activated sockets).
 */
function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES']) delete out[name];
  return out;
}

/** Node's flags without a script given inline (`node -e "…"`, `-p`): the child runs a file. */
function nodeFlags(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i += 1) {
    const a = execArgv[i] as string;
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print') {
      i += 1;
      continue;
    }
    if (a.startsWith('--eval=') || a.startsWith('--print=')) continue;
    out.push(a);
  }
  return out;
}

/** In a front end the first one started: stop when the first one is gone (its IPC channel closed). */
export function followFirstFrontEnd(stop: () => void): void {
  // Only a front end we started: an fcgipm forked by some other supervisor keeps its channel.
  if (process.send === undefined || process.env[ENV] === undefined) return;
  process.once('disconnect', stop);
}
