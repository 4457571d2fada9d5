/**
 * What each signal does to a running fcgipm, in one table, as php-fpm and nginx answer them:
 * TERM, INT and QUIT stop gracefully (requests in flight finish), HUP and USR2 reload (a new
 * generation of workers, nothing dropped), USR1 reopens the log files (logrotate's
 * `postrotate kill -USR1`).
 */

export type SignalAction = 'stop' | 'reload' | 'reopen-logs';

const SIGNAL_ACTIONS = {
  SIGTERM: 'stop',
  SIGINT: 'stop',
  // php-fpm's QUIT is its graceful stop; a core dump (the default action) is never wanted here.
  SIGQUIT: 'stop',
  SIGHUP: 'reload',
  // USR2 is php-fpm's and nginx's reload-ish signal; by default it would kill fcgipm and
  // leave its workers orphaned.
  SIGUSR2: 'reload',
  // Node starts its inspector (a debugger on 127.0.0.1:9229) on USR1 unless a listener is
  // installed: never on a production server.
  SIGUSR1: 'reopen-logs',
} as const satisfies Readonly<Record<string, SignalAction>>;

export type HandledSignal = keyof typeof SIGNAL_ACTIONS;

export type SignalHandlers = Readonly<Record<SignalAction, (signal: HandledSignal) => void>>;

/**
 * Installs a listener for every signal of the table at once, before anything else runs (the
 * inspector must never get USR1, and a stop asked for during start-up must not be lost), then
 * dispatches to the handlers given by handle(). A stop that arrives before handle() is
 * replayed then; a reload or reopen before it has nothing to act on yet and is dropped.
 *
 * Lifecycle: new SignalRouter() → handle() → close(). close() is idempotent.
 */
export class SignalRouter {
  private handlers: SignalHandlers | undefined;
  private pendingStop: HandledSignal | undefined;
  private readonly listeners = new Map<HandledSignal, () => void>();

  constructor() {
    for (const signal of Object.keys(SIGNAL_ACTIONS) as HandledSignal[]) {
      const listener = (): void => this.dispatch(signal);
      this.listeners.set(signal, listener);
      process.on(signal, listener);
    }
  }

  handle(handlers: SignalHandlers): void {
    this.handlers = handlers;
    const pending = this.pendingStop;
    this.pendingStop = undefined;
    if (pending !== undefined) handlers.stop(pending);
  }

  close(): void {
    for (const [signal, listener] of this.listeners) process.off(signal, listener);
    this.listeners.clear();
    this.handlers = undefined;
  }

  private dispatch(signal: HandledSignal): void {
    const action = SIGNAL_ACTIONS[signal];
    if (this.handlers) this.handlers[action](signal);
    else if (action === 'stop') this.pendingStop ??= signal;
  }
}
