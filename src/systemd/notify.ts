import { DgramSocket } from 'node-unix-socket';
import type { Logger } from '../log';

/**
 * sd_notify(3) without libsystemd: datagrams of NAME=VALUE lines to the AF_UNIX socket named
 * by NOTIFY_SOCKET ("@name" is an abstract socket). With Type=notify systemd counts fcgipm as
 * started on READY=1 — once its listeners are bound and its minProcesses spawned — rather
 * than when the process exists; RELOADING=1 … READY=1 bracket a reload (systemctl reload waits for it) and
 * STOPPING=1 marks a stop in progress. WATCHDOG=1 is sent at half of WATCHDOG_USEC
 * (sd_watchdog_enabled's advice), from the event loop, so a wedged loop is restarted.
 */

export interface NotifyEnv {
  readonly NOTIFY_SOCKET?: string;
  readonly WATCHDOG_USEC?: string;
  readonly WATCHDOG_PID?: string;
}

/** NOTIFY_SOCKET as a socket address: "@name" → "\0name" (abstract namespace). */
export function notifyAddress(value: string): string {
  return value.startsWith('@') ? `\0${value.slice(1)}` : value;
}

/**
 * The watchdog interval asked for, in microseconds, when it is meant for this process
 * (WATCHDOG_PID unset or ours), else undefined.
 */
export function watchdogUsec(env: NotifyEnv, pid: number = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isInteger(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== String(pid)) return undefined;
  return usec;
}

/** CLOCK_MONOTONIC in microseconds: libuv's hrtime reads that clock (RELOADING=1 wants it). */
function monotonicUsec(): string {
  return (process.hrtime.bigint() / 1000n).toString();
}

/**
 * Lifecycle: SystemdNotifier.fromEnv() (undefined outside systemd) → ready() → reloading() /
 * ready() … → stopping() → close(). close() is idempotent.
 */
export class SystemdNotifier {
  private readonly socket = new DgramSocket();
  private watchdog: NodeJS.Timeout | undefined;
  private closed = false;
  private warned = false;

  private constructor(
    private readonly address: string,
    private readonly log: Logger,
    private readonly watchdogUsec: number | undefined,
  ) {
    this.socket.on('error', (err: Error) => this.warn(err));
  }

  /** A notifier when NOTIFY_SOCKET is set, else undefined (not started by systemd). */
  static fromEnv(log: Logger, env: NotifyEnv = process.env): SystemdNotifier | undefined {
    const value = env.NOTIFY_SOCKET;
    if (value === undefined || value === '') return undefined;
    return new SystemdNotifier(notifyAddress(value), log, watchdogUsec(env));
  }

  /** READY=1 with the main pid and a status line; starts the watchdog pings on the first call. */
  ready(status: string): void {
    this.send(`READY=1\nMAINPID=${process.pid}\nSTATUS=${status}`);
    if (this.watchdogUsec !== undefined && this.watchdog === undefined) {
      const everyMs = Math.max(1, Math.floor(this.watchdogUsec / 2000));
      this.watchdog = setInterval(() => this.send('WATCHDOG=1'), everyMs);
      this.watchdog.unref();
      this.send('WATCHDOG=1');
    }
  }

  reloading(status: string): void {
    this.send(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}\nSTATUS=${status}`);
  }

  stopping(status: string): void {
    this.send(`STOPPING=1\nSTATUS=${status}`);
  }

  /** The same as close(): the datagram socket is closed at once either way. */
  destroy(): void {
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    this.socket.close();
  }

  private send(message: string): void {
    if (this.closed) return;
    const buf = Buffer.from(message);
    try {
      this.socket.sendTo(buf, 0, buf.length, this.address, (err) => {
        if (err) this.warn(err);
      });
    } catch (err) {
      this.warn(err);
    }
  }

  /** Once: a notify socket that does not answer should not flood the log every watchdog tick. */
  private warn(err: unknown): void {
    if (this.warned) return;
    this.warned = true;
    this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'cannot notify systemd (NOTIFY_SOCKET)');
  }
}
