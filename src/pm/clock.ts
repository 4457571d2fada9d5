/**
 * The process manager's clock: every time the pool reads and every timer it sets goes through
 * one of these, passed in through the Manager's and the Pool's deps (never a global), so that
 * lifecycle tests move time by hand instead of sleeping (test/helpers/fake-clock.ts).
 */

/** What a timer gives back: enough to cancel it, and to let the process exit while it runs. */
export interface TimerHandle {
  unref(): unknown;
}

export interface Clock {
  /** Milliseconds, Date.now()'s scale: snapshots turn them into ISO dates. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * Date.now() and Node's timers. The globals are looked up at each call, so jest's fake timers
 * still reach code that uses the real clock.
 */
export const REAL_CLOCK: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
