import { InvalidArgumentError } from '../../../src/errors';
import {
  CRASH_GUARD_DEFAULTS,
  CrashGuard,
  resolveCrashGuardOptions,
  type CrashGuardOptions,
  type WorkerExitRecord,
} from '../../../src/pm/policy/crash-guard';

/** An unexpected death `lived` ms after a start at `at - lived`, having served nothing. */
const death = (at: number, lived = 50, over: Partial<WorkerExitRecord> = {}): WorkerExitRecord => ({
  startedAt: at - lived,
  exitedAt: at,
  requests: 0,
  becameReady: false,
  expected: false,
  ...over,
});

/** A worker recycled on purpose after serving its one request (FcgidMaxRequestsPerProcess 1). */
const recycle = (at: number): WorkerExitRecord => ({ startedAt: at - 30, exitedAt: at, requests: 1, becameReady: true, expected: true });

/** Three quick deaths ending at `t`: the guard is now backing off. */
function broken(t = 1000, guard = new CrashGuard()): CrashGuard {
  guard.recordExit(death(t - 200));
  guard.recordExit(death(t - 100));
  guard.recordExit(death(t));
  return guard;
}

describe('CrashGuard options', () => {
  test('defaults', () => {
    expect(new CrashGuard().options).toEqual({ quickDeathMs: 5000, threshold: 3, backoffMinMs: 1000, backoffMaxMs: 30_000 });
    expect(resolveCrashGuardOptions()).toEqual(CRASH_GUARD_DEFAULTS);
  });

  test.each<[Partial<CrashGuardOptions>, string]>([
    [{ threshold: 0 }, 'threshold must be an integer >= 1'],
    [{ quickDeathMs: -1 }, 'quickDeathMs must be an integer >= 0'],
    [{ backoffMinMs: 1.5 }, 'backoffMinMs must be an integer >= 0'],
    [{ backoffMinMs: 5000, backoffMaxMs: 1000 }, 'backoffMinMs (5000) must not exceed backoffMaxMs (1000)'],
  ])('rejects %j', (input, message) => {
    expect(() => new CrashGuard(input)).toThrow(InvalidArgumentError);
    expect(() => new CrashGuard(input)).toThrow(message);
  });
});

describe('CrashGuard: what is a failure', () => {
  test.each<[string, boolean, Partial<WorkerExitRecord>]>([
    ['died at start, never ready', true, { becameReady: false, requests: 0, startedAt: 0, exitedAt: 100 }],
    ['never ready, however long it lived', true, { becameReady: false, requests: 0, startedAt: 0, exitedAt: 600_000 }],
    ['ready, then died quickly having served nothing', true, { becameReady: true, requests: 0, startedAt: 0, exitedAt: 4999 }],
    ['ready and lived quickDeathMs', false, { becameReady: true, requests: 0, startedAt: 0, exitedAt: 5000 }],
    ['served a request, then exited unexpectedly at once (php-cgi PHP_FCGI_MAX_REQUESTS)', false, { becameReady: true, requests: 1, startedAt: 0, exitedAt: 10 }],
    ['served without a readiness report', false, { becameReady: false, requests: 1, startedAt: 0, exitedAt: 10 }],
    ['retired on purpose after one request', false, { expected: true, becameReady: true, requests: 1, startedAt: 0, exitedAt: 10 }],
    ['retired on purpose while starting (reload)', false, { expected: true, becameReady: false, requests: 0, startedAt: 0, exitedAt: 10 }],
    ['retired on purpose, ready, served nothing (idle, spare)', false, { expected: true, becameReady: true, requests: 0, startedAt: 0, exitedAt: 10 }],
    // Killed from outside (the OOM killer, kill -9): a sign of the kill, not of the app.
    ['ready, killed from outside at once, served nothing', false, { becameReady: true, killedFromOutside: true, requests: 0, startedAt: 0, exitedAt: 100 }],
    ['killed from outside while starting, a sibling from the same binary ready', false, { becameReady: false, killedFromOutside: true, siblingReady: true, requests: 0, startedAt: 0, exitedAt: 100 }],
    ['killed from outside while starting, no sibling ready: cannot tell, counts', true, { becameReady: false, killedFromOutside: true, siblingReady: false, requests: 0, startedAt: 0, exitedAt: 100 }],
    ['crashed by its own signal (SEGV) right after start, a sibling ready', true, { becameReady: true, killedFromOutside: false, siblingReady: true, requests: 0, startedAt: 0, exitedAt: 100 }],
  ])('%s → failure: %s', (_name, failure, over) => {
    const exit: WorkerExitRecord = { startedAt: 0, exitedAt: 0, requests: 0, becameReady: false, expected: false, ...over };
    expect(new CrashGuard().recordExit(exit)).toEqual({ failure, episodeStarted: false });
  });
});

describe('CrashGuard: back-off', () => {
  test('3 quick deaths start ONE episode and a 1-s back-off', () => {
    const g = new CrashGuard();
    expect(g.recordExit(death(100))).toEqual({ failure: true, episodeStarted: false });
    expect(g.spawnAllowed(100)).toEqual({ allowed: true });
    expect(g.broken(100)).toBe(false);
    expect(g.recordExit(death(200))).toEqual({ failure: true, episodeStarted: false });
    expect(g.spawnAllowed(200)).toEqual({ allowed: true });
    expect(g.recordExit(death(300))).toEqual({ failure: true, episodeStarted: true });
    expect(g.consecutiveFailures).toBe(3);
    expect(g.broken(300)).toBe(true);
    expect(g.spawnAllowed(300)).toEqual({ allowed: false, retryAt: 1300 });
    expect(g.spawnAllowed(1299)).toEqual({ allowed: false, retryAt: 1300 });
    expect(g.broken(1299)).toBe(true);
  });

  test('each further failure doubles the back-off from its own time: 2 s, 4 s, 8 s, 16 s, then capped at 30 s', () => {
    const g = broken(0);
    const waits: number[] = [];
    let t = 0;
    for (let i = 0; i < 7; i += 1) {
      const refused = g.spawnAllowed(t);
      if (refused.allowed) throw new Error('expected a refusal');
      waits.push(refused.retryAt - t);
      t = refused.retryAt;
      expect(g.spawnAllowed(t)).toEqual({ allowed: true });
      t += 40;
      expect(g.recordExit(death(t, 40))).toEqual({ failure: true, episodeStarted: false });
    }
    expect(waits).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    expect(g.consecutiveFailures).toBe(10);
  });

  test('after retryAt ONE trial spawn is allowed (half-open), the next waits', () => {
    const g = broken(1000);
    expect(g.broken(2000)).toBe(false);
    expect(g.spawnAllowed(2000)).toEqual({ allowed: true });
    expect(g.spawnAllowed(2000)).toEqual({ allowed: false, retryAt: 4000 });
    expect(g.spawnAllowed(3999)).toEqual({ allowed: false, retryAt: 4000 });
    // Requests may queue for the trial meanwhile.
    expect(g.broken(2500)).toBe(false);
  });

  test('a trial that neither proves healthy nor dies: another trial once its lease runs out', () => {
    const g = broken(1000);
    expect(g.spawnAllowed(2000)).toEqual({ allowed: true });
    expect(g.spawnAllowed(4000)).toEqual({ allowed: true });
    expect(g.spawnAllowed(4000)).toEqual({ allowed: false, retryAt: 6000 });
  });

  test('a failed trial backs off again, doubled, and requests get 503 again', () => {
    const g = broken(1000);
    expect(g.spawnAllowed(2000)).toEqual({ allowed: true });
    expect(g.recordExit(death(2100, 100))).toEqual({ failure: true, episodeStarted: false });
    expect(g.broken(2100)).toBe(true);
    expect(g.spawnAllowed(2100)).toEqual({ allowed: false, retryAt: 4100 });
  });

  test('a healthy trial ends the episode: spawns flow, streak cleared', () => {
    const g = broken(1000);
    expect(g.spawnAllowed(2000)).toEqual({ allowed: true });
    expect(g.recordHealthy(2300)).toBe(true);
    expect(g.recordHealthy(2301)).toBe(false);
    expect(g.broken(2300)).toBe(false);
    expect(g.consecutiveFailures).toBe(0);
    for (let i = 0; i < 5; i += 1) expect(g.spawnAllowed(2300)).toEqual({ allowed: true });
  });

  test('after recovery a new streak needs the full threshold and logs a new episode', () => {
    const g = broken(1000);
    g.spawnAllowed(2000);
    g.recordHealthy(2300);
    g.recordExit(recycle(9000));
    expect(g.recordExit(death(20_000)).episodeStarted).toBe(false);
    expect(g.recordExit(death(20_100)).episodeStarted).toBe(false);
    expect(g.recordExit(death(20_200)).episodeStarted).toBe(true);
    expect(g.spawnAllowed(20_200)).toEqual({ allowed: false, retryAt: 21_200 });
  });

  test('healthy signals during the back-off come from workers already running and are ignored', () => {
    const g = broken(1000);
    expect(g.recordHealthy(1500)).toBe(false);
    expect(g.broken(1500)).toBe(true);
    expect(g.spawnAllowed(1500)).toEqual({ allowed: false, retryAt: 2000 });
  });

  test('exits that are not failures do not end an episode (old workers say nothing about new ones)', () => {
    const g = broken(1000);
    expect(g.recordExit(recycle(1500))).toEqual({ failure: false, episodeStarted: false });
    expect(g.consecutiveFailures).toBe(3);
    expect(g.broken(1500)).toBe(true);
  });

  test('synchronous spawn failures count like quick deaths', () => {
    const g = new CrashGuard();
    expect(g.recordSpawnFailure(0)).toEqual({ episodeStarted: false });
    expect(g.recordExit(death(10))).toEqual({ failure: true, episodeStarted: false });
    expect(g.recordSpawnFailure(20)).toEqual({ episodeStarted: true });
    expect(g.spawnAllowed(20)).toEqual({ allowed: false, retryAt: 1020 });
    expect(g.recordSpawnFailure(30)).toEqual({ episodeStarted: false });
    expect(g.spawnAllowed(30)).toEqual({ allowed: false, retryAt: 2030 });
  });

  test('the back-off never moves earlier (exits reported out of order)', () => {
    const g = broken(5000);
    g.recordExit(death(100));
    expect(g.spawnAllowed(5000)).toEqual({ allowed: false, retryAt: 6000 });
  });

  test('threshold and back-off are configurable', () => {
    const g = new CrashGuard({ threshold: 1, backoffMinMs: 100, backoffMaxMs: 250 });
    expect(g.recordSpawnFailure(0).episodeStarted).toBe(true);
    expect(g.spawnAllowed(0)).toEqual({ allowed: false, retryAt: 100 });
    g.recordSpawnFailure(0);
    expect(g.spawnAllowed(0)).toEqual({ allowed: false, retryAt: 200 });
    g.recordSpawnFailure(0);
    expect(g.spawnAllowed(0)).toEqual({ allowed: false, retryAt: 250 });
  });
});

describe('CrashGuard: a kill storm from outside', () => {
  test('workers killed every 100 ms once ready (or while a sibling serves) never start an episode, and keep the streak', () => {
    const guard = new CrashGuard();
    guard.recordExit(death(100));
    for (let t = 200; t < 20_000; t += 100) {
      const v = guard.recordExit(death(t, 80, { becameReady: t % 200 === 0, siblingReady: true, killedFromOutside: true }));
      expect(v).toEqual({ failure: false, episodeStarted: false });
      expect(guard.broken(t)).toBe(false);
      expect(guard.spawnAllowed(t)).toEqual({ allowed: true });
    }
    // The one real start failure before the storm still counts: the storm neither adds nor clears.
    expect(guard.consecutiveFailures).toBe(1);
  });
});

describe('CrashGuard: streaks', () => {
  test('a healthy exit in between resets the streak', () => {
    const g = new CrashGuard();
    g.recordExit(death(100));
    g.recordExit(death(200));
    g.recordExit(recycle(300));
    expect(g.consecutiveFailures).toBe(0);
    expect(g.recordExit(death(400)).episodeStarted).toBe(false);
    expect(g.spawnAllowed(400)).toEqual({ allowed: true });
  });

  test('an expected exit of a worker that never became ready is neutral', () => {
    const g = new CrashGuard();
    g.recordExit(death(100));
    g.recordExit(death(200));
    g.recordExit(death(300, 50, { expected: true }));
    expect(g.consecutiveFailures).toBe(2);
    expect(g.recordExit(death(400)).episodeStarted).toBe(true);
  });

  test('an app that turns ready and dies at once still backs off (its readiness is held for quickDeathMs)', () => {
    const g = new CrashGuard();
    let t = 0;
    const episodes: boolean[] = [];
    for (let i = 0; i < 3; i += 1) {
      expect(g.spawnAllowed(t)).toEqual({ allowed: true });
      g.recordHealthy(t + 20);
      t += 100;
      episodes.push(g.recordExit(death(t, 100, { becameReady: true })).episodeStarted);
    }
    expect(episodes).toEqual([false, false, true]);
    expect(g.spawnAllowed(t)).toEqual({ allowed: false, retryAt: t + 1000 });
  });

  test('a recovery followed by a quick death within quickDeathMs resumes the doubling', () => {
    const g = broken(1000);
    g.spawnAllowed(2000);
    expect(g.recordHealthy(2050)).toBe(true);
    expect(g.consecutiveFailures).toBe(0);
    expect(g.recordExit(death(2100, 100, { becameReady: true }))).toEqual({ failure: true, episodeStarted: true });
    expect(g.consecutiveFailures).toBe(4);
    expect(g.spawnAllowed(2100)).toEqual({ allowed: false, retryAt: 4100 });
  });

  test('a healthy signal is trusted once quickDeathMs passed without a quick death', () => {
    const g = new CrashGuard();
    g.recordExit(death(100));
    g.recordExit(death(200));
    g.recordHealthy(300);
    expect(g.recordExit(death(5300)).episodeStarted).toBe(false);
    expect(g.consecutiveFailures).toBe(1);
  });

  test('healthy signals from busy workers do not hide a tight loop of start failures', () => {
    // Old workers keep serving while every new one dies at start (a broken binary deployed).
    const g = new CrashGuard();
    let t = 0;
    let spawns = 0;
    while (t < 60_000) {
      g.recordHealthy(t);
      const allowed = g.spawnAllowed(t);
      if (allowed.allowed) {
        spawns += 1;
        g.recordExit(death(t + 50));
        t += 50;
      } else {
        t += 10;
      }
    }
    expect(spawns).toBeLessThanOrEqual(10);
  });
});

describe('CrashGuard: recycling never slows the pool', () => {
  test('25 recycle exits in a row never block spawning', () => {
    const g = new CrashGuard();
    let t = 0;
    for (let i = 0; i < 25; i += 1) {
      expect(g.spawnAllowed(t)).toEqual({ allowed: true });
      t += 15;
      g.recordHealthy(t);
      t += 10;
      expect(g.recordExit(recycle(t))).toEqual({ failure: false, episodeStarted: false });
      expect(g.broken(t)).toBe(false);
    }
    expect(g.consecutiveFailures).toBe(0);
  });

  test('25 php-cgi self-exits after serving (unexpected, requests >= 1) never count either', () => {
    const g = new CrashGuard();
    for (let i = 0; i < 25; i += 1) {
      expect(g.recordExit({ startedAt: i * 20, exitedAt: i * 20 + 10, requests: 1, becameReady: false, expected: false }).failure).toBe(false);
      expect(g.spawnAllowed(i * 20 + 10)).toEqual({ allowed: true });
    }
  });

  test('expected exits of workers that served nothing (idle, spare, reload) never count', () => {
    const g = new CrashGuard();
    for (let i = 0; i < 25; i += 1) {
      g.recordExit({ startedAt: i, exitedAt: i + 1, requests: 0, becameReady: i % 2 === 0, expected: true });
      expect(g.spawnAllowed(i + 1)).toEqual({ allowed: true });
    }
    expect(g.consecutiveFailures).toBe(0);
  });

  test('a broken binary: at most one exec per back-off step', () => {
    const g = new CrashGuard();
    const spawnTimes: number[] = [];
    let t = 0;
    while (t < 120_000) {
      const r = g.spawnAllowed(t);
      if (r.allowed) {
        spawnTimes.push(t);
        t += 50;
        g.recordExit(death(t, 50));
      } else {
        t = r.retryAt;
      }
    }
    expect(spawnTimes).toEqual([0, 50, 100, 1150, 3200, 7250, 15_300, 31_350, 61_400, 91_450]);
  });

  test('the pool recovers by itself once the binary is fixed', () => {
    const g = broken(1000);
    let t = 1000;
    for (let i = 0; i < 3; i += 1) {
      const r = g.spawnAllowed(t);
      if (r.allowed) throw new Error('expected a refusal');
      t = r.retryAt;
      expect(g.spawnAllowed(t).allowed).toBe(true);
      g.recordExit(death(t + 50));
      t += 50;
    }
    const r = g.spawnAllowed(t);
    t = r.allowed ? t : r.retryAt;
    expect(g.spawnAllowed(t)).toEqual({ allowed: true });
    expect(g.recordHealthy(t + 200)).toBe(true);
    expect(g.broken(t + 200)).toBe(false);
    expect(g.spawnAllowed(t + 200)).toEqual({ allowed: true });
  });
});
