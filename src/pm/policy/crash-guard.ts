import { InvalidArgumentError } from '../../errors';

/**
 * Crash-loop control for one pool: a worker that dies at start or right after must not be
 * respawned in a tight loop, and deliberate recycling must never slow the pool down.
 *
 * mod_fcgid charges every exit to its spawn score (TerminationScore 2 + SpawnScore 1 against a
 * decay of 1/s), crash or recycle alike: with FcgidMaxRequestsPerProcess 1,
 * 25 sequential requests take 51 s. php-fpm only counts children that die of a signal
 * (emergency_restart_threshold) and otherwise respawns at once, so a binary that exits 1 at
 * start is forked in a tight loop. Here only unexpected deaths of workers that never proved
 * themselves count, and only a streak of them backs off — exponentially, as a half-open
 * circuit breaker that lets one trial spawn through per back-off and recovers by itself.
 *
 * Pure state machine: every method takes the time; nothing reads a clock or sets a timer.
 */

export interface CrashGuardOptions {
  /** A worker that lived less than this and served nothing is a start failure. */
  readonly quickDeathMs: number;
  /** Consecutive start failures before backing off. */
  readonly threshold: number;
  /** First back-off; doubles per further failure... */
  readonly backoffMinMs: number;
  /** ...up to this. */
  readonly backoffMaxMs: number;
}

export const CRASH_GUARD_DEFAULTS: CrashGuardOptions = {
  // An app that has not served a request 5 s after exec is not simply slow to die; a healthy
  // one served traffic or was recycled on purpose.
  quickDeathMs: 5_000,
  // One or two start failures happen (a transient OOM kill, a bad deploy being replaced);
  // three in a row without a healthy worker in between is a broken app.
  threshold: 3,
  // 1 s doubling to 30 s: a fixed binary is picked up within 30 s, a broken one costs at most
  // one exec per 30 s once the back-off is at its cap.
  backoffMinMs: 1_000,
  backoffMaxMs: 30_000,
};

export interface WorkerExitRecord {
  readonly startedAt: number;
  readonly exitedAt: number;
  /** Requests it finished. */
  readonly requests: number;
  /** It accepted a readiness probe (or a request). */
  readonly becameReady: boolean;
  /**
   * The pool retired it (max-requests, lifetime, idle, spare, reload, shutdown). A worker
   * killed for not starting in time is NOT expected: that is a start failure.
   */
  readonly expected: boolean;
  /**
   * It died of a signal someone sends a process (KILL, TERM, INT, HUP, QUIT: the OOM killer, an
   * operator, a supervisor), not of one a program raises on itself by failing (SEGV, ABRT…).
   */
  readonly killedFromOutside?: boolean;
  /** Another worker of the pool, from the same binary, is ready now: the app can start. */
  readonly siblingReady?: boolean;
}

/** Signals a process gets from outside; a crashing program dies of others (SEGV, ABRT, BUS…). */
export const OUTSIDE_SIGNALS: ReadonlySet<string> = new Set(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT']);

function option(name: keyof CrashGuardOptions, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new InvalidArgumentError(`crash guard option ${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

export function resolveCrashGuardOptions(input: Partial<CrashGuardOptions> = {}): CrashGuardOptions {
  const o: CrashGuardOptions = {
    quickDeathMs: option('quickDeathMs', input.quickDeathMs ?? CRASH_GUARD_DEFAULTS.quickDeathMs, 0),
    threshold: option('threshold', input.threshold ?? CRASH_GUARD_DEFAULTS.threshold, 1),
    backoffMinMs: option('backoffMinMs', input.backoffMinMs ?? CRASH_GUARD_DEFAULTS.backoffMinMs, 0),
    backoffMaxMs: option('backoffMaxMs', input.backoffMaxMs ?? CRASH_GUARD_DEFAULTS.backoffMaxMs, 0),
  };
  if (o.backoffMinMs > o.backoffMaxMs) {
    throw new InvalidArgumentError(
      `crash guard option backoffMinMs (${o.backoffMinMs}) must not exceed backoffMaxMs (${o.backoffMaxMs})`,
    );
  }
  return o;
}

export class CrashGuard {
  readonly options: CrashGuardOptions;
  private failures = 0;
  private episode = false;
  /** Spawns refused and requests answered 503 until then. */
  private backoffUntil = -Infinity;
  /** A trial spawn was let through; no other until then (or until it resolves). */
  private trialUntil = -Infinity;
  /**
   * A healthy signal clears the streak provisionally: the count is held for quickDeathMs and
   * restored if a worker dies quickly meanwhile. "Ready" only says the app reached accept()
   * once (and where that cannot be seen, that its socket, which listens before the app even
   * runs, took a connection); an app that dies right after start-up would otherwise reset its
   * own streak every time and never back off.
   */
  private heldFailures = 0;
  private heldUntil = -Infinity;

  constructor(options?: Partial<CrashGuardOptions>) {
    this.options = resolveCrashGuardOptions(options);
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  /**
   * A worker exited. Failures: unexpected exits of workers that served nothing and either
   * never became ready or lived less than quickDeathMs. An expected exit of a worker that never
   * became ready (retired while starting, e.g. by a reload) says nothing and changes nothing.
   * Any other exit proves the app can run and resets the streak — outside an episode only:
   * during one, old healthy workers exiting say nothing about whether new ones start (a
   * broken binary deployed under running workers), so only recordHealthy ends it.
   * `episodeStarted` is true for the exit that began a broken episode, so the mechanism logs
   * once per episode (like php-fpm's "server reached pm.max_children").
   */
  recordExit(exit: WorkerExitRecord): { failure: boolean; episodeStarted: boolean } {
    const lived = exit.exitedAt - exit.startedAt;
    // Killed from outside once it had started, or while a sibling from the same binary is
    // ready: the app can start, and an OOM killer or an operator's kill storm must not switch
    // the pool to 503s. A program that cannot start dies of its own exit status or signal.
    const killedHealthy = exit.killedFromOutside === true && (exit.becameReady || exit.siblingReady === true);
    const failure =
      !exit.expected && !killedHealthy && exit.requests === 0 && (!exit.becameReady || lived < this.options.quickDeathMs);
    if (failure) return { failure, episodeStarted: this.recordFailure(exit.exitedAt) };
    if (killedHealthy && exit.requests === 0) return { failure: false, episodeStarted: false };
    const neutral = exit.expected && exit.requests === 0 && !exit.becameReady;
    if (!neutral && !this.episode) {
      this.failures = 0;
      this.heldFailures = 0;
      this.heldUntil = -Infinity;
    }
    return { failure: false, episodeStarted: false };
  }

  /**
   * A worker became ready or served a request: ends an episode (true when it did, for a
   * "recovered" log line) and clears the streak, provisionally for quickDeathMs (see
   * heldFailures). Ignored while backing off: no worker can have been spawned since the
   * failure that started the back-off, so the signal comes from one that was already running
   * and says nothing about whether new ones start (a broken binary deployed under healthy
   * workers would otherwise end every back-off at their next request and respawn in a loop).
   * Best called once per worker, when it first proves itself; calling it for every request
   * is harmless.
   */
  recordHealthy(now: number): boolean {
    if (this.episode && now < this.backoffUntil) return false;
    this.expireHeld(now);
    if (this.failures > 0) {
      this.heldFailures += this.failures;
      this.heldUntil = now + this.options.quickDeathMs;
      this.failures = 0;
    }
    this.backoffUntil = -Infinity;
    this.trialUntil = -Infinity;
    const ended = this.episode;
    this.episode = false;
    return ended;
  }

  /** A spawn failed synchronously (exec impossible, socket error): a failure at `now`. */
  recordSpawnFailure(now: number): { episodeStarted: boolean } {
    return { episodeStarted: this.recordFailure(now) };
  }

  /**
   * Outside an episode always allowed. In one: refused until the back-off ends, then ONE
   * trial spawn is allowed — this call grants it, so ask only when about to spawn — and
   * further spawns are refused until the trial proves healthy (recordHealthy), fails (a new,
   * doubled back-off), or its lease (the next back-off step) runs out without either.
   */
  spawnAllowed(now: number): { allowed: true } | { allowed: false; retryAt: number } {
    if (!this.episode) return { allowed: true };
    if (now < this.backoffUntil) return { allowed: false, retryAt: this.backoffUntil };
    if (now < this.trialUntil) return { allowed: false, retryAt: this.trialUntil };
    this.trialUntil = now + this.backoffMs(this.failures + 1);
    return { allowed: true };
  }

  /**
   * True while backing off in a broken episode: the mechanism answers waiting and new
   * requests with 503 at once instead of queueing them (mod_fcgid makes them poll for up to
   * 64 s). Once the back-off ends requests queue again, so one of them can bring the trial
   * spawn about and be served by it.
   */
  broken(now: number): boolean {
    return this.episode && now < this.backoffUntil;
  }

  private recordFailure(at: number): boolean {
    this.expireHeld(at);
    this.failures += this.heldFailures + 1;
    this.heldFailures = 0;
    this.heldUntil = -Infinity;
    this.trialUntil = -Infinity;
    if (this.failures < this.options.threshold) return false;
    this.backoffUntil = Math.max(this.backoffUntil, at + this.backoffMs(this.failures));
    const started = !this.episode;
    this.episode = true;
    return started;
  }

  private expireHeld(now: number): void {
    if (now >= this.heldUntil) {
      this.heldFailures = 0;
      this.heldUntil = -Infinity;
    }
  }

  /** backoffMinMs at the threshold, doubling per further failure, capped at backoffMaxMs. */
  private backoffMs(failures: number): number {
    const steps = Math.max(0, failures - this.options.threshold);
    return Math.min(this.options.backoffMaxMs, this.options.backoffMinMs * 2 ** Math.min(steps, 52));
  }
}
